//! AVX2 + FMA + F16C dot products for the 32-element block formats (Q4_0, Q4_1, Q5_0, Q5_1,
//! Q8_0) and the floats (F32, F16, BF16), and the vector helpers x86_avx2_k.rs and
//! x86_avx512.rs share.
//!
//! Technique (ggml-cpu/arch/x86/quants.c, learned from, not copied): a block's 32 weight
//! quants are spread to 32 bytes in element order (low nibbles → bytes 0..16, high nibbles →
//! 16..32), multiplied with the 32 activation bytes by `vpmaddubsw` (u8 × i8, adjacent pairs
//! summed to i16) and `vpmaddwd` against ones (→ 8 i32 lanes), converted to f32 and added as
//! `acc += (d_w·d_a)·lanes` by one FMA. `vpmaddubsw` needs an unsigned first operand: Q4_1 and
//! Q5_1 quants go in directly; Q4_0 and Q5_0 go in unsigned and their offset (8, 16) is taken
//! off in i16 as `vpmaddubsw(offset, a)` (one instruction fewer than the sign trick, measured
//! 4–10 % faster); Q8_0 uses the sign trick `|w|·(a·sign w)`. F16C decodes the f16 scales
//! (every AVX2 CPU has it), one block at a time.
//!
//! Decode: Q4_0, Q4_1 and Q5_0 also have four-row versions (`dot4_*`) that load each
//! activation block and its scale once for four weight rows and give each row the bits of the
//! one-row version. Both ask for their weight bytes ahead of use (`prefetch_ahead`): the
//! four-row ones for the next four rows, the one-row ones 1 KiB on. Measured on the 2-core
//! EPYC VM, alternating builds 8 times (`kiln bench -p 0 -n 64 -r 3`): tg +8 % on SmolLM2 and
//! +7 % on Gemma 3 270M; without the prefetch the four-row versions were slower end to end
//! (weights streamed from DRAM), though faster on cache-resident shapes.
//!
//! May use: `quant`, the parent's helpers. Invariant: every function here needs avx2, fma and
//! f16c; the safe `dot_*` wrappers are put in the dispatch table only after
//! `is_x86_feature_detected!` saw all three. Loads are unaligned. Integer parts are exact:
//! activations come from kiln's quantizers, so |a| ≤ 127, and with |w| ≤ 128 a `vpmaddubsw`
//! pair is at most 2·128·127 = 32512 < 2^15 (no saturation); a block's i32 lane is < 2^24, so
//! its f32 conversion is exact too.

use std::arch::x86_64::*;

use super::blocks;
use super::float::f16_to_f32;
use crate::quant::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};

/// An f16 scale field as f32 (`vcvtph2ps`, exact). Broadcast, not inserted: an insert into
/// lane 0 lets LLVM merge into whatever register is free, often an accumulator, which chains
/// every block's scale behind the previous block's FMA (measured: half the speed).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn fp16(bits: [u8; 2]) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_set1_epi16(i16::from_le_bytes(bits))))
}

/// 16 bytes at any alignment.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn ld128(b: &[u8; 16]) -> __m128i {
    // SAFETY: the reference covers 16 readable bytes; loadu has no alignment requirement.
    unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
}

/// 32 bytes at any alignment (u8 or i8 arrays).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn ld256<T: bytemuck::Pod>(b: &[T; 32]) -> __m256i {
    const { assert!(size_of::<T>() == 1) };
    // SAFETY: 32 one-byte elements are 32 readable bytes; loadu has no alignment requirement.
    unsafe { _mm256_loadu_si256(b.as_ptr().cast()) }
}

/// Sum of the 8 lanes (pairwise: 4 + 4, 2 + 2, 1 + 1).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn hsum(v: __m256) -> f32 {
    hsum128(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v)))
}

/// Sum of the 4 lanes.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn hsum128(v: __m128) -> f32 {
    let v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    _mm_cvtss_f32(_mm_add_ss(v, _mm_movehdup_ps(v)))
}

/// `Σ u·s` over each 4 bytes → 8 i32 (u unsigned, s signed; pairs must not saturate i16).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn dot_us(u: __m256i, s: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
}

