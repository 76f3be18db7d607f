//! The CPU backend: graphs run on a rayon thread pool; weights are used in place from the
//! memory-mapped file (copied only when the mapping is not 4-byte aligned).
//!
//! Files: tensors.rs (arena and parameter access with safe disjoint borrows), kernels/ (one file
//! per kernel family, the exhaustive `match` on `Op` in kernels/mod.rs), bandwidth.rs (the peak
//! read bandwidth probe). Invariant: nothing is allocated per step except what a kernel
//! documents (scratch is owned by the prepared graph).

mod bandwidth;
mod kernels;
mod tensors;

use std::collections::HashMap;
use std::sync::Arc;

use super::{Backend, GraphHandle, HostData, KernelTime};
use crate::error::{Error, Result};
use crate::graph::{
    Buf, ElemType, Graph, Op, ParamId, ParamInit, ParamTable, Plan, Step, TensorId,
};
pub(crate) use tensors::{CpuParam, Rows};

struct Prepared {
    graph: Arc<Graph>,
    plan: Arc<Plan>,
    arena: Vec<f32>,
    scratch: kernels::Scratch,
}

/// Runs graphs on the host CPU.
pub struct CpuBackend {
    pool: rayon::ThreadPool,
    threads: usize,
    params: HashMap<ParamId, CpuParam>,
    graphs: HashMap<GraphHandle, Prepared>,
    next: u32,
    poison: bool,
    /// Per-op totals while profiling.
    profile: Option<Vec<KernelTime>>,
}

/// The type the CPU backend converts activations to before multiplying them with weights of
/// type `w` (ggml's `vec_dot_type`: 8-bit blocks for quantized weights, f16/bf16 for half
/// weights, f32 for f32), or `None` for types never used as weights.
pub fn activation_type(w: crate::quant::DType) -> Option<crate::quant::DType> {
    kernels::activation_type(w)
}

impl CpuBackend {
    /// A backend with `threads` worker threads (0: one per available core).
    pub fn new(threads: usize) -> Result<CpuBackend> {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        } else {
            threads
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("kiln-cpu-{i}"))
            .build()
            .map_err(|e| Error::Device(format!("starting {threads} CPU threads: {e}")))?;
        Ok(CpuBackend {
            pool,
            threads,
            params: HashMap::new(),
            graphs: HashMap::new(),
            next: 0,
            poison: false,
            profile: None,
        })
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    fn prepared(&self, h: GraphHandle) -> Result<&Prepared> {
        self.graphs
            .get(&h)
            .ok_or_else(|| Error::InvalidArgument(format!("unknown graph handle {}", h.0)))
    }

