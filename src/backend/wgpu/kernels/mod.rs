//! Kernel families: each turns one graph node (or one fused group of nodes, fuse.rs) into the
//! dispatches that compute it. The match in [`node_dispatches`] is exhaustive over `Op`, so a
//! new op cannot be forgotten here.

mod argmax;
mod attention;
mod elementwise;
mod embed;
mod glu;
mod matmul;
mod norm;
mod quant;
mod rope;
mod rope_qkv;
mod softmax;

use bytemuck::Pod;

use super::context::Tier;
use super::fuse::Unit;
use super::prepare::{DispatchSpec, KernelCtx, Res};
use crate::backend::{DispatchCount, KernelTypes, inputs_typed};
use crate::error::{Error, Result};
use crate::graph::{Buf, ElemType, Graph, Node, Op, TensorId};

/// The `Params` uniform of a dispatch.
pub(crate) fn params<T: Pod>(p: &T) -> Res {
    Res::Params(bytemuck::bytes_of(p).to_vec())
}

impl KernelCtx<'_> {
    /// Element offset and row stride of an arena tensor, as the u32s kernels take.
    pub(crate) fn arena(&self, t: TensorId) -> Result<(u32, u32)> {
        let loc = self.plan.location(t);
        if loc.buf != Buf::Arena {
            return Err(Error::Device(format!(
                "{} is expected in the activation arena",
                self.graph.tensor(t).name
            )));
        }
        let off = u32::try_from(loc.offset)
            .map_err(|_| Error::OutOfMemory("arena offset beyond 2^32 elements".into()))?;
        Ok((off, loc.row_stride as u32))
    }
}

/// Whether the wgpu backend implements `op` as it appears in `graph` in capability tier
/// `tier`: the op (attention only for head dims the kernel tiles), weights and tables of a
/// type with a WGSL decoder ([`quant::WEIGHT_TYPES`]), KV caches of the tier's type (rope.rs).
pub fn supports(graph: &Graph, op: &Op, tier: Tier) -> bool {
    let op_ok = match op {
        Op::Add { .. }
        | Op::Mul { .. }
        | Op::Scale { .. }
        | Op::Copy { .. }
        | Op::RmsNorm { .. }
        | Op::GetRows { .. }
        | Op::MatMul { .. }
        | Op::MatMulGlu { .. }
        | Op::Glu { .. }
        | Op::Softmax { .. }
        | Op::Argmax { .. }
        | Op::Rope { .. }
        | Op::KvWrite { .. } => true,
        Op::Attention { spec, .. } => attention::supports(spec),
    };
    let decodes = |dt| quant::WEIGHT_TYPES.iter().any(|(t, _)| *t == dt);
    let kv = [if tier.f16 { ElemType::F16 } else { ElemType::F32 }];
    let types = KernelTypes { matmul: decodes, get_rows: decodes, kv: &kv };
    op_ok && inputs_typed(graph, op, &types)
}

/// The dispatches computing `node`.
pub fn node_dispatches(k: &mut KernelCtx<'_>, node: &Node) -> Result<Vec<DispatchSpec>> {
    match &node.op {
        Op::Add { a, b } => elementwise::binary(k, node, *a, Some(*b), elementwise::ADD, 1.0),
        Op::Mul { a, b } => elementwise::binary(k, node, *a, Some(*b), elementwise::MUL, 1.0),
        Op::Scale { x, s } => elementwise::binary(k, node, *x, None, elementwise::SCALE, *s),
        Op::Copy { x } => elementwise::binary(k, node, *x, None, elementwise::COPY, 1.0),
        Op::RmsNorm { x, weight, eps, residual } => {
            norm::rms_norm(k, node, *x, *weight, *eps, *residual)
        }
        Op::Glu { gate, up, act } => glu::glu(k, node, *gate, *up, *act),
        Op::Softmax { x } => softmax::softmax(k, node, *x),
        Op::Argmax { x } => argmax::argmax(k, node, *x),
        Op::Rope { x, table, spec, cache } => rope::rope(k, node, *x, *table, *spec, *cache),
        Op::KvWrite { cache, src } => rope::kv_write(k, *cache, *src),
        Op::Attention { q, k: kt, v, spec } => attention::attention(k, node, *q, *kt, *v, *spec),
        Op::GetRows { table, ids, scale } => embed::get_rows(k, node, *table, *ids, *scale),
        Op::MatMul { weights, x, bias, residual } => {
            matmul::matmul(k, node, weights, *x, *bias, *residual)
        }
        Op::MatMulGlu { gate, up, x, act } => matmul::matmul_glu(k, node, *gate, *up, *x, *act),
    }
}

/// The dispatches computing `units` in order, and how many fall to each layer (a unit counts
/// toward the layer of its last node).
pub fn unit_dispatches(
    k: &mut KernelCtx<'_>,
    units: &[Unit],
) -> Result<(Vec<DispatchSpec>, DispatchCount)> {
    let mut specs = Vec::new();
    let mut counts = DispatchCount::default();
    for unit in units {
        let unit_specs = dispatches_of(k, unit)?;
        counts.total += unit_specs.len();
        if let Some(l) = k.graph.nodes[unit.last_node() as usize].layer {
            let l = l as usize;
            if counts.per_layer.len() <= l {
                counts.per_layer.resize(l + 1, 0);
            }
            counts.per_layer[l] += unit_specs.len();
        }
        specs.extend(unit_specs);
    }
    Ok((specs, counts))
}

fn dispatches_of(k: &mut KernelCtx<'_>, unit: &Unit) -> Result<Vec<DispatchSpec>> {
    match unit {
        Unit::Node(ni) => {
            let graph = k.graph;
            node_dispatches(k, &graph.nodes[*ni as usize])
        }
        Unit::RopeQkv(r) => rope_qkv::rope_qkv(k, r),
        Unit::NormPair(p) => norm::rms_norm_pair(k, p),
    }
}

/// Every module and constant set the runtime can create for the current kernels, for the
/// shader validation test (tests/shaders.rs).
pub fn catalog() -> Vec<(super::shaders::ShaderSource, super::pipelines::Constants)> {
    let mut v = Vec::new();
    v.extend(elementwise::catalog());
    v.extend(norm::catalog());
    v.extend(glu::catalog());
    v.extend(softmax::catalog());
    v.extend(argmax::catalog());
    v.extend(rope::catalog());
    v.extend(rope_qkv::catalog());
    v.extend(attention::catalog());
    v.extend(matmul::catalog());
    v.extend(embed::catalog());
    v
}
