//! AVX2 + FMA + F16C prefill block for Q4_K against Q8_K, rows in lanes as x86_avx2_panel.rs:
//! a whole matmul_tiled.rs block (up to 16 weight rows × 16 activation rows) per call.
//!
//! Each chunk of [`KSB`] super-blocks of a group of 8 rows is decoded once into a stack
//! panel: per super-block and 32-element group, 8 vectors whose i32 lane r holds 4
//! consecutive quants of row r (x86_avx2_panel.rs `transpose`), the group's scales as i16
//! pairs `(sc, sc)` per lane, its mins as i16 pairs `(m_2h, m_2h+1)` per lane, and `d`, `dmin`
//! by lane. A token then meets 8 rows at once: per group 8 `vpmaddubsw` with its 4 matching
//! bytes broadcast, summed in i16, one `vpmaddwd` by the scales; per super-block the mins'
//! four `vpmaddwd` against the token's 32-element sums (pairs of Q8_K's `bsums`), two
//! conversions, two scale products and two FMAs. About 19 vector ops per 8 (row, token)
//! pairs of 32 elements, against 3 per pair plus each row's decode per 4 tokens in
//! x86_avx2_tile_k.rs's 2 × 4 tile.
//!
//! Exactness: a `vpmaddubsw` pair is at most 2·15·128 = 3840, so a group's 8 sum in i16; a
//! lane's scaled group sums, four at a time, stay below 4·63·32·15·128 < 2^24 and convert
//! exactly; the two halves of a super-block are added in f32 (one rounding, as the scalar
//! dot's `d·sumi` product) and the mins' sum (< 8·63·32·128 < 2^24) is exact. So a lane's
//! chain is two FMAs per super-block, within tile_tests.rs's bound.
//!
//! May use: `quant`, the parent's helpers, x86_avx2.rs, x86_avx2_k.rs, x86_avx2_panel.rs.
//! Invariant: as x86_avx2_panel.rs.

use std::arch::x86_64::*;
use std::mem::MaybeUninit;

use bytemuck::cast_ref;

use super::blocks;
use super::tile::Tile;
use super::x86_avx2::{fp16, ld256};
use super::x86_avx2_k::scales_mins;
use super::x86_avx2_panel::transpose;
use crate::quant::{Block, BlockQ4_K, BlockQ8_K};

const ROWS: usize = 16;
const TOKS: usize = 16;
const GR: usize = 8;
const NT: usize = 4;
/// Super-blocks per chunk: 16 rows' quants (16 KiB) and 16 tokens' (16 KiB).
const KSB: usize = 4;

pub(super) const Q4_K: Tile = Tile { rows: ROWS, tokens: TOKS, partial: true, run: panel_q4_k };

