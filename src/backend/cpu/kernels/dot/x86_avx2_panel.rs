//! AVX2 + FMA + F16C prefill blocks for the 32-element formats with unsigned 4- and 5-bit
//! quants — Q4_0 and Q5_0 against Q8_0 activations, Q4_1 and Q5_1 against Q8_1 — computing a
//! whole matmul_tiled.rs block (up to 16 weight rows × 16 activation rows) per call.
//!
//! Layout: rows in lanes. Each chunk of [`KC`] blocks of a group of 8 rows is decoded once
//! into a stack panel: per block, 8 vectors whose i32 lane r holds 4 consecutive unsigned
//! quants of row r (an 8 × 8 transpose of the rows' decoded bytes), and the 8 rows' scales
//! (and mins) as one f32 vector — the interleaving ggml's repacked `q4_0_8x8` GEMM uses
//! (ggml-cpu/repack.cpp, learned from, not copied). A token block then meets all 8 rows at
//! once: `vpmaddubsw` of each row vector with the token's 4 matching bytes broadcast, the
//! i16 products summed in i16 while they cannot overflow, one `vpmaddwd` per 4 (Q5) or 8 (Q4)
//! of them, the token's offset sum `off·Σa` subtracted in i32, one conversion, one scale
//! product and one FMA — about 21 vector ops per 8 (row, token) pairs of a block, against 6
//! per pair with rows in separate registers. Min formats add `m·s` with one FMA instead of
//! the offset. Micro-tile: 8 rows × 4 tokens (4 accumulators, the 8 row vectors).
//!
//! Exactness as x86_avx2_tile_k.rs: a `vpmaddubsw` pair is at most 2·31·127 = 7874, so four
//! (Q5) or eight (Q4: 2·15·127 = 3810) sum in i16 without saturating; a block's sum is the
//! exact integer of the scalar dot (|·| < 2^17), the offset sum too; only the f32 order of the
//! scaled block sums differs (tile_tests.rs bound).
//!
//! Also the helpers x86_avx2_panel_k.rs (Q4_K) shares: the transpose and the final store.
//!
//! May use: `quant`, the parent's helpers, x86_avx2.rs. Invariant: every function needs avx2,
//! fma, f16c and is in the table only after detection; every panel entry read was written in
//! the same chunk (rows and tokens past the caller's repeat its last one).

use std::arch::x86_64::*;
use std::mem::MaybeUninit;

use super::blocks;
use super::tile::Tile;
use super::x86_avx2::{bit_mask, ld256, nibbles};
use crate::quant::{Block, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};

/// Weight rows and activation rows per call: matmul_tiled.rs's whole block.
const ROWS: usize = 16;
const TOKS: usize = 16;
/// Rows per group (the 8 i32 lanes) and tokens per micro-tile.
const GR: usize = 8;
const NT: usize = 4;
/// Blocks per K chunk: 16 rows' quants (16 KiB) and 16 tokens' quants (16 KiB).
const KC: usize = 32;

/// The panel tiles of dot/mod.rs's AVX2 level.
pub(super) const Q4_0: Tile = Tile { rows: ROWS, tokens: TOKS, partial: true, run: panel_q4_0 };
pub(super) const Q4_1: Tile = Tile { rows: ROWS, tokens: TOKS, partial: true, run: panel_q4_1 };
pub(super) const Q5_0: Tile = Tile { rows: ROWS, tokens: TOKS, partial: true, run: panel_q5_0 };
pub(super) const Q5_1: Tile = Tile { rows: ROWS, tokens: TOKS, partial: true, run: panel_q5_1 };

/// A decoded weight block: 32 unsigned quants, the scale, the min (0 without one).
type RowBlock = (__m256i, f32, f32);
/// A token block: its quants, its scale, its `s` (0 without one).
type TokBlock<'a> = (&'a [u8; 32], f32, f32);

/// One chunk of decoded rows and tokens. Uninitialised until written: a chunk writes every
/// entry of the row groups and tokens it uses, blocks `0..kc`, before reading it.
struct Panel {
    /// `[group][block][v]`: lane r = quants 4v..4v + 4 of row 8·group + r.
    q: [[[MaybeUninit<__m256i>; 8]; KC]; ROWS / GR],
    /// `[group][block]`: the group's scales (and mins) by lane.
    d: [[MaybeUninit<__m256>; KC]; ROWS / GR],
    m: [[MaybeUninit<__m256>; KC]; ROWS / GR],
    /// `[token][block]`: quants, scale, `s` (min formats) or `−off·Σa` (offset formats; added,
    /// which LLVM broadcasts from memory, where a subtraction became three more ops).
    tq: [[MaybeUninit<[u8; 32]>; KC]; TOKS],
    td: [[MaybeUninit<f32>; KC]; TOKS],
    ts: [[MaybeUninit<f32>; KC]; TOKS],
    toff: [[MaybeUninit<i32>; KC]; TOKS],
}

