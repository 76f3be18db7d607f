//! AVX2 + FMA + F16C dot products of the K-quant super-blocks (Q2_K … Q6_K) with Q8_K.
//!
//! Technique (ggml-cpu/arch/x86/quants.c, learned from, not copied): per super-block the weight
//! quants are spread to unsigned bytes 32 at a time, in the order of the activation bytes they
//! meet; `vpmaddubsw` gives i16 pair sums, `vpmaddwd` against each 16-group's scale (spread to
//! the matching i16 lanes by a byte shuffle) gives i32 lanes that are summed over the block,
//! converted once and added as `acc += (d_w·d_a)·lanes` by one FMA. Offsets are subtracted in
//! the i16 domain as `vpmaddubsw(offset, a)` (Q3_K's −4 where the high bit is clear, Q6_K's
//! −32); min terms (Q2_K, Q4_K, Q5_K) are `dmin·Σ_g min_g·bsum_g` from Q8_K's exact group sums
//! via one `vpmaddwd`, accumulated apart and subtracted at the end. Q4_K, Q5_K and Q6_K ask
//! for every cache line of the super-block 1 KiB ahead (`prefetch_k`): on the 7B ffn_down
//! shape Q4_K measured about 10 % faster in three alternating runs, Q6_K within noise.
//!
//! May use: `quant`, the parent's helpers, x86_avx2.rs. Invariant: as x86_avx2.rs (needs avx2,
//! fma, f16c; wrappers only in the table after detection). Exactness: |a| ≤ 127, so the largest
//! i16 pair, Q6_K's 2·63·127 = 16002, does not saturate; a block's i32 lane sums 32 elements,
//! at most 32·32·127·128 < 2^24 (Q6_K), so the conversion to f32 is exact.

use std::arch::x86_64::*;

use bytemuck::cast_ref;

use super::blocks;
use super::k_quants::q3_k_scales;
use super::x86_avx2::{PREFETCH, fp16, hsum, hsum128, ld128, ld256, prefetch_ahead};
use crate::quant::{BlockQ2_K, BlockQ3_K, BlockQ4_K, BlockQ5_K, BlockQ6_K, BlockQ8_K, QK_K};

/// `vpshufb` controls that put i16 element `k` (of 8 per 128-bit lane) in every i16 lane.
pub(super) const ONE: [[u8; 32]; 8] = {
    let mut t = [[0u8; 32]; 8];
    let mut k = 0;
    while k < 8 {
        let mut b = 0;
        while b < 32 {
            t[k][b] = (2 * k + b % 2) as u8;
            b += 1;
        }
        k += 1;
    }
    t
};

/// Controls that put i16 element `2k` in the low 128-bit lane and `2k + 1` in the high one:
/// a 32-byte quant vector whose halves are consecutive 16-groups.
pub(super) const PAIR: [[u8; 32]; 4] = {
    let mut t = [[0u8; 32]; 4];
    let mut k = 0;
    while k < 4 {
        let mut b = 0;
        while b < 32 {
            t[k][b] = (4 * k + 2 * (b / 16) + b % 2) as u8;
            b += 1;
        }
        k += 1;
    }
    t
};

/// Q4_K/Q5_K's packed scales and mins as four words: bytes 0..8 the scales of groups 0..8,
/// bytes 8..16 the mins (ggml's `utmp` shuffle; [`crate::quant::scale_min`] per element).
#[inline(always)]
pub(super) fn scales_mins(s: &[u8; 12]) -> [u32; 4] {
    let word = |i: usize| u32::from_le_bytes([s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]]);
    let (w0, w1, w2) = (word(0), word(1), word(2));
    let (low6, low4, top2) = (0x3f3f_3f3fu32, 0x0f0f_0f0fu32, 0x0303_0303u32);
    [
        w0 & low6,
        (w2 & low4) | (((w0 >> 6) & top2) << 4),
        w1 & low6,
        ((w2 >> 4) & low4) | (((w1 >> 6) & top2) << 4),
    ]
}

/// Asks for the bytes of the super-block [`PREFETCH`] ahead of `x` (its 144–210 bytes span
/// several cache lines, so every line of the stream is asked for).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn prefetch_k<X>(x: &X) {
    for line in (0..size_of::<X>()).step_by(64) {
        prefetch_ahead(x, PREFETCH + line);
    }
}