    /// Writes the words of activation `t` (`out.len()` elements) into `out` with `word`.
    fn read_words<T>(
        &self,
        h: GraphHandle,
        t: TensorId,
        out: &mut [T],
        word: impl Fn(f32) -> T,
    ) -> Result<()> {
        let g = self.prepared(h)?;
        let desc = g.graph.tensor(t);
        let n = out.len();
        if desc.shape.n_elements() != n {
            return Err(Error::InvalidArgument(format!(
                "{} has {} elements, asked for {n}",
                desc.name,
                desc.shape.n_elements()
            )));
        }
        let loc = g.plan.location(t);
        if loc.buf != Buf::Arena {
            return Err(Error::InvalidArgument(format!("{} is not an activation", desc.name)));
        }
        let cols = desc.shape.cols();
        for (r, dst) in out.chunks_exact_mut(cols.max(1)).enumerate() {
            let s = loc.offset + r * loc.row_stride;
            dst.iter_mut().zip(&g.arena[s..s + cols]).for_each(|(o, &v)| *o = word(v));
        }
        Ok(())
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> String {
        format!("cpu ({} threads)", self.threads)
    }

    fn supports(&self, graph: &Graph, op: &Op) -> bool {
        kernels::supports(graph, op)
    }

    fn load_params(&mut self, params: &ParamTable, ids: &[ParamId]) -> Result<()> {
        for &id in ids {
            if self.params.contains_key(&id) {
                continue;
            }
            let p = params.get(id);
            let param = match &p.init {
                ParamInit::Data(bytes) => CpuParam::from_host(bytes),
                ParamInit::Zeroed => CpuParam::zeroed(p.n_bytes(), self.poison)?,
            };
            self.params.insert(id, param);
        }
        Ok(())
    }

    fn unload_params(&mut self, ids: &[ParamId]) {
        for id in ids {
            self.params.remove(id);
        }
    }

    fn prepare(&mut self, graph: Arc<Graph>, plan: Arc<Plan>) -> Result<GraphHandle> {
        for &ni in &plan.order {
            let op = &graph.nodes[ni as usize].op;
            if !kernels::supports(&graph, op) {
                let types: Vec<String> =
                    op.inputs().iter().map(|&t| graph.tensor(t).ty.to_string()).collect();
                return Err(Error::Device(format!(
                    "{} on operands of types [{}] is not supported on the CPU backend",
                    op.name(),
                    types.join(", ")
                )));
            }
        }
        let n = plan.arena_bytes / 4;
        let mut arena = Vec::new();
        arena.try_reserve_exact(n).map_err(|_| {
            Error::OutOfMemory(format!("{} MiB of activations", plan.arena_bytes >> 20))
        })?;
        arena.resize(n, 0.0);
        let h = GraphHandle(self.next);
        self.next += 1;
        self.graphs.insert(h, Prepared { graph, plan, arena, scratch: Default::default() });
        Ok(h)
    }

    fn execute(
        &mut self,
        h: GraphHandle,
        step: Step,
        inputs: &[(TensorId, HostData<'_>)],
    ) -> Result<()> {
        let poison = self.poison;
        let g = self
            .graphs
            .get_mut(&h)
            .ok_or_else(|| Error::InvalidArgument(format!("unknown graph handle {}", h.0)))?;
        if poison {
            g.arena.fill(f32::from_bits(0xFFFF_FFFF));
        }
        for &(t, data) in inputs {
            let desc = g.graph.tensor(t);
            let Some(loc) = g.plan.locations[t.index()] else { continue };
            let n = desc.shape.n_elements();
            let dst = &mut g.arena[loc.offset..loc.offset + n];
            match (data, desc.ty) {
                (HostData::U32(d), ElemType::U32) if d.len() == n => {
                    dst.iter_mut().zip(d).for_each(|(o, &v)| *o = f32::from_bits(v));
                }
                (HostData::F32(d), ElemType::F32) if d.len() == n => dst.copy_from_slice(d),
                _ => {
                    return Err(Error::InvalidArgument(format!(
                        "input {} wants {n} {} values",
                        desc.name, desc.ty
                    )));
                }
            }
        }
        let (graph, plan) = (g.graph.clone(), g.plan.clone());
        let params = &mut self.params;
        let arena = &mut g.arena;
        let scratch = &mut g.scratch;
        let profile = &mut self.profile;
        self.pool.install(|| -> Result<()> {
            for &ni in &plan.order {
                let node = &graph.nodes[ni as usize];
                let t0 = profile.is_some().then(std::time::Instant::now);
                kernels::run(&graph, &plan, node, step, arena, params, scratch).map_err(|e| {
                    Error::Device(format!(
                        "{} ({}): {e}",
                        node.op.name(),
                        graph.tensor(node.out).name
                    ))
                })?;
                if let (Some(t0), Some(totals)) = (t0, profile.as_mut()) {
                    let d = t0.elapsed();
                    match totals.iter_mut().find(|t| t.label == node.op.name()) {
                        Some(t) => {
                            t.calls += 1;
                            t.total += d;
                        }
                        None => totals.push(KernelTime {
                            label: node.op.name().into(),
                            calls: 1,
                            total: d,
                        }),
                    }
                }
            }
            Ok(())
        })
    }

    fn read_f32(&mut self, h: GraphHandle, t: TensorId, out: &mut [f32]) -> Result<()> {
        self.read_words(h, t, out, |v| v)
    }

    fn read_u32(&mut self, h: GraphHandle, t: TensorId, out: &mut [u32]) -> Result<()> {
        self.read_words(h, t, out, f32::to_bits)
    }

    fn release(&mut self, h: GraphHandle) {
        self.graphs.remove(&h);
    }

    fn set_profiling(&mut self, on: bool) -> Result<()> {
        self.profile = on.then(Vec::new);
        Ok(())
    }

    fn profile(&self) -> Vec<KernelTime> {
        self.profile.clone().unwrap_or_default()
    }

    fn measure_read_bandwidth(&mut self) -> Result<f64> {
        bandwidth::measure(&self.pool, self.threads)
    }

    fn memory_budget(&self) -> Option<u64> {
        None
    }

    fn kv_type(&self) -> ElemType {
        ElemType::F16
    }

    fn set_poison(&mut self, on: bool) {
        self.poison = on;
    }

    fn read_arena(&mut self, h: GraphHandle) -> Result<Vec<u32>> {
        Ok(self.prepared(h)?.arena.iter().map(|v| v.to_bits()).collect())
    }

    fn read_param_range(&mut self, id: ParamId, offset: usize, out: &mut [u8]) -> Result<()> {
        let p = self
            .params
            .get(&id)
            .ok_or_else(|| Error::InvalidArgument(format!("param {} not loaded", id.0)))?;
        let src =
            offset.checked_add(out.len()).and_then(|end| p.bytes().get(offset..end)).ok_or_else(
                || Error::InvalidArgument(format!("param {}: range out of bounds", id.0)),
            )?;
        out.copy_from_slice(src);
        Ok(())
    }

    fn write_param_range(&mut self, id: ParamId, offset: usize, data: &[u8]) -> Result<()> {
        let p = self
            .params
            .get_mut(&id)
            .ok_or_else(|| Error::InvalidArgument(format!("param {} not loaded", id.0)))?;
        let dst = offset
            .checked_add(data.len())
            .and_then(|end| p.bytes_mut().ok()?.get_mut(offset..end))
            .ok_or_else(|| {
                Error::InvalidArgument(format!("param {}: not state, or range out of bounds", id.0))
            })?;
        dst.copy_from_slice(data);
        Ok(())
    }

    fn read_param(&mut self, id: ParamId) -> Result<Vec<u8>> {
        let p = self
            .params
            .get(&id)
            .ok_or_else(|| Error::InvalidArgument(format!("param {} not loaded", id.0)))?;
        Ok(p.bytes().to_vec())
    }
}
