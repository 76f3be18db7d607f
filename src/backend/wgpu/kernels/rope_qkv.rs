//! One attention layer's Q/K/V preparation in one dispatch (shaders/rope_qkv.wgsl): optional
//! per-head RMSNorm of Q and K, RoPE of Q into its tensor and of K into the K cache, V into the
//! V cache. Built from a [`RopeQkv`] that fuse.rs found among the graph's nodes.
//!
//! Invariant: the same contract as the unfused kernels (rope.rs, norm.rs): caches of the
//! tier's type, zeros for positions without a table row, no cache write at positions ≥ ctx.

use bytemuck::{Pod, Zeroable};

use super::params;
use super::rope::kv_cache;
use crate::backend::wgpu::fuse::RopeQkv;
use crate::backend::wgpu::pipelines::Constants;
use crate::backend::wgpu::prepare::{DispatchSpec, KernelCtx, Res};
use crate::backend::wgpu::shaders::ShaderSource;
use crate::error::{Error, Result};
use crate::graph::{Buf, ParamId, TensorId};

/// Lanes per workgroup with a norm: rms_norm.rs's WG, so the sums of squares are taken in the
/// same order and the fused norm equals the unfused one bit for bit.
const WG_NORM: u32 = 256;
/// Lanes per workgroup without a norm: a head's slots (32 for head_dim 64) and V copies,
/// without 256-lane workgroups that are mostly idle.
const WG_PLAIN: u32 = 64;

/// Mirrors `Params` in shaders/rope_qkv.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RopeQkvParams {
    n_tokens: u32,
    n_heads: u32,
    n_kv_heads: u32,
    head_dim: u32,
    n_rot: u32,
    neox: u32,
    max_pos: u32,
    ctx: u32,
    q_off: u32,
    q_stride: u32,
    k_off: u32,
    k_stride: u32,
    v_off: u32,
    v_stride: u32,
    y_off: u32,
    y_stride: u32,
    norm: u32,
    q_eps: f32,
    k_eps: f32,
    _pad: u32,
}

fn source() -> ShaderSource {
    ShaderSource::new(&[
        "common/step.wgsl",
        "common/grid.wgsl",
        "common/rope_pair.wgsl",
        "rope_qkv.wgsl",
    ])
}

pub fn catalog() -> Vec<(ShaderSource, Constants)> {
    vec![(source(), vec![("WG", WG_NORM)]), (source(), vec![("WG", WG_PLAIN)])]
}

fn persistent(k: &KernelCtx<'_>, t: TensorId, what: &str) -> Result<ParamId> {
    match k.plan.location(t).buf {
        Buf::Param(id) => Ok(id),
        Buf::Arena => {
            Err(Error::Device(format!("rope_qkv: the {what} must be a persistent tensor")))
        }
    }
}

pub fn rope_qkv(k: &mut KernelCtx<'_>, r: &RopeQkv) -> Result<Vec<DispatchSpec>> {
    let n_tokens = k.graph.tensor(r.q).shape.rows();
    let n_tokens = u32::try_from(n_tokens)
        .map_err(|_| Error::InvalidArgument(format!("token count {n_tokens} exceeds 2^32")))?;
    let (q_off, q_stride) = k.arena(r.q)?;
    let (k_off, k_stride) = k.arena(r.k)?;
    let (v_off, v_stride) = k.arena(r.v)?;
    let (y_off, y_stride) = k.arena(r.q_out)?;
    let (kc, ctx) = kv_cache(k, r.k_cache)?;
    let (vc, _) = kv_cache(k, r.v_cache)?;
    let table = persistent(k, r.table, "RoPE table")?;
    let max_pos = k.graph.tensor(r.table).shape.dims()[0] as u32;
    // Without a norm its binding holds the table (read, never used).
    let norm_weight = |n: Option<(TensorId, f32)>| -> Result<(ParamId, f32, bool)> {
        match n {
            Some((w, eps)) => Ok((persistent(k, w, "norm weight")?, eps, true)),
            None => Ok((table, 0.0, false)),
        }
    };
    let (qw, q_eps, q_on) = norm_weight(r.q_norm)?;
    let (kw, k_eps, k_on) = norm_weight(r.k_norm)?;
    let p = RopeQkvParams {
        n_tokens,
        n_heads: r.spec.n_heads,
        n_kv_heads: r.n_kv_heads,
        head_dim: r.spec.head_dim,
        n_rot: r.spec.n_rot,
        neox: r.spec.neox as u32,
        max_pos,
        ctx,
        q_off,
        q_stride,
        k_off,
        k_stride,
        v_off,
        v_stride,
        y_off,
        y_stride,
        norm: q_on as u32 | (k_on as u32) << 1,
        q_eps,
        k_eps,
        _pad: 0,
    };
    let wg = if q_on || k_on { WG_NORM } else { WG_PLAIN };
    let groups = n_tokens as u64 * (r.spec.n_heads + r.n_kv_heads) as u64;
    let groups = u32::try_from(groups)
        .map_err(|_| Error::InvalidArgument(format!("rope_qkv: {groups} workgroups")))?;
    Ok(vec![DispatchSpec {
        src: source(),
        constants: vec![("WG", wg)],
        bindings: vec![
            (0, params(&p)),
            (1, Res::Step),
            (2, Res::Arena),
            (4, Res::Param(table, 0)),
            (5, Res::Param(kc, 0)),
            (6, Res::Param(vc, 0)),
            (7, Res::Param(qw, 0)),
            (8, Res::Param(kw, 0)),
        ],
        groups: k.grid(groups),
    }])
}
