//! Turns a planned graph into a list of ready dispatches: every pipeline, uniform and bind group
//! is created here, once, so executing a step only records and submits.
//!
//! Kernel families (kernels/*.rs) describe their dispatches as [`DispatchSpec`]s — which module,
//! which constants, which resources at which binding, how many workgroups — and this file makes
//! the wgpu objects. Binding conventions shared by all kernels: 0 = the dispatch's own `Params`
//! uniform, 1 = the per-step uniform (common/step.wgsl), 2 = the activation arena as
//! `array<f32>` (3 as `array<u32>` where a kernel reads or writes token ids); weights, caches and
//! tables follow.

use std::sync::Arc;

use super::context::Context;
use super::pipelines::{Constants, PipelineCache};
use super::shaders::ShaderSource;
use super::store::ParamStore;
use crate::error::{Error, Result};
use crate::graph::{Graph, ParamId, Plan, Step};

/// A resource bound to one binding of a dispatch.
pub enum Res {
    /// The dispatch's `Params` uniform, as bytes (a `#[repr(C)]` struct, size a multiple of 16).
    Params(Vec<u8>),
    /// The per-step uniform.
    Step,
    /// The whole activation arena.
    Arena,
    /// Chunk `k` of a persistent tensor (chunk 0 for tensors that fit one binding).
    Param(ParamId, usize),
    /// The graph's scratch buffer (shared by all dispatches, which run one after another).
    Scratch,
}

/// Workgroup counts of a dispatch, fixed or computed from the step (e.g. attention splits that
/// grow with the KV length).
#[derive(Clone)]
pub enum Groups {
    Fixed([u32; 3]),
    PerStep(Arc<dyn Fn(Step) -> [u32; 3] + Send + Sync>),
}

impl Groups {
    pub fn at(&self, step: Step) -> [u32; 3] {
        match self {
            Groups::Fixed(g) => *g,
            Groups::PerStep(f) => f(step),
        }
    }
}

/// What a kernel family asks for one dispatch.
pub struct DispatchSpec {
    pub src: ShaderSource,
    pub constants: Constants,
    pub bindings: Vec<(u32, Res)>,
    pub groups: Groups,
}

/// Splits `n` workgroups over x and y so neither exceeds the per-dimension limit; kernels
/// recover the linear index with `linear_wg` (common/grid.wgsl) and skip indices ≥ n.
pub fn grid_1d(n: u32, max_per_dim: u32) -> [u32; 3] {
    if n <= max_per_dim {
        return [n.max(1), 1, 1];
    }
    let y = n.div_ceil(max_per_dim);
    [n.div_ceil(y), y, 1]
}

/// What kernel families may look at while describing dispatches.
pub struct KernelCtx<'a> {
    pub cx: &'a Context,
    pub graph: &'a Graph,
    pub plan: &'a Plan,
    pub store: &'a ParamStore,
    /// Scratch bytes any dispatch needs; families raise it.
    pub scratch_bytes: usize,
}

impl KernelCtx<'_> {
    /// Workgroup grid for `n` workgroups on this device.
    pub fn grid(&self, n: u32) -> Groups {
        Groups::Fixed(grid_1d(n, self.cx.limits.max_compute_workgroups_per_dimension))
    }
}

/// A dispatch ready to record.
pub struct Dispatch {
    pub pipeline: Arc<wgpu::ComputePipeline>,
    pub bind_group: wgpu::BindGroup,
    pub groups: Groups,
    pub label: &'static str,
    /// Persistent tensors the dispatch binds (which streamed layer it needs, stream.rs).
    pub params: Vec<ParamId>,
}

/// Device buffers of one prepared graph.
pub struct GraphBuffers {
    pub arena: wgpu::Buffer,
    pub step: wgpu::Buffer,
    pub uniforms: Option<wgpu::Buffer>,
    pub scratch: Option<wgpu::Buffer>,
}

fn storage_buffer(cx: &Context, label: &str, size: u64) -> Result<wgpu::Buffer> {
    cx.scoped(&format!("allocating {label} ({size} bytes)"), || {
        cx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })
    })
}

