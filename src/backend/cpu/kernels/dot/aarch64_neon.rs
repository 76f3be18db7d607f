//! NEON dot products for aarch64 (ARM64: Apple silicon, Graviton, Ampere, Snapdragon, Raspberry
//! Pi 4/5), in two versions: plain NEON, which every aarch64 CPU has, and NEON with the ARMv8.2
//! dot-product extension (`sdot`), which most cores since 2018 have (Cortex-A55/A75 and later,
//! Apple M1 and later, Neoverse). Types: F32, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K;
//! the rest (F16, BF16, Q2_K, Q3_K) stay on the scalar versions, whose f16 decode vectorises.
//!
//! Technique (ggml-cpu/arch/arm/quants.c, learned from, not copied): a block's weight quants
//! are spread to signed bytes in element order (16 per vector), and each 16 bytes meet the 16
//! activation bytes they multiply in one [`I8Dot::dot`], which adds the products into 4 i32
//! lanes: `sdot` directly (each lane the sum of 4 adjacent products); without it `smull` /
//! `smull2` (i8 × i8 → i16) and two `sadalp` (pairwise add into i32). Which products land in
//! which lane differs between the two, which is harmless: only per-block (or per-scale-group)
//! lane totals are ever used, and they are exact integers. Each block's lanes are converted to
//! f32 once and added as `acc += (d_w·d_a)·lanes` by one FMA; K-quant scales multiply the i32
//! lanes of their group before that (`mla` by a scalar). Q4_1/Q5_1 min terms `m_w·s_a` and
//! Q4_K/Q5_K's `dmin·Σ min_g·bsum_g` are accumulated apart and added at the end.
//!
//! `sdot` is reached through `asm!`: its intrinsic (`vdotq_s32`) is not stable in Rust yet. The
//! instruction needs the `dotprod` target feature, which the functions that inline it enable.
//!
//! May use: `quant`, the parent's helpers, k_quants.rs. Invariant: the `*_dotprod` entries run
//! only on CPUs where `is_aarch64_feature_detected!("dotprod")` held (the table is built after
//! detection); the plain ones need only NEON, part of the aarch64 baseline. Loads are unaligned
//! (`ld1` has no alignment requirement). Exactness: |a| ≤ 127 (kiln's quantizers) and
//! |w| ≤ 128, so an `smull` product fits i16 (≤ 16384); a lane sums at most 64 elements of one
//! block times a group scale: Q4_K 64·15·127·63 < 2^23, Q5_K 64·31·127·63 < 2^24, Q6_K (one
//! accumulator per 128-element half, 32 elements per lane) 32·32·127·128 < 2^24 — so every
//! lane converts to f32 exactly, as the scalar version's do.

use std::arch::aarch64::*;

use super::{blocks, f16};
use crate::quant::{
    BlockQ4_0, BlockQ4_1, BlockQ4_K, BlockQ5_0, BlockQ5_1, BlockQ5_K, BlockQ6_K, BlockQ8_0,
    BlockQ8_1, BlockQ8_K, QK_K,
};

/// `acc + Σ a·b` into 4 i32 lanes (each lane gets 4 of the 16 byte products).
trait I8Dot {
    /// Only sound where the implementation's instructions exist (see the module invariant).
    unsafe fn dot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t;
}

/// Plain NEON: `smull`, `smull2`, then pairwise widening adds into the accumulator.
struct Mull;

impl I8Dot for Mull {
    #[inline(always)]
    unsafe fn dot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        #[target_feature(enable = "neon")]
        #[inline]
        fn mull(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
            let lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
            let hi = vmull_high_s8(a, b);
            vpadalq_s16(vpadalq_s16(acc, lo), hi)
        }
        // SAFETY: NEON is part of the aarch64 baseline.
        unsafe { mull(acc, a, b) }
    }
}

/// The dot-product extension: one `sdot`.
struct Sdot;

impl I8Dot for Sdot {
    #[inline(always)]
    unsafe fn dot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        #[target_feature(enable = "neon,dotprod")]
        #[inline]
        fn sdot(mut acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
            // SAFETY: register-only arithmetic on a CPU with `dotprod` (enabled here).
            unsafe {
                std::arch::asm!(
                    "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
                    acc = inout(vreg) acc,
                    a = in(vreg) a,
                    b = in(vreg) b,
                    options(pure, nomem, nostack, preserves_flags),
                );
            }
            acc
        }
        // SAFETY: the caller runs on a CPU with `dotprod` (module invariant).
        unsafe { sdot(acc, a, b) }
    }
}