/// One chunk of decoded rows and tokens; every entry read was written in the same chunk.
struct Panel {
    /// `[group][sb][g][v]`: lane r = quants 4v..4v + 4 of 32-group g of row 8·group + r.
    q: [[[[MaybeUninit<__m256i>; 8]; 8]; KSB]; ROWS / GR],
    /// `[group][sb][g]`: lane r = `(sc_rg, sc_rg)` as i16.
    sc: [[[MaybeUninit<__m256i>; 8]; KSB]; ROWS / GR],
    /// `[group][sb][h]`: lane r = `(m_r,2h, m_r,2h+1)` as i16.
    mn: [[[MaybeUninit<__m256i>; 4]; KSB]; ROWS / GR],
    /// `[group][sb]`: `d` and `dmin` by lane.
    d: [[MaybeUninit<(__m256, __m256)>; KSB]; ROWS / GR],
    /// `[token][sb]`: its quants, scale and the i16 pairs `(B_2h, B_2h+1)` of its
    /// 32-element sums.
    tq: [[MaybeUninit<[u8; 256]>; KSB]; TOKS],
    td: [[MaybeUninit<f32>; KSB]; TOKS],
    tb: [[MaybeUninit<[i32; 4]>; KSB]; TOKS],
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_k(n: usize, w: &[&[u8]], a: &[&[u8]], out: &mut [f32]) {
    let (nr, nt) = (w.len(), a.len());
    assert!((1..=ROWS).contains(&nr) && (1..=TOKS).contains(&nt), "panel shape");
    assert!(out.len() >= ROWS * TOKS && n.is_multiple_of(256), "panel shape");
    let nb = n / 256;
    assert!(w.iter().all(|r| r.len() == nb * BlockQ4_K::DTYPE.type_size()), "weight row length");
    assert!(a.iter().all(|r| r.len() == nb * BlockQ8_K::DTYPE.type_size()), "activation length");
    let x: [&[BlockQ4_K]; ROWS] = std::array::from_fn(|r| blocks(w[r.min(nr - 1)]));
    let y: [&[BlockQ8_K]; TOKS] = std::array::from_fn(|t| blocks(a[t.min(nt - 1)]));
    let (groups, nt_pad) = (nr.div_ceil(GR), nt.next_multiple_of(NT));

    let mut p = Panel {
        q: [[[[MaybeUninit::uninit(); 8]; 8]; KSB]; ROWS / GR],
        sc: [[[MaybeUninit::uninit(); 8]; KSB]; ROWS / GR],
        mn: [[[MaybeUninit::uninit(); 4]; KSB]; ROWS / GR],
        d: [[MaybeUninit::uninit(); KSB]; ROWS / GR],
        tq: [[MaybeUninit::uninit(); KSB]; TOKS],
        td: [[MaybeUninit::uninit(); KSB]; TOKS],
        tb: [[MaybeUninit::uninit(); KSB]; TOKS],
    };
    let mut sums = [[_mm256_setzero_ps(); TOKS]; ROWS / GR];
    let low4 = _mm256_set1_epi8(0x0F);
    for c0 in (0..nb).step_by(KSB) {
        let ksb = KSB.min(nb - c0);
        for g in 0..groups {
            for s in 0..ksb {
                let rows: [&BlockQ4_K; GR] = std::array::from_fn(|r| &x[g * GR + r][c0 + s]);
                // Per row, group 2j = low nibbles of chunk j, group 2j + 1 = high nibbles.
                let mut groups_q = [[_mm256_setzero_si256(); GR]; 8];
                for (r, xb) in rows.iter().enumerate() {
                    for (j, bits) in cast_ref::<_, [[u8; 32]; 4]>(&xb.qs).iter().enumerate() {
                        let bits = ld256(bits);
                        groups_q[2 * j][r] = _mm256_and_si256(bits, low4);
                        groups_q[2 * j + 1][r] =
                            _mm256_and_si256(_mm256_srli_epi16::<4>(bits), low4);
                    }
                }
                for (gq, dst) in groups_q.into_iter().zip(&mut p.q[g][s]) {
                    *dst = transpose(gq).map(MaybeUninit::new);
                }
                let sm: [[u8; 16]; GR] = std::array::from_fn(|r| {
                    cast_ref::<[u32; 4], [u8; 16]>(&scales_mins(&rows[r].scales)).to_owned()
                });
                for (k, dst) in p.sc[g][s].iter_mut().enumerate() {
                    let lanes: [i32; GR] = std::array::from_fn(|r| i32::from(sm[r][k]) * 0x1_0001);
                    dst.write(i32x8(lanes));
                }
                for (h, dst) in p.mn[g][s].iter_mut().enumerate() {
                    let lanes: [i32; GR] = std::array::from_fn(|r| {
                        i32::from(sm[r][8 + 2 * h]) | (i32::from(sm[r][9 + 2 * h]) << 16)
                    });
                    dst.write(i32x8(lanes));
                }
                let d = f32x8(std::array::from_fn(|r| fp16(rows[r].d)));
                p.d[g][s].write((d, f32x8(std::array::from_fn(|r| fp16(rows[r].dmin)))));
            }
        }
        for (t, yt) in y.iter().enumerate().take(nt_pad) {
            for (s, yb) in yt[c0..c0 + ksb].iter().enumerate() {
                p.tq[t][s].write(*cast_ref::<[i8; 256], [u8; 256]>(&yb.qs));
                p.td[t][s].write(yb.scale());
                let bs: [i16; 16] = std::array::from_fn(|i| yb.bsum(i));
                // 32-sums: |Σ| ≤ 32·128 fits i16.
                let b32: [i32; 8] =
                    std::array::from_fn(|k| i32::from(bs[2 * k]) + i32::from(bs[2 * k + 1]));
                p.tb[t][s]
                    .write(std::array::from_fn(|h| (b32[2 * h] & 0xFFFF) | (b32[2 * h + 1] << 16)));
            }
        }
        for (g, sums) in sums.iter_mut().enumerate().take(groups) {
            for t0 in (0..nt_pad).step_by(NT) {
                // SAFETY: group g < groups, tokens t0..t0 + NT ≤ nt_pad and super-blocks
                // 0..ksb ≤ KSB of every panel were written in this chunk.
                let acc = unsafe { micro(&p, g, t0, ksb) };
                for (s, acc) in sums[t0..t0 + NT].iter_mut().zip(acc) {
                    *s = _mm256_add_ps(*s, acc);
                }
            }
        }
    }
    super::x86_avx2_panel::store(&sums, groups, nr, nt, out);
}

/// The 8 × 4 micro-tile of row group `g` and tokens `t0..t0 + 4` over the chunk's `ksb`
/// super-blocks, by lane: `Σ_sb d_a·(d_r·Σ_g sc·S_g − dmin_r·Σ_g m·B_g)`.
///
/// # Safety
/// As x86_avx2_panel.rs `micro`: group `g`, tokens `t0..t0 + NT` and super-blocks `0..ksb`
/// (≤ KSB) of every panel were written in this chunk; the loop reads them unchecked.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn micro(p: &Panel, g: usize, t0: usize, ksb: usize) -> [__m256; NT] {
    debug_assert!(g < ROWS / GR && t0 + NT <= TOKS && ksb <= KSB);
    let mut acc = [_mm256_setzero_ps(); NT];
    for s in 0..ksb {
        // SAFETY (every read below): in bounds and initialised by the caller's contract.
        let (q, sc, mn, (d, dmin)) = unsafe {
            let q = p.q.get_unchecked(g).get_unchecked(s);
            let sc = p.sc.get_unchecked(g).get_unchecked(s);
            let mn = p.mn.get_unchecked(g).get_unchecked(s);
            (q, sc, mn, p.d.get_unchecked(g).get_unchecked(s).assume_init())
        };
        let tok: [&[u8; 256]; NT] = std::array::from_fn(|j| unsafe {
            p.tq.get_unchecked(t0 + j).get_unchecked(s).assume_init_ref()
        });
        // Two halves of 4 groups, each exact in i32 and converted on its own.
        let mut f = [_mm256_setzero_ps(); NT];
        for half in 0..2 {
            let mut si = [_mm256_setzero_si256(); NT];
            for k in 4 * half..4 * half + 4 {
                let mut s16 = [_mm256_setzero_si256(); NT];
                for v in 0..8 {
                    let qv = unsafe { q.get_unchecked(k).get_unchecked(v).assume_init() };
                    for (j, s16) in s16.iter_mut().enumerate() {
                        let o = 32 * k + 4 * v;
                        let b = &tok[j][o..o + 4];
                        let word = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                        *s16 = _mm256_add_epi16(
                            *s16,
                            _mm256_maddubs_epi16(qv, _mm256_set1_epi32(word)),
                        );
                    }
                }
                let sck = unsafe { sc.get_unchecked(k).assume_init() };
                for (si, s16) in si.iter_mut().zip(s16) {
                    *si = _mm256_add_epi32(*si, _mm256_madd_epi16(s16, sck));
                }
            }
            for (f, si) in f.iter_mut().zip(si) {
                *f = _mm256_add_ps(*f, _mm256_cvtepi32_ps(si));
            }
        }
        for (j, (acc, f)) in acc.iter_mut().zip(f).enumerate() {
            let (da, tb) = unsafe {
                let t = t0 + j;
                (
                    p.td.get_unchecked(t).get_unchecked(s).assume_init(),
                    p.tb.get_unchecked(t).get_unchecked(s).assume_init(),
                )
            };
            let mut m = _mm256_setzero_si256();
            for (h, &pair) in tb.iter().enumerate() {
                let mnh = unsafe { mn.get_unchecked(h).assume_init() };
                m = _mm256_add_epi32(m, _mm256_madd_epi16(mnh, _mm256_set1_epi32(pair)));
            }
            let da = _mm256_set1_ps(da);
            *acc = _mm256_fmadd_ps(_mm256_mul_ps(d, da), f, *acc);
            *acc = _mm256_fnmadd_ps(_mm256_mul_ps(dmin, da), _mm256_cvtepi32_ps(m), *acc);
        }
    }
    acc
}

/// 8 i32 as a vector.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn i32x8(v: [i32; 8]) -> __m256i {
    // SAFETY: 32 readable bytes; loadu has no alignment requirement.
    unsafe { _mm256_loadu_si256(v.as_ptr().cast()) }
}

/// 8 f32 as a vector.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn f32x8(v: [f32; 8]) -> __m256 {
    // SAFETY: 8 readable f32; loadu has no alignment requirement.
    unsafe { _mm256_loadu_ps(v.as_ptr()) }
}

// Safe entry point with the TileFn signature.
super::tile::safe_tiles! {
    "avx2, fma and f16c";
    panel_q4_k => q4_k,
}