/// `Σ (u − off)·s` over each 4 bytes as `vpmaddubsw(u, s) − vpmaddubsw(off, s)` in i16 (for
/// unsigned quants u ≤ 31 with an offset; one instruction fewer than the sign trick).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn dot_offset(u: __m256i, s: __m256i, off: i8) -> __m256i {
    let p = _mm256_maddubs_epi16(u, s);
    let p = _mm256_sub_epi16(p, _mm256_maddubs_epi16(_mm256_set1_epi8(off), s));
    _mm256_madd_epi16(p, _mm256_set1_epi16(1))
}

/// `Σ x·y` over each 4 bytes of two signed vectors, as `|x|·(y·sign x)`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn dot_ss(x: __m256i, y: __m256i) -> __m256i {
    dot_us(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x))
}

/// The 32 nibbles of a 32-block in element order: low nibbles, then high nibbles (0..16).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn nibbles(qs: &[u8; 16]) -> __m256i {
    let lo = ld128(qs);
    let both = _mm256_set_m128i(_mm_srli_epi16::<4>(lo), lo);
    _mm256_and_si256(both, _mm256_set1_epi8(0x0F))
}

/// Byte `i` = 0xFF if bit `i` of `bits` is set, else 0.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn bit_mask(bits: [u8; 4]) -> __m256i {
    // Byte i takes source byte i / 8, then tests bit i % 8 with a repeating 1, 2, 4 … 128 mask.
    let spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(i32::from_le_bytes(bits)),
        _mm256_setr_epi64x(0, 0x0101_0101_0101_0101, 0x0202_0202_0202_0202, 0x0303_0303_0303_0303),
    );
    let probe = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
    _mm256_cmpeq_epi8(_mm256_and_si256(spread, probe), probe)
}

/// An f16 scale field in all 8 lanes.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn fp16x8(bits: [u8; 2]) -> __m256 {
    _mm256_cvtph_ps(_mm_set1_epi16(i16::from_le_bytes(bits)))
}

/// A block's first two f16 fields (`d, m` of Q4_1/Q5_1, `d, s` of Q8_1) as `[d, m, d, m]`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn fp16x2<B: bytemuck::Pod>(b: &B) -> __m128 {
    let bytes = bytemuck::bytes_of(b);
    // One 32-bit load; from two `[u8; 2]` fields LLVM reassembles the word byte by byte.
    let word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    _mm_cvtph_ps(_mm_set1_epi32(word as i32))
}

/// `Σ_b d_b·lanes_b` over the blocks of two rows: `f` gives a block's scale product (in every
/// lane) and its 8 exact i32 lanes. Scales are decoded per block: batching 8 blocks' f16
/// fields into one conversion measured slower (LLVM builds the vector with 16 inserts).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn sum_blocks<X, Y>(x: &[X], y: &[Y], f: impl Fn(&X, &Y) -> (__m256, __m256i)) -> f32 {
    // Two accumulators so consecutive blocks' FMAs do not wait on each other.
    let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let (xp, yp) = (x.chunks_exact(2), y.chunks_exact(2));
    let tail = xp.remainder().iter().zip(yp.remainder());
    for (xs, ys) in xp.zip(yp) {
        prefetch_ahead(&xs[0], PREFETCH);
        let ((d0, s0), (d1, s1)) = (f(&xs[0], &ys[0]), f(&xs[1], &ys[1]));
        acc0 = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(s0), acc0);
        acc1 = _mm256_fmadd_ps(d1, _mm256_cvtepi32_ps(s1), acc1);
    }
    for (x, y) in tail {
        let (d, s) = f(x, y);
        acc0 = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc0);
    }
    hsum(_mm256_add_ps(acc0, acc1))
}

/// As [`sum_blocks`] for the min formats: `f` gives `[d_w·d_a, m_w·s_a, …]` (from
/// [`fp16x2`]) and the lanes; the min products are summed in lane 1 of a side accumulator.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn sum_blocks_min<X, Y>(x: &[X], y: &[Y], f: impl Fn(&X, &Y) -> (__m128, __m256i)) -> f32 {
    let (mut acc, mut mins) = (_mm256_setzero_ps(), _mm_setzero_ps());
    for (x, y) in x.iter().zip(y) {
        prefetch_ahead(x, PREFETCH);
        let (dm, s) = f(x, y);
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(dm), _mm256_cvtepi32_ps(s), acc);
        mins = _mm_add_ps(mins, dm);
    }
    hsum(acc) + _mm_cvtss_f32(_mm_movehdup_ps(mins))
}

