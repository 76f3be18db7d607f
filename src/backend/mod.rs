//! The graph-level backend interface, implemented by the CPU backend and the wgpu backend.
//!
//! May use: `graph`, `quant`, `error`. Invariant: a backend executes a whole [`Plan`] per call
//! (one submission on a GPU); per-op dispatch is private to each backend, whose `match` on
//! [`Op`](crate::graph::Op) is exhaustive.

pub mod cpu;
pub mod wgpu;

use std::sync::Arc;

use crate::error::Result;
use crate::graph::{ElemType, Graph, Op, ParamId, ParamTable, Plan, Step, TensorId};

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

    /// Bytes of device memory kiln should plan with by default (`None`: unknown or unlimited).
    fn memory_budget(&self) -> Option<u64>;

    /// Element type this backend wants for KV caches (F16 where it can store halves).
    fn kv_type(&self) -> ElemType;

    /// Test aid: when on, activations and freshly allocated state start as NaN, so an output
    /// element a kernel forgot to write, or a read of a never-written KV slot, shows up.
    fn set_poison(&mut self, on: bool);

    /// Test aid: the whole activation arena of a prepared graph after its last execution.
    fn read_arena(&mut self, graph: GraphHandle) -> Result<Vec<u32>>;

    /// Test aid: the raw bytes of a persistent tensor (KV caches after a step).
    fn read_param(&mut self, id: ParamId) -> Result<Vec<u8>>;
}