/// `out[r·16 + t] = W_r·A_t` for the `w.len()` ≤ 16 rows and `a.len()` ≤ 16 tokens given.
/// `row` decodes a weight block, `tok` gives a token block's quants, scale and `s`; `OFF` is
/// the quants' offset (0 for the min formats, whose `m·s` is added instead) and `Q5` says the
/// quants reach 31 (four i16 products per `vpmaddwd`; eight for 4-bit ones).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn panel<X: Block, Y: Block, const OFF: i32, const MIN: bool, const Q5: bool>(
    n: usize,
    w: &[&[u8]],
    a: &[&[u8]],
    out: &mut [f32],
    row: impl Fn(&X) -> RowBlock,
    tok: impl Fn(&Y) -> TokBlock<'_>,
) {
    let (xd, yd) = (X::DTYPE, Y::DTYPE);
    let (nr, nt) = (w.len(), a.len());
    assert!((1..=ROWS).contains(&nr) && (1..=TOKS).contains(&nt), "panel shape");
    assert!(out.len() >= ROWS * TOKS && n.is_multiple_of(xd.block_size()), "panel shape");
    let nb = n / xd.block_size();
    assert!(w.iter().all(|r| r.len() == nb * xd.type_size()), "panel: weight row length");
    assert!(a.iter().all(|r| r.len() == nb * yd.type_size()), "panel: activation row length");
    // Rows and tokens past the caller's repeat its last one; their results are dropped.
    let x: [&[X]; ROWS] = std::array::from_fn(|r| blocks::<X>(w[r.min(nr - 1)]));
    let y: [&[Y]; TOKS] = std::array::from_fn(|t| blocks::<Y>(a[t.min(nt - 1)]));
    let (groups, nt_pad) = (nr.div_ceil(GR), nt.next_multiple_of(NT));

    let mut p = Panel {
        q: [[[MaybeUninit::uninit(); 8]; KC]; ROWS / GR],
        d: [[MaybeUninit::uninit(); KC]; ROWS / GR],
        m: [[MaybeUninit::uninit(); KC]; ROWS / GR],
        tq: [[MaybeUninit::uninit(); KC]; TOKS],
        td: [[MaybeUninit::uninit(); KC]; TOKS],
        ts: [[MaybeUninit::uninit(); KC]; TOKS],
        toff: [[MaybeUninit::uninit(); KC]; TOKS],
    };
    // sums[g][t]: row group g's results for token t, by lane.
    let mut sums = [[_mm256_setzero_ps(); TOKS]; ROWS / GR];
    let ones8 = _mm256_set1_epi8(1);
    for c0 in (0..nb).step_by(KC) {
        let kc = KC.min(nb - c0);
        for g in 0..groups {
            for b in 0..kc {
                let blk: [RowBlock; GR] = std::array::from_fn(|r| row(&x[g * GR + r][c0 + b]));
                p.q[g][b] = transpose(blk.map(|rb| rb.0)).map(MaybeUninit::new);
                p.d[g][b].write(f32x8(blk.map(|rb| rb.1)));
                p.m[g][b].write(f32x8(blk.map(|rb| rb.2)));
            }
        }
        for (t, yt) in y.iter().enumerate().take(nt_pad) {
            for (b, yb) in yt[c0..c0 + kc].iter().enumerate() {
                let (q, d, s) = tok(yb);
                p.tq[t][b].write(*q);
                p.td[t][b].write(d);
                p.ts[t][b].write(s);
                if !MIN {
                    // Σa over the block: vpmaddubsw(1, a) pairs, then lanes (exact).
                    let pairs = _mm256_maddubs_epi16(ones8, ld256(q));
                    let sum = hsum_i32(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
                    p.toff[t][b].write(-OFF * sum);
                }
            }
        }
        for (g, sums) in sums.iter_mut().enumerate().take(groups) {
            for t0 in (0..nt_pad).step_by(NT) {
                // SAFETY: group g < groups, tokens t0..t0 + NT ≤ nt_pad and blocks 0..kc ≤ KC
                // of every panel were written in this chunk.
                let acc = unsafe { micro::<MIN, Q5>(&p, g, t0, kc) };
                for (s, acc) in sums[t0..t0 + NT].iter_mut().zip(acc) {
                    *s = _mm256_add_ps(*s, acc);
                }
            }
        }
    }
    store(&sums, groups, nr, nt, out);
}

/// `out[r·16 + t]` = lane r % 8 of `sums[r / 8][t]` for the `nr` rows and `nt` tokens (the
/// first `groups` row groups hold them).
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn store(
    sums: &[[__m256; TOKS]; ROWS / GR],
    groups: usize,
    nr: usize,
    nt: usize,
    out: &mut [f32],
) {
    let mut lanes = [[0f32; ROWS]; TOKS];
    for (g, s) in sums.iter().enumerate().take(groups) {
        for (l, v) in lanes.iter_mut().zip(s).take(nt) {
            // SAFETY: 8 f32 fit l[8g..8g + 8]; storeu has no alignment requirement.
            unsafe { _mm256_storeu_ps(l[GR * g..GR * g + GR].as_mut_ptr(), *v) };
        }
    }
    for r in 0..nr {
        for (t, l) in lanes.iter().enumerate().take(nt) {
            out[r * TOKS + t] = l[r];
        }
    }
}

/// The 8 × 4 micro-tile of row group `g` and tokens `t0..t0 + 4` over the chunk's `kc` blocks:
/// per token, the 8 rows' `Σ_b d_r·d_t·(S_rb − off·Σa_tb) (+ m_r·s_t)`, by lane.
///
/// # Safety
/// Group `g` < ROWS / 8 and tokens `t0..t0 + NT` ≤ TOKS of every panel hold blocks `0..kc`
/// (kc ≤ KC) written in this chunk. The loop reads them unchecked: with checked indexing LLVM
/// kept a bounds test per operand and block and spilled its pointers.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn micro<const MIN: bool, const Q5: bool>(
    p: &Panel,
    g: usize,
    t0: usize,
    kc: usize,
) -> [__m256; NT] {
    debug_assert!(g < ROWS / GR && t0 + NT <= TOKS && kc <= KC);
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_ps(); NT];
    for b in 0..kc {
        // SAFETY (every read below): in bounds and initialised by the caller's contract.
        let (q, d, m) = unsafe {
            let q = p.q.get_unchecked(g).get_unchecked(b).map(|v| v.assume_init());
            let d = p.d.get_unchecked(g).get_unchecked(b).assume_init();
            (q, d, p.m.get_unchecked(g).get_unchecked(b).assume_init())
        };
        for (j, acc) in acc.iter_mut().enumerate() {
            let t = t0 + j;
            let (a, dt) = unsafe {
                let a: [u8; 32] = p.tq.get_unchecked(t).get_unchecked(b).assume_init();
                (a, p.td.get_unchecked(t).get_unchecked(b).assume_init())
            };
            // vpmaddubsw of row vector v with the token's bytes 4v..4v + 4 in every lane.
            let prod = |v: usize| {
                let word = i32::from_le_bytes([a[4 * v], a[4 * v + 1], a[4 * v + 2], a[4 * v + 3]]);
                _mm256_maddubs_epi16(q[v], _mm256_set1_epi32(word))
            };
            let sum16 = |vs: std::ops::Range<usize>| {
                vs.map(prod).reduce(|s, x| _mm256_add_epi16(s, x)).expect("a nonempty run")
            };
            let mut s = if Q5 {
                _mm256_add_epi32(
                    _mm256_madd_epi16(sum16(0..4), ones),
                    _mm256_madd_epi16(sum16(4..8), ones),
                )
            } else {
                _mm256_madd_epi16(sum16(0..8), ones)
            };
            if !MIN {
                let neg_off = unsafe { p.toff.get_unchecked(t).get_unchecked(b).assume_init() };
                s = _mm256_add_epi32(s, _mm256_set1_epi32(neg_off));
            }
            let scale = _mm256_mul_ps(d, _mm256_set1_ps(dt));
            *acc = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(s), *acc);
            if MIN {
                let ts = unsafe { p.ts.get_unchecked(t).get_unchecked(b).assume_init() };
                *acc = _mm256_fmadd_ps(m, _mm256_set1_ps(ts), *acc);
            }
        }
    }
    acc
}

