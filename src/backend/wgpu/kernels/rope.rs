//! RoPE into a tensor (shaders/rope.wgsl) or into a KV cache (shaders/rope_cache.wgsl), and
//! KV-cache writes (shaders/kv_write.wgsl): one dispatch each. One attention layer's Q rope,
//! K rope and V write (with Q/K norms) usually run fused instead (rope_qkv.rs).
//!
//! Invariant: the cache's element type is the tier's `kv_t` (F16 in the f16 tiers, F32
//! otherwise); any other cache type is refused when the graph is prepared. Out of range, the
//! shaders never touch memory outside their tensors: a token without a table row (position ≥
//! max_pos) is written as zeros, a token at a position ≥ ctx is not written to the cache at all
//! (the CPU backend returns an error in both cases; callers check the context first).

use bytemuck::{Pod, Zeroable};

use super::params;
use crate::backend::wgpu::pipelines::Constants;
use crate::backend::wgpu::prepare::{DispatchSpec, KernelCtx, Res};
use crate::backend::wgpu::shaders::ShaderSource;
use crate::error::{Error, Result};
use crate::graph::{Buf, ElemType, Node, ParamId, RopeSpec, TensorId};

const WG: u32 = 256;

/// Mirrors `Params` in shaders/common/rope_slot.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RopeParams {
    n_tokens: u32,
    n_heads: u32,
    head_dim: u32,
    n_rot: u32,
    neox: u32,
    max_pos: u32,
    x_off: u32,
    x_stride: u32,
    y_off: u32,
    ctx: u32,
    _pad: [u32; 2],
}

/// Mirrors `Params` in shaders/kv_write.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct KvWriteParams {
    n_tokens: u32,
    n_heads: u32,
    head_dim: u32,
    ctx: u32,
    src_off: u32,
    src_stride: u32,
    _pad: [u32; 2],
}

fn rope_source(into_cache: bool) -> ShaderSource {
    let last = if into_cache { "rope_cache.wgsl" } else { "rope.wgsl" };
    ShaderSource::new(&[
        "common/step.wgsl",
        "common/grid.wgsl",
        "common/rope_pair.wgsl",
        "common/rope_slot.wgsl",
        last,
    ])
}

fn kv_write_source() -> ShaderSource {
    ShaderSource::new(&["common/step.wgsl", "common/grid.wgsl", "kv_write.wgsl"])
}

fn constants() -> Constants {
    vec![("WG", WG)]
}

pub fn catalog() -> Vec<(ShaderSource, Constants)> {
    vec![
        (rope_source(false), constants()),
        (rope_source(true), constants()),
        (kv_write_source(), constants()),
    ]
}

/// The persistent tensor behind `t`, which must be a KV cache of the tier's element type.
/// Returns it with the cache's `ctx`.
pub(crate) fn kv_cache(k: &KernelCtx<'_>, t: TensorId) -> Result<(ParamId, u32)> {
    let desc = k.graph.tensor(t);
    let Buf::Param(id) = k.plan.location(t).buf else {
        return Err(Error::Device(format!("{} must be a persistent KV cache", desc.name)));
    };
    let want = if k.cx.tier.f16 { ElemType::F16 } else { ElemType::F32 };
    if desc.ty != want {
        return Err(Error::Device(format!(
            "KV cache {} is {}, but tier {} stores KV caches as {want}",
            desc.name, desc.ty, k.cx.tier
        )));
    }
    Ok((id, desc.shape.dims()[1] as u32))
}

fn u32_of(v: usize, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::InvalidArgument(format!("{what} {v} exceeds 2^32")))
}

pub fn rope(
    k: &mut KernelCtx<'_>,
    node: &Node,
    x: TensorId,
    table: TensorId,
    spec: RopeSpec,
    cache: Option<TensorId>,
) -> Result<Vec<DispatchSpec>> {
    let n_tokens = k.graph.tensor(x).shape.rows();
    let (x_off, x_stride) = k.arena(x)?;
    let Buf::Param(tab) = k.plan.location(table).buf else {
        return Err(Error::Device("the rope table must be a persistent tensor".into()));
    };
    let max_pos = u32_of(k.graph.tensor(table).shape.dims()[0], "rope table length")?;
    let mut bindings = vec![(1, Res::Step), (2, Res::Arena), (4, Res::Param(tab, 0))];
    let (y_off, ctx) = match cache {
        Some(c) => {
            let (id, ctx) = kv_cache(k, c)?;
            bindings.push((5, Res::Param(id, 0)));
            (0, ctx)
        }
        None => (k.arena(node.out)?.0, 0),
    };
    let p = RopeParams {
        n_tokens: u32_of(n_tokens, "token count")?,
        n_heads: spec.n_heads,
        head_dim: spec.head_dim,
        n_rot: spec.n_rot,
        neox: spec.neox as u32,
        max_pos,
        x_off,
        x_stride,
        y_off,
        ctx,
        _pad: [0; 2],
    };
    bindings.push((0, params(&p)));
    let slots = n_tokens as u64 * spec.n_heads as u64 * spec.head_dim.div_ceil(2) as u64;
    Ok(vec![DispatchSpec {
        src: rope_source(cache.is_some()),
        constants: constants(),
        bindings,
        groups: k.grid(u32_of(slots.div_ceil(WG as u64) as usize, "rope workgroups")?),
    }])
}

pub fn kv_write(
    k: &mut KernelCtx<'_>,
    cache: TensorId,
    src: TensorId,
) -> Result<Vec<DispatchSpec>> {
    let (id, ctx) = kv_cache(k, cache)?;
    let dims = k.graph.tensor(cache).shape;
    let (n_heads, head_dim) = (dims.dims()[0] as u32, dims.dims()[2] as u32);
    let n_tokens = k.graph.tensor(src).shape.rows();
    let (src_off, src_stride) = k.arena(src)?;
    let p = KvWriteParams {
        n_tokens: u32_of(n_tokens, "token count")?,
        n_heads,
        head_dim,
        ctx,
        src_off,
        src_stride,
        _pad: [0; 2],
    };
    let elems = n_tokens as u64 * n_heads as u64 * head_dim as u64;
    Ok(vec![DispatchSpec {
        src: kv_write_source(),
        constants: constants(),
        bindings: vec![(0, params(&p)), (1, Res::Step), (2, Res::Arena), (5, Res::Param(id, 0))],
        groups: k.grid(u32_of(elems.div_ceil(WG as u64) as usize, "kv_write workgroups")?),
    }])
}