/// 16 signed bytes at any alignment.
#[target_feature(enable = "neon")]
#[inline]
fn ld_s8(b: &[i8; 16]) -> int8x16_t {
    // SAFETY: the reference covers 16 readable bytes; `ld1` has no alignment requirement.
    unsafe { vld1q_s8(b.as_ptr()) }
}

/// 16 unsigned bytes at any alignment.
#[target_feature(enable = "neon")]
#[inline]
fn ld_u8(b: &[u8; 16]) -> uint8x16_t {
    // SAFETY: as [`ld_s8`].
    unsafe { vld1q_u8(b.as_ptr()) }
}

/// The 16 bytes of `s` starting at `at` (a compile-time-checked window of a larger array).
#[inline(always)]
fn part<T, const N: usize>(s: &[T; N], at: usize) -> &[T; 16] {
    s[at..at + 16].try_into().expect("invariant: callers pass in-bounds constant offsets")
}

/// The low and high nibbles of 16 bytes, each as 16 bytes 0..16.
#[target_feature(enable = "neon")]
#[inline]
fn nibbles(q: uint8x16_t) -> (uint8x16_t, uint8x16_t) {
    (vandq_u8(q, vdupq_n_u8(0x0F)), vshrq_n_u8::<4>(q))
}

/// Byte `i` = 0x10 if bit `i` of the 16-bit `bits` is set, else 0: the fifth bit of 16
/// elements of a Q5 block.
#[target_feature(enable = "neon")]
#[inline]
fn bit5(bits: u16) -> uint8x16_t {
    let [b0, b1] = bits.to_le_bytes();
    let spread = vcombine_u8(vdup_n_u8(b0), vdup_n_u8(b1));
    let probe = vreinterpretq_u8_u64(vdupq_n_u64(0x8040_2010_0804_0201));
    vandq_u8(vtstq_u8(spread, probe), vdupq_n_u8(0x10))
}

/// `Σ_b d_b·lanes_b` over the blocks of two rows: `f` gives a block's scale product and its 4
/// exact i32 lanes. Two accumulators so consecutive blocks' FMAs do not wait on each other.
#[target_feature(enable = "neon")]
#[inline]
fn sum_blocks<X, Y>(x: &[X], y: &[Y], mut f: impl FnMut(&X, &Y) -> (f32, int32x4_t)) -> f32 {
    let (mut acc0, mut acc1) = (vdupq_n_f32(0.0), vdupq_n_f32(0.0));
    let (xp, yp) = (x.chunks_exact(2), y.chunks_exact(2));
    let tail = xp.remainder().iter().zip(yp.remainder());
    for (xs, ys) in xp.zip(yp) {
        let ((d0, s0), (d1, s1)) = (f(&xs[0], &ys[0]), f(&xs[1], &ys[1]));
        acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(s0), d0);
        acc1 = vfmaq_n_f32(acc1, vcvtq_f32_s32(s1), d1);
    }
    for (x, y) in tail {
        let (d, s) = f(x, y);
        acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(s), d);
    }
    vaddvq_f32(vaddq_f32(acc0, acc1))
}

/// The lanes of a 32-block: weights `lo` (elements 0..16) and `hi` (16..32) against `a`.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn block_lanes<D: I8Dot>(lo: int8x16_t, hi: int8x16_t, a: &[i8; 32]) -> int32x4_t {
    // SAFETY: the caller upholds `D`'s requirement.
    unsafe { D::dot(D::dot(vdupq_n_s32(0), lo, ld_s8(part(a, 0))), hi, ld_s8(part(a, 16))) }
}

#[target_feature(enable = "neon")]
#[inline]
unsafe fn q4_0<D: I8Dot>(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ4_0>(w), blocks::<BlockQ8_0>(a));
    debug_assert!(x.len() == n / 32 && y.len() == x.len());
    let eight = vdupq_n_s8(8);
    sum_blocks(x, y, |x, y| {
        let (lo, hi) = nibbles(ld_u8(&x.qs));
        let (lo, hi) =
            (vsubq_s8(vreinterpretq_s8_u8(lo), eight), vsubq_s8(vreinterpretq_s8_u8(hi), eight));
        // SAFETY: the caller upholds `D`'s requirement.
        (f16(x.d) * f16(y.d), unsafe { block_lanes::<D>(lo, hi, &y.qs) })
    })
}

