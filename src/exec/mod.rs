//! Runs a model's graphs on one or two devices: picks the backends (`--device`), places each
//! layer per phase (placement.rs), splits every step graph into per-device segments, loads each
//! device's persistent tensors (registering streamed layers' weights with the main device),
//! prepares each segment once and keeps it cached, executes segments in order with the
//! activations that cross a device boundary copied between them.
//!
//! A layer placed on different devices in prefill and decode keeps its state (KV cache) on
//! both; the rows one phase writes are copied to the other device before that device next runs
//! the layer. State tensors are `(a, ctx, b)` with the position on axis 1 (model/'s KV layout).
//!
//! May use: `backend`, `graph`, `error`. Invariant: a graph is split, planned and prepared once
//! per key; executing it allocates nothing on a device. `model/` never learns where it runs.

mod device;
mod placement;

use std::collections::HashMap;
use std::sync::Arc;

/// The adapters `--device N` counts, for `kiln devices` (the CLI reaches devices through here).
pub use crate::backend::wgpu::{AdapterSummary, list_adapters};
pub use device::{Device, DeviceChoice, open_backend};
pub use placement::{Assignment, OffloadMode, Phase, Place, Placement, fit_budget, n_gpu_layers};

use crate::backend::{Backend, DispatchCount, GraphHandle, HostData, KernelTime};
use crate::error::{Error, Result};
use crate::graph::{
    ElemType, Graph, ParamId, ParamInit, ParamTable, Plan, Segment, Source, Step, TensorId,
};

/// Most prepared graphs kept at once (decode, a few prefill chunk lengths); the least recently
/// used one is released beyond this.
const MAX_GRAPHS: usize = 6;

/// One segment of a prepared graph: the device it runs on and its handle there.
struct Part {
    device: usize,
    handle: GraphHandle,
    seg: Segment,
}

struct Entry {
    phase: Phase,
    n_tokens: usize,
    parts: Vec<Part>,
    /// Activations crossing a device boundary, by original tensor id (reused every step).
    transfers: HashMap<TensorId, Vec<f32>>,
    last_use: u64,
}

/// The devices running the graphs of one model.
pub struct Executor {
    /// Device 0 is the main one (a GPU, or the CPU); device 1, when present, is the CPU backend
    /// computing the layers placed off the GPU.
    devices: Vec<Box<dyn Backend>>,
    placement: Placement,
    graphs: HashMap<u64, Entry>,
    clock: u64,
    /// State of layers placed apart by the two phases (filled by `load`).
    shared: Vec<SharedState>,
}

/// A state tensor kept on two devices, and the positions one of them has not seen yet.
struct SharedState {
    id: ParamId,
    layer: usize,
    /// `(a, ctx, b)` and bytes per element.
    dims: [usize; 3],
    elem: usize,
    /// Positions `[start, end)` written on the other device that `device` still lacks.
    stale: Option<(usize, usize, usize)>,
}

/// Segment inputs per step passed without a heap allocation: the token ids and an
/// activation per device boundary, a handful in practice.
const INLINE_INPUTS: usize = 8;

impl Executor {
    /// One device running everything.
    pub fn new(backend: Box<dyn Backend>) -> Executor {
        Executor {
            devices: vec![backend],
            placement: Placement::all(0),
            graphs: HashMap::new(),
            clock: 0,
            shared: Vec::new(),
        }
    }

    /// Several devices with a placement of layers on them.
    pub fn with_devices(devices: Vec<Box<dyn Backend>>, placement: Placement) -> Result<Executor> {
        if placement.max_device() >= devices.len() {
            return Err(Error::InvalidArgument("placement names a device that is not open".into()));
        }
        Ok(Executor { devices, placement, graphs: HashMap::new(), clock: 0, shared: Vec::new() })
    }

    pub fn backend(&self) -> &dyn Backend {
        &*self.devices[0]
    }

    pub fn backend_mut(&mut self) -> &mut dyn Backend {
        &mut *self.devices[0]
    }

