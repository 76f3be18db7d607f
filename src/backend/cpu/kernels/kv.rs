//! KV-cache storage on the CPU: the element types a cache may have (F32, or F16 kept as raw
//! `u16` bits), typed views of a cache's bytes, and the glue from `Rope`, `KvWrite` and
//! `Attention` nodes to their kernels (rope.rs, attention.rs).
//!
//! Invariant: f32 → f16 rounds to nearest even (`half`), f16 → f32 is exact, so a cache value
//! read back is exactly what the reference sees after rounding the same f32.

use half::f16;

use super::super::tensors::{Io, Out};
use super::{attention, rope};
use crate::error::{Error, Result};
use crate::graph::{AttentionSpec, ElemType, Node, Op, Step, TensorId};

/// A storage element of a KV cache.
pub trait KvElem: Copy + Send + Sync {
    fn load(self) -> f32;
    fn store(v: f32) -> Self;
}

impl KvElem for f32 {
    #[inline(always)]
    fn load(self) -> f32 {
        self
    }
    #[inline(always)]
    fn store(v: f32) -> f32 {
        v
    }
}

/// IEEE binary16 bits.
impl KvElem for u16 {
    #[inline(always)]
    fn load(self) -> f32 {
        f16::from_bits(self).to_f32()
    }
    #[inline(always)]
    fn store(v: f32) -> u16 {
        f16::from_f32(v).to_bits()
    }
}

/// A cache's bytes viewed as its element type.
enum CacheMut<'a> {
    F32(&'a mut [f32]),
    F16(&'a mut [u16]),
}

enum CacheRef<'a> {
    F32(&'a [f32]),
    F16(&'a [u16]),
}

fn bad_type(ty: ElemType) -> Error {
    Error::Device(format!("a KV cache must be F32 or F16, not {ty}"))
}

fn cache_mut(bytes: &mut [u8], ty: ElemType) -> Result<CacheMut<'_>> {
    let cast = |e: bytemuck::PodCastError| Error::Device(format!("KV cache view: {e}"));
    match ty {
        ElemType::F32 => Ok(CacheMut::F32(bytemuck::try_cast_slice_mut(bytes).map_err(cast)?)),
        ElemType::F16 => Ok(CacheMut::F16(bytemuck::try_cast_slice_mut(bytes).map_err(cast)?)),
        _ => Err(bad_type(ty)),
    }
}

fn cache_ref<'a>(io: &Io<'a>, t: TensorId) -> Result<(CacheRef<'a>, usize)> {
    let desc = io.graph.tensor(t);
    let bytes = io.param_of(t)?.1.bytes();
    let cast = |e: bytemuck::PodCastError| Error::Device(format!("KV cache view: {e}"));
    let view = match desc.ty {
        ElemType::F32 => CacheRef::F32(bytemuck::try_cast_slice(bytes).map_err(cast)?),
        ElemType::F16 => CacheRef::F16(bytemuck::try_cast_slice(bytes).map_err(cast)?),
        ty => return Err(bad_type(ty)),
    };
    Ok((view, desc.shape.dims()[1]))
}

/// `Op::Rope`: into the node's arena output, or into the cache its output aliases.
pub fn run_rope(io: &Io<'_>, node: &Node, step: Step, out: Out<'_>) -> Result<()> {
    let Op::Rope { x, table, spec, cache } = node.op else {
        return Err(Error::Device(format!("run_rope called for {}", node.op.name())));
    };
    let tab = io.param_of(table)?.1.f32s()?;
    let max_pos = io.graph.tensor(table).shape.dims()[0];
    let x = io.rows(x)?;
    if cache.is_none() {
        return rope::rope(x, tab, max_pos, spec, step.pos, out.arena()?);
    }
    let desc = io.graph.tensor(node.out);
    let ctx = desc.shape.dims()[1];
    match cache_mut(out.param()?, desc.ty)? {
        CacheMut::F32(c) => rope::rope_into_cache(x, tab, max_pos, spec, step.pos, c, ctx),
        CacheMut::F16(c) => rope::rope_into_cache(x, tab, max_pos, spec, step.pos, c, ctx),
    }
}

/// `Op::KvWrite`.
pub fn run_kv_write(
    io: &Io<'_>,
    out_t: TensorId,
    src: TensorId,
    step: Step,
    out: Out<'_>,
) -> Result<()> {
    let desc = io.graph.tensor(out_t);
    let (ctx, head_dim) = (desc.shape.dims()[1], desc.shape.dims()[2]);
    let src = io.rows(src)?;
    match cache_mut(out.param()?, desc.ty)? {
        CacheMut::F32(c) => rope::kv_write(src, head_dim, step.pos, c, ctx),
        CacheMut::F16(c) => rope::kv_write(src, head_dim, step.pos, c, ctx),
    }
}

/// `Op::Attention`.
pub fn run_attention(
    io: &Io<'_>,
    q: TensorId,
    k: TensorId,
    v: TensorId,
    spec: AttentionSpec,
    step: Step,
    out: Out<'_>,
) -> Result<()> {
    let q = io.rows(q)?;
    let ((kc, ctx), (vc, _)) = (cache_ref(io, k)?, cache_ref(io, v)?);
    let out = out.arena()?;
    match (kc, vc) {
        (CacheRef::F32(k), CacheRef::F32(v)) => {
            attention::attention(q, k, v, spec, step.pos, ctx, out)
        }
        (CacheRef::F16(k), CacheRef::F16(v)) => {
            attention::attention(q, k, v, spec, step.pos, ctx, out)
        }
        _ => Err(Error::Device("attention: K and V caches have different types".into())),
    }
}
