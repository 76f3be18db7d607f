//! AVX2 + FMA + F16C prefill blocks for the 32-element formats with unsigned 4- and 5-bit
//! quants — Q4_0 and Q5_0 against Q8_0 activations, Q4_1 and Q5_1 against Q8_1 — computing a
//! whole matmul_tiled.rs block (up to 16 weight rows × 16 activation rows) per call.
//!
//! Why not x86_avx2_tile.rs's 2 × 4 tiles: a tile decodes its two rows again for every four
//! tokens and each token block's scale and offset product again for every two rows, about 4½
//! of its ~10½ vector operations per (row, token, block). Here each chunk of [`KC`] blocks of
//! the 16 rows is decoded once into a stack panel — the quants as 32 unsigned bytes, the scale
//! (and min) as f32 — and each token block's f32 scale and offset product `vpmaddubsw(off, a)`
//! once, so a (row, token, block) costs the six operations it must: `vpmaddubsw` (the token's
//! quants as a memory operand), the offset subtraction (Q4_0 8, Q5_0 16; none for the min
//! formats), `vpmaddwd`, a conversion, the scale product and an FMA. The 2 × 4 micro-tile keeps
//! 8 accumulators and its operands in the 16 ymm registers. The min formats' `m·s` terms are
//! a small dot product of f32 panels per (row, token), 8 blocks per FMA.
//!
//! Exactness as x86_avx2_tile.rs: no `vpmaddubsw` pair saturates (2·31·127 < 2^15, and the
//! offset products are at most 2·16·127), so each block's sum is the exact integer of the
//! scalar dot; only the f32 order of the scaled block sums differs (tile_tests.rs bound).
//!
//! May use: `quant`, the parent's helpers, x86_avx2.rs. Invariant: every function needs avx2,
//! fma, f16c and is in the table only after detection; every panel entry read was written in
//! the same chunk (rows and tokens past the caller's repeat its last one).

use std::arch::x86_64::*;
use std::mem::MaybeUninit;

use super::blocks;
use super::tile::Tile;
use super::x86_avx2::{bit_mask, fp16x8, hsum, ld256, nibbles};
use crate::quant::{Block, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};

/// Weight rows and activation rows per call: matmul_tiled.rs's whole block.
const ROWS: usize = 16;
const TOKS: usize = 16;
/// Micro-tile: weight rows × tokens sharing their loads.
const MR: usize = 2;
const NT: usize = 4;
/// Blocks per K chunk: 16 rows' quants (16 KiB) and 16 tokens' offset products (16 KiB). A
/// multiple of 8, the min formats' f32 group.
const KC: usize = 32;

/// The panel tiles of dot/mod.rs's AVX2 level.
pub(super) const Q4_0: Tile = Tile { rows: ROWS, tokens: TOKS, partial: true, run: panel_q4_0 };
pub(super) const Q4_1: Tile = Tile { rows: ROWS, tokens: TOKS, partial: true, run: panel_q4_1 };
pub(super) const Q5_0: Tile = Tile { rows: ROWS, tokens: TOKS, partial: true, run: panel_q5_0 };
pub(super) const Q5_1: Tile = Tile { rows: ROWS, tokens: TOKS, partial: true, run: panel_q5_1 };

/// A decoded weight block: 32 unsigned quants, the scale, the min (0 without one).
type RowBlock = (__m256i, f32, f32);
/// A token block: its quants, its scale in all 8 lanes, its `s` (0 without one).
type TokBlock<'a> = (&'a [i8; 32], __m256, f32);

/// One chunk of decoded rows and tokens. Uninitialised until written: a chunk writes every
/// entry `[r][b]` (`r` < rows rounded up to [`MR`], `b` < its block count) before reading it.
struct Panel {
    q: [[MaybeUninit<__m256i>; KC]; ROWS],
    d: [[f32; KC]; ROWS],
    /// Min formats: the mins; the tokens' `s` in `ts`. Past `kc`, zeros up to a multiple of 8.
    m: [[f32; KC]; ROWS],
    /// The tokens' scales in all 8 lanes: the micro-tile's scale product reads one as a
    /// memory operand (from a scalar, LLVM multiplies in scalar and broadcasts: one more op).
    td: [[MaybeUninit<__m256>; KC]; TOKS],
    ts: [[f32; KC]; TOKS],
    /// The tokens' quants, copied so the micro-tile addresses everything from one base.
    tq: [[MaybeUninit<__m256i>; KC]; TOKS],
    /// Offset formats: each token block's `vpmaddubsw(off, a)`.
    off: [[MaybeUninit<__m256i>; KC]; TOKS],
}

