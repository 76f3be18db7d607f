//! AVX-512 (F, BW, VL) + VNNI dot products for the test models' hot types: Q4_0, Q4_1, Q5_0,
//! Q8_0 with 8-bit activations and Q4_K, Q6_K with Q8_K.
//!
//! Technique: as x86_avx2.rs / x86_avx2_k.rs, twice as wide, with VNNI's fused integer dots.
//! The 32-element formats work on block pairs: one zmm holds both blocks' 64 quants in element
//! order, `vpdpbusd` (u8 × i8, 4 products summed into each i32 lane) gives 8 lanes per block,
//! and one FMA scales them by `[d0 ×8, d1 ×8]`; an odd last block is paired with a zero block,
//! which adds exactly 0. Signed weights are made unsigned by an offset (Q4_0 `q`, Q5_0 `q`,
//! Q8_0 `q ⊕ 0x80 = q + 128`) whose product with the activations, `vpdpbusd(offset, a)`, is
//! subtracted in i32. The K-quants spread 64 quants per zmm, `vpmaddubsw` to i16 pairs, then
//! `vpdpwssd` multiplies by the 16-group scales (spread by `vpermw`) and accumulates in i32.
//!
//! May use: `quant`, the parent's helpers, x86_avx2.rs, x86_avx2_k.rs. Invariant: every
//! function needs avx512f, avx512bw, avx512vl, avx512vnni (and so avx2, fma, f16c); the safe
//! wrappers are put in the table only after detection. Exactness: |a| ≤ 127; the i32 lanes of
//! one block sum at most 16 products (K-quants: 16·32·127·128 < 2^24 for Q6_K) or 4 (the block
//! formats), so every conversion to f32 is exact; no i16 saturates (as in x86_avx2_k.rs).

use std::arch::x86_64::*;

use bytemuck::{Zeroable, cast_ref};

use super::blocks;
use super::x86_avx2::{fp16, fp16x2, hsum128, ld128, ld256};
use super::x86_avx2_k::scales_mins;
use crate::quant::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ6_K, BlockQ8_0, BlockQ8_1};
use crate::quant::{BlockQ4_K, BlockQ8_K, QK_K};

/// 64 bytes at any alignment.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
pub(super) fn ld512<T: bytemuck::Pod>(b: &[T; 64]) -> __m512i {
    const { assert!(size_of::<T>() == 1) };
    // SAFETY: 64 one-byte elements are 64 readable bytes; loadu has no alignment requirement.
    unsafe { _mm512_loadu_si512(b.as_ptr().cast()) }
}

/// Sum of the 16 lanes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn hsum512(v: __m512) -> f32 {
    _mm512_reduce_add_ps(v)
}

/// Two 32-blocks' nibbles in element order: `[lo0, hi0, lo1, hi1]` (16 bytes each).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn nibble_pair(q0: &[u8; 16], q1: &[u8; 16]) -> __m512i {
    let both = _mm512_castsi256_si512(_mm256_set_m128i(ld128(q1), ld128(q0)));
    let twice = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3), both);
    let shifted = _mm512_srlv_epi64(twice, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4));
    _mm512_and_si512(shifted, _mm512_set1_epi8(0x0F))
}

/// Two blocks' 32 activation bytes side by side.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn act_pair(a0: &[i8; 32], a1: &[i8; 32]) -> __m512i {
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(ld256(a0)), ld256(a1))
}

/// `[d0 ×8, d1 ×8]` for `d_b = dw_b·da_b` of two blocks' f16 scales.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn scale_pair(dw: [[u8; 2]; 2], da: [[u8; 2]; 2]) -> __m512 {
    let two = |d: [[u8; 2]; 2]| {
        let (a, b) = (i16::from_le_bytes(d[0]), i16::from_le_bytes(d[1]));
        _mm_cvtph_ps(_mm_unpacklo_epi16(_mm_set1_epi16(a), _mm_set1_epi16(b)))
    };
    let d = _mm512_castps128_ps512(_mm_mul_ps(two(dw), two(da)));
    _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1), d)
}

/// `Σ (q − off)·a` per 4 bytes as `vpdpbusd(q, a) − vpdpbusd(off, a)`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn dot_offset(q: __m512i, a: __m512i, off: i8) -> __m512i {
    let zero = _mm512_setzero_si512();
    let qa = _mm512_dpbusd_epi32(zero, q, a);
    _mm512_sub_epi32(qa, _mm512_dpbusd_epi32(zero, _mm512_set1_epi8(off), a))
}

