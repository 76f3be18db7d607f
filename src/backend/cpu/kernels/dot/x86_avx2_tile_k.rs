//! AVX2 + FMA + F16C tiled dot products (tile.rs) of Q4_K and Q6_K with Q8_K, 2 weight rows ×
//! 4 activation rows per call.
//!
//! Technique: as x86_avx2_k.rs, per super-block. Each row's quants are decoded once into
//! 32-byte vectors in the order of the activation bytes they meet, with their 16-group scales
//! spread to i16 lanes (`vpshufb` with the ONE/PAIR controls); each token's activations are
//! loaded once per vector. A (row, token) pair then costs `vpmaddubsw` + `vpmaddwd` + an add
//! per 32 elements into an 8-lane i32 sum, converted and scaled by `d_w·d_a` once per
//! super-block. Q6_K: signed weights `q − 32` against unsigned activations `a + 128`, minus the
//! per-row excess `128·Σ sc·(q − 32)` (as x86_avx512_tile_k.rs). Q4_K's mins: one `vpmaddwd`
//! per token for both rows (row r in lanes 4r..4r + 4), subtracted at the end.
//!
//! May use: `quant`, the parent's helpers, x86_avx2.rs, x86_avx2_k.rs. Invariant: as
//! x86_avx2_tile.rs. Exactness: no i16 saturates (Q6_K 2·255·32 = 16320); a lane sums 32
//! products: Q6_K's biased sum is < 32·255·32·128 < 2^31 and its exact `Σ sc·(q − 32)·a`
//! after the subtraction is < 32·127·32·128 < 2^24; Q4_K's is < 32·15·127·63 < 2^22.

use std::arch::x86_64::*;

use bytemuck::cast_ref;

use super::blocks;
use super::tile::{Tile, check};
use super::x86_avx2::{fp16, hsum, ld128, ld256};
use super::x86_avx2_k::{ONE, PAIR, scales_mins};
use crate::quant::{Block, BlockQ4_K, BlockQ6_K, BlockQ8_K};

const MR: usize = 2;
const NT: usize = 4;

pub(super) const Q4_K: Tile = Tile { rows: MR, tokens: NT, partial: false, run: tile_q4_k };
pub(super) const Q6_K: Tile = Tile { rows: MR, tokens: NT, partial: false, run: tile_q6_k };