/// [`sum_blocks`] for four weight rows against one activation row, which is read once for
/// all four (`prep` turns an activation block into what `f` needs of it). Each row's result
/// has the bits [`sum_blocks`] gives for that row alone: the same operations, each row in its
/// own pair of accumulators, in the same order.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn sum_blocks4<X, Y, A: Copy>(
    x: [&[X]; 4],
    y: &[Y],
    prep: impl Fn(&Y) -> A,
    f: impl Fn(&X, A) -> (__m256, __m256i),
) -> [f32; 4] {
    let nb = y.len();
    let x = x.map(|r| &r[..nb]);
    // Even blocks into acc0, odd ones into acc1, a tail block (odd count) into acc0; written
    // out per block so every index is a constant and the eight accumulators stay in registers.
    let (mut acc0, mut acc1) = ([_mm256_setzero_ps(); 4], [_mm256_setzero_ps(); 4]);
    let ahead = 4 * nb * size_of::<X>();
    let step = |acc: &mut [__m256; 4], y: &Y, x: [&X; 4]| {
        let a = prep(y);
        for r in 0..4 {
            prefetch_ahead(x[r], ahead);
            let (d, s) = f(x[r], a);
            acc[r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc[r]);
        }
    };
    // Iterators, not indices, so the loop carries no bounds checks.
    let [r0, r1, r2, r3] = x.map(|r| r.chunks_exact(2));
    let rows = r0.zip(r1).zip(r2.zip(r3));
    for (y, ((x0, x1), (x2, x3))) in y.chunks_exact(2).zip(rows) {
        step(&mut acc0, &y[0], [&x0[0], &x1[0], &x2[0], &x3[0]]);
        step(&mut acc1, &y[1], [&x0[1], &x1[1], &x2[1], &x3[1]]);
    }
    if nb % 2 == 1 {
        let b = nb - 1;
        step(&mut acc0, &y[b], x.map(|r| &r[b]));
    }
    std::array::from_fn(|r| hsum(_mm256_add_ps(acc0[r], acc1[r])))
}

/// [`sum_blocks_min`] for four weight rows, as [`sum_blocks4`] is for [`sum_blocks`].
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn sum_blocks_min4<X, Y, A: Copy>(
    x: [&[X]; 4],
    y: &[Y],
    prep: impl Fn(&Y) -> A,
    f: impl Fn(&X, A) -> (__m128, __m256i),
) -> [f32; 4] {
    let nb = y.len();
    let x = x.map(|r| &r[..nb]);
    let (mut acc, mut mins) = ([_mm256_setzero_ps(); 4], [_mm_setzero_ps(); 4]);
    let ahead = 4 * nb * size_of::<X>();
    let rows = x[0].iter().zip(x[1]).zip(x[2].iter().zip(x[3]));
    for (y, ((x0, x1), (x2, x3))) in y.iter().zip(rows) {
        let a = prep(y);
        for (r, x) in [x0, x1, x2, x3].into_iter().enumerate() {
            prefetch_ahead(x, ahead);
            let (dm, s) = f(x, a);
            acc[r] = _mm256_fmadd_ps(_mm256_broadcastss_ps(dm), _mm256_cvtepi32_ps(s), acc[r]);
            mins[r] = _mm_add_ps(mins[r], dm);
        }
    }
    std::array::from_fn(|r| hsum(acc[r]) + _mm_cvtss_f32(_mm_movehdup_ps(mins[r])))
}

/// How far ahead a one-row dot asks for its row's bytes (the row goes on into the next rows).
pub(super) const PREFETCH: usize = 1024;

/// Asks for the cache line `ahead` bytes past `x`: with rows back to back, the same block of
/// the row four rows on, which the next four-row call reads. A hint only: it never faults,
/// whatever the address.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn prefetch_ahead<X>(x: &X, ahead: usize) {
    let p = (x as *const X).cast::<i8>().wrapping_add(ahead);
    _mm_prefetch::<_MM_HINT_T0>(p);
}

