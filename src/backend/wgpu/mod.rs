//! The wgpu backend: graphs run as WGSL compute shaders on Vulkan, Metal or DX12.
//!
//! Per execution: one command encoder, one compute pass, one submit. Pipelines, uniforms and
//! bind groups are made when a graph is prepared (prepare.rs); weights are uploaded once, still
//! quantized (store.rs). Files: context.rs (device, tier), wait.rs (bounded waits, errors as
//! `Err`), shaders.rs (WGSL assembly), pipelines.rs (cache), store.rs (persistent tensors),
//! fuse.rs (consecutive nodes one kernel computes), prepare.rs (dispatch building), kernels/
//! (one file per kernel family), profile.rs
//! (timestamp queries), bandwidth.rs (the peak read bandwidth probe), readback.rs (graph
//! outputs copied out in the step's own submit, into a buffer made once), stream.rs (the two
//! streaming slots of offloaded layers). This file stays the `Backend` impl in one place (just
//! over 500 lines): each method is short and delegates to those files.

mod bandwidth;
mod context;
mod fuse;
mod kernels;
mod pipelines;
mod prepare;
mod profile;
mod readback;
mod shaders;
mod store;
mod stream;
mod wait;

use std::collections::HashMap;
use std::sync::Arc;

pub use context::{AdapterSummary, Tier, WgpuOptions, list_adapters};
pub use pipelines::Constants;
pub use shaders::ShaderSource;
pub use wait::{DEFAULT_TIMEOUT, TIMEOUT_ENV};

/// Every WGSL file, by path under `shaders/`.
pub fn shader_files() -> &'static [(&'static str, &'static str)] {
    shaders::FILES
}

use super::{Backend, DispatchCount, GraphHandle, HostData, KernelTime};
use crate::error::{Error, Result};
use crate::graph::{Buf, ElemType, Graph, Op, ParamId, ParamTable, Plan, Step, TensorId};
use context::Context;
use pipelines::PipelineCache;
use prepare::{Dispatch, GraphBuffers, KernelCtx};
use profile::Profiler;
use store::ParamStore;

struct Prepared {
    graph: Arc<Graph>,
    plan: Arc<Plan>,
    bufs: GraphBuffers,
    dispatches: Vec<Dispatch>,
    counts: DispatchCount,
    /// The graph's outputs, copied out by every execution (readback.rs).
    readback: Option<readback::Readback>,
    /// Submits of one execution: the streamed layer to upload first (if any) and the range of
    /// dispatches (one segment for a graph without streamed weights).
    segments: Vec<(Option<usize>, std::ops::Range<usize>)>,
}

/// Runs graphs on one wgpu device.
pub struct WgpuBackend {
    cx: Context,
    pipes: PipelineCache,
    store: ParamStore,
    graphs: HashMap<GraphHandle, Prepared>,
    next: u32,
    poison: bool,
    profiler: Option<Profiler>,
    /// Layers whose weights are uploaded per execution (stream.rs).
    stream: Option<stream::StreamSet>,
}

impl WgpuBackend {
    pub fn new(opts: &WgpuOptions) -> Result<WgpuBackend> {
        let cx = Context::new(opts)?;
        log::info!(
            "wgpu: {} ({}, {}), tier {}",
            cx.adapter.name,
            cx.adapter.backend,
            cx.adapter.device_type,
            cx.tier
        );
        Ok(WgpuBackend {
            cx,
            pipes: PipelineCache::default(),
            store: ParamStore::default(),
            graphs: HashMap::new(),
            next: 0,
            poison: false,
            profiler: None,
            stream: None,
        })
    }

    pub fn adapter(&self) -> &AdapterSummary {
        &self.cx.adapter
    }

    pub fn tier(&self) -> Tier {
        self.cx.tier
    }

