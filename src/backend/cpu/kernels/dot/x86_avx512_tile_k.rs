//! AVX-512 + VNNI tiled dot products (tile.rs) of Q4_K and Q6_K with Q8_K, 4 weight rows × 4
//! activation rows per call.
//!
//! Technique: as x86_avx512.rs, per super-block. Each row's 4 chunks of 64 quants are decoded
//! once into unsigned (Q4_K) or signed (Q6_K, `q − 32`) bytes, with each chunk's 16-group
//! scales spread to i16 lanes by `vpermw`; each token's 4 chunks of activations are loaded
//! once. A (row, token) pair then costs `vpmaddubsw` + `vpdpwssd` per chunk into a 16-lane i32
//! sum, converted and scaled by `d_w·d_a` once per super-block. Q6_K's signed weights need an
//! unsigned partner: the activations go in as `a + 128` (`a ⊕ 0x80`), and the excess
//! `128·Σ sc·q` — the same for every token — is one per-row vector built with the same lanes
//! and subtracted before the conversion. Q4_K's min terms `dmin·Σ_g m_g·bsum_g` take one
//! `vpmaddwd` per token for all 4 rows (row r's mins in lanes 4r..4r + 4), accumulated apart
//! and subtracted at the end, as in the per-row dot.
//!
//! May use: `quant`, the parent's helpers, x86_avx2.rs, x86_avx2_k.rs, x86_avx512.rs.
//! Invariant: as x86_avx512_tile.rs (features, table only after detection). Exactness: |a| ≤
//! 127, so no i16 saturates (Q4_K 2·15·127; Q6_K 2·255·32 = 16320 for `(a + 128)·(q − 32)`);
//! a lane sums 16 products: for Q6_K its biased sum is < 16·255·32·128 < 2^31, and after the
//! subtraction it is the exact `Σ sc·(q − 32)·a` of those 16 elements, < 2^23, so the
//! conversion is exact; Q4_K's lanes are < 16·15·127·63 < 2^21.

use std::arch::x86_64::*;

use bytemuck::cast_ref;

use super::blocks;
use super::tile::{Tile, check};
use super::x86_avx2::{fp16, ld128, ld256};
use super::x86_avx2_k::scales_mins;
use super::x86_avx512::{Q4K_IDX, Q6K_IDX, idx, ld512};
use crate::quant::{Block, BlockQ4_K, BlockQ6_K, BlockQ8_K};

const MR: usize = 4;
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