/// `Σ_b d_b·lanes_b` over block pairs; `f` gives a pair's `[d0 ×8, d1 ×8]` and 16 lanes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn sum_pairs<X: Zeroable, Y: Zeroable>(
    x: &[X],
    y: &[Y],
    mut f: impl FnMut([&X; 2], [&Y; 2]) -> (__m512, __m512i),
) -> f32 {
    let mut acc = _mm512_setzero_ps();
    let (xp, yp) = (x.chunks_exact(2), y.chunks_exact(2));
    let (xt, yt) = (xp.remainder(), yp.remainder());
    for (xs, ys) in xp.zip(yp) {
        let (d, s) = f([&xs[0], &xs[1]], [&ys[0], &ys[1]]);
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(s), acc);
    }
    if let (Some(x), Some(y)) = (xt.first(), yt.first()) {
        let (zx, zy) = (X::zeroed(), Y::zeroed());
        let (d, s) = f([x, &zx], [y, &zy]);
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(s), acc);
    }
    hsum512(acc)
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn q4_0_q8_0(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ4_0>(w), blocks::<BlockQ8_0>(a));
    debug_assert!(x.len() == n / 32 && y.len() == x.len());
    sum_pairs(x, y, |[x0, x1], [y0, y1]| {
        let s = dot_offset(nibble_pair(&x0.qs, &x1.qs), act_pair(&y0.qs, &y1.qs), 8);
        (scale_pair([x0.d, x1.d], [y0.d, y1.d]), s)
    })
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn q4_1_q8_1(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ4_1>(w), blocks::<BlockQ8_1>(a));
    debug_assert!(x.len() == n / 32 && y.len() == x.len());
    // Per block [d_w·d_a, m_w·s_a, …] in one multiply; the min products sum in lane 1.
    let mut mins = _mm_setzero_ps();
    let sum = sum_pairs(x, y, |[x0, x1], [y0, y1]| {
        let dm0 = _mm_mul_ps(fp16x2(x0), fp16x2(y0));
        let dm1 = _mm_mul_ps(fp16x2(x1), fp16x2(y1));
        mins = _mm_add_ps(mins, _mm_add_ps(dm0, dm1));
        let both = _mm512_castps256_ps512(_mm256_set_m128(dm1, dm0));
        let idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4);
        let zero = _mm512_setzero_si512();
        let s = _mm512_dpbusd_epi32(zero, nibble_pair(&x0.qs, &x1.qs), act_pair(&y0.qs, &y1.qs));
        (_mm512_permutexvar_ps(idx, both), s)
    });
    sum + _mm_cvtss_f32(_mm_movehdup_ps(mins))
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn q5_0_q8_0(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ5_0>(w), blocks::<BlockQ8_0>(a));
    debug_assert!(x.len() == n / 32 && y.len() == x.len());
    sum_pairs(x, y, |[x0, x1], [y0, y1]| {
        // Bit i of qh is element i's fifth bit; the pair's 64 bits index its 64 bytes.
        let bits =
            u64::from(u32::from_le_bytes(x0.qh)) | u64::from(u32::from_le_bytes(x1.qh)) << 32;
        let q = nibble_pair(&x0.qs, &x1.qs);
        let q = _mm512_mask_add_epi8(q, bits, q, _mm512_set1_epi8(16));
        let s = dot_offset(q, act_pair(&y0.qs, &y1.qs), 16);
        (scale_pair([x0.d, x1.d], [y0.d, y1.d]), s)
    })
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn q8_0_q8_0(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ8_0>(w), blocks::<BlockQ8_0>(a));
    debug_assert!(x.len() == n / 32 && y.len() == x.len());
    sum_pairs(x, y, |[x0, x1], [y0, y1]| {
        let q = _mm512_xor_si512(act_pair(&x0.qs, &x1.qs), _mm512_set1_epi8(-128));
        let s = dot_offset(q, act_pair(&y0.qs, &y1.qs), -128); // 0x80: the unsigned 128
        (scale_pair([x0.d, x1.d], [y0.d, y1.d]), s)
    })
}

/// `vpermw` indices spreading i16 scale `g0` over lanes 0..16 and `g1` over 16..32 (Q4_K: the
/// two 32-groups of a 64-chunk).
const fn halves(g0: i16, g1: i16) -> [i16; 32] {
    let mut t = [g0; 32];
    let mut i = 16;
    while i < 32 {
        t[i] = g1;
        i += 1;
    }
    t
}

/// Indices spreading scales `4c .. 4c + 4` over 8 lanes each (Q6_K: the 16-groups of chunk c).
const fn quarters(c: i16) -> [i16; 32] {
    let mut t = [0i16; 32];
    let mut i = 0;
    while i < 32 {
        t[i] = 4 * c + (i / 8) as i16;
        i += 1;
    }
    t
}

pub(super) const Q4K_IDX: [[i16; 32]; 4] = [halves(0, 1), halves(2, 3), halves(4, 5), halves(6, 7)];
pub(super) const Q6K_IDX: [[i16; 32]; 4] = [quarters(0), quarters(1), quarters(2), quarters(3)];

