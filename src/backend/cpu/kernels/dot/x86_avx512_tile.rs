//! AVX-512 + VNNI tiled dot products (tile.rs) of the 32-element block formats Q4_0, Q4_1,
//! Q5_0, Q8_0 with 8-bit activations, 4 weight rows × 4 activation rows per call; and the table
//! of every AVX-512 tile (the K-quants' are in x86_avx512_tile_k.rs).
//!
//! Technique: as x86_avx512.rs, per block pair. Per row: the pair's 64 quants as unsigned bytes
//! (nibbles; Q5_0 plus its fifth bits; Q8_0 `q ⊕ 0x80 = q + 128`) and `[d0 ×8, d1 ×8]`; per
//! token: the 64 activation bytes, their `[d0 ×8, d1 ×8]` and `−off·Σa` per 4 bytes (the
//! weights' offset, 8, 16 or 128, times the activations: `vpdpbusd(off, a)`), which seeds the
//! accumulator of every row's `vpdpbusd`, so a (row, token) pair costs one integer dot, one
//! conversion, one scale product and one FMA into its own 16-lane accumulator. Q4_1's min term
//! `m·s` per block is one more FMA of `[m0, 0 ×7, m1, 0 ×7]` with `[s0 …, s1 …]`.
//!
//! May use: `quant`, the parent's helpers, x86_avx2.rs, x86_avx512.rs, x86_avx512_tile_k.rs.
//! Invariant: every function needs avx512f/bw/vl/vnni, avx2, fma, f16c and is in the table only
//! after detection. Exactness as x86_avx512.rs: a lane sums 4 products plus the seed, exactly
//! `Σ (q − off)·a` over 4 elements, |·| < 2^16, so its conversion is exact.

use std::arch::x86_64::*;

use bytemuck::Zeroable;

use super::tile::{Tile, check};
use super::x86_avx2::{ld128, ld256};
use super::{blocks, x86_avx512_tile_k};
use crate::quant::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ8_0, BlockQ8_1, DType};

/// Weight rows and activation rows per call.
const MR: usize = 4;
const NT: usize = 4;

/// Every AVX-512 tile, for dot/mod.rs.
pub(super) const TILES: [(DType, Tile); 6] = [
    (DType::Q4_0, Tile { rows: MR, tokens: NT, partial: false, run: tile_q4_0 }),
    (DType::Q4_1, Tile { rows: MR, tokens: NT, partial: false, run: tile_q4_1 }),
    (DType::Q5_0, Tile { rows: MR, tokens: NT, partial: false, run: tile_q5_0 }),
    (DType::Q8_0, Tile { rows: MR, tokens: NT, partial: false, run: tile_q8_0 }),
    (DType::Q4_K, x86_avx512_tile_k::Q4_K),
    (DType::Q6_K, x86_avx512_tile_k::Q6_K),
];

/// One row's block pair: unsigned quants, `[d0 ×8, d1 ×8]`, `[m0, 0 ×7, m1, 0 ×7]` (or zero).
type RowPair = (__m512i, __m512, __m512);

/// `[v0 ×8, v1 ×8]` and `[v0, 0 ×7, v1, 0 ×7]`... of lanes `i` and `j` of `v`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn spread(v: __m128, i: i32, j: i32) -> __m512 {
    let idx = _mm512_setr_epi32(i, i, i, i, i, i, i, i, j, j, j, j, j, j, j, j);
    _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(v))
}

/// `[v_i, 0 ×7, v_j, 0 ×7]`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn first_lanes(v: __m128, i: i32, j: i32) -> __m512 {
    let idx = _mm512_setr_epi32(i, 0, 0, 0, 0, 0, 0, 0, j, 0, 0, 0, 0, 0, 0, 0);
    _mm512_maskz_permutexvar_ps(0x0101, idx, _mm512_castps128_ps512(v))
}