/// 8 rows of 8 i32 each → 8 vectors, vector v holding i32 v of every row (lane r = row r).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn transpose(r: [__m256i; 8]) -> [__m256i; 8] {
    // Pairs of rows interleaved by i32, then by i64, then the 128-bit halves exchanged
    // (comments: row-column of each i32).
    let u0 = _mm256_unpacklo_epi32(r[0], r[1]); // 00 10 01 11 | 04 14 05 15
    let u1 = _mm256_unpackhi_epi32(r[0], r[1]); // 02 12 03 13 | 06 16 07 17
    let u2 = _mm256_unpacklo_epi32(r[2], r[3]);
    let u3 = _mm256_unpackhi_epi32(r[2], r[3]);
    let u4 = _mm256_unpacklo_epi32(r[4], r[5]);
    let u5 = _mm256_unpackhi_epi32(r[4], r[5]);
    let u6 = _mm256_unpacklo_epi32(r[6], r[7]);
    let u7 = _mm256_unpackhi_epi32(r[6], r[7]);
    let v0 = _mm256_unpacklo_epi64(u0, u2); // 00 10 20 30 | 04 14 24 34
    let v1 = _mm256_unpackhi_epi64(u0, u2); // 01 11 21 31 | 05 15 25 35
    let v2 = _mm256_unpacklo_epi64(u1, u3); // 02 12 22 32 | 06 16 26 36
    let v3 = _mm256_unpackhi_epi64(u1, u3); // 03 13 23 33 | 07 17 27 37
    let v4 = _mm256_unpacklo_epi64(u4, u6); // 40 50 60 70 | 44 54 64 74
    let v5 = _mm256_unpackhi_epi64(u4, u6);
    let v6 = _mm256_unpacklo_epi64(u5, u7);
    let v7 = _mm256_unpackhi_epi64(u5, u7);
    [
        _mm256_permute2x128_si256::<0x20>(v0, v4), // i32 0 of rows 0..8
        _mm256_permute2x128_si256::<0x20>(v1, v5),
        _mm256_permute2x128_si256::<0x20>(v2, v6),
        _mm256_permute2x128_si256::<0x20>(v3, v7),
        _mm256_permute2x128_si256::<0x31>(v0, v4), // i32 4
        _mm256_permute2x128_si256::<0x31>(v1, v5),
        _mm256_permute2x128_si256::<0x31>(v2, v6),
        _mm256_permute2x128_si256::<0x31>(v3, v7),
    ]
}