/// A `vpermw` index vector.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
pub(super) fn idx(t: &[i16; 32]) -> __m512i {
    // SAFETY: 32 i16 are 64 readable bytes; loadu has no alignment requirement.
    unsafe { _mm512_loadu_si512(t.as_ptr().cast()) }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn q4_k(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ4_K>(w), blocks::<BlockQ8_K>(a));
    debug_assert!(x.len() == n / QK_K && y.len() == x.len());
    let (mut acc, mut acc_m) = (_mm512_setzero_ps(), _mm_setzero_ps());
    let low4 = _mm512_set1_epi8(0x0F);
    for (x, y) in x.iter().zip(y) {
        let (d, dmin) = (y.scale() * fp16(x.d), y.scale() * fp16(x.dmin));
        let sm = _mm256_cvtepu8_epi16(ld128(cast_ref(&scales_mins(&x.scales))));
        let bs = ld256(&y.bsums);
        let sums32 = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256::<1>(bs));
        let m = _mm_madd_epi16(_mm256_extracti128_si256::<1>(sm), sums32);
        acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(m), acc_m);
        let sc = _mm512_castsi256_si512(sm);
        let (qs, q8) = (cast_ref::<_, [[u8; 32]; 4]>(&x.qs), cast_ref::<_, [[i8; 64]; 4]>(&y.qs));
        let mut sumi = _mm512_setzero_si512();
        // Chunk j: 64 elements, low nibbles (group 2j) then high nibbles (group 2j + 1).
        for ((bits, a), ix) in qs.iter().zip(q8).zip(&Q4K_IDX) {
            let bits = ld256(bits);
            let both =
                _mm512_inserti64x4::<1>(_mm512_castsi256_si512(bits), _mm256_srli_epi16::<4>(bits));
            let p = _mm512_maddubs_epi16(_mm512_and_si512(both, low4), ld512(a));
            sumi = _mm512_dpwssd_epi32(sumi, _mm512_permutexvar_epi16(idx(ix), sc), p);
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
    }
    hsum512(acc) - hsum128(acc_m)
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn q6_k(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ6_K>(w), blocks::<BlockQ8_K>(a));
    debug_assert!(x.len() == n / QK_K && y.len() == x.len());
    let mut acc = _mm512_setzero_ps();
    let (low4, m32) = (_mm512_set1_epi8(0x0F), _mm512_set1_epi8(32));
    for (x, y) in x.iter().zip(y) {
        let d = y.scale() * fp16(x.d);
        let sc = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(ld128(cast_ref(&x.scales))));
        let ql = cast_ref::<_, [[u8; 64]; 2]>(&x.ql);
        let qh = cast_ref::<_, [[u8; 32]; 2]>(&x.qh);
        let q8 = cast_ref::<_, [[i8; 64]; 4]>(&y.qs);
        let mut sumi = _mm512_setzero_si512();
        // Half h: chunk 2h = elements 128h..+64 (low nibbles of ql[64h..], qh bits 0-1 then
        // 2-3 as bits 4-5), chunk 2h + 1 = the next 64 (high nibbles, qh bits 4-5 then 6-7).
        for h in 0..2 {
            let (l, hb) = (ld512(&ql[h]), ld256(&qh[h]));
            let hz =
                _mm512_inserti64x4::<1>(_mm512_castsi256_si512(hb), _mm256_srli_epi16::<2>(hb));
            let top0 = _mm512_slli_epi16::<4>(_mm512_and_si512(hz, _mm512_set1_epi8(0x03)));
            let top1 = _mm512_and_si512(hz, _mm512_set1_epi8(0x30));
            let q = [
                _mm512_or_si512(_mm512_and_si512(l, low4), top0),
                _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16::<4>(l), low4), top1),
            ];
            for (c, q) in q.into_iter().enumerate() {
                let a = ld512(&q8[2 * h + c]);
                let p = _mm512_sub_epi16(_mm512_maddubs_epi16(q, a), _mm512_maddubs_epi16(m32, a));
                let s = _mm512_permutexvar_epi16(idx(&Q6K_IDX[2 * h + c]), sc);
                sumi = _mm512_dpwssd_epi32(sumi, s, p);
            }
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
    }
    hsum512(acc)
}

/// Safe entry points with the [`super::VecDot`] signature.
macro_rules! entries {
    ($($name:ident => $inner:ident),* $(,)?) => {$(
        /// Only sound on a CPU with avx512f/bw/vl/vnni, avx2, fma and f16c: reachable only
        /// through the table `select` builds after detecting them.
        pub(super) fn $name(n: usize, w: &[u8], a: &[u8]) -> f32 {
            // SAFETY: this entry is in the table only if the CPU has all those features.
            unsafe { $inner(n, w, a) }
        }
    )*};
}

entries! {
    dot_q4_0_q8_0 => q4_0_q8_0,
    dot_q4_1_q8_1 => q4_1_q8_1,
    dot_q5_0_q8_0 => q5_0_q8_0,
    dot_q8_0_q8_0 => q8_0_q8_0,
    dot_q4_k_q8_k => q4_k,
    dot_q6_k_q8_k => q6_k,
}