/// As [`sum_blocks`] for the min formats (Q4_1, Q5_1 with Q8_1): `f` gives the block's lanes;
/// the scale product `d_w·d_a` and the min term `m_w·s_a` come from the blocks' f16 fields.
#[target_feature(enable = "neon")]
#[inline]
fn sum_blocks_min<X: MinBlock>(
    x: &[X],
    y: &[BlockQ8_1],
    f: impl Fn(&X, &BlockQ8_1) -> int32x4_t,
) -> f32 {
    let mut mins = 0.0f32;
    let sum = sum_blocks(x, y, |x, y| {
        let (d, m) = x.d_m();
        mins += f16(m) * f16(y.s);
        (f16(d) * f16(y.d), f(x, y))
    });
    sum + mins
}

/// The `d` and `m` fields of Q4_1 and Q5_1.
trait MinBlock {
    fn d_m(&self) -> ([u8; 2], [u8; 2]);
}

impl MinBlock for BlockQ4_1 {
    fn d_m(&self) -> ([u8; 2], [u8; 2]) {
        (self.d, self.m)
    }
}

impl MinBlock for BlockQ5_1 {
    fn d_m(&self) -> ([u8; 2], [u8; 2]) {
        (self.d, self.m)
    }
}

#[target_feature(enable = "neon")]
#[inline]
unsafe fn q4_1<D: I8Dot>(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ4_1>(w), blocks::<BlockQ8_1>(a));
    debug_assert!(x.len() == n / 32 && y.len() == x.len());
    sum_blocks_min(x, y, |x, y| {
        let (lo, hi) = nibbles(ld_u8(&x.qs));
        // Quants 0..16 are valid signed bytes as they are.
        let (lo, hi) = (vreinterpretq_s8_u8(lo), vreinterpretq_s8_u8(hi));
        // SAFETY: the caller upholds `D`'s requirement.
        unsafe { block_lanes::<D>(lo, hi, &y.qs) }
    })
}

/// A Q5 block's 32 quants 0..32 as (elements 0..16, 16..32).
#[target_feature(enable = "neon")]
#[inline]
fn q5_quants(qs: &[u8; 16], qh: [u8; 4]) -> (int8x16_t, int8x16_t) {
    let (lo, hi) = nibbles(ld_u8(qs));
    let qh = u32::from_le_bytes(qh);
    let lo = vorrq_u8(lo, bit5(qh as u16));
    let hi = vorrq_u8(hi, bit5((qh >> 16) as u16));
    (vreinterpretq_s8_u8(lo), vreinterpretq_s8_u8(hi))
}

#[target_feature(enable = "neon")]
#[inline]
unsafe fn q5_0<D: I8Dot>(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ5_0>(w), blocks::<BlockQ8_0>(a));
    debug_assert!(x.len() == n / 32 && y.len() == x.len());
    let sixteen = vdupq_n_s8(16);
    sum_blocks(x, y, |x, y| {
        let (lo, hi) = q5_quants(&x.qs, x.qh);
        let (lo, hi) = (vsubq_s8(lo, sixteen), vsubq_s8(hi, sixteen));
        // SAFETY: the caller upholds `D`'s requirement.
        (f16(x.d) * f16(y.d), unsafe { block_lanes::<D>(lo, hi, &y.qs) })
    })
}

#[target_feature(enable = "neon")]
#[inline]
unsafe fn q5_1<D: I8Dot>(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ5_1>(w), blocks::<BlockQ8_1>(a));
    debug_assert!(x.len() == n / 32 && y.len() == x.len());
    sum_blocks_min(x, y, |x, y| {
        let (lo, hi) = q5_quants(&x.qs, x.qh);
        // SAFETY: the caller upholds `D`'s requirement.
        unsafe { block_lanes::<D>(lo, hi, &y.qs) }
    })
}