    pub fn devices(&self) -> impl Iterator<Item = &dyn Backend> {
        self.devices.iter().map(|d| &**d)
    }

    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// Mutable access to every device (e.g. to measure them for planning).
    pub fn devices_mut(&mut self) -> impl Iterator<Item = &mut Box<dyn Backend>> {
        self.devices.iter_mut()
    }

    /// Splits `graph` at every change of device along its node order, for `phase`.
    fn segments(&self, graph: &Graph, phase: Phase) -> (Vec<usize>, Vec<Segment>) {
        let places = self.placement.phase(phase).node_devices(graph);
        let cuts: Vec<usize> = (1..places.len()).filter(|&i| places[i] != places[i - 1]).collect();
        let mut devs = vec![places.first().copied().unwrap_or(0)];
        devs.extend(cuts.iter().map(|&c| places[c]));
        (devs, crate::graph::split(graph, &cuts))
    }

    /// Uploads every persistent tensor to the device whose segments use it in either phase (a
    /// parameter two devices use, e.g. a RoPE table, goes to both), judged from `reference` (a
    /// step graph that touches every parameter); the weights of streamed layers are registered
    /// with device 0 as streamed instead. `progress(done, total)` reports bytes.
    pub fn load(
        &mut self,
        params: &ParamTable,
        reference: &Graph,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<()> {
        let mut wanted: Vec<Vec<ParamId>> = vec![Vec::new(); self.devices.len()];
        for phase in [Phase::Prefill, Phase::Decode] {
            let (devs, segs) = self.segments(reference, phase);
            for (dev, seg) in devs.iter().zip(&segs) {
                for t in &seg.graph.tensors {
                    if let Source::Param(p) = t.source
                        && !wanted[*dev].contains(&p)
                    {
                        wanted[*dev].push(p);
                    }
                }
            }
        }
        // Streamed weights: out of device 0's uploads, grouped by layer in layer order.
        let is_streamed = |p: ParamId| {
            let d = params.get(p);
            matches!(d.init, ParamInit::Data(_))
                && d.layer.is_some_and(|l| self.placement.streamed.contains(&(l as usize)))
        };
        let mut streamed: Vec<Vec<ParamId>> = vec![Vec::new(); self.placement.streamed.len()];
        wanted[0].retain(|&p| {
            if !is_streamed(p) {
                return true;
            }
            let l = params.get(p).layer.unwrap_or(0) as usize;
            let i = self.placement.streamed.iter().position(|&s| s == l).unwrap_or(0);
            streamed[i].push(p);
            false
        });
        let mut order: Vec<usize> = (0..streamed.len()).collect();
        order.sort_by_key(|&i| self.placement.streamed[i]);
        let streamed: Vec<Vec<ParamId>> =
            order.into_iter().map(|i| std::mem::take(&mut streamed[i])).collect();
        if !streamed.is_empty() {
            self.devices[0].load_params_streamed(params, &streamed)?;
        }
        let total: usize = wanted.iter().flatten().map(|&p| params.get(p).n_bytes()).sum();
        let mut done = 0;
        for (dev, ids) in wanted.iter().enumerate() {
            // Batches of about 64 MiB so progress moves on large models.
            let mut batch = Vec::new();
            let mut batch_bytes = 0;
            for &id in ids {
                batch.push(id);
                batch_bytes += params.get(id).n_bytes();
                if batch_bytes >= 64 << 20 {
                    self.devices[dev].load_params(params, &batch)?;
                    done += batch_bytes;
                    progress(done, total);
                    batch.clear();
                    batch_bytes = 0;
                }
            }
            self.devices[dev].load_params(params, &batch)?;
            done += batch_bytes;
            progress(done, total);
        }
        // State of layers the phases place apart lives on both devices.
        let pl = &self.placement;
        let split = |l: usize| pl.prefill.layer(l) != pl.decode.layer(l);
        self.shared = params
            .iter()
            .filter_map(|(id, d)| {
                let l = d.layer? as usize;
                let dims = d.shape.dims();
                (matches!(d.init, ParamInit::Zeroed) && split(l) && dims.len() == 3).then(|| {
                    SharedState {
                        id,
                        layer: l,
                        dims: [dims[0], dims[1], dims[2]],
                        elem: d.n_bytes() / d.shape.n_elements().max(1),
                        stale: None,
                    }
                })
            })
            .collect();
        Ok(())
    }

    /// Brings every shared state tensor up to date on the device `phase` runs its layer on.
    fn sync_state(&mut self, phase: Phase) -> Result<()> {
        for s in &mut self.shared {
            let dev = self.placement.phase(phase).layer(s.layer);
            let Some((stale_dev, start, end)) = s.stale else { continue };
            if stale_dev != dev || start >= end {
                continue;
            }
            let src = if dev == 0 { 1 } else { 0 };
            let [a, ctx, b] = s.dims;
            let mut rows = vec![0u8; (end - start) * b * s.elem];
            for h in 0..a {
                let off = (h * ctx + start) * b * s.elem;
                self.devices[src].read_param_range(s.id, off, &mut rows)?;
                self.devices[dev].write_param_range(s.id, off, &rows)?;
            }
            s.stale = None;
        }
        Ok(())
    }

    /// Records that `phase` wrote positions `[pos, pos + n)` of every shared state tensor.
    fn mark_written(&mut self, phase: Phase, pos: usize, n: usize) {
        for s in &mut self.shared {
            let other = if self.placement.phase(phase).layer(s.layer) == 0 { 1 } else { 0 };
            s.stale = Some(match s.stale {
                Some((d, a, b)) if d == other => (d, a.min(pos), b.max(pos + n)),
                _ => (other, pos, pos + n),
            });
        }
    }

    /// Prepares the graph for `key`, a step of `n_tokens` tokens, with `build` on first use
    /// (split across devices by its phase's assignment).
    pub fn prepare(
        &mut self,
        key: u64,
        n_tokens: usize,
        build: impl FnOnce() -> Graph,
    ) -> Result<()> {
        self.clock += 1;
        if let Some(e) = self.graphs.get_mut(&key) {
            e.last_use = self.clock;
            return Ok(());
        }
        if self.graphs.len() >= MAX_GRAPHS
            && let Some((&old, _)) = self.graphs.iter().min_by_key(|(_, e)| e.last_use)
        {
            let e = self.graphs.remove(&old).expect("invariant: key from the map");
            for p in e.parts {
                self.devices[p.device].release(p.handle);
            }
        }
        let graph = build();
        let phase = Phase::of(n_tokens);
        let (devs, segs) = self.segments(&graph, phase);
        let mut parts = Vec::with_capacity(segs.len());
        let mut transfers = HashMap::new();
        for (dev, seg) in devs.into_iter().zip(segs) {
            for &(_, orig) in &seg.inputs {
                if graph.tensor(orig).source != Source::Input {
                    transfers.insert(orig, vec![0.0f32; graph.tensor(orig).shape.n_elements()]);
                }
            }
            let g = Arc::new(seg.graph.clone());
            let plan = Arc::new(Plan::new(&g));
            let handle = self.devices[dev].prepare(g, plan)?;
            parts.push(Part { device: dev, handle, seg });
        }
        self.graphs.insert(key, Entry { phase, n_tokens, parts, transfers, last_use: self.clock });
        Ok(())
    }

    /// Runs the graph for `key`; `inputs` are its host inputs (original tensor ids).
    pub fn execute(
        &mut self,
        key: u64,
        step: Step,
        inputs: &[(TensorId, HostData<'_>)],
    ) -> Result<()> {
        let (phase, n_tokens) = self
            .graphs
            .get(&key)
            .map(|e| (e.phase, e.n_tokens))
            .ok_or_else(|| Error::InvalidArgument(format!("graph {key} is not prepared")))?;
        self.sync_state(phase)?;
        let e = self.graphs.get_mut(&key).expect("invariant: checked above");
        for i in 0..e.parts.len() {
            let part = &e.parts[i];
            // The segment's inputs: the caller's host data, or activations an earlier segment
            // produced. On the stack for the usual few, so a decode step allocates nothing.
            let n_in = part.seg.inputs.len();
            let mut inline = [(TensorId(0), HostData::U32(&[])); INLINE_INPUTS];
            let mut spilled = Vec::new();
            let host: &mut [(TensorId, HostData<'_>)] = if n_in <= INLINE_INPUTS {
                &mut inline[..n_in]
            } else {
                spilled.resize(n_in, (TensorId(0), HostData::U32(&[])));
                &mut spilled
            };
            for (slot, &(seg_t, orig)) in host.iter_mut().zip(&part.seg.inputs) {
                let data =
                    match inputs.iter().find(|(t, _)| *t == orig) {
                        Some((_, d)) => *d,
                        None => e.transfers.get(&orig).map(|buf| HostData::F32(buf)).ok_or_else(
                            || Error::Device("a boundary activation was never produced".into()),
                        )?,
                    };
                *slot = (seg_t, data);
            }
            self.devices[part.device].execute(part.handle, step, host)?;
            // Copy out what later segments read.
            for &(seg_t, orig) in &part.seg.outputs {
                if let Some(buf) = e.transfers.get_mut(&orig) {
                    if part.seg.graph.tensor(seg_t).ty != ElemType::F32 {
                        return Err(Error::Device("only f32 activations cross devices".into()));
                    }
                    self.devices[part.device].read_f32(part.handle, seg_t, buf)?;
                }
            }
        }
        self.mark_written(phase, step.pos as usize, n_tokens);
        Ok(())
    }

    /// The segment producing original tensor `t` of graph `key`, and `t`'s id there.
    fn producer(&self, key: u64, t: TensorId) -> Result<(&Part, TensorId)> {
        let e = self
            .graphs
            .get(&key)
            .ok_or_else(|| Error::InvalidArgument(format!("graph {key} is not prepared")))?;
        for p in &e.parts {
            if let Some(&(seg_t, _)) = p.seg.outputs.iter().find(|(_, o)| *o == t) {
                return Ok((p, seg_t));
            }
        }
        Err(Error::InvalidArgument(format!("tensor {} is not an output of graph {key}", t.0)))
    }

    pub fn read_f32(&mut self, key: u64, t: TensorId, out: &mut [f32]) -> Result<()> {
        let (device, handle, seg_t) = {
            let (p, seg_t) = self.producer(key, t)?;
            (p.device, p.handle, seg_t)
        };
        self.devices[device].read_f32(handle, seg_t, out)
    }

    pub fn read_u32(&mut self, key: u64, t: TensorId, out: &mut [u32]) -> Result<()> {
        let (device, handle, seg_t) = {
            let (p, seg_t) = self.producer(key, t)?;
            (p.device, p.handle, seg_t)
        };
        self.devices[device].read_u32(handle, seg_t, out)
    }

    /// Kernel dispatches one execution of graph `key` records, over its segments on devices
    /// that dispatch kernels (`None`: not prepared, or no such device runs it).
    pub fn dispatch_count(&self, key: u64) -> Option<DispatchCount> {
        let e = self.graphs.get(&key)?;
        let mut total: Option<DispatchCount> = None;
        for p in &e.parts {
            if let Some(c) = self.devices[p.device].dispatch_count(p.handle) {
                total.get_or_insert_with(DispatchCount::default).add(&c);
            }
        }
        total
    }

    /// Turns kernel timing on or off on every device.
    pub fn set_profiling(&mut self, on: bool) -> Result<()> {
        self.devices.iter_mut().try_for_each(|d| d.set_profiling(on))
    }

    /// Kernel times of every device, labelled with the device when there are several.
    pub fn profile(&self) -> Vec<KernelTime> {
        let many = self.devices.len() > 1;
        let mut out = Vec::new();
        for (i, d) in self.devices.iter().enumerate() {
            for mut k in d.profile() {
                if many {
                    k.label = format!("{}:{}", if i == 0 { "main" } else { "cpu" }, k.label);
                }
                out.push(k);
            }
        }
        out
    }
}