/// 8 f32 as a vector.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn f32x8(v: [f32; 8]) -> __m256 {
    // SAFETY: 8 readable f32; loadu has no alignment requirement.
    unsafe { _mm256_loadu_ps(v.as_ptr()) }
}

/// Sum of the 8 i32 lanes.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn hsum_i32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s)))
}

/// The fifth bits of a Q5 block as 0x10 per byte.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn high(qh: [u8; 4]) -> __m256i {
    _mm256_and_si256(bit_mask(qh), _mm256_set1_epi8(0x10))
}

/// An f16 field as f32 with F16C (the portable decode takes ~10 instructions).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn f16c(bits: [u8; 2]) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(u16::from_le_bytes(bits)))))
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn q8_0(y: &BlockQ8_0) -> TokBlock<'_> {
    (bytemuck::cast_ref(&y.qs), f16c(y.d), 0.0)
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn q8_1(y: &BlockQ8_1) -> TokBlock<'_> {
    (bytemuck::cast_ref(&y.qs), f16c(y.d), f16c(y.s))
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_0(n: usize, w: &[&[u8]], a: &[&[u8]], out: &mut [f32]) {
    let row = |x: &BlockQ4_0| (nibbles(&x.qs), f16c(x.d), 0.0);
    panel::<BlockQ4_0, BlockQ8_0, 8, false, false>(n, w, a, out, row, |y| q8_0(y));
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5_0(n: usize, w: &[&[u8]], a: &[&[u8]], out: &mut [f32]) {
    let row = |x: &BlockQ5_0| (_mm256_or_si256(nibbles(&x.qs), high(x.qh)), f16c(x.d), 0.0);
    panel::<BlockQ5_0, BlockQ8_0, 16, false, true>(n, w, a, out, row, |y| q8_0(y));
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_1(n: usize, w: &[&[u8]], a: &[&[u8]], out: &mut [f32]) {
    let row = |x: &BlockQ4_1| (nibbles(&x.qs), f16c(x.d), f16c(x.m));
    panel::<BlockQ4_1, BlockQ8_1, 0, true, false>(n, w, a, out, row, |y| q8_1(y));
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5_1(n: usize, w: &[&[u8]], a: &[&[u8]], out: &mut [f32]) {
    let row = |x: &BlockQ5_1| (_mm256_or_si256(nibbles(&x.qs), high(x.qh)), f16c(x.d), f16c(x.m));
    panel::<BlockQ5_1, BlockQ8_1, 0, true, true>(n, w, a, out, row, |y| q8_1(y));
}

// Safe entry points with the TileFn signature.
super::tile::safe_tiles! {
    "avx2, fma and f16c";
    panel_q4_0 => q4_0,
    panel_q4_1 => q4_1,
    panel_q5_0 => q5_0,
    panel_q5_1 => q5_1,
}