#[target_feature(enable = "neon")]
#[inline]
unsafe fn q8_0<D: I8Dot>(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ8_0>(w), blocks::<BlockQ8_0>(a));
    debug_assert!(x.len() == n / 32 && y.len() == x.len());
    sum_blocks(x, y, |x, y| {
        let (lo, hi) = (ld_s8(part(&x.qs, 0)), ld_s8(part(&x.qs, 16)));
        // SAFETY: the caller upholds `D`'s requirement.
        (f16(x.d) * f16(y.d), unsafe { block_lanes::<D>(lo, hi, &y.qs) })
    })
}

/// `Σ_g bsum_g·min_{g/2}` of a Q4_K/Q5_K block: pairs of 16-group sums (|pair| ≤ 2·16·127,
/// fits i16) times the 8 mins, widened to i32.
#[target_feature(enable = "neon")]
#[inline]
fn min_sum(y: &BlockQ8_K, mins: &[u8; 8]) -> i32 {
    // SAFETY: 32 readable bytes, read as 16 i16 (little-endian, as aarch64 is); `ld1` is
    // unaligned.
    let (b0, b1) = unsafe {
        let p = y.bsums.as_ptr().cast::<i16>();
        (vld1q_s16(p), vld1q_s16(p.add(8)))
    };
    let pairs = vpaddq_s16(b0, b1);
    // SAFETY: 8 readable bytes.
    let m = vreinterpretq_s16_u16(vmovl_u8(unsafe { vld1_u8(mins.as_ptr()) }));
    let prod = vmull_s16(vget_low_s16(pairs), vget_low_s16(m));
    vaddvq_s32(vmlal_high_s16(prod, pairs, m))
}

/// The 8 scales and 8 mins (6-bit) of a Q4_K/Q5_K block.
#[inline(always)]
fn scales_mins(packed: &[u8; 12]) -> ([u8; 8], [u8; 8]) {
    let (mut sc, mut mn) = ([0u8; 8], [0u8; 8]);
    for j in 0..8 {
        (sc[j], mn[j]) = crate::quant::scale_min(packed, j);
    }
    (sc, mn)
}

/// Q4_K and Q5_K: `quants(b, c)` gives block `b`'s 64 quants of chunk `c` (0..4) as four
/// vectors, elements 64c + 0..16, 16..32 (group 2c) and 32..48, 48..64 (group 2c + 1).
#[target_feature(enable = "neon")]
#[inline]
unsafe fn q45_k<D: I8Dot>(
    parts: impl Iterator<Item = (f32, f32, [u8; 12])>,
    y: &[BlockQ8_K],
    quants: impl Fn(usize, usize) -> [int8x16_t; 4],
) -> f32 {
    let (mut acc, mut acc_min) = (vdupq_n_f32(0.0), 0.0f32);
    for (b, ((dw, dminw, packed), y)) in parts.zip(y).enumerate() {
        let (sc, mn) = scales_mins(&packed);
        let mut sumi = vdupq_n_s32(0);
        for c in 0..4 {
            let q = quants(b, c);
            let a = |i: usize| ld_s8(part(&y.qs, 64 * c + 16 * i));
            // SAFETY: the caller upholds `D`'s requirement.
            let (l0, l1) = unsafe {
                let zero = vdupq_n_s32(0);
                (
                    D::dot(D::dot(zero, q[0], a(0)), q[1], a(1)),
                    D::dot(D::dot(zero, q[2], a(2)), q[3], a(3)),
                )
            };
            sumi = vmlaq_n_s32(sumi, l0, i32::from(sc[2 * c]));
            sumi = vmlaq_n_s32(sumi, l1, i32::from(sc[2 * c + 1]));
        }
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(sumi), dw * y.scale());
        acc_min += dminw * y.scale() * min_sum(y, &mn) as f32;
    }
    vaddvq_f32(acc) - acc_min
}

#[target_feature(enable = "neon")]
#[inline]
unsafe fn q4_k<D: I8Dot>(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ4_K>(w), blocks::<BlockQ8_K>(a));
    debug_assert!(x.len() == n / QK_K && y.len() == x.len());
    let parts = x.iter().map(|b| (f16(b.d), f16(b.dmin), b.scales));
    // SAFETY: the caller upholds `D`'s requirement.
    unsafe {
        q45_k::<D>(parts, y, |b, c| {
            // Low nibbles of qs[32c..32c + 32] are group 2c, high nibbles group 2c + 1.
            let (l0, h0) = nibbles(ld_u8(part(&x[b].qs, 32 * c)));
            let (l1, h1) = nibbles(ld_u8(part(&x[b].qs, 32 * c + 16)));
            [l0, l1, h0, h1].map(|v| vreinterpretq_s8_u8(v))
        })
    }
}