/// The f32 sum of the block lanes plus `mins`, the lanes of the subtracted min terms.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn finish(acc: __m256, mins: __m256) -> f32 {
    hsum(_mm256_sub_ps(acc, mins))
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q2_k(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ2_K>(w), blocks::<BlockQ8_K>(a));
    debug_assert!(x.len() == n / QK_K && y.len() == x.len());
    let (mut acc, mut acc_m) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let m3 = _mm256_set1_epi8(3);
    for (x, y) in x.iter().zip(y) {
        let (d, dmin) = (y.scale() * fp16(x.d), y.scale() * fp16(x.dmin));
        let packed = ld128(&x.scales);
        let low4 = _mm_set1_epi8(0x0F);
        let mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16::<4>(packed), low4));
        let m = _mm256_madd_epi16(mins, ld256(&y.bsums));
        acc_m = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(m), acc_m);
        let sc = _mm256_cvtepu8_epi16(_mm_and_si128(packed, low4));
        let halves =
            [_mm256_permute2x128_si256::<0x00>(sc, sc), _mm256_permute2x128_si256::<0x11>(sc, sc)];
        let (qs, q8) = (cast_ref::<_, [[u8; 32]; 2]>(&x.qs), cast_ref::<_, [[i8; 32]; 8]>(&y.qs));
        let mut sumi = _mm256_setzero_si256();
        // Half j holds groups 8j..8j + 8; its shift 2k gives elements 128j + 32k ..+32.
        for (j, (bits, scales)) in qs.iter().zip(halves).enumerate() {
            let mut bits = ld256(bits);
            for (k, pair) in PAIR.iter().enumerate() {
                let p = _mm256_maddubs_epi16(_mm256_and_si256(bits, m3), ld256(&q8[4 * j + k]));
                let s = _mm256_shuffle_epi8(scales, ld256(pair));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(s, p));
                bits = _mm256_srli_epi16::<2>(bits);
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    finish(acc, acc_m)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q3_k(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ3_K>(w), blocks::<BlockQ8_K>(a));
    debug_assert!(x.len() == n / QK_K && y.len() == x.len());
    let mut acc = _mm256_setzero_ps();
    let (m3, one) = (_mm256_set1_epi8(3), _mm256_set1_epi8(1));
    for (x, y) in x.iter().zip(y) {
        let d = y.scale() * fp16(x.d);
        let words = q3_k_scales(&x.scales);
        let sc8 = _mm_sub_epi8(ld128(cast_ref(&words)), _mm_set1_epi8(32));
        let sc = _mm256_cvtepi8_epi16(sc8);
        let halves =
            [_mm256_permute2x128_si256::<0x00>(sc, sc), _mm256_permute2x128_si256::<0x11>(sc, sc)];
        // Bit 4j + k of hmask[l] is the high bit of element 128j + 32k + l; clear means −4.
        let mut low = _mm256_xor_si256(ld256(&x.hmask), _mm256_set1_epi8(-1));
        let (qs, q8) = (cast_ref::<_, [[u8; 32]; 2]>(&x.qs), cast_ref::<_, [[i8; 32]; 8]>(&y.qs));
        let mut sumi = _mm256_setzero_si256();
        for (j, (bits, scales)) in qs.iter().zip(halves).enumerate() {
            let mut bits = ld256(bits);
            for (k, pair) in PAIR.iter().enumerate() {
                let a = ld256(&q8[4 * j + k]);
                let four = _mm256_slli_epi16::<2>(_mm256_and_si256(low, one));
                let q = _mm256_and_si256(bits, m3);
                let p = _mm256_sub_epi16(_mm256_maddubs_epi16(q, a), _mm256_maddubs_epi16(four, a));
                let s = _mm256_shuffle_epi8(scales, ld256(pair));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(s, p));
                bits = _mm256_srli_epi16::<2>(bits);
                low = _mm256_srli_epi16::<1>(low);
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum(acc)
}

/// Q4_K and Q5_K; `high(j)` gives the fifth bits of chunk j's low and high nibbles as 0/16
/// bytes (zero for Q4_K).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn q45_k<X>(
    x: &[X],
    y: &[BlockQ8_K],
    parts: impl Fn(&X) -> ([u8; 2], [u8; 2], &[u8; 12], &[u8; 128]),
    mut high: impl FnMut(&X, usize) -> (__m256i, __m256i),
) -> f32 {
    let (mut acc, mut acc_m) = (_mm256_setzero_ps(), _mm_setzero_ps());
    let low4 = _mm256_set1_epi8(0x0F);
    for (x, y) in x.iter().zip(y) {
        prefetch_k(x);
        let (dw, dminw, packed, qs) = parts(x);
        let (d, dmin) = (y.scale() * fp16(dw), y.scale() * fp16(dminw));
        let sm = _mm256_cvtepu8_epi16(ld128(cast_ref(&scales_mins(packed))));
        // Mins against the 8 sums of 32 activations (pairs of Q8_K's 16-sums, |·| ≤ 4064).
        let bs = ld256(&y.bsums);
        let sums32 = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256::<1>(bs));
        let m = _mm_madd_epi16(_mm256_extracti128_si256::<1>(sm), sums32);
        acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(m), acc_m);
        let scales = _mm256_permute2x128_si256::<0x00>(sm, sm);
        let (qs, q8) = (cast_ref::<_, [[u8; 32]; 4]>(qs), cast_ref::<_, [[i8; 32]; 8]>(&y.qs));
        let mut sumi = _mm256_setzero_si256();
        // Chunk j: low nibbles are group 2j (elements 64j..+32), high nibbles group 2j + 1.
        for (j, bits) in qs.iter().enumerate() {
            let bits = ld256(bits);
            let (hl, hh) = high(x, j);
            let lo = _mm256_or_si256(_mm256_and_si256(bits, low4), hl);
            let hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(bits), low4), hh);
            let pl = _mm256_maddubs_epi16(lo, ld256(&q8[2 * j]));
            let ph = _mm256_maddubs_epi16(hi, ld256(&q8[2 * j + 1]));
            let sl = _mm256_shuffle_epi8(scales, ld256(&ONE[2 * j]));
            let sh = _mm256_shuffle_epi8(scales, ld256(&ONE[2 * j + 1]));
            let p = _mm256_add_epi32(_mm256_madd_epi16(sl, pl), _mm256_madd_epi16(sh, ph));
            sumi = _mm256_add_epi32(sumi, p);
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum(acc) - hsum128(acc_m)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_k(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ4_K>(w), blocks::<BlockQ8_K>(a));
    debug_assert!(x.len() == n / QK_K && y.len() == x.len());
    let zero = _mm256_setzero_si256();
    q45_k(x, y, |b| (b.d, b.dmin, &b.scales, &b.qs), |_, _| (zero, zero))
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5_k(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ5_K>(w), blocks::<BlockQ8_K>(a));
    debug_assert!(x.len() == n / QK_K && y.len() == x.len());
    // Bit g of qh[l] is the fifth bit of element 32g + l: chunk j uses bits 2j and 2j + 1.
    let (b0, b1) = (_mm256_set1_epi8(1), _mm256_set1_epi8(2));
    let high = |b: &BlockQ5_K, j: usize| {
        let hb = _mm256_srl_epi16(ld256(&b.qh), _mm_cvtsi32_si128(2 * j as i32));
        let hl = _mm256_slli_epi16::<4>(_mm256_and_si256(hb, b0));
        (hl, _mm256_slli_epi16::<3>(_mm256_and_si256(hb, b1)))
    };
    q45_k(x, y, |b| (b.d, b.dmin, &b.scales, &b.qs), high)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q6_k(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ6_K>(w), blocks::<BlockQ8_K>(a));
    debug_assert!(x.len() == n / QK_K && y.len() == x.len());
    let mut acc = _mm256_setzero_ps();
    let (low4, m32) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(32));
    for (x, y) in x.iter().zip(y) {
        prefetch_k(x);
        let d = y.scale() * fp16(x.d);
        let sc = _mm256_cvtepi8_epi16(ld128(cast_ref(&x.scales)));
        let halves =
            [_mm256_permute2x128_si256::<0x00>(sc, sc), _mm256_permute2x128_si256::<0x11>(sc, sc)];
        let ql = cast_ref::<_, [[u8; 32]; 4]>(&x.ql);
        let qh = cast_ref::<_, [[u8; 32]; 2]>(&x.qh);
        let q8 = cast_ref::<_, [[i8; 32]; 8]>(&y.qs);
        let mut sumi = _mm256_setzero_si256();
        // Half h = elements 128h..+128: chunk k takes nibble k / 2 of ql[64h + 32(k % 2) ..]
        // and bits 2k, 2k + 1 of qh[32h ..] as bits 4, 5 (q in 0..64, −32 below).
        for (h, scales) in halves.into_iter().enumerate() {
            let (l0, l1, hb) = (ld256(&ql[2 * h]), ld256(&ql[2 * h + 1]), ld256(&qh[h]));
            let q = [
                _mm256_or_si256(
                    _mm256_and_si256(l0, low4),
                    _mm256_slli_epi16::<4>(_mm256_and_si256(hb, _mm256_set1_epi8(0x03))),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(l1, low4),
                    _mm256_slli_epi16::<2>(_mm256_and_si256(hb, _mm256_set1_epi8(0x0C))),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(l0), low4),
                    _mm256_and_si256(hb, _mm256_set1_epi8(0x30)),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(l1), low4),
                    _mm256_and_si256(_mm256_srli_epi16::<2>(hb), _mm256_set1_epi8(0x30)),
                ),
            ];
            for (k, (q, pair)) in q.into_iter().zip(&PAIR).enumerate() {
                let a = ld256(&q8[4 * h + k]);
                let p = _mm256_sub_epi16(_mm256_maddubs_epi16(q, a), _mm256_maddubs_epi16(m32, a));
                let s = _mm256_shuffle_epi8(scales, ld256(pair));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(s, p));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum(acc)
}

/// Safe entry points with the [`super::VecDot`] signature.
macro_rules! entries {
    ($($name:ident => $inner:ident),* $(,)?) => {$(
        /// Only sound on a CPU with avx2, fma and f16c: reachable only through the table
        /// `select` builds after detecting them.
        pub(super) fn $name(n: usize, w: &[u8], a: &[u8]) -> f32 {
            // SAFETY: this entry is in the table only if the CPU has avx2, fma and f16c.
            unsafe { $inner(n, w, a) }
        }
    )*};
}

entries! {
    dot_q2_k_q8_k => q2_k,
    dot_q3_k_q8_k => q3_k,
    dot_q4_k_q8_k => q4_k,
    dot_q5_k_q8_k => q5_k,
    dot_q6_k_q8_k => q6_k,
}