    /// Every (module, constants) pair the kernels can create, for shader validation tests.
    pub fn shader_catalog() -> Vec<(ShaderSource, Constants)> {
        let mut v = kernels::catalog();
        v.push((bandwidth::source(), bandwidth::constants()));
        v
    }

    fn prepared(&self, h: GraphHandle) -> Result<&Prepared> {
        self.graphs
            .get(&h)
            .ok_or_else(|| Error::InvalidArgument(format!("unknown graph handle {}", h.0)))
    }

    /// Splits dispatches into submits at the first dispatch of each streamed layer.
    fn segments(&self, dispatches: &[Dispatch]) -> Vec<(Option<usize>, std::ops::Range<usize>)> {
        let Some(st) = &self.stream else { return vec![(None, 0..dispatches.len())] };
        let mut out: Vec<(Option<usize>, std::ops::Range<usize>)> = vec![(None, 0..0)];
        let mut current = None;
        for (i, d) in dispatches.iter().enumerate() {
            let layer = d.params.iter().find_map(|&p| st.layer_of(p));
            if layer.is_some() && layer != current {
                current = layer;
                out.push((layer, i..i));
            }
            out.last_mut().expect("invariant: one segment").1.end = i + 1;
        }
        out.retain(|(l, r)| l.is_some() || !r.is_empty());
        out
    }