#[target_feature(enable = "neon")]
#[inline]
unsafe fn q5_k<D: I8Dot>(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ5_K>(w), blocks::<BlockQ8_K>(a));
    debug_assert!(x.len() == n / QK_K && y.len() == x.len());
    let parts = x.iter().map(|b| (f16(b.d), f16(b.dmin), b.scales));
    // SAFETY: the caller upholds `D`'s requirement.
    unsafe {
        q45_k::<D>(parts, y, |b, c| {
            let x = &x[b];
            let (l0, h0) = nibbles(ld_u8(part(&x.qs, 32 * c)));
            let (l1, h1) = nibbles(ld_u8(part(&x.qs, 32 * c + 16)));
            // Bit g of qh[l] is the fifth bit of element 32g + l (g = 2c, 2c + 1).
            let (qh0, qh1) = (ld_u8(part(&x.qh, 0)), ld_u8(part(&x.qh, 16)));
            let sixteen = vdupq_n_u8(0x10);
            let high =
                |qh: uint8x16_t, g: usize| vandq_u8(vtstq_u8(qh, vdupq_n_u8(1 << g)), sixteen);
            [
                vorrq_u8(l0, high(qh0, 2 * c)),
                vorrq_u8(l1, high(qh1, 2 * c)),
                vorrq_u8(h0, high(qh0, 2 * c + 1)),
                vorrq_u8(h1, high(qh1, 2 * c + 1)),
            ]
            .map(|v| vreinterpretq_s8_u8(v))
        })
    }
}

#[target_feature(enable = "neon")]
#[inline]
unsafe fn q6_k<D: I8Dot>(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ6_K>(w), blocks::<BlockQ8_K>(a));
    debug_assert!(x.len() == n / QK_K && y.len() == x.len());
    let mut acc = vdupq_n_f32(0.0);
    let (m4, m3, off) = (vdupq_n_u8(0x0F), vdupq_n_u8(0x03), vdupq_n_s8(32));
    for (x, y) in x.iter().zip(y) {
        let d = f16(x.d) * y.scale();
        // One i32 accumulator per 128-element half keeps each lane's sum exact (module doc).
        for h in 0..2 {
            let mut sumi = vdupq_n_s32(0);
            // Element 128h + 32g + l (l < 32): low 4 bits from ql[64h + 32(g & 1) + l] (low
            // nibble for g < 2), high 2 bits from qh[32h + l] >> 2g; 16-group 8h + 2g + l/16.
            for c in 0..2 {
                let ql0 = ld_u8(part(&x.ql, 64 * h + 16 * c));
                let ql1 = ld_u8(part(&x.ql, 64 * h + 32 + 16 * c));
                let qh = ld_u8(part(&x.qh, 32 * h + 16 * c));
                let quants = [
                    vorrq_u8(vandq_u8(ql0, m4), vshlq_n_u8::<4>(vandq_u8(qh, m3))),
                    vorrq_u8(vandq_u8(ql1, m4), vshlq_n_u8::<2>(vandq_u8(qh, vshlq_n_u8::<2>(m3)))),
                    vorrq_u8(vshrq_n_u8::<4>(ql0), vandq_u8(qh, vshlq_n_u8::<4>(m3))),
                    vorrq_u8(
                        vshrq_n_u8::<4>(ql1),
                        vshrq_n_u8::<2>(vandq_u8(qh, vshlq_n_u8::<6>(m3))),
                    ),
                ];
                for (g, q) in quants.into_iter().enumerate() {
                    let q = vsubq_s8(vreinterpretq_s8_u8(q), off);
                    let a = ld_s8(part(&y.qs, 128 * h + 32 * g + 16 * c));
                    // SAFETY: the caller upholds `D`'s requirement.
                    let lanes = unsafe { D::dot(vdupq_n_s32(0), q, a) };
                    let scale = i32::from(x.scales[8 * h + 2 * g + c]);
                    sumi = vmlaq_n_s32(sumi, lanes, scale);
                }
            }
            acc = vfmaq_n_f32(acc, vcvtq_f32_s32(sumi), d);
        }
    }
    vaddvq_f32(acc)
}