/// `out[r·16 + t] = W_r·A_t` for the `w.len()` ≤ 16 rows and `a.len()` ≤ 16 tokens given.
/// `row` decodes a weight block, `tok` gives a token block's quants, scale and `s`; `OFF` is
/// the quants' offset (0 for the min formats, whose `m·s` is added instead).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn panel<X: Block, Y: Block, const OFF: i8, const MIN: bool>(
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
    let (nr_pad, nt_pad) = (nr.next_multiple_of(MR), nt.next_multiple_of(NT));

    let mut p = Panel {
        q: [[MaybeUninit::uninit(); KC]; ROWS],
        d: [[0.0; KC]; ROWS],
        m: [[0.0; KC]; ROWS],
        td: [[MaybeUninit::uninit(); KC]; TOKS],
        ts: [[0.0; KC]; TOKS],
        tq: [[MaybeUninit::uninit(); KC]; TOKS],
        off: [[MaybeUninit::uninit(); KC]; TOKS],
    };
    let mut sums = [[0f32; TOKS]; ROWS];
    let offset = _mm256_set1_epi8(OFF);
    for c0 in (0..nb).step_by(KC) {
        let kc = KC.min(nb - c0);
        for (r, xr) in x.iter().enumerate().take(nr_pad) {
            for (b, xb) in xr[c0..c0 + kc].iter().enumerate() {
                let (q, d, m) = row(xb);
                p.q[r][b].write(q);
                (p.d[r][b], p.m[r][b]) = (d, m);
            }
            p.m[r][kc..kc.next_multiple_of(8)].fill(0.0);
        }
        for (t, yt) in y.iter().enumerate().take(nt_pad) {
            for (b, yb) in yt[c0..c0 + kc].iter().enumerate() {
                let (q, d, s) = tok(yb);
                let q = ld256(q);
                p.tq[t][b].write(q);
                p.td[t][b].write(d);
                p.ts[t][b] = s;
                if !MIN {
                    p.off[t][b].write(_mm256_maddubs_epi16(offset, q));
                }
            }
            p.ts[t][kc..kc.next_multiple_of(8)].fill(0.0);
        }
        for t0 in (0..nt_pad).step_by(NT) {
            for r0 in (0..nr_pad).step_by(MR) {
                // SAFETY: rows r0..r0 + MR ≤ nr_pad, tokens t0..t0 + NT ≤ nt_pad and blocks
                // 0..kc ≤ KC of every panel were written in this chunk.
                let acc = unsafe { micro::<MIN>(&p, r0, t0, kc) };
                for (i, acc) in acc.iter().enumerate() {
                    for (j, v) in acc.iter().enumerate() {
                        sums[r0 + i][t0 + j] += hsum(*v);
                    }
                }
            }
        }
    }
    for (r, s) in sums.iter().enumerate().take(nr) {
        out[r * TOKS..r * TOKS + nt].copy_from_slice(&s[..nt]);
    }
}

