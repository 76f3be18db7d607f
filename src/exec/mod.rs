//! Runs a model's graphs on one or two devices: picks the backends (`--device`), places each
//! layer (placement.rs), splits every step graph into per-device segments, loads each device's
//! persistent tensors, prepares each segment once and keeps it cached, executes segments in
//! order with the activations that cross a device boundary copied between them.
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
pub use placement::{Assignment, OffloadMode, Place, fit_budget, n_gpu_layers};

use crate::backend::{Backend, GraphHandle, HostData, KernelTime};
use crate::error::{Error, Result};
use crate::graph::{ElemType, Graph, ParamId, ParamTable, Plan, Segment, Source, Step, TensorId};

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
    assignment: Assignment,
    graphs: HashMap<u64, Entry>,
    clock: u64,
}

/// Where a step's value comes from when a segment needs it.
enum Value<'a> {
    Host(HostData<'a>),
    Transfer(TensorId),
}

impl Executor {
    /// One device running everything.
    pub fn new(backend: Box<dyn Backend>) -> Executor {
        Executor {
            devices: vec![backend],
            assignment: Assignment::all(0),
            graphs: HashMap::new(),
            clock: 0,
        }
    }

    /// Several devices with an assignment of layers to them.
    pub fn with_devices(
        devices: Vec<Box<dyn Backend>>,
        assignment: Assignment,
    ) -> Result<Executor> {
        if assignment.max_device() >= devices.len() {
            return Err(Error::InvalidArgument("placement names a device that is not open".into()));
        }
        Ok(Executor { devices, assignment, graphs: HashMap::new(), clock: 0 })
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

    pub fn assignment(&self) -> &Assignment {
        &self.assignment
    }

    /// Splits `graph` at every change of device along its node order.
    fn segments(&self, graph: &Graph) -> (Vec<usize>, Vec<Segment>) {
        let places = self.assignment.node_devices(graph);
        let cuts: Vec<usize> = (1..places.len()).filter(|&i| places[i] != places[i - 1]).collect();
        let mut devs = vec![places.first().copied().unwrap_or(0)];
        devs.extend(cuts.iter().map(|&c| places[c]));
        (devs, crate::graph::split(graph, &cuts))
    }

    /// Uploads every persistent tensor to the device whose segments use it (a parameter two
    /// devices use, e.g. a RoPE table, goes to both), judged from `reference` (a step graph
    /// that touches every parameter). `progress(done, total)` reports bytes.
    pub fn load(
        &mut self,
        params: &ParamTable,
        reference: &Graph,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<()> {
        let (devs, segs) = self.segments(reference);
        let mut wanted: Vec<Vec<ParamId>> = vec![Vec::new(); self.devices.len()];
        for (dev, seg) in devs.iter().zip(&segs) {
            for t in &seg.graph.tensors {
                if let Source::Param(p) = t.source
                    && !wanted[*dev].contains(&p)
                {
                    wanted[*dev].push(p);
                }
            }
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
        Ok(())
    }

    /// Prepares the graph for `key` with `build` on first use (split across devices).
    pub fn prepare(&mut self, key: u64, build: impl FnOnce() -> Graph) -> Result<()> {
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
        let (devs, segs) = self.segments(&graph);
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
        self.graphs.insert(key, Entry { parts, transfers, last_use: self.clock });
        Ok(())
    }

    /// Runs the graph for `key`; `inputs` are its host inputs (original tensor ids).
    pub fn execute(
        &mut self,
        key: u64,
        step: Step,
        inputs: &[(TensorId, HostData<'_>)],
    ) -> Result<()> {
        let e = self
            .graphs
            .get_mut(&key)
            .ok_or_else(|| Error::InvalidArgument(format!("graph {key} is not prepared")))?;
        for i in 0..e.parts.len() {
            let part = &e.parts[i];
            let mut seg_inputs = Vec::with_capacity(part.seg.inputs.len());
            for &(seg_t, orig) in &part.seg.inputs {
                let v = match inputs.iter().find(|(t, _)| *t == orig) {
                    Some((_, d)) => Value::Host(*d),
                    None => Value::Transfer(orig),
                };
                seg_inputs.push((seg_t, v));
            }
            let host: Vec<(TensorId, HostData<'_>)> = seg_inputs
                .iter()
                .map(|(t, v)| match v {
                    Value::Host(d) => Ok((*t, *d)),
                    Value::Transfer(orig) => {
                        e.transfers.get(orig).map(|buf| (*t, HostData::F32(buf))).ok_or_else(|| {
                            Error::Device("a boundary activation was never produced".into())
                        })
                    }
                })
                .collect::<Result<_>>()?;
            self.devices[part.device].execute(part.handle, step, &host)?;
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
