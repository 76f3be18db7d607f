//! The graph-level backend interface, implemented by the CPU backend and the wgpu backend.
//!
//! May use: `graph`, `quant`, `error`. Invariant: a backend executes a whole [`Plan`] per call
//! (one submission on a GPU); per-op dispatch is private to each backend, whose `match` on
//! [`Op`](crate::graph::Op) is exhaustive. [`inputs_typed`] is the one place that says which
//! element type each operand of each op must have; a backend supplies only what differs (the
//! weight types its kernels decode, its KV cache type).

pub mod cpu;
pub mod wgpu;

use std::sync::Arc;

use crate::error::Result;
use crate::graph::{ElemType, Graph, Op, ParamId, ParamTable, Plan, Step, TensorId};
use crate::quant::DType;

/// Handle of a graph prepared on a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GraphHandle(pub u32);

/// Host data for one graph input.
#[derive(Debug, Clone, Copy)]
pub enum HostData<'a> {
    U32(&'a [u32]),
    F32(&'a [f32]),
}

/// Accumulated time of one kernel (wgpu: shader label; CPU: op name) while profiling.
#[derive(Debug, Clone)]
pub struct KernelTime {
    pub label: String,
    pub calls: u64,
    pub total: std::time::Duration,
}

/// What streaming weights cost (see [`Backend::stream_stats`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamStats {
    /// Device bytes of the two reusable slots.
    pub slot_bytes: u64,
    /// Bytes uploaded since the last call.
    pub uploaded: u64,
    /// Host time spent staging those uploads.
    pub staging: std::time::Duration,
}

/// Kernel dispatches one execution of a prepared graph records (GPU backends).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DispatchCount {
    pub total: usize,
    /// Dispatches of each transformer layer, by layer index (a dispatch fused from nodes of
    /// two layers counts toward the later one; embedding and head dispatches in none).
    pub per_layer: Vec<usize>,
}

impl DispatchCount {
    /// Adds `other`'s dispatches (another segment of the same graph).
    pub fn add(&mut self, other: &DispatchCount) {
        self.total += other.total;
        if self.per_layer.len() < other.per_layer.len() {
            self.per_layer.resize(other.per_layer.len(), 0);
        }
        for (a, b) in self.per_layer.iter_mut().zip(&other.per_layer) {
            *a += b;
        }
    }

    /// Fewest and most dispatches of the layers that have any.
    pub fn layer_range(&self) -> Option<(usize, usize)> {
        let counts = self.per_layer.iter().copied().filter(|&c| c > 0);
        Some((counts.clone().min()?, counts.max()?))
    }
}

/// A device that runs graphs.
pub trait Backend: Send {
    /// Human-readable name, e.g. `cpu (2 threads, avx2)` or `wgpu: llvmpipe (Vulkan)`.
    fn name(&self) -> String;

    /// Whether the backend can run `op` as it appears in `graph` (dtypes of its inputs).
    fn supports(&self, graph: &Graph, op: &Op) -> bool;

    /// Forgets persistent tensors loaded earlier (frees their memory).
    fn unload_params(&mut self, ids: &[ParamId]);

    /// Makes the persistent tensors `ids` of `params` available: weights uploaded once (still
    /// quantized), state (KV caches) allocated and zeroed. Called once per model load.
    fn load_params(&mut self, params: &ParamTable, ids: &[ParamId]) -> Result<()>;

    /// Prepares `graph` for repeated execution with `plan` (allocates its arena; on a GPU also
    /// builds every bind group), so nothing is created per step.
    fn prepare(&mut self, graph: Arc<Graph>, plan: Arc<Plan>) -> Result<GraphHandle>;