/// The 2 × 4 micro-tile at rows `r0..`, tokens `t0..` over the chunk's `kc` blocks: per lane,
/// `Σ_b d_r·d_t·(8 exact i32 partial sums)`, plus the min formats' `Σ_b m_r·s_t`.
///
/// # Safety
/// Rows `r0..r0 + MR` ≤ ROWS and tokens `t0..t0 + NT` ≤ TOKS of every panel hold blocks
/// `0..kc` (kc ≤ KC) written in this chunk. The loop reads them unchecked: with checked
/// indexing LLVM kept a bounds test per operand and block and spilled its pointers.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
#[allow(clippy::needless_range_loop)] // acc[i][j] as in the formula; LLVM unrolls both loops
unsafe fn micro<const MIN: bool>(p: &Panel, r0: usize, t0: usize, kc: usize) -> [[__m256; NT]; MR] {
    debug_assert!(r0 + MR <= ROWS && t0 + NT <= TOKS && kc <= KC);
    // SAFETY (all reads below): in bounds and initialised by the caller's contract.
    let rq =
        |i: usize, b: usize| unsafe { p.q.get_unchecked(r0 + i).get_unchecked(b).assume_init() };
    let rd = |i: usize, b: usize| unsafe { *p.d.get_unchecked(r0 + i).get_unchecked(b) };
    let tq =
        |j: usize, b: usize| unsafe { p.tq.get_unchecked(t0 + j).get_unchecked(b).assume_init() };
    let td =
        |j: usize, b: usize| unsafe { p.td.get_unchecked(t0 + j).get_unchecked(b).assume_init() };
    let off =
        |j: usize, b: usize| unsafe { p.off.get_unchecked(t0 + j).get_unchecked(b).assume_init() };
    let ones = _mm256_set1_epi16(1);
    let mut acc = [[_mm256_setzero_ps(); NT]; MR];
    for b in 0..kc {
        let q: [__m256i; MR] = std::array::from_fn(|i| rq(i, b));
        let d: [__m256; MR] = std::array::from_fn(|i| _mm256_set1_ps(rd(i, b)));
        for j in 0..NT {
            let yq = tq(j, b);
            let dt = td(j, b);
            for i in 0..MR {
                let mut prod = _mm256_maddubs_epi16(q[i], yq);
                if !MIN {
                    prod = _mm256_sub_epi16(prod, off(j, b));
                }
                let s = _mm256_cvtepi32_ps(_mm256_madd_epi16(prod, ones));
                acc[i][j] = _mm256_fmadd_ps(_mm256_mul_ps(d[i], dt), s, acc[i][j]);
            }
        }
    }
    if MIN {
        // Zeros past kc (both panels) make the last 8-block group harmless.
        for b in (0..kc).step_by(8) {
            for (i, acc) in acc.iter_mut().enumerate() {
                let m = ld8(&p.m[r0 + i][b..b + 8]);
                for (j, v) in acc.iter_mut().enumerate() {
                    let s = ld8(&p.ts[t0 + j][b..b + 8]);
                    *v = _mm256_fmadd_ps(m, s, *v);
                }
            }
        }
    }
    acc
}

/// 8 f32 from a slice of 8.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn ld8(v: &[f32]) -> __m256 {
    assert_eq!(v.len(), 8);
    // SAFETY: 8 readable f32; loadu has no alignment requirement.
    unsafe { _mm256_loadu_ps(v.as_ptr()) }
}

/// The fifth bits of a Q5 block as 0x10 per byte.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn high(qh: [u8; 4]) -> __m256i {
    _mm256_and_si256(bit_mask(qh), _mm256_set1_epi8(0x10))
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn q8_0(y: &BlockQ8_0) -> TokBlock<'_> {
    (&y.qs, fp16x8(y.d), 0.0)
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn q8_1(y: &BlockQ8_1) -> TokBlock<'_> {
    (&y.qs, fp16x8(y.d), f16c(y.s))
}

/// An f16 field as f32 with F16C (the portable decode takes ~10 instructions).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn f16c(bits: [u8; 2]) -> f32 {
    _mm256_cvtss_f32(fp16x8(bits))
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_0(n: usize, w: &[&[u8]], a: &[&[u8]], out: &mut [f32]) {
    let row = |x: &BlockQ4_0| (nibbles(&x.qs), f16c(x.d), 0.0);
    panel::<BlockQ4_0, BlockQ8_0, 8, false>(n, w, a, out, row, |y| q8_0(y));
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5_0(n: usize, w: &[&[u8]], a: &[&[u8]], out: &mut [f32]) {
    let row = |x: &BlockQ5_0| (_mm256_or_si256(nibbles(&x.qs), high(x.qh)), f16c(x.d), 0.0);
    panel::<BlockQ5_0, BlockQ8_0, 16, false>(n, w, a, out, row, |y| q8_0(y));
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_1(n: usize, w: &[&[u8]], a: &[&[u8]], out: &mut [f32]) {
    let row = |x: &BlockQ4_1| (nibbles(&x.qs), f16c(x.d), f16c(x.m));
    panel::<BlockQ4_1, BlockQ8_1, 0, true>(n, w, a, out, row, |y| q8_1(y));
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5_1(n: usize, w: &[&[u8]], a: &[&[u8]], out: &mut [f32]) {
    let row = |x: &BlockQ5_1| (_mm256_or_si256(nibbles(&x.qs), high(x.qh)), f16c(x.d), f16c(x.m));
    panel::<BlockQ5_1, BlockQ8_1, 0, true>(n, w, a, out, row, |y| q8_1(y));
}

// Safe entry points with the TileFn signature.
super::tile::safe_tiles! {
    "avx2, fma and f16c";
    panel_q4_0 => q4_0,
    panel_q4_1 => q4_1,
    panel_q5_0 => q5_0,
    panel_q5_1 => q5_1,
}
