//! AVX2 + FMA + F16C tiled dot products (tile.rs) of the 32-element block formats Q4_0, Q4_1,
//! Q5_0, Q8_0 with 8-bit activations, 2 weight rows × 4 activation rows per call (16 ymm
//! registers: 8 accumulators and the operands); and the table of every AVX2 tile (the
//! K-quants' are in x86_avx2_tile_k.rs).
//!
//! Technique: as x86_avx2.rs, per block. Per row: the 32 quants (unsigned; Q8_0 signed, with
//! `|q|` for the sign trick) and `[d ×8]`; per token: the 32 activation bytes, `[d ×8]` and
//! the offset product `vpmaddubsw(off, a)` (Q4_0 8, Q5_0 16). A (row, token) pair then costs
//! the integer dot (`vpmaddubsw`, the offset subtraction or the sign, `vpmaddwd`), one
//! conversion, one scale product and one FMA into its own 8-lane accumulator; Q4_1's `m·s`
//! goes into lane 0 with one more FMA.
//!
//! May use: `quant`, the parent's helpers, x86_avx2.rs, x86_avx2_tile_k.rs. Invariant: every
//! function needs avx2, fma, f16c and is in the table only after detection. Exactness as
//! x86_avx2.rs: no `vpmaddubsw` pair saturates and a lane (4 products) is exact in f32.

use std::arch::x86_64::*;

use super::tile::{Tile, check};
use super::x86_avx2::{bit_mask, fp16x2, fp16x8, hsum, ld256, nibbles};
use super::{blocks, x86_avx2_tile_k};
use crate::quant::{Block, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ8_0, BlockQ8_1, DType};

/// Weight rows and activation rows per call.
const MR: usize = 2;
const NT: usize = 4;

/// Every AVX2 tile, for dot/mod.rs.
pub(super) const TILES: [(DType, Tile); 6] = [
    (DType::Q4_0, Tile { rows: MR, tokens: NT, run: tile_q4_0 }),
    (DType::Q4_1, Tile { rows: MR, tokens: NT, run: tile_q4_1 }),
    (DType::Q5_0, Tile { rows: MR, tokens: NT, run: tile_q5_0 }),
    (DType::Q8_0, Tile { rows: MR, tokens: NT, run: tile_q8_0 }),
    (DType::Q4_K, x86_avx2_tile_k::Q4_K),
    (DType::Q6_K, x86_avx2_tile_k::Q6_K),
];

/// A row's block: quants as the pair dot wants them (two forms), `[d ×8]`, `[m, 0 ×7]`.
type RowBlock = (__m256i, __m256i, __m256, __m256);
/// A token's block: quants, `[d ×8]`, `[s ×8]` (Q8_1), the offset product.
type TokBlock = (__m256i, __m256, __m256, __m256i);

/// The tile loop over blocks: `row` and `tok` decode a block, `dot` gives a (row, token) pair's
/// 8 exact i32 lanes; Q4_1 (`MIN`) adds `m·s` into lane 0.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn tile32<X, Y, const MIN: bool>(
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
                let mut v = _mm256_fmadd_ps(_mm256_mul_ps(rb.2, tb.1), sum, acc[r][t]);
                if MIN {
                    v = _mm256_fmadd_ps(rb.3, tb.2, v);
                }
                acc[r][t] = v;
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

/// `Σ (q − off)·a` per 4 bytes from `vpmaddubsw(q, a) − vpmaddubsw(off, a)` in i16.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn offset_dot(r: &RowBlock, t: &TokBlock) -> __m256i {
    let p = _mm256_sub_epi16(_mm256_maddubs_epi16(r.0, t.0), t.3);
    _mm256_madd_epi16(p, _mm256_set1_epi16(1))
}