/// Creates the graph's buffers and every dispatch of `specs`.
pub fn build(
    cx: &Context,
    pipes: &mut PipelineCache,
    store: &ParamStore,
    plan: &Plan,
    specs: Vec<DispatchSpec>,
    scratch_bytes: usize,
) -> Result<(GraphBuffers, Vec<Dispatch>)> {
    let arena_size = (plan.arena_bytes.max(4) as u64).div_ceil(4) * 4;
    if arena_size > cx.max_binding {
        return Err(Error::OutOfMemory(format!(
            "the graph needs {} MiB of activations but the adapter binds at most {} MiB; use a smaller batch",
            arena_size >> 20,
            cx.max_binding >> 20
        )));
    }
    let arena = storage_buffer(cx, "activation arena", arena_size)?;
    let step = cx.scoped("allocating step uniform", || {
        cx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("step"),
            size: 16,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    })?;
    let scratch = match scratch_bytes {
        0 => None,
        n => Some(storage_buffer(cx, "scratch", (n as u64).div_ceil(4) * 4)?),
    };

    // All Params uniforms in one buffer, each at an aligned offset.
    let align = cx.limits.min_uniform_buffer_offset_alignment.max(16) as usize;
    let mut blob: Vec<u8> = Vec::new();
    let mut slots: Vec<Vec<(usize, usize)>> = Vec::with_capacity(specs.len());
    for spec in &specs {
        let mut s = Vec::new();
        for (_, res) in &spec.bindings {
            if let Res::Params(bytes) = res {
                let off = blob.len().div_ceil(align) * align;
                blob.resize(off, 0);
                blob.extend_from_slice(bytes);
                s.push((off, bytes.len()));
            }
        }
        slots.push(s);
    }
    let uniforms = if blob.is_empty() {
        None
    } else {
        let buf = cx.scoped("allocating kernel parameters", || {
            cx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("kernel params"),
                size: (blob.len() as u64).div_ceil(16) * 16,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        blob.resize(blob.len().div_ceil(16) * 16, 0);
        cx.queue.write_buffer(&buf, 0, &blob);
        Some(buf)
    };
    let bufs = GraphBuffers { arena, step, uniforms, scratch };

    let mut dispatches = Vec::with_capacity(specs.len());
    for (spec, slot) in specs.into_iter().zip(slots) {
        let pipeline = pipes.get(cx, &spec.src, &spec.constants)?;
        let mut slot = slot.into_iter();
        let mut entries = Vec::with_capacity(spec.bindings.len());
        for (binding, res) in &spec.bindings {
            let resource = match res {
                Res::Params(_) => {
                    let (off, len) = slot.next().expect("invariant: one slot per Params");
                    let buf = bufs.uniforms.as_ref().expect("invariant: params exist");
                    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: buf,
                        offset: off as u64,
                        size: std::num::NonZeroU64::new(len as u64),
                    })
                }
                Res::Step => bufs.step.as_entire_binding(),
                Res::Arena => bufs.arena.as_entire_binding(),
                Res::Param(id, k) => {
                    let p = store.get(*id)?;
                    let c = p
                        .chunks
                        .get(*k)
                        .ok_or_else(|| Error::Device(format!("param {} has no chunk {k}", id.0)))?;
                    c.binding()
                }
                Res::Scratch => bufs
                    .scratch
                    .as_ref()
                    .ok_or_else(|| {
                        Error::Device("a kernel binds scratch but asked for none".into())
                    })?
                    .as_entire_binding(),
            };
            entries.push(wgpu::BindGroupEntry { binding: *binding, resource });
        }
        let label = spec.src.label();
        let layout = pipeline.get_bind_group_layout(0);
        let bind_group = cx.scoped(&format!("binding {label}"), || {
            cx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(label),
                layout: &layout,
                entries: &entries,
            })
        })?;
        let params = spec
            .bindings
            .iter()
            .filter_map(|(_, r)| if let Res::Param(id, _) = r { Some(*id) } else { None })
            .collect();
        dispatches.push(Dispatch { pipeline, bind_group, groups: spec.groups, label, params });
    }
    Ok((bufs, dispatches))
}

/// Logs (at debug level) how many dispatches each kernel label got.
pub fn log_labels(n_nodes: usize, dispatches: &[Dispatch]) {
    if !log::log_enabled!(log::Level::Debug) {
        return;
    }
    let mut labels: Vec<(&str, usize)> = Vec::new();
    for d in dispatches {
        match labels.iter_mut().find(|c| c.0 == d.label) {
            Some(c) => c.1 += 1,
            None => labels.push((d.label, 1)),
        }
    }
    log::debug!("prepared graph: {n_nodes} nodes, {} dispatches {labels:?}", dispatches.len());
}
