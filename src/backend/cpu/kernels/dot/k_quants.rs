//! Dot products of the K-quant super-blocks (256 weights) with Q8_K activations: Q2_K, Q3_K,
//! Q4_K, Q5_K, Q6_K.
//!
//! Each follows ggml-cpu/quants.c `ggml_vec_dot_<w>_q8_K_generic`. Q2_K: per block one integer
//! sum per 16-group scale, then `sumf += dall·isum − dmin·summs` with `dall = da·dw`. Q3_K,
//! Q4_K, Q5_K, Q6_K: the block's quants are first unpacked to signed bytes (`aux8`), integer
//! products are summed into 8 lanes (element `i` into lane `i % 8`, each 16-group times its
//! scale), and the lanes are scaled by `d = dw·da` into 8 f32 lane sums that are added to the
//! running sum only after the last block. The min terms (Q2_K, Q4_K, Q5_K) use the activation
//! block's `bsums` (exact 16-element quant sums) and, for Q4_K/Q5_K, are subtracted from the
//! running sum once per block. All integer sums are exact (|lane| < 2^24, so also as f32).
//!
//! May use: `quant`. Invariant: both rows hold `n / 256` blocks.

use super::{blocks, f16};
use crate::quant::{
    BlockQ2_K, BlockQ3_K, BlockQ4_K, BlockQ5_K, BlockQ6_K, BlockQ8_K, QK_K, scale_min,
};

/// `aux32[i % 8] += scale(i / 16) · q[i] · a[i]` over the 256 elements of a block.
#[inline(always)]
fn lanes_by_16(q: &[i8; QK_K], a: &[i8; QK_K], scale: impl Fn(usize) -> i32) -> [i32; 8] {
    let mut aux32 = [0i32; 8];
    for (g, (qg, ag)) in q.chunks_exact(16).zip(a.chunks_exact(16)).enumerate() {
        let s = scale(g);
        for (q8, a8) in qg.chunks_exact(8).zip(ag.chunks_exact(8)) {
            for l in 0..8 {
                aux32[l] += s * (i32::from(q8[l]) * i32::from(a8[l]));
            }
        }
    }
    aux32
}

/// The scale/min pairs of a Q4_K/Q5_K block (ggml's `utmp` unpacking, via [`scale_min`]).
#[inline(always)]
fn scales_mins(packed: &[u8; 12]) -> ([i32; 8], [i32; 8]) {
    let (mut sc, mut mn) = ([0i32; 8], [0i32; 8]);
    for j in 0..8 {
        let (s, m) = scale_min(packed, j);
        (sc[j], mn[j]) = (i32::from(s), i32::from(m));
    }
    (sc, mn)
}

/// `Σ_g bsums[g] · mins[g / 2]`: the min part of a Q4_K/Q5_K block as an integer.
#[inline(always)]
fn min_sum(y: &BlockQ8_K, mins: &[i32; 8]) -> i32 {
    (0..16).map(|g| i32::from(y.bsum(g)) * mins[g / 2]).sum()
}

pub(super) fn dot_q2_k_q8_k(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ2_K>(w), blocks::<BlockQ8_K>(a));
    debug_assert!(x.len() == n / QK_K && y.len() == x.len());
    let mut sumf = 0.0f32;
    for (x, y) in x.iter().zip(y) {
        let sc = &x.scales;
        let summs: i32 = (0..16).map(|g| i32::from(y.bsum(g)) * i32::from(sc[g] >> 4)).sum();
        let dall = y.scale() * f16(x.d);
        let dmin = y.scale() * f16(x.dmin);
        // Group g (16 elements) = bits 2·((g % 8) / 2) of qs[32·(g / 8) + 16·(g % 2) ..][..16].
        let mut isum = 0i32;
        for (g, q8) in y.qs.chunks_exact(16).enumerate() {
            let q2 = &x.qs[32 * (g / 8) + 16 * (g % 2)..][..16];
            let shift = 2 * ((g % 8) / 2);
            let isuml: i32 =
                q2.iter().zip(q8).map(|(&q, &v)| i32::from((q >> shift) & 3) * i32::from(v)).sum();
            isum += i32::from(sc[g] & 0xF) * isuml;
        }
        sumf += dall * isum as f32 - dmin * summs as f32;
    }
    sumf
}

/// Q3_K's sixteen 6-bit scales (0..64, not yet offset by −32): group `g` is byte `g % 4` of
/// little-endian word `g / 4`, so the words' bytes are the scales in order. ggml's `auxs` word
/// shuffle with kmask1 = 0x03…, kmask2 = 0x0f…; the SIMD versions share it.
#[inline(always)]
pub(super) fn q3_k_scales(s: &[u8; 12]) -> [u32; 4] {
    let word = |i: usize| u32::from_le_bytes([s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]]);
    let (a0, a1, t) = (word(0), word(1), word(2));
    let (k1, k2) = (0x0303_0303u32, 0x0f0f_0f0fu32);
    [
        (a0 & k2) | ((t & k1) << 4),
        (a1 & k2) | (((t >> 2) & k1) << 4),
        ((a0 >> 4) & k2) | (((t >> 4) & k1) << 4),
        ((a1 >> 4) & k2) | (((t >> 6) & k1) << 4),
    ]
}

