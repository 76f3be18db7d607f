//! AVX2 + FMA + F16C tiled dot products (tile.rs) of Q6_K with Q8_K, 2 weight rows × 4
//! activation rows per call (Q4_K has a whole-block panel, x86_avx2_panel_k.rs).
//!
//! Technique: as x86_avx2_k.rs, per super-block. Each row's quants are decoded once into
//! 32-byte vectors in the order of the activation bytes they meet, with their 16-group scales
//! spread to i16 lanes (`vpshufb` with the PAIR controls); each token's activations are loaded
//! once per vector. A (row, token) pair then costs `vpmaddubsw` + `vpmaddwd` + an add per 32
//! elements into an 8-lane i32 sum, converted and scaled by `d_w·d_a` once per super-block:
//! signed weights `q − 32` against unsigned activations `a + 128`, minus the per-row excess
//! `128·Σ sc·(q − 32)` (as x86_avx512_tile_k.rs).
//!
//! May use: `quant`, the parent's helpers, x86_avx2.rs, x86_avx2_k.rs. Invariant: as
//! x86_avx2_tile.rs. Exactness: no i16 saturates (2·255·32 = 16320); a lane sums 32 products:
//! the biased sum is < 32·255·32·128 < 2^31 and the exact `Σ sc·(q − 32)·a` after the
//! subtraction is < 32·127·32·128 < 2^24.

use std::arch::x86_64::*;

use bytemuck::cast_ref;

use super::blocks;
use super::tile::{Tile, check};
use super::x86_avx2::{fp16, hsum, ld128, ld256};
use super::x86_avx2_k::PAIR;
use crate::quant::{Block, BlockQ6_K, BlockQ8_K};

const MR: usize = 2;
const NT: usize = 4;

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
    tile_q6_k => q6_k,
}