/// The f16 fields at bytes 0..2 of two blocks as `[d0, d1, ·, ·]`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn d_pair<B: bytemuck::Pod>(b0: &B, b1: &B) -> __m128 {
    let (x, y) = (bytemuck::bytes_of(b0), bytemuck::bytes_of(b1));
    let word = u32::from_le_bytes([x[0], x[1], y[0], y[1]]);
    _mm_cvtph_ps(_mm_cvtsi32_si128(word as i32))
}

/// Two 32-blocks' nibbles in element order (as x86_avx512.rs).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn nibble_pair(q0: &[u8; 16], q1: &[u8; 16]) -> __m512i {
    let both = _mm512_castsi256_si512(_mm256_set_m128i(ld128(q1), ld128(q0)));
    let twice = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3), both);
    let shifted = _mm512_srlv_epi64(twice, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4));
    _mm512_and_si512(shifted, _mm512_set1_epi8(0x0F))
}

/// Two blocks' 32 bytes side by side.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn byte_pair(a0: &[i8; 32], a1: &[i8; 32]) -> __m512i {
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(ld256(a0)), ld256(a1))
}

/// The tile loop over block pairs: `row` decodes a row's pair, `tok` gives a token's quants,
/// `[d0 ×8, d1 ×8]` and `[s0 …, s1 …]` (Q8_1; read only when `MIN`); `off` is the weights'
/// offset. An odd last block is paired with a zero block, which adds exactly 0.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn tile32<X: Zeroable, Y: Zeroable, const MIN: bool>(
    x: [&[X]; MR],
    y: [&[Y]; NT],
    off: i8,
    out: &mut [f32],
    row: impl Fn(&X, &X) -> RowPair,
    tok: impl Fn(&Y, &Y) -> (__m512i, __m512, __m512),
) {
    let nb = x[0].len();
    let mut acc = [[_mm512_setzero_ps(); NT]; MR];
    let offset = _mm512_set1_epi8(off);
    let mut step = |xb: [[&X; 2]; MR], yb: [[&Y; 2]; NT]| {
        let rows: [RowPair; MR] = std::array::from_fn(|r| row(xb[r][0], xb[r][1]));
        for (t, yb) in yb.iter().enumerate() {
            let (q, d, s) = tok(yb[0], yb[1]);
            let zero = _mm512_setzero_si512();
            let seed = if off == 0 {
                zero
            } else {
                _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, offset, q))
            };
            for (r, (wq, wd, wm)) in rows.iter().enumerate() {
                let sum = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(seed, *wq, q));
                let mut v = _mm512_fmadd_ps(_mm512_mul_ps(*wd, d), sum, acc[r][t]);
                if MIN {
                    v = _mm512_fmadd_ps(*wm, s, v);
                }
                acc[r][t] = v;
            }
        }
    };
    let pairs = nb / 2;
    for p in 0..pairs {
        let b = 2 * p;
        step(
            std::array::from_fn(|r| [&x[r][b], &x[r][b + 1]]),
            std::array::from_fn(|t| [&y[t][b], &y[t][b + 1]]),
        );
    }
    if nb % 2 == 1 {
        let (zx, zy, b) = (X::zeroed(), Y::zeroed(), nb - 1);
        step(std::array::from_fn(|r| [&x[r][b], &zx]), std::array::from_fn(|t| [&y[t][b], &zy]));
    }
    for (r, acc) in acc.iter().enumerate() {
        for (t, v) in acc.iter().enumerate() {
            out[r * NT + t] = _mm512_reduce_add_ps(*v);
        }
    }
}