pub(super) fn dot_q3_k_q8_k(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ3_K>(w), blocks::<BlockQ8_K>(a));
    debug_assert!(x.len() == n / QK_K && y.len() == x.len());
    let mut sums = [0.0f32; 8];
    let mut aux8 = [0i8; QK_K];
    for (x, y) in x.iter().zip(y) {
        // Element i: bits 2·((i % 128) / 32) of qs[32·(i / 128) + i % 32], minus 4 unless bit
        // i / 32 of hmask[i % 32] is set.
        for (g, dst) in aux8.chunks_exact_mut(32).enumerate() {
            let (qs, shift) = (&x.qs[32 * (g / 4)..][..32], 2 * (g % 4));
            for ((q, &b), &h) in dst.iter_mut().zip(qs).zip(&x.hmask) {
                *q = ((b >> shift) & 3) as i8 - if h & (1 << g) != 0 { 0 } else { 4 };
            }
        }
        let words = q3_k_scales(&x.scales);
        let scale = |g: usize| i32::from(words[g / 4].to_le_bytes()[g % 4]) - 32;
        let aux32 = lanes_by_16(&aux8, &y.qs, scale);
        let d = f16(x.d) * y.scale();
        for (s, &v) in sums.iter_mut().zip(&aux32) {
            *s += d * v as f32;
        }
    }
    sums.iter().fold(0.0f32, |acc, &s| acc + s)
}

/// Q4_K and Q5_K: `aux8` holds the 4- or 5-bit quants (0..32), groups of 32 share a scale.
#[inline(always)]
fn dot_q45_k(
    d_dmin: impl Iterator<Item = (f32, f32, [u8; 12])>,
    y: &[BlockQ8_K],
    mut unpack: impl FnMut(usize, &mut [i8; QK_K]),
) -> f32 {
    let mut sums = [0.0f32; 8];
    let mut sumf = 0.0f32;
    let mut aux8 = [0i8; QK_K];
    for (b, ((dw, dminw, packed), y)) in d_dmin.zip(y).enumerate() {
        unpack(b, &mut aux8);
        let (sc, mins) = scales_mins(&packed);
        let sumi = min_sum(y, &mins);
        let aux32 = lanes_by_16(&aux8, &y.qs, |g| sc[g / 2]);
        let d = dw * y.scale();
        for (s, &v) in sums.iter_mut().zip(&aux32) {
            *s += d * v as f32;
        }
        let dmin = dminw * y.scale();
        sumf -= dmin * sumi as f32;
    }
    sums.iter().fold(sumf, |acc, &s| acc + s)
}

/// Low nibbles of `qs[32c ..][..32]` are group 2c, high nibbles group 2c + 1.
#[inline(always)]
fn unpack_nibbles(qs: &[u8; 128], aux8: &mut [i8; QK_K]) {
    for (dst, src) in aux8.chunks_exact_mut(64).zip(qs.chunks_exact(32)) {
        let (lo, hi) = dst.split_at_mut(32);
        for ((l, h), &b) in lo.iter_mut().zip(hi).zip(src) {
            (*l, *h) = ((b & 0xF) as i8, (b >> 4) as i8);
        }
    }
}

pub(super) fn dot_q4_k_q8_k(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ4_K>(w), blocks::<BlockQ8_K>(a));
    debug_assert!(x.len() == n / QK_K && y.len() == x.len());
    let parts = x.iter().map(|b| (f16(b.d), f16(b.dmin), b.scales));
    dot_q45_k(parts, y, |b, aux8| unpack_nibbles(&x[b].qs, aux8))
}

pub(super) fn dot_q5_k_q8_k(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ5_K>(w), blocks::<BlockQ8_K>(a));
    debug_assert!(x.len() == n / QK_K && y.len() == x.len());
    let parts = x.iter().map(|b| (f16(b.d), f16(b.dmin), b.scales));
    dot_q45_k(parts, y, |b, aux8| {
        unpack_nibbles(&x[b].qs, aux8);
        // Bit g of qh[l] is the fifth bit of element 32g + l.
        for (g, dst) in aux8.chunks_exact_mut(32).enumerate() {
            for (q, &h) in dst.iter_mut().zip(&x[b].qh) {
                *q += (((h >> g) & 1) << 4) as i8;
            }
        }
    })
}

pub(super) fn dot_q6_k_q8_k(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ6_K>(w), blocks::<BlockQ8_K>(a));
    debug_assert!(x.len() == n / QK_K && y.len() == x.len());
    let mut sums = [0.0f32; 8];
    let mut aux8 = [0i8; QK_K];
    for (x, y) in x.iter().zip(y) {
        // Element i: h = i / 128, g = (i % 128) / 32, l = i % 32; low 4 bits from
        // ql[64h + 32(g & 1) + l] (low nibble for g < 2), high 2 bits from qh[32h + l] >> 2g.
        for (h, dst) in aux8.chunks_exact_mut(128).enumerate() {
            let (ql, qh) = (&x.ql[64 * h..][..64], &x.qh[32 * h..][..32]);
            for l in 0..32 {
                let hb = qh[l];
                dst[l] = ((ql[l] & 0xF) | ((hb & 3) << 4)) as i8 - 32;
                dst[l + 32] = ((ql[l + 32] & 0xF) | (((hb >> 2) & 3) << 4)) as i8 - 32;
                dst[l + 64] = ((ql[l] >> 4) | (((hb >> 4) & 3) << 4)) as i8 - 32;
                dst[l + 96] = ((ql[l + 32] >> 4) | (((hb >> 6) & 3) << 4)) as i8 - 32;
            }
        }
        let aux32 = lanes_by_16(&aux8, &y.qs, |g| i32::from(x.scales[g]));
        let d = f16(x.d) * y.scale();
        for (s, &v) in sums.iter_mut().zip(&aux32) {
            *s += d * v as f32;
        }
    }
    sums.iter().fold(0.0f32, |acc, &s| acc + s)
}
