//! AVX2 + FMA + F16C tiled dot products (tile.rs) of Q8_0 weights with Q8_0 activations, 2
//! weight rows × 4 activation rows per call (16 ymm registers: 8 accumulators and the
//! operands); and the table of the AVX2 register tiles (the K-quants' are in
//! x86_avx2_tile_k.rs; Q4_0, Q4_1, Q5_0 and Q5_1 have whole-block panels, x86_avx2_panel.rs).
//!
//! Technique: as x86_avx2.rs, per block. Per row: the 32 signed quants, their `|q|` for the
//! sign trick, and `[d ×8]`; per token: the 32 activation bytes and `[d ×8]`. A (row, token)
//! pair then costs the integer dot (`vpsignb`, `vpmaddubsw`, `vpmaddwd`), one conversion, one
//! scale product and one FMA into its own 8-lane accumulator.
//!
//! May use: `quant`, the parent's helpers, x86_avx2.rs, x86_avx2_tile_k.rs. Invariant: every
//! function needs avx2, fma, f16c and is in the table only after detection. Exactness as
//! x86_avx2.rs: no `vpmaddubsw` pair saturates and a lane (4 products) is exact in f32.

use std::arch::x86_64::*;

use super::tile::{Tile, check};
use super::x86_avx2::{fp16x8, hsum, ld256};
use super::{blocks, x86_avx2_tile_k};
use crate::quant::{Block, BlockQ8_0, DType};

/// Weight rows and activation rows per call.
const MR: usize = 2;
const NT: usize = 4;

/// The AVX2 register tiles, for dot/mod.rs (Q4_0, Q4_1, Q5_0, Q5_1 and Q4_K have whole-block
/// panels instead, x86_avx2_panel.rs and x86_avx2_panel_k.rs).
pub(super) const TILES: [(DType, Tile); 2] = [
    (DType::Q8_0, Tile { rows: MR, tokens: NT, partial: false, run: tile_q8_0 }),
    (DType::Q6_K, x86_avx2_tile_k::Q6_K),
];

/// A row's block: its quants, their absolute values, `[d ×8]`.
type RowBlock = (__m256i, __m256i, __m256);
/// A token's block: quants, `[d ×8]`.
type TokBlock = (__m256i, __m256);

/// The tile loop over blocks: `row` and `tok` decode a block, `dot` gives a (row, token) pair's
/// 8 exact i32 lanes.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn tile32<X, Y>(
    x: [&[X]; MR],
    y: [&[Y]; NT],
    out: &mut [f32],
    row: impl Fn(&X) -> RowBlock,
    tok: impl Fn(&Y) -> TokBlock,
    dot: impl Fn(&RowBlock, &TokBlock) -> __m256i,
) {
    let mut acc = [[_mm256_setzero_ps(); NT]; MR];
    for b in 0..x[0].len() {
        let rows: [RowBlock; MR] = std::array::from_fn(|r| row(&x[r][b]));
        for t in 0..NT {
            let tb = tok(&y[t][b]);
            for (r, rb) in rows.iter().enumerate() {
                let sum = _mm256_cvtepi32_ps(dot(rb, &tb));
                acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(rb.2, tb.1), sum, acc[r][t]);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        for (t, v) in acc.iter().enumerate() {
            out[r * NT + t] = hsum(*v);
        }
    }
}

/// Rows and tokens as blocks, after the shape checks.
#[inline(always)]
fn views<'a, X: Block, Y: Block>(
    n: usize,
    w: &[&'a [u8]],
    a: &[&'a [u8]],
    out: &[f32],
) -> ([&'a [X]; MR], [&'a [Y]; NT]) {
    let (xd, yd) = (X::DTYPE, Y::DTYPE);
    check(n, w, a, out, (MR, NT), (xd.block_size(), xd.type_size(), yd.type_size()));
    (std::array::from_fn(|r| blocks::<X>(w[r])), std::array::from_fn(|t| blocks::<Y>(a[t])))
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q8_0(n: usize, w: &[&[u8]], a: &[&[u8]], out: &mut [f32]) {
    let (x, y) = views::<BlockQ8_0, BlockQ8_0>(n, w, a, out);
    // The sign trick `|w|·(a·sign w)`; w = −128 is fine: sign(−128, −128) is 0x80, read by
    // vpmaddubsw as the unsigned 128.
    let row = |x: &BlockQ8_0| {
        let q = ld256(&x.qs);
        (q, _mm256_sign_epi8(q, q), fp16x8(x.d))
    };
    let tok = |y: &BlockQ8_0| (ld256(&y.qs), fp16x8(y.d));
    let dot = |r: &RowBlock, t: &TokBlock| {
        let p = _mm256_maddubs_epi16(r.1, _mm256_sign_epi8(t.0, r.0));
        _mm256_madd_epi16(p, _mm256_set1_epi16(1))
    };
    tile32(x, y, out, row, tok, dot);
}

// Safe entry points with the TileFn signature.
super::tile::safe_tiles! {
    "avx2, fma and f16c";
    tile_q8_0 => q8_0,
}