/// `out[r·NT + t] = Σ_lanes acc[r][t]` minus, if given, lanes 4r..4r + 4 of `mins[t]`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn finish(acc: &[[__m512; NT]; MR], mins: Option<&[__m512; NT]>, out: &mut [f32]) {
    for (t, m) in mins.map_or([None; NT], |m| m.map(Some)).into_iter().enumerate() {
        let mut lanes = [0f32; 16];
        if let Some(m) = m {
            // SAFETY: `lanes` holds 16 f32; storeu has no alignment requirement.
            unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), m) };
        }
        for (r, acc) in acc.iter().enumerate() {
            let l = &lanes[4 * r..4 * r + 4];
            out[r * NT + t] = _mm512_reduce_add_ps(acc[t]) - ((l[0] + l[1]) + (l[2] + l[3]));
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn q4_k(n: usize, w: &[&[u8]], a: &[&[u8]], out: &mut [f32]) {
    let (x, y) = views::<BlockQ4_K>(n, w, a, out);
    let zero = _mm512_setzero_si512();
    let low4 = _mm512_set1_epi8(0x0F);
    let (mut acc, mut acc_m) = ([[_mm512_setzero_ps(); NT]; MR], [_mm512_setzero_ps(); NT]);
    for b in 0..x[0].len() {
        let (mut q, mut sc) = ([[zero; 4]; MR], [[zero; 4]; MR]);
        let (mut d, mut dmin, mut mins) = ([0f32; MR], [0f32; MR], [_mm_setzero_si128(); MR]);
        for r in 0..MR {
            let xb = &x[r][b];
            (d[r], dmin[r]) = (fp16(xb.d), fp16(xb.dmin));
            let sm = _mm256_cvtepu8_epi16(ld128(cast_ref(&scales_mins(&xb.scales))));
            mins[r] = _mm256_extracti128_si256::<1>(sm);
            let sm = _mm512_castsi256_si512(sm);
            // Chunk j: 64 elements, low nibbles (group 2j) then high nibbles (group 2j + 1).
            for (j, bits) in cast_ref::<_, [[u8; 32]; 4]>(&xb.qs).iter().enumerate() {
                let bits = ld256(bits);
                let both = _mm512_inserti64x4::<1>(
                    _mm512_castsi256_si512(bits),
                    _mm256_srli_epi16::<4>(bits),
                );
                q[r][j] = _mm512_and_si512(both, low4);
                sc[r][j] = _mm512_permutexvar_epi16(idx(&Q4K_IDX[j]), sm);
            }
        }
        let lo = _mm256_set_m128i(mins[1], mins[0]);
        let mins4 =
            _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), _mm256_set_m128i(mins[3], mins[2]));
        let quads = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
        let dmin4 = _mm512_permutexvar_ps(
            quads,
            _mm512_castps128_ps512(_mm_setr_ps(dmin[0], dmin[1], dmin[2], dmin[3])),
        );
        for t in 0..NT {
            let yb = &y[t][b];
            let da = yb.scale();
            let mut sumi = [zero; MR];
            for (j, a) in cast_ref::<_, [[i8; 64]; 4]>(&yb.qs).iter().enumerate() {
                let a = ld512(a);
                for r in 0..MR {
                    let p = _mm512_maddubs_epi16(q[r][j], a);
                    sumi[r] = _mm512_dpwssd_epi32(sumi[r], sc[r][j], p);
                }
            }
            for r in 0..MR {
                let s = _mm512_cvtepi32_ps(sumi[r]);
                acc[r][t] = _mm512_fmadd_ps(_mm512_set1_ps(d[r] * da), s, acc[r][t]);
            }
            // Mins against the 8 sums of 32 activations (pairs of Q8_K's 16-sums).
            let bs = ld256(&yb.bsums);
            let sums32 =
                _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256::<1>(bs));
            let m = _mm512_madd_epi16(mins4, _mm512_broadcast_i32x4(sums32));
            let dm = _mm512_mul_ps(dmin4, _mm512_set1_ps(da));
            acc_m[t] = _mm512_fmadd_ps(dm, _mm512_cvtepi32_ps(m), acc_m[t]);
        }
    }
    finish(&acc, Some(&acc_m), out);
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn q6_k(n: usize, w: &[&[u8]], a: &[&[u8]], out: &mut [f32]) {
    let (x, y) = views::<BlockQ6_K>(n, w, a, out);
    let zero = _mm512_setzero_si512();
    let (low4, m32, bias) = (_mm512_set1_epi8(0x0F), _mm512_set1_epi8(32), _mm512_set1_epi8(-128));
    let mut acc = [[_mm512_setzero_ps(); NT]; MR];
    for b in 0..x[0].len() {
        let (mut q, mut sc) = ([[zero; 4]; MR], [[zero; 4]; MR]);
        let (mut d, mut excess) = ([0f32; MR], [zero; MR]);
        for r in 0..MR {
            let xb = &x[r][b];
            d[r] = fp16(xb.d);
            let s16 = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(ld128(cast_ref(&xb.scales))));
            let ql = cast_ref::<_, [[u8; 64]; 2]>(&xb.ql);
            let qh = cast_ref::<_, [[u8; 32]; 2]>(&xb.qh);
            // Half h: chunk 2h = elements 128h..+64 (low nibbles of ql[64h..], qh bits 0-1 then
            // 2-3 as bits 4-5), chunk 2h + 1 = the next 64 (high nibbles, qh bits 4-5, 6-7).
            for h in 0..2 {
                let (l, hb) = (ld512(&ql[h]), ld256(&qh[h]));
                let hz =
                    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(hb), _mm256_srli_epi16::<2>(hb));
                let top0 = _mm512_slli_epi16::<4>(_mm512_and_si512(hz, _mm512_set1_epi8(0x03)));
                let top1 = _mm512_and_si512(hz, _mm512_set1_epi8(0x30));
                let lo = _mm512_or_si512(_mm512_and_si512(l, low4), top0);
                let hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16::<4>(l), low4), top1);
                q[r][2 * h] = _mm512_sub_epi8(lo, m32);
                q[r][2 * h + 1] = _mm512_sub_epi8(hi, m32);
            }
            for c in 0..4 {
                sc[r][c] = _mm512_permutexvar_epi16(idx(&Q6K_IDX[c]), s16);
                let p = _mm512_maddubs_epi16(bias, q[r][c]);
                excess[r] = _mm512_dpwssd_epi32(excess[r], sc[r][c], p);
            }
        }
        for t in 0..NT {
            let yb = &y[t][b];
            let da = yb.scale();
            let mut sumi = [zero; MR];
            for (c, a) in cast_ref::<_, [[i8; 64]; 4]>(&yb.qs).iter().enumerate() {
                let a = _mm512_xor_si512(ld512(a), bias);
                for r in 0..MR {
                    let p = _mm512_maddubs_epi16(a, q[r][c]);
                    sumi[r] = _mm512_dpwssd_epi32(sumi[r], sc[r][c], p);
                }
            }
            for r in 0..MR {
                let s = _mm512_cvtepi32_ps(_mm512_sub_epi32(sumi[r], excess[r]));
                acc[r][t] = _mm512_fmadd_ps(_mm512_set1_ps(d[r] * da), s, acc[r][t]);
            }
        }
    }
    finish(&acc, None, out);
}

// Safe entry points with the TileFn signature.
super::tile::safe_tiles! {
    "avx512f/bw/vl/vnni, avx2, fma and f16c";
    tile_q4_k => q4_k,
    tile_q6_k => q6_k,
}