    /// Runs a prepared graph once. `inputs` gives every host input of the graph.
    fn execute(
        &mut self,
        graph: GraphHandle,
        step: Step,
        inputs: &[(TensorId, HostData<'_>)],
    ) -> Result<()>;

    /// Copies an f32 tensor of the last execution into `out` (its exact length).
    fn read_f32(&mut self, graph: GraphHandle, t: TensorId, out: &mut [f32]) -> Result<()>;

    /// Copies a U32 tensor of the last execution into `out` (its exact length).
    fn read_u32(&mut self, graph: GraphHandle, t: TensorId, out: &mut [u32]) -> Result<()>;

    /// Drops a prepared graph and its arena.
    fn release(&mut self, graph: GraphHandle);

    /// Turns per-kernel timing on or off (totals restart). On a GPU each dispatch then runs in
    /// a pass of its own with timestamps, which costs time: for finding hot spots only.
    fn set_profiling(&mut self, on: bool) -> Result<()>;

    /// Time per kernel since profiling was turned on.
    fn profile(&self) -> Vec<KernelTime>;

    /// The device's peak read bandwidth in bytes per second (10^9 per GB/s), measured now with
    /// a streaming read over a buffer much larger than any cache: on the CPU, every thread of
    /// the backend's pool summing its part (cpu/bandwidth.rs); on wgpu, a probe shader timed
    /// with timestamp queries (wgpu/bandwidth.rs). Takes about half a second; for benchmarks.
    fn measure_read_bandwidth(&mut self) -> Result<f64>;

    /// Registers `layers` (the weight ids of each layer, in execution order) as streamed: their
    /// bytes stay in host memory and are uploaded into one of two reusable device slots right
    /// before the layer's kernels run, each execution (wgpu/stream.rs). Call before preparing
    /// graphs. Backends that compute in host memory do not stream.
    fn load_params_streamed(&mut self, params: &ParamTable, layers: &[Vec<ParamId>]) -> Result<()> {
        let _ = (params, layers);
        Err(crate::error::Error::InvalidArgument(format!(
            "{} does not stream weights",
            self.name()
        )))
    }

    /// Device bytes the streaming slots take, and the bytes uploaded and host time spent
    /// staging them since the last call (`None`: nothing is streamed).
    fn stream_stats(&mut self) -> Option<StreamStats> {
        None
    }

    /// Host-to-device upload bandwidth in bytes per second, measured now by uploading and
    /// waiting (`None` for a backend that computes in host memory).
    fn measure_upload_bandwidth(&mut self) -> Result<Option<f64>> {
        Ok(None)
    }

    /// Copies bytes `offset .. offset + out.len()` of persistent tensor `id` into `out` (KV
    /// cache rows that move between devices when prefill and decode place a layer apart).
    fn read_param_range(&mut self, id: ParamId, offset: usize, out: &mut [u8]) -> Result<()>;

    /// Overwrites bytes `offset .. offset + data.len()` of persistent state tensor `id`.
    fn write_param_range(&mut self, id: ParamId, offset: usize, data: &[u8]) -> Result<()>;

    /// Bytes of device memory kiln should plan with by default (`None`: unknown or unlimited).
    fn memory_budget(&self) -> Option<u64>;

    /// Element type this backend wants for KV caches (F16 where it can store halves).
    fn kv_type(&self) -> ElemType;

    /// Kernel dispatches per execution of a prepared graph (`None`: the backend does not
    /// dispatch kernels, e.g. the CPU).
    fn dispatch_count(&self, graph: GraphHandle) -> Option<DispatchCount> {
        let _ = graph;
        None
    }

    /// Test aid: when on, activations and freshly allocated state start as NaN, so an output
    /// element a kernel forgot to write, or a read of a never-written KV slot, shows up.
    fn set_poison(&mut self, on: bool);

    /// Test aid: the whole activation arena of a prepared graph after its last execution.
    fn read_arena(&mut self, graph: GraphHandle) -> Result<Vec<u32>>;

    /// Test aid: the raw bytes of a persistent tensor (KV caches after a step).
    fn read_param(&mut self, id: ParamId) -> Result<Vec<u8>>;
}

/// The element types a backend's kernels read, for [`Backend::supports`].
pub(crate) struct KernelTypes<'a> {
    /// Weight types that matmul and matmul_glu decode.
    pub matmul: fn(DType) -> bool,
    /// Table types that get_rows decodes.
    pub get_rows: fn(DType) -> bool,
    /// KV cache types that rope-into-cache, kv_write and attention read and write.
    pub kv: &'a [ElemType],
}

/// Whether every operand of `op` in `graph` has a type `types` can read. Activations, biases,
/// norm weights and RoPE tables are F32 and token ids U32 on every backend (the builder
/// asserts as much; this also covers graphs built another way, e.g. with a file's dtypes).
pub(crate) fn inputs_typed(graph: &Graph, op: &Op, types: &KernelTypes<'_>) -> bool {
    let ty = |t: TensorId| graph.tensor(t).ty;
    let f32s = |ts: &[TensorId]| ts.iter().all(|&t| ty(t) == ElemType::F32);
    let weight = |t: &TensorId| matches!(ty(*t), ElemType::Float(dt) if (types.matmul)(dt));
    let kv = |t: TensorId| types.kv.contains(&ty(t));
    match op {
        Op::GetRows { table, ids, .. } => {
            matches!(ty(*table), ElemType::Float(dt) if (types.get_rows)(dt))
                && ty(*ids) == ElemType::U32
        }
        Op::MatMul { weights, x, bias, residual } => {
            weights.iter().all(weight)
                && f32s(&[*x])
                && bias.iter().chain(residual.iter()).all(|&t| ty(t) == ElemType::F32)
        }
        Op::MatMulGlu { gate, up, x, .. } => weight(gate) && weight(up) && f32s(&[*x]),
        Op::RmsNorm { x, weight, residual, .. } => {
            f32s(&[*x, *weight]) && residual.is_none_or(|r| ty(r) == ElemType::F32)
        }
        Op::Rope { x, table, cache, .. } => f32s(&[*x, *table]) && cache.is_none_or(kv),
        Op::KvWrite { cache, src } => kv(*cache) && f32s(&[*src]),
        Op::Attention { q, k, v, .. } => f32s(&[*q]) && kv(*k) && kv(*v),
        Op::Glu { gate: a, up: b, .. } | Op::Add { a, b } | Op::Mul { a, b } => f32s(&[*a, *b]),
        Op::Softmax { x } | Op::Scale { x, .. } | Op::Argmax { x } | Op::Copy { x } => f32s(&[*x]),
    }
}
