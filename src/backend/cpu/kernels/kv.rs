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

    /// `Σ q_i·k_i` in f32 with eight independent partial sums (error ≈ (d/8 + 3)·u).
    #[inline]
    fn dot(q: &[f32], k: &[Self]) -> f32 {
        dot_lanes(q, k)
    }

    /// `o += w·v`.
    #[inline]
    fn axpy(o: &mut [f32], w: f32, v: &[Self]) {
        o.iter_mut().zip(v).for_each(|(x, y)| *x += w * y.load());
    }

    /// `src` as f32: itself for an f32 cache, else converted into `buf[..src.len()]` (which
    /// must be that long), so a block of cache rows is read and converted once per use.
    fn as_f32<'a>(src: &'a [Self], buf: &'a mut [f32]) -> &'a [f32] {
        let buf = &mut buf[..src.len()];
        buf.iter_mut().zip(src).for_each(|(b, s)| *b = s.load());
        buf
    }
}

/// The portable [`KvElem::dot`]: element i in lane i % 8, lanes reduced as a fixed tree.
#[inline]
fn dot_lanes<E: KvElem>(q: &[f32], k: &[E]) -> f32 {
    let mut acc = [0f32; 8];
    let (qc, kc) = (q.chunks_exact(8), k.chunks_exact(8));
    let tail: f32 = qc.remainder().iter().zip(kc.remainder()).map(|(x, y)| x * y.load()).sum();
    for (x, y) in qc.zip(kc) {
        for l in 0..8 {
            acc[l] += x[l] * y[l].load();
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
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
    #[inline]
    fn as_f32<'a>(src: &'a [f32], _: &'a mut [f32]) -> &'a [f32] {
        src
    }
}

/// IEEE binary16 bits.
impl KvElem for u16 {
    #[inline(always)]
    fn load(self) -> f32 {
        super::dot::f16_to_f32(self)
    }
    #[inline(always)]
    fn store(v: f32) -> u16 {
        f16::from_f32(v).to_bits()
    }
    #[inline]
    fn dot(q: &[f32], k: &[u16]) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if f16c::available() && q.len() == k.len() && q.len().is_multiple_of(8) {
            // SAFETY: the CPU has avx2, fma and f16c (checked once); the lengths match.
            return unsafe { f16c::dot(q, k) };
        }
        dot_lanes(q, k)
    }
    #[inline]
    fn axpy(o: &mut [f32], w: f32, v: &[u16]) {
        #[cfg(target_arch = "x86_64")]
        if f16c::available() && o.len() == v.len() && o.len().is_multiple_of(8) {
            // SAFETY: as in `dot`.
            return unsafe { f16c::axpy(o, w, v) };
        }
        o.iter_mut().zip(v).for_each(|(x, y)| *x += w * y.load());
    }
    fn as_f32<'a>(src: &'a [u16], buf: &'a mut [f32]) -> &'a [f32] {
        let buf = &mut buf[..src.len()];
        #[cfg(target_arch = "x86_64")]
        if f16c::available() {
            let simd = src.len() - src.len() % 8;
            // SAFETY: as in `dot`; both slices hold `simd` elements.
            unsafe { f16c::convert(&mut buf[..simd], &src[..simd]) };
            buf[simd..].iter_mut().zip(&src[simd..]).for_each(|(b, s)| *b = s.load());
            return buf;
        }
        buf.iter_mut().zip(src).for_each(|(b, s)| *b = s.load());
        buf
    }
}

/// F16C versions of the f16 cache's dot and axpy: 8 halves per `vcvtph2ps`. Their sums are
/// formed like the portable ones (eight lanes, element i in lane i % 8, the same reduction
/// tree), so the two give the same bits up to FMA's single rounding.
#[cfg(target_arch = "x86_64")]
pub(super) mod f16c {
    use std::arch::x86_64::*;

    /// Whether this CPU has avx2, fma and f16c and `KILN_CPU_SIMD` allows them (dot/mod.rs);
    /// the attention tiles need the same three.
    pub fn available() -> bool {
        super::super::dot::avx2()
    }

    /// Caller: avx2, fma and f16c present; `q.len() == k.len()`, a multiple of 8.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot(q: &[f32], k: &[u16]) -> f32 {
        let mut acc = _mm256_setzero_ps();
        for (x, y) in q.chunks_exact(8).zip(k.chunks_exact(8)) {
            // SAFETY: each chunk is 8 readable elements; loadu has no alignment requirement.
            let (x, y) =
                unsafe { (_mm256_loadu_ps(x.as_ptr()), _mm_loadu_si128(y.as_ptr().cast())) };
            acc = _mm256_fmadd_ps(x, _mm256_cvtph_ps(y), acc);
        }
        // Lanes (0+4, 1+5, 2+6, 3+7), then pairs, as the portable reduction.
        let s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps::<1>(acc));
        let mut lanes = [0f32; 4];
        // SAFETY: `lanes` holds 4 f32.
        unsafe { _mm_storeu_ps(lanes.as_mut_ptr(), s) };
        (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
    }

    /// Caller: avx2, fma and f16c present; `out.len() == src.len()`, a multiple of 8.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn convert(out: &mut [f32], src: &[u16]) {
        for (o, s) in out.chunks_exact_mut(8).zip(src.chunks_exact(8)) {
            // SAFETY: each chunk is 8 elements; unaligned loads and stores.
            unsafe {
                _mm256_storeu_ps(
                    o.as_mut_ptr(),
                    _mm256_cvtph_ps(_mm_loadu_si128(s.as_ptr().cast())),
                )
            };
        }
    }

    /// Caller: as for `dot`, with `o.len() == v.len()`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn axpy(o: &mut [f32], w: f32, v: &[u16]) {
        let wv = _mm256_set1_ps(w);
        for (x, y) in o.chunks_exact_mut(8).zip(v.chunks_exact(8)) {
            // SAFETY: each chunk is 8 elements; unaligned loads and stores.
            unsafe {
                let y = _mm256_cvtph_ps(_mm_loadu_si128(y.as_ptr().cast()));
                let r = _mm256_fmadd_ps(wv, y, _mm256_loadu_ps(x.as_ptr()));
                _mm256_storeu_ps(x.as_mut_ptr(), r);
            }
        }
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