    /// Records and submits one execution: per segment, the streamed layer's upload, then its
    /// dispatches in one compute pass (one pass per dispatch with timestamps when profiling);
    /// the output readback goes in the last submit.
    fn run(&mut self, h: GraphHandle, step: Step) -> Result<()> {
        let g = self
            .graphs
            .get(&h)
            .ok_or_else(|| Error::InvalidArgument(format!("unknown graph handle {}", h.0)))?;
        let mut labels = Vec::new();
        let (cx, stream, mut prof) = (&self.cx, &mut self.stream, self.profiler.as_mut());
        let last = g.segments.len().saturating_sub(1);
        for (si, (layer, range)) in g.segments.iter().enumerate() {
            if let (Some(li), Some(st)) = (layer, stream.as_mut()) {
                st.upload(cx, *li);
            }
            cx.scoped("executing graph", || {
                let mut enc = cx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("step"),
                });
                let dispatches = &g.dispatches[range.clone()];
                match prof.as_deref_mut() {
                    None => {
                        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                            label: Some("step"),
                            timestamp_writes: None,
                        });
                        for d in dispatches {
                            let [x, y, z] = d.groups.at(step);
                            if x == 0 || y == 0 || z == 0 {
                                continue;
                            }
                            pass.set_pipeline(&d.pipeline);
                            pass.set_bind_group(0, &d.bind_group, &[]);
                            pass.dispatch_workgroups(x, y, z);
                        }
                    }
                    Some(prof) => {
                        for d in dispatches {
                            let [x, y, z] = d.groups.at(step);
                            if x == 0 || y == 0 || z == 0 || labels.len() as u32 >= prof.capacity {
                                continue;
                            }
                            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                                label: Some(d.label),
                                timestamp_writes: Some(prof.writes(labels.len() as u32)),
                            });
                            pass.set_pipeline(&d.pipeline);
                            pass.set_bind_group(0, &d.bind_group, &[]);
                            pass.dispatch_workgroups(x, y, z);
                            labels.push(d.label);
                        }
                        if si == last {
                            prof.resolve(&mut enc, labels.len() as u32);
                        }
                    }
                }
                if si == last
                    && let Some(r) = &g.readback
                {
                    r.record(&mut enc, &g.bufs.arena);
                }
                cx.queue.submit([enc.finish()]);
            })?;
        }
        match prof {
            Some(prof) => prof.collect(cx, &labels),
            None => Ok(()),
        }
    }

    /// Copies `bytes` bytes from `src` at `offset` into host memory.
    fn read_bytes(&self, src: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Vec<u8>> {
        let size = bytes.div_ceil(8) * 8;
        let staging = self.cx.scoped("allocating readback buffer", || {
            self.cx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("readback"),
                size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        let copy = bytes.div_ceil(4) * 4;
        let mut enc = self
            .cx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("readback") });
        enc.copy_buffer_to_buffer(src, offset, &staging, 0, copy.min(src.size() - offset));
        self.cx.queue.submit([enc.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.cx.wait("reading results")?;
        rx.recv()
            .map_err(|_| Error::Device("readback never completed".into()))?
            .map_err(|e| Error::Device(format!("mapping readback: {e}")))?;
        let view = staging
            .slice(..)
            .get_mapped_range()
            .map_err(|e| Error::Device(format!("readback view: {e}")))?;
        let out = view[..bytes as usize].to_vec();
        drop(view);
        staging.unmap();
        Ok(out)
    }

    /// Reads the rows of tensor `t` as raw 4-byte words.
    fn read_words(&mut self, h: GraphHandle, t: TensorId, n: usize) -> Result<Vec<u32>> {
        let g = self.prepared(h)?;
        let desc = g.graph.tensor(t);
        if desc.shape.n_elements() != n {
            return Err(Error::InvalidArgument(format!(
                "{} has {} elements, asked for {n}",
                desc.name,
                desc.shape.n_elements()
            )));
        }
        let loc = g.plan.location(t);
        let (rows, cols) = (desc.shape.rows(), desc.shape.cols());
        let Buf::Arena = loc.buf else {
            return Err(Error::InvalidArgument(format!("{} is not an activation", desc.name)));
        };
        let span = ((rows - 1) * loc.row_stride + cols) as u64 * 4;
        let raw = self.read_bytes(&g.bufs.arena, loc.offset as u64 * 4, span)?;
        let words: Vec<u32> =
            raw.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let mut out = Vec::with_capacity(n);
        for r in 0..rows {
            out.extend_from_slice(&words[r * loc.row_stride..r * loc.row_stride + cols]);
        }
        Ok(out)
    }

    /// The single buffer of state tensor `id` and its byte offset there, checking that
    /// `offset .. offset + len` lies inside the tensor.
    fn state_window(&self, id: ParamId, offset: usize, len: usize) -> Result<(wgpu::Buffer, u64)> {
        let p = self.store.get(id)?;
        let [c] = p.chunks.as_slice() else {
            return Err(Error::InvalidArgument(format!("param {} is split in chunks", id.0)));
        };
        if (offset + len) as u64 + 4 > c.size {
            return Err(Error::InvalidArgument(format!("param {}: range out of bounds", id.0)));
        }
        Ok((c.buffer.clone(), c.offset))
    }

    fn param_bytes(&mut self, id: ParamId) -> Result<Vec<u8>> {
        let p = self.store.get(id)?;
        let mut out = Vec::new();
        for c in &p.chunks {
            out.extend(self.read_bytes(&c.buffer, c.offset, c.size - 4)?);
        }
        Ok(out)
    }

    fn arena_words(&mut self, h: GraphHandle) -> Result<Vec<u32>> {
        let g = self.prepared(h)?;
        let raw = self.read_bytes(&g.bufs.arena, 0, g.bufs.arena.size())?;
        Ok(raw.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
}

impl Backend for WgpuBackend {
    fn name(&self) -> String {
        format!(
            "wgpu: {} ({}, tier {})",
            self.cx.adapter.name, self.cx.adapter.backend, self.cx.tier
        )
    }

    fn supports(&self, graph: &Graph, op: &Op) -> bool {
        kernels::supports(graph, op, self.cx.tier)
    }

    fn load_params(&mut self, params: &ParamTable, ids: &[ParamId]) -> Result<()> {
        self.store.load(&self.cx, params, ids, self.poison)
    }

    fn prepare(&mut self, graph: Arc<Graph>, plan: Arc<Plan>) -> Result<GraphHandle> {
        let mut k = KernelCtx {
            cx: &self.cx,
            graph: &graph,
            plan: &plan,
            store: &self.store,
            scratch_bytes: 0,
        };
        for &ni in &plan.order {
            let op = &graph.nodes[ni as usize].op;
            if !kernels::supports(&graph, op, self.cx.tier) {
                let types: Vec<String> =
                    op.inputs().iter().map(|&t| graph.tensor(t).ty.to_string()).collect();
                return Err(Error::Device(format!(
                    "{} on operands of types [{}] is not supported on wgpu in tier {}",
                    op.name(),
                    types.join(", "),
                    self.cx.tier
                )));
            }
        }
        // A fused dispatch may bind weights of several layers only if none is streamed
        // separately (stream.rs uploads a layer right before its first dispatch).
        let stream = self.stream.as_ref();
        let one_stream = |ids: &[ParamId]| {
            let mut layers = ids.iter().filter_map(|&p| stream.and_then(|st| st.layer_of(p)));
            let first = layers.next();
            layers.all(|l| Some(l) == first)
        };
        let units = fuse::units(&graph, &plan, one_stream);
        let (specs, counts) = kernels::unit_dispatches(&mut k, &units)?;
        let scratch = k.scratch_bytes;
        let (bufs, dispatches) =
            prepare::build(&self.cx, &mut self.pipes, &self.store, &plan, specs, scratch)?;
        prepare::log_labels(plan.order.len(), &dispatches);
        let h = GraphHandle(self.next);
        self.next += 1;
        let readback = readback::Readback::new(&self.cx, &graph, &plan)?;
        let segments = self.segments(&dispatches);
        self.graphs
            .insert(h, Prepared { graph, plan, bufs, dispatches, counts, readback, segments });
        Ok(h)
    }

    fn execute(
        &mut self,
        h: GraphHandle,
        step: Step,
        inputs: &[(TensorId, HostData<'_>)],
    ) -> Result<()> {
        let g = self.prepared(h)?;
        let q = &self.cx.queue;
        q.write_buffer(&g.bufs.step, 0, bytemuck::cast_slice(&[step.pos, 0, 0, 0]));
        if self.poison {
            let nan = vec![0xFFu8; g.bufs.arena.size() as usize];
            q.write_buffer(&g.bufs.arena, 0, &nan);
        }
        for &(t, data) in inputs {
            let desc = g.graph.tensor(t);
            let loc = g.plan.locations[t.index()];
            let Some(loc) = loc else { continue };
            let bytes: &[u8] = match (data, desc.ty) {
                (HostData::U32(d), ElemType::U32) if d.len() == desc.shape.n_elements() => {
                    bytemuck::cast_slice(d)
                }
                (HostData::F32(d), ElemType::F32) if d.len() == desc.shape.n_elements() => {
                    bytemuck::cast_slice(d)
                }
                _ => {
                    return Err(Error::InvalidArgument(format!(
                        "input {} wants {} {} values",
                        desc.name,
                        desc.shape.n_elements(),
                        desc.ty
                    )));
                }
            };
            q.write_buffer(&g.bufs.arena, loc.offset as u64 * 4, bytes);
        }
        self.run(h, step)
    }

    fn read_f32(&mut self, h: GraphHandle, t: TensorId, out: &mut [f32]) -> Result<()> {
        let g = self.prepared(h)?;
        if let Some(r) = g.readback.as_ref().filter(|r| r.has(t)) {
            return r.read(&self.cx, t, bytemuck::cast_slice_mut(out));
        }
        let words = self.read_words(h, t, out.len())?;
        for (o, w) in out.iter_mut().zip(words) {
            *o = f32::from_bits(w);
        }
        Ok(())
    }

    fn read_u32(&mut self, h: GraphHandle, t: TensorId, out: &mut [u32]) -> Result<()> {
        let g = self.prepared(h)?;
        if let Some(r) = g.readback.as_ref().filter(|r| r.has(t)) {
            return r.read(&self.cx, t, out);
        }
        let words = self.read_words(h, t, out.len())?;
        out.copy_from_slice(&words);
        Ok(())
    }

    fn release(&mut self, h: GraphHandle) {
        self.graphs.remove(&h);
    }

    fn set_profiling(&mut self, on: bool) -> Result<()> {
        self.profiler = if on { Some(Profiler::new(&self.cx, 2048)?) } else { None };
        Ok(())
    }

    fn profile(&self) -> Vec<KernelTime> {
        self.profiler.as_ref().map(|p| p.totals.clone()).unwrap_or_default()
    }

    fn measure_read_bandwidth(&mut self) -> Result<f64> {
        bandwidth::measure(&self.cx, &mut self.pipes)
    }

    /// 90% of the largest device-local heap the driver reports (the rest is left to other
    /// programs and the driver); on CPU-type adapters (lavapipe) that heap is system memory.
    fn memory_budget(&self) -> Option<u64> {
        self.cx.adapter.memory.map(|m| m / 10 * 9)
    }

    fn kv_type(&self) -> ElemType {
        if self.cx.tier.f16 { ElemType::F16 } else { ElemType::F32 }
    }

    fn dispatch_count(&self, h: GraphHandle) -> Option<DispatchCount> {
        self.graphs.get(&h).map(|g| g.counts.clone())
    }

    fn set_poison(&mut self, on: bool) {
        self.poison = on;
    }

    fn read_arena(&mut self, h: GraphHandle) -> Result<Vec<u32>> {
        self.arena_words(h)
    }

    fn read_param(&mut self, id: ParamId) -> Result<Vec<u8>> {
        self.param_bytes(id)
    }

    fn load_params_streamed(&mut self, params: &ParamTable, layers: &[Vec<ParamId>]) -> Result<()> {
        if self.stream.is_some() || !self.graphs.is_empty() {
            return Err(Error::InvalidArgument(
                "streamed layers are registered once, before any graph is prepared".into(),
            ));
        }
        self.stream = Some(stream::StreamSet::new(&self.cx, &mut self.store, params, layers)?);
        self.cx.check("allocating stream slots")
    }

    fn stream_stats(&mut self) -> Option<super::StreamStats> {
        let st = self.stream.as_mut()?;
        let (uploaded, staging) = st.take_stats();
        Some(super::StreamStats { slot_bytes: st.device_bytes(), uploaded, staging })
    }

    fn measure_upload_bandwidth(&mut self) -> Result<Option<f64>> {
        bandwidth::measure_upload(&self.cx).map(Some)
    }

    fn read_param_range(&mut self, id: ParamId, offset: usize, out: &mut [u8]) -> Result<()> {
        let (buffer, base) = self.state_window(id, offset, out.len())?;
        // Copies are whole words: read the covering words and cut.
        let start = (base + offset as u64) / 4 * 4;
        let end = (base + (offset + out.len()) as u64).div_ceil(4) * 4;
        let raw = self.read_bytes(&buffer, start, end - start)?;
        let skip = (base + offset as u64 - start) as usize;
        out.copy_from_slice(&raw[skip..skip + out.len()]);
        Ok(())
    }

    fn write_param_range(&mut self, id: ParamId, offset: usize, data: &[u8]) -> Result<()> {
        let (buffer, base) = self.state_window(id, offset, data.len())?;
        let at = base + offset as u64;
        if !at.is_multiple_of(4) || !data.len().is_multiple_of(4) {
            return Err(Error::InvalidArgument(format!(
                "param {}: writes must be whole words ({} bytes at {offset})",
                id.0,
                data.len()
            )));
        }
        self.cx.queue.write_buffer(&buffer, at, data);
        self.cx.check("writing state")
    }

    fn unload_params(&mut self, ids: &[ParamId]) {
        self.store.unload(ids);
    }
}