/// Four weight rows of block type `X` as blocks, each as long as the activation row `y`.
fn rows4<X: crate::quant::Block>(w: [&[u8]; 4], n: usize) -> [&[X]; 4] {
    let x = w.map(blocks::<X>);
    assert!(x.iter().all(|r| r.len() == n / 32), "dot4: rows of {n} elements");
    x
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_0_q8_0(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ4_0>(w), blocks::<BlockQ8_0>(a));
    debug_assert!(x.len() == n / 32 && y.len() == x.len());
    sum_blocks(x, y, |x, y| {
        (_mm256_mul_ps(fp16x8(x.d), fp16x8(y.d)), dot_offset(nibbles(&x.qs), ld256(&y.qs), 8))
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_1_q8_1(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ4_1>(w), blocks::<BlockQ8_1>(a));
    debug_assert!(x.len() == n / 32 && y.len() == x.len());
    sum_blocks_min(x, y, |x, y| {
        (_mm_mul_ps(fp16x2(x), fp16x2(y)), dot_us(nibbles(&x.qs), ld256(&y.qs)))
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5_0_q8_0(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ5_0>(w), blocks::<BlockQ8_0>(a));
    debug_assert!(x.len() == n / 32 && y.len() == x.len());
    sum_blocks(x, y, |x, y| {
        let high = _mm256_and_si256(bit_mask(x.qh), _mm256_set1_epi8(0x10));
        let q = _mm256_or_si256(nibbles(&x.qs), high);
        (_mm256_mul_ps(fp16x8(x.d), fp16x8(y.d)), dot_offset(q, ld256(&y.qs), 16))
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5_1_q8_1(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ5_1>(w), blocks::<BlockQ8_1>(a));
    debug_assert!(x.len() == n / 32 && y.len() == x.len());
    sum_blocks_min(x, y, |x, y| {
        let high = _mm256_and_si256(bit_mask(x.qh), _mm256_set1_epi8(0x10));
        let q = _mm256_or_si256(nibbles(&x.qs), high);
        (_mm_mul_ps(fp16x2(x), fp16x2(y)), dot_us(q, ld256(&y.qs)))
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q8_0_q8_0(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ8_0>(w), blocks::<BlockQ8_0>(a));
    debug_assert!(x.len() == n / 32 && y.len() == x.len());
    // w = −128 is fine: sign(−128, −128) is 0x80, read by vpmaddubsw as the unsigned 128.
    sum_blocks(x, y, |x, y| {
        (_mm256_mul_ps(fp16x8(x.d), fp16x8(y.d)), dot_ss(ld256(&x.qs), ld256(&y.qs)))
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_0_q8_0_x4(n: usize, w: [&[u8]; 4], a: &[u8]) -> [f32; 4] {
    let (x, y) = (rows4::<BlockQ4_0>(w, n), blocks::<BlockQ8_0>(a));
    let prep = |y: &BlockQ8_0| (fp16x8(y.d), ld256(&y.qs));
    sum_blocks4(x, y, prep, |x, (yd, ya)| {
        (_mm256_mul_ps(fp16x8(x.d), yd), dot_offset(nibbles(&x.qs), ya, 8))
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_1_q8_1_x4(n: usize, w: [&[u8]; 4], a: &[u8]) -> [f32; 4] {
    let (x, y) = (rows4::<BlockQ4_1>(w, n), blocks::<BlockQ8_1>(a));
    let prep = |y: &BlockQ8_1| (fp16x2(y), ld256(&y.qs));
    sum_blocks_min4(x, y, prep, |x, (yd, ya)| {
        (_mm_mul_ps(fp16x2(x), yd), dot_us(nibbles(&x.qs), ya))
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5_0_q8_0_x4(n: usize, w: [&[u8]; 4], a: &[u8]) -> [f32; 4] {
    let (x, y) = (rows4::<BlockQ5_0>(w, n), blocks::<BlockQ8_0>(a));
    let prep = |y: &BlockQ8_0| (fp16x8(y.d), ld256(&y.qs));
    sum_blocks4(x, y, prep, |x, (yd, ya)| {
        let high = _mm256_and_si256(bit_mask(x.qh), _mm256_set1_epi8(0x10));
        let q = _mm256_or_si256(nibbles(&x.qs), high);
        (_mm256_mul_ps(fp16x8(x.d), yd), dot_offset(q, ya, 16))
    })
}

/// Lane-wise dot of two float rows: `load` turns 8 elements (`W` bytes each) into 8 f32.
/// Four accumulators of 8 lanes, then the scalar tail.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn floats<const W: usize>(
    w: &[u8],
    a: &[u8],
    load: impl Fn(&[u8]) -> __m256,
    dec: impl Fn(&[u8]) -> f32,
) -> f32 {
    let mut acc = [_mm256_setzero_ps(); 4];
    let (wc, ac) = (w.chunks_exact(32 * W), a.chunks_exact(32 * W));
    let (wt, at) = (wc.remainder(), ac.remainder());
    for (wb, ab) in wc.zip(ac) {
        for (k, s) in acc.iter_mut().enumerate() {
            let r = 8 * W * k..8 * W * (k + 1);
            *s = _mm256_fmadd_ps(load(&wb[r.clone()]), load(&ab[r]), *s);
        }
    }
    let (w8, a8) = (wt.chunks_exact(8 * W), at.chunks_exact(8 * W));
    let (wt, at) = (w8.remainder(), a8.remainder());
    for (wb, ab) in w8.zip(a8) {
        acc[0] = _mm256_fmadd_ps(load(wb), load(ab), acc[0]);
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let tail: f32 = wt.chunks_exact(W).zip(at.chunks_exact(W)).map(|(w, a)| dec(w) * dec(a)).sum();
    hsum(sum) + tail
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn f32_f32(n: usize, w: &[u8], a: &[u8]) -> f32 {
    debug_assert!(w.len() == 4 * n && a.len() == w.len());
    // SAFETY (both closures): `floats` passes 8-element slices, 32 bytes; loadu is unaligned.
    let load = |b: &[u8]| unsafe { _mm256_loadu_ps(b[..32].as_ptr().cast()) };
    floats::<4>(w, a, load, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn f16_f16(n: usize, w: &[u8], a: &[u8]) -> f32 {
    debug_assert!(w.len() == 2 * n && a.len() == w.len());
    // SAFETY: 8 f16 are the 16 bytes `b[..16]` checks.
    let load = |b: &[u8]| _mm256_cvtph_ps(unsafe { _mm_loadu_si128(b[..16].as_ptr().cast()) });
    floats::<2>(w, a, load, |b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn bf16_bf16(n: usize, w: &[u8], a: &[u8]) -> f32 {
    debug_assert!(w.len() == 2 * n && a.len() == w.len());
    // A bfloat16 is the top half of an f32: widen to 32 bits and shift up.
    let load = |b: &[u8]| {
        // SAFETY: 8 bf16 are the 16 bytes `b[..16]` checks.
        let h = unsafe { _mm_loadu_si128(b[..16].as_ptr().cast()) };
        _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h)))
    };
    floats::<2>(w, a, load, |b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
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
    dot_q4_0_q8_0 => q4_0_q8_0,
    dot_q4_1_q8_1 => q4_1_q8_1,
    dot_q5_0_q8_0 => q5_0_q8_0,
    dot_q5_1_q8_1 => q5_1_q8_1,
    dot_q8_0_q8_0 => q8_0_q8_0,
    dot_f32 => f32_f32,
    dot_f16 => f16_f16,
    dot_bf16 => bf16_bf16,
}

/// Safe four-row entry points with the [`super::VecDot4`] signature.
macro_rules! entries4 {
    ($($name:ident => $inner:ident),* $(,)?) => {$(
        /// Only sound on a CPU with avx2, fma and f16c: reachable only through the table
        /// `select` builds after detecting them.
        pub(super) fn $name(n: usize, w: [&[u8]; 4], a: &[u8]) -> [f32; 4] {
            // SAFETY: this entry is in the table only if the CPU has avx2, fma and f16c.
            unsafe { $inner(n, w, a) }
        }
    )*};
}

entries4! {
    dot4_q4_0_q8_0 => q4_0_q8_0_x4,
    dot4_q4_1_q8_1 => q4_1_q8_1_x4,
    dot4_q5_0_q8_0 => q5_0_q8_0_x4,
}