/// Lane-wise dot of two f32 rows: four accumulators of 4 lanes, then the scalar tail.
#[target_feature(enable = "neon")]
fn f32_f32(n: usize, w: &[u8], a: &[u8]) -> f32 {
    debug_assert!(w.len() == 4 * n && a.len() == w.len());
    // SAFETY: `b` has 16 bytes (the chunks below); `ld1` is unaligned.
    let load = |b: &[u8]| unsafe { vld1q_f32(b[..16].as_ptr().cast()) };
    let mut acc = [vdupq_n_f32(0.0); 4];
    let (wc, ac) = (w.chunks_exact(64), a.chunks_exact(64));
    let (wt, at) = (wc.remainder(), ac.remainder());
    for (wb, ab) in wc.zip(ac) {
        for (k, s) in acc.iter_mut().enumerate() {
            *s = vfmaq_f32(*s, load(&wb[16 * k..]), load(&ab[16 * k..]));
        }
    }
    let (w4, a4) = (wt.chunks_exact(16), at.chunks_exact(16));
    let (wt, at) = (w4.remainder(), a4.remainder());
    for (wb, ab) in w4.zip(a4) {
        acc[0] = vfmaq_f32(acc[0], load(wb), load(ab));
    }
    let sum = vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3]));
    let dec = |b: &[u8]| f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let tail: f32 = wt.chunks_exact(4).zip(at.chunks_exact(4)).map(|(w, a)| dec(w) * dec(a)).sum();
    vaddvq_f32(sum) + tail
}

/// Safe entry points with the [`super::VecDot`] signature: for each kernel a plain-NEON
/// version and a dot-product one.
macro_rules! entries {
    ($($kernel:ident => $neon:ident, $dotprod:ident;)*) => {$(
        pub(super) fn $neon(n: usize, w: &[u8], a: &[u8]) -> f32 {
            #[target_feature(enable = "neon")]
            fn inner(n: usize, w: &[u8], a: &[u8]) -> f32 {
                // SAFETY: `Mull` needs only NEON, enabled here.
                unsafe { $kernel::<Mull>(n, w, a) }
            }
            // SAFETY: NEON is part of the aarch64 baseline.
            unsafe { inner(n, w, a) }
        }

        /// Only sound on a CPU with the dot-product extension: reachable only through the
        /// table `select` builds after detecting it.
        pub(super) fn $dotprod(n: usize, w: &[u8], a: &[u8]) -> f32 {
            #[target_feature(enable = "neon,dotprod")]
            fn inner(n: usize, w: &[u8], a: &[u8]) -> f32 {
                // SAFETY: `Sdot` needs `dotprod`, enabled here.
                unsafe { $kernel::<Sdot>(n, w, a) }
            }
            // SAFETY: this entry is in the table only if the CPU has `dotprod`.
            unsafe { inner(n, w, a) }
        }
    )*};
}

entries! {
    q4_0 => dot_q4_0_q8_0, dot_q4_0_q8_0_dotprod;
    q4_1 => dot_q4_1_q8_1, dot_q4_1_q8_1_dotprod;
    q5_0 => dot_q5_0_q8_0, dot_q5_0_q8_0_dotprod;
    q5_1 => dot_q5_1_q8_1, dot_q5_1_q8_1_dotprod;
    q8_0 => dot_q8_0_q8_0, dot_q8_0_q8_0_dotprod;
    q4_k => dot_q4_k_q8_k, dot_q4_k_q8_k_dotprod;
    q5_k => dot_q5_k_q8_k, dot_q5_k_q8_k_dotprod;
    q6_k => dot_q6_k_q8_k, dot_q6_k_q8_k_dotprod;
}

/// The F32 dot (plain NEON; f32 has no integer part for `sdot`).
pub(super) fn dot_f32(n: usize, w: &[u8], a: &[u8]) -> f32 {
    // SAFETY: NEON is part of the aarch64 baseline.
    unsafe { f32_f32(n, w, a) }
}
