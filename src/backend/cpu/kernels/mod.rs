//! CPU kernels, one file per family, and [`run`]: the exhaustive `match` over `Op`.

mod argmax;
mod attention;
#[cfg(target_arch = "x86_64")]
mod attention_avx2;
mod attention_simd;
mod attention_tiled;
mod dot;
mod elementwise;
#[cfg(target_arch = "x86_64")]
mod exp_avx2;
mod get_rows;
mod glu;
#[cfg(target_arch = "x86_64")]
mod glu_avx2;
mod kv;
mod matmul;
mod matmul_tiled;
mod norm;
mod rope;
mod softmax;
#[cfg(test)]
mod testkit;

pub use matmul::Scratch;

use std::collections::HashMap;

use super::tensors::{CpuParam, Io, Out};
use crate::backend::{KernelTypes, inputs_typed};
use crate::error::{Error, Result};
use crate::graph::{Buf, ElemType, Graph, Node, Op, ParamId, Plan, Step};

/// See [`super::activation_type`].
pub fn activation_type(w: crate::quant::DType) -> Option<crate::quant::DType> {
    dot::kernel(w).map(|k| k.act)
}

/// The element types the CPU kernels read: matmul weights with a dot kernel (`dot::kernel`),
/// get_rows tables of any type `quant::dequantize` decodes, KV caches of F32 or F16 (kv.rs).
const TYPES: KernelTypes<'static> = KernelTypes {
    matmul: |dt| dot::kernel(dt).is_some(),
    get_rows: |_| true,
    kv: &[ElemType::F32, ElemType::F16],
};

/// Whether the CPU backend implements `op` as it appears in `graph`, operand types included.
pub fn supports(graph: &Graph, op: &Op) -> bool {
    let op_ok = match op {
        Op::Add { .. }
        | Op::Mul { .. }
        | Op::Scale { .. }
        | Op::Copy { .. }
        | Op::RmsNorm { .. }
        | Op::Rope { .. }
        | Op::KvWrite { .. }
        | Op::Attention { .. }
        | Op::GetRows { .. }
        | Op::MatMul { .. }
        | Op::MatMulGlu { .. }
        | Op::Glu { .. }
        | Op::Softmax { .. }
        | Op::Argmax { .. } => true,
    };
    op_ok && inputs_typed(graph, op, &TYPES)
}

/// Runs one node: splits the arena around its output, then dispatches on the op.
pub fn run(
    graph: &Graph,
    plan: &Plan,
    node: &Node,
    step: Step,
    arena: &mut [f32],
    params: &mut HashMap<ParamId, CpuParam>,
    scratch: &mut Scratch,
) -> Result<()> {
    let loc = plan.location(node.out);
    match loc.buf {
        Buf::Arena => {
            let n = graph.tensor(node.out).shape.n_elements();
            let (lo, rest) = arena.split_at_mut(loc.offset);
            let (out, hi) = rest.split_at_mut(n);
            let io = Io::new(graph, plan, lo, hi, loc.offset + n, params);
            dispatch(&io, node, step, Out::Arena(out), scratch)
        }
        Buf::Param(p) => {
            // State written in place: take it out of the map while the node runs.
            let mut state = params
                .remove(&p)
                .ok_or_else(|| Error::Device(format!("state {} not loaded", p.0)))?;
            let io = Io::new(graph, plan, arena, &[], usize::MAX, params);
            let r =
                state.bytes_mut().and_then(|b| dispatch(&io, node, step, Out::Param(b), scratch));
            params.insert(p, state);
            r
        }
    }
}

fn dispatch(
    io: &Io<'_>,
    node: &Node,
    step: Step,
    out: Out<'_>,
    scratch: &mut Scratch,
) -> Result<()> {
    match &node.op {
        Op::Add { a, b } => elementwise::binary(
            io.rows(*a)?,
            Some(io.rows(*b)?),
            elementwise::Kind::Add,
            out.arena()?,
        ),
        Op::Mul { a, b } => elementwise::binary(
            io.rows(*a)?,
            Some(io.rows(*b)?),
            elementwise::Kind::Mul,
            out.arena()?,
        ),
        Op::Scale { x, s } => {
            elementwise::binary(io.rows(*x)?, None, elementwise::Kind::Scale(*s), out.arena()?)
        }
        Op::Copy { x } => {
            elementwise::binary(io.rows(*x)?, None, elementwise::Kind::Copy, out.arena()?)
        }
        Op::RmsNorm { x, weight, eps, residual } => {
            let w = io.param_of(*weight)?.1.f32s()?;
            let r = residual.map(|r| io.rows(r)).transpose()?;
            norm::rms_norm(io.rows(*x)?, w, *eps, r, out.arena()?);
            Ok(())
        }
        Op::Rope { .. } => kv::run_rope(io, node, step, out),
        Op::KvWrite { src, .. } => kv::run_kv_write(io, node.out, *src, step, out),
        Op::Attention { q, k, v, spec } => kv::run_attention(io, *q, *k, *v, *spec, step, out),
        Op::GetRows { table, ids, scale } => {
            get_rows::get_rows(io, *table, *ids, *scale, out.arena()?)
        }
        Op::MatMul { weights, x, bias, residual } => {
            matmul::matmul(io, weights, *x, *bias, *residual, scratch, out.arena()?)
        }
        Op::MatMulGlu { gate, up, x, act } => {
            matmul::matmul_glu(io, *gate, *up, *x, *act, scratch, out.arena()?)
        }
        Op::Glu { gate, up, act } => {
            glu::glu(io.rows(*gate)?, io.rows(*up)?, *act, out.arena()?);
            Ok(())
        }
        Op::Softmax { x } => {
            softmax::softmax(io.rows(*x)?, out.arena()?);
            Ok(())
        }
        Op::Argmax { x } => {
            argmax::argmax(io.rows(*x)?, out.arena()?);
            Ok(())
        }
    }
}