/// Rows and tokens as blocks, after the shape checks.
#[inline(always)]
fn views<'a, X: crate::quant::Block, Y: crate::quant::Block>(
    n: usize,
    w: &[&'a [u8]],
    a: &[&'a [u8]],
    out: &[f32],
) -> ([&'a [X]; MR], [&'a [Y]; NT]) {
    let (xd, yd) = (X::DTYPE, Y::DTYPE);
    check(n, w, a, out, (MR, NT), (xd.block_size(), xd.type_size(), yd.type_size()));
    (std::array::from_fn(|r| blocks::<X>(w[r])), std::array::from_fn(|t| blocks::<Y>(a[t])))
}

/// A Q8_0 activation pair: quants, `[d0 ×8, d1 ×8]`, no sums.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn q8_0_tok(y0: &BlockQ8_0, y1: &BlockQ8_0) -> (__m512i, __m512, __m512) {
    (byte_pair(&y0.qs, &y1.qs), spread(d_pair(y0, y1), 0, 1), _mm512_setzero_ps())
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn q4_0(n: usize, w: &[&[u8]], a: &[&[u8]], out: &mut [f32]) {
    let (x, y) = views::<BlockQ4_0, BlockQ8_0>(n, w, a, out);
    let zero = _mm512_setzero_ps();
    let row = |x0: &BlockQ4_0, x1: &BlockQ4_0| {
        (nibble_pair(&x0.qs, &x1.qs), spread(d_pair(x0, x1), 0, 1), zero)
    };
    tile32::<_, _, false>(x, y, 8, out, row, |y0, y1| q8_0_tok(y0, y1));
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn q4_1(n: usize, w: &[&[u8]], a: &[&[u8]], out: &mut [f32]) {
    let (x, y) = views::<BlockQ4_1, BlockQ8_1>(n, w, a, out);
    // [d0, m0, d1, m1] from the two blocks' first words (fp16x2 gives [d, m, d, m]).
    let dm = |b0: &[u8], b1: &[u8]| {
        let w = |b: &[u8]| i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        _mm_cvtph_ps(_mm_setr_epi32(w(b0), w(b1), 0, 0))
    };
    let row = |x0: &BlockQ4_1, x1: &BlockQ4_1| {
        let v = dm(bytemuck::bytes_of(x0), bytemuck::bytes_of(x1));
        (nibble_pair(&x0.qs, &x1.qs), spread(v, 0, 2), first_lanes(v, 1, 3))
    };
    let tok = |y0: &BlockQ8_1, y1: &BlockQ8_1| {
        let v = dm(bytemuck::bytes_of(y0), bytemuck::bytes_of(y1));
        (byte_pair(&y0.qs, &y1.qs), spread(v, 0, 2), spread(v, 1, 3))
    };
    tile32::<_, _, true>(x, y, 0, out, row, tok);
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn q5_0(n: usize, w: &[&[u8]], a: &[&[u8]], out: &mut [f32]) {
    let (x, y) = views::<BlockQ5_0, BlockQ8_0>(n, w, a, out);
    let zero = _mm512_setzero_ps();
    let row = |x0: &BlockQ5_0, x1: &BlockQ5_0| {
        // Bit i of qh is element i's fifth bit; the pair's 64 bits index its 64 bytes.
        let bits =
            u64::from(u32::from_le_bytes(x0.qh)) | u64::from(u32::from_le_bytes(x1.qh)) << 32;
        let q = nibble_pair(&x0.qs, &x1.qs);
        let q = _mm512_mask_add_epi8(q, bits, q, _mm512_set1_epi8(16));
        (q, spread(d_pair(x0, x1), 0, 1), zero)
    };
    tile32::<_, _, false>(x, y, 16, out, row, |y0, y1| q8_0_tok(y0, y1));
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn q8_0(n: usize, w: &[&[u8]], a: &[&[u8]], out: &mut [f32]) {
    let (x, y) = views::<BlockQ8_0, BlockQ8_0>(n, w, a, out);
    let zero = _mm512_setzero_ps();
    let row = |x0: &BlockQ8_0, x1: &BlockQ8_0| {
        let q = _mm512_xor_si512(byte_pair(&x0.qs, &x1.qs), _mm512_set1_epi8(-128));
        (q, spread(d_pair(x0, x1), 0, 1), zero)
    };
    // 0x80 is the unsigned 128.
    tile32::<_, _, false>(x, y, -128, out, row, |y0, y1| q8_0_tok(y0, y1));
}

// Safe entry points with the TileFn signature.
super::tile::safe_tiles! {
    "avx512f/bw/vl/vnni, avx2, fma and f16c";
    tile_q4_0 => q4_0,
    tile_q4_1 => q4_1,
    tile_q5_0 => q5_0,
    tile_q8_0 => q8_0,
}