/// A Q8_0 activation block with the offset product for weights offset by `off`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn q8_0_tok(y: &BlockQ8_0, off: i8) -> TokBlock {
    let q = ld256(&y.qs);
    let o = if off == 0 {
        _mm256_setzero_si256()
    } else {
        _mm256_maddubs_epi16(_mm256_set1_epi8(off), q)
    };
    (q, fp16x8(y.d), _mm256_setzero_ps(), o)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_0(n: usize, w: &[&[u8]], a: &[&[u8]], out: &mut [f32]) {
    let (x, y) = views::<BlockQ4_0, BlockQ8_0>(n, w, a, out);
    let z = (_mm256_setzero_si256(), _mm256_setzero_ps());
    let row = |x: &BlockQ4_0| (nibbles(&x.qs), z.0, fp16x8(x.d), z.1);
    tile32::<_, _, false>(x, y, out, row, |y| q8_0_tok(y, 8), |r, t| offset_dot(r, t));
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_1(n: usize, w: &[&[u8]], a: &[&[u8]], out: &mut [f32]) {
    let (x, y) = views::<BlockQ4_1, BlockQ8_1>(n, w, a, out);
    let zero = _mm256_setzero_ps();
    let row = |x: &BlockQ4_1| {
        let dm = fp16x2(x); // [d, m, d, m]
        let m = _mm256_blend_ps::<0x01>(zero, _mm256_castps128_ps256(_mm_movehdup_ps(dm)));
        (nibbles(&x.qs), _mm256_setzero_si256(), _mm256_broadcastss_ps(dm), m)
    };
    let tok = |y: &BlockQ8_1| {
        let ds = fp16x2(y); // [d, s, d, s]
        let s = _mm256_broadcastss_ps(_mm_movehdup_ps(ds));
        (ld256(&y.qs), _mm256_broadcastss_ps(ds), s, _mm256_setzero_si256())
    };
    let dot = |r: &RowBlock, t: &TokBlock| {
        _mm256_madd_epi16(_mm256_maddubs_epi16(r.0, t.0), _mm256_set1_epi16(1))
    };
    tile32::<_, _, true>(x, y, out, row, tok, dot);
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5_0(n: usize, w: &[&[u8]], a: &[&[u8]], out: &mut [f32]) {
    let (x, y) = views::<BlockQ5_0, BlockQ8_0>(n, w, a, out);
    let z = (_mm256_setzero_si256(), _mm256_setzero_ps());
    let row = |x: &BlockQ5_0| {
        let high = _mm256_and_si256(bit_mask(x.qh), _mm256_set1_epi8(0x10));
        (_mm256_or_si256(nibbles(&x.qs), high), z.0, fp16x8(x.d), z.1)
    };
    tile32::<_, _, false>(x, y, out, row, |y| q8_0_tok(y, 16), |r, t| offset_dot(r, t));
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q8_0(n: usize, w: &[&[u8]], a: &[&[u8]], out: &mut [f32]) {
    let (x, y) = views::<BlockQ8_0, BlockQ8_0>(n, w, a, out);
    let zero = _mm256_setzero_ps();
    // The sign trick `|w|·(a·sign w)`; w = −128 is fine: sign(−128, −128) is 0x80, read by
    // vpmaddubsw as the unsigned 128.
    let row = |x: &BlockQ8_0| {
        let q = ld256(&x.qs);
        (q, _mm256_sign_epi8(q, q), fp16x8(x.d), zero)
    };
    let dot = |r: &RowBlock, t: &TokBlock| {
        let p = _mm256_maddubs_epi16(r.1, _mm256_sign_epi8(t.0, r.0));
        _mm256_madd_epi16(p, _mm256_set1_epi16(1))
    };
    tile32::<_, _, false>(x, y, out, row, |y| q8_0_tok(y, 0), dot);
}

// Safe entry points with the TileFn signature.
super::tile::safe_tiles! {
    "avx2, fma and f16c";
    tile_q4_0 => q4_0,
    tile_q4_1 => q4_1,
    tile_q5_0 => q5_0,
    tile_q8_0 => q8_0,
}