/// Rows and tokens as blocks, after the shape checks.
#[inline(always)]
fn views<'a, X: Block>(
    n: usize,
    w: &[&'a [u8]],
    a: &[&'a [u8]],
    out: &[f32],
) -> ([&'a [X]; MR], [&'a [BlockQ8_K]; NT]) {
    let (xd, yd) = (X::DTYPE, BlockQ8_K::DTYPE);
    check(n, w, a, out, (MR, NT), (xd.block_size(), xd.type_size(), yd.type_size()));
    (std::array::from_fn(|r| blocks::<X>(w[r])), std::array::from_fn(|t| blocks::<BlockQ8_K>(a[t])))
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_k(n: usize, w: &[&[u8]], a: &[&[u8]], out: &mut [f32]) {
    let (x, y) = views::<BlockQ4_K>(n, w, a, out);
    let zero = _mm256_setzero_si256();
    let low4 = _mm256_set1_epi8(0x0F);
    let (mut acc, mut acc_m) = ([[_mm256_setzero_ps(); NT]; MR], [_mm256_setzero_ps(); NT]);
    for b in 0..x[0].len() {
        // Per row, vector v = 2j (low nibbles of chunk j, group 2j) or 2j + 1 (high nibbles).
        let (mut q, mut sc) = ([[zero; 8]; MR], [[zero; 8]; MR]);
        let (mut d, mut dmin, mut mins) = ([0f32; MR], [0f32; MR], [_mm_setzero_si128(); MR]);
        for r in 0..MR {
            let xb = &x[r][b];
            (d[r], dmin[r]) = (fp16(xb.d), fp16(xb.dmin));
            let sm = _mm256_cvtepu8_epi16(ld128(cast_ref(&scales_mins(&xb.scales))));
            mins[r] = _mm256_extracti128_si256::<1>(sm);
            let scales = _mm256_permute2x128_si256::<0x00>(sm, sm);
            for (j, bits) in cast_ref::<_, [[u8; 32]; 4]>(&xb.qs).iter().enumerate() {
                let bits = ld256(bits);
                q[r][2 * j] = _mm256_and_si256(bits, low4);
                q[r][2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16::<4>(bits), low4);
            }
            for (v, one) in ONE.iter().enumerate() {
                sc[r][v] = _mm256_shuffle_epi8(scales, ld256(one));
            }
        }
        let mins2 = _mm256_set_m128i(mins[1], mins[0]);
        let dmin2 =
            _mm256_setr_ps(dmin[0], dmin[0], dmin[0], dmin[0], dmin[1], dmin[1], dmin[1], dmin[1]);
        for t in 0..NT {
            let yb = &y[t][b];
            let da = yb.scale();
            let mut sumi = [zero; MR];
            for (v, a) in cast_ref::<_, [[i8; 32]; 8]>(&yb.qs).iter().enumerate() {
                let a = ld256(a);
                for r in 0..MR {
                    let p = _mm256_madd_epi16(sc[r][v], _mm256_maddubs_epi16(q[r][v], a));
                    sumi[r] = _mm256_add_epi32(sumi[r], p);
                }
            }
            for r in 0..MR {
                let s = _mm256_cvtepi32_ps(sumi[r]);
                acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(d[r] * da), s, acc[r][t]);
            }
            // Mins against the 8 sums of 32 activations (pairs of Q8_K's 16-sums).
            let bs = ld256(&yb.bsums);
            let sums32 =
                _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256::<1>(bs));
            let m = _mm256_madd_epi16(mins2, _mm256_broadcastsi128_si256(sums32));
            let dm = _mm256_mul_ps(dmin2, _mm256_set1_ps(da));
            acc_m[t] = _mm256_fmadd_ps(dm, _mm256_cvtepi32_ps(m), acc_m[t]);
        }
    }
    for t in 0..NT {
        let mut lanes = [0f32; 8];
        // SAFETY: `lanes` holds 8 f32; storeu has no alignment requirement.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc_m[t]) };
        for r in 0..MR {
            let l = &lanes[4 * r..4 * r + 4];
            out[r * NT + t] = hsum(acc[r][t]) - ((l[0] + l[1]) + (l[2] + l[3]));
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q6_k(n: usize, w: &[&[u8]], a: &[&[u8]], out: &mut [f32]) {
    let (x, y) = views::<BlockQ6_K>(n, w, a, out);
    let zero = _mm256_setzero_si256();
    let (low4, m32, bias) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(32), _mm256_set1_epi8(-128));
    let mut acc = [[_mm256_setzero_ps(); NT]; MR];
    for b in 0..x[0].len() {
        // Per row, vector v = 4h + k: elements 128h + 32k ..+32 as `q − 32`.
        let (mut q, mut sc) = ([[zero; 8]; MR], [[zero; 8]; MR]);
        let (mut d, mut excess) = ([0f32; MR], [zero; MR]);
        for r in 0..MR {
            let xb = &x[r][b];
            d[r] = fp16(xb.d);
            let s16 = _mm256_cvtepi8_epi16(ld128(cast_ref(&xb.scales)));
            let halves = [
                _mm256_permute2x128_si256::<0x00>(s16, s16),
                _mm256_permute2x128_si256::<0x11>(s16, s16),
            ];
            let ql = cast_ref::<_, [[u8; 32]; 4]>(&xb.ql);
            let qh = cast_ref::<_, [[u8; 32]; 2]>(&xb.qh);
            // Chunk k of half h takes nibble k / 2 of ql[64h + 32(k % 2) ..] and bits 2k, 2k + 1
            // of qh[32h ..] as bits 4, 5 (as x86_avx2_k.rs).
            for h in 0..2 {
                let (l0, l1, hb) = (ld256(&ql[2 * h]), ld256(&ql[2 * h + 1]), ld256(&qh[h]));
                let top = |s: __m256i| _mm256_and_si256(s, _mm256_set1_epi8(0x30));
                let parts = [
                    (_mm256_and_si256(l0, low4), top(_mm256_slli_epi16::<4>(hb))),
                    (_mm256_and_si256(l1, low4), top(_mm256_slli_epi16::<2>(hb))),
                    (_mm256_and_si256(_mm256_srli_epi16::<4>(l0), low4), top(hb)),
                    (
                        _mm256_and_si256(_mm256_srli_epi16::<4>(l1), low4),
                        top(_mm256_srli_epi16::<2>(hb)),
                    ),
                ];
                for (k, ((lo, hi), pair)) in parts.into_iter().zip(&PAIR).enumerate() {
                    let v = 4 * h + k;
                    q[r][v] = _mm256_sub_epi8(_mm256_or_si256(lo, hi), m32);
                    sc[r][v] = _mm256_shuffle_epi8(halves[h], ld256(pair));
                    let p = _mm256_madd_epi16(sc[r][v], _mm256_maddubs_epi16(bias, q[r][v]));
                    excess[r] = _mm256_add_epi32(excess[r], p);
                }
            }
        }
        for t in 0..NT {
            let yb = &y[t][b];
            let da = yb.scale();
            let mut sumi = [zero; MR];
            for (v, a) in cast_ref::<_, [[i8; 32]; 8]>(&yb.qs).iter().enumerate() {
                let a = _mm256_xor_si256(ld256(a), bias);
                for r in 0..MR {
                    let p = _mm256_madd_epi16(sc[r][v], _mm256_maddubs_epi16(a, q[r][v]));
                    sumi[r] = _mm256_add_epi32(sumi[r], p);
                }
            }
            for r in 0..MR {
                let s = _mm256_cvtepi32_ps(_mm256_sub_epi32(sumi[r], excess[r]));
                acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(d[r] * da), s, acc[r][t]);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        for (t, v) in acc.iter().enumerate() {
            out[r * NT + t] = hsum(*v);
        }
    }
}

// Safe entry points with the TileFn signature.
super::tile::safe_tiles! {
    "avx2, fma and f16c";
    tile_q4_k => q4_k,
    tile_q6_k => q6_k,
}
