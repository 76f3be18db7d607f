//! AVX2 + FMA versions of the prefill attention loops (attention_simd.rs has the contracts,
//! the portable versions and the dispatch).
//!
//! Register tiles (16 ymm): scores take [`SR`] query rows × [`SC`] keys per pass over `d`
//! (12 accumulators, the 3 key vectors, one query vector), so each loaded vector feeds 3 or
//! 4 FMAs; `O += P·V` takes [`PR`] output rows × 16 columns (12 accumulators, 2 value vectors,
//! one broadcast weight), keeping the output tile in registers across the whole key block.
//! `exp` is Cephes' `expf` (cephes/single/expf.c: Cody–Waite reduction by ln 2, degree-6
//! polynomial, relative error ≈ 1 ulp on its range) with arguments below ln 2^-126 flushed to 0.
//!
//! May use: std::arch. Invariant: callers checked avx2 and fma, and the shapes as
//! attention_simd.rs does (`d % 8 == 0`, rows of `d`, whole key blocks), so every raw read and
//! write below stays inside its slice.

use std::arch::x86_64::*;

/// Query rows and keys per score tile.
const SR: usize = 4;
const SC: usize = 3;
/// Output rows per `O += P·V` tile.
const PR: usize = 6;

/// Caller: see the module invariant.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn scores(q: &[&[f32]], k: &[f32], d: usize, scale: f32, s: &mut [f32], stride: usize) {
    let nk = k.len() / d;
    let mut sums = [0f32; SR * SC];
    for r0 in (0..q.len()).step_by(SR) {
        // A short tile repeats its last row or key; those sums are not stored.
        let qp: [*const f32; SR] = std::array::from_fn(|i| q[(r0 + i).min(q.len() - 1)].as_ptr());
        for j0 in (0..nk).step_by(SC) {
            let kp: [*const f32; SC] =
                std::array::from_fn(|c| k[(j0 + c).min(nk - 1) * d..].as_ptr());
            // SAFETY: every pointer starts a row of `d` readable floats; d % 8 == 0.
            unsafe { dot_tile(&qp, &kp, d, &mut sums) };
            for r in 0..SR.min(q.len() - r0) {
                for c in 0..SC.min(nk - j0) {
                    s[(r0 + r) * stride + j0 + c] = scale * sums[r * SC + c];
                }
            }
        }
    }
}

/// `out[r·SC + c] = q[r]·k[c]` over `d` floats, each an 8-lane sum reduced as kv.rs's `dot`.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn dot_tile(q: &[*const f32; SR], k: &[*const f32; SC], d: usize, out: &mut [f32; SR * SC]) {
    let mut acc = [_mm256_setzero_ps(); SR * SC];
    let mut i = 0;
    while i < d {
        let mut kv = [_mm256_setzero_ps(); SC];
        for c in 0..SC {
            // SAFETY: i + 8 ≤ d (caller).
            kv[c] = unsafe { _mm256_loadu_ps(k[c].add(i)) };
        }
        for r in 0..SR {
            // SAFETY: as above.
            let qv = unsafe { _mm256_loadu_ps(q[r].add(i)) };
            for c in 0..SC {
                acc[r * SC + c] = _mm256_fmadd_ps(qv, kv[c], acc[r * SC + c]);
            }
        }
        i += 8;
    }
    for (a, o) in acc.chunks_exact(4).zip(out.chunks_exact_mut(4)) {
        // SAFETY: `o` holds 4 floats.
        unsafe { _mm_storeu_ps(o.as_mut_ptr(), hsum4(a[0], a[1], a[2], a[3])) };
    }
}

/// The four 8-lane sums `[Σa, Σb, Σc, Σd]`, each as ((0+4)+(1+5))+((2+6)+(3+7)).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn hsum4(a: __m256, b: __m256, c: __m256, d: __m256) -> __m128 {
    let ab = _mm_hadd_ps(half(a), half(b));
    let cd = _mm_hadd_ps(half(c), half(d));
    _mm_hadd_ps(ab, cd)
}

/// `[x0+x4, x1+x5, x2+x6, x3+x7]`.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn half(x: __m256) -> __m128 {
    _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps::<1>(x))
}

/// `e^x` on 8 lanes: Cephes expf for x ≥ ln 2^-126, 0 below (and for −∞).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn exp8(x: __m256) -> __m256 {
    const LO: f32 = -87.336_55; // ln 2^-126: the smallest power 2^n built below is normal
    const HI: f32 = 88.376_26;
    let under = _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_set1_ps(LO));
    let x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(LO)), _mm256_set1_ps(HI));
    let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(
        x,
        _mm256_set1_ps(std::f32::consts::LOG2_E),
    ));
    // r = x − n·ln 2, with ln 2 split so n·C1 is exact.
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_359_4), x);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.121_944_4e-4), r);
    let mut y = _mm256_set1_ps(1.987_569_1e-4);
    for c in [1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.5] {
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(c));
    }
    let y = _mm256_add_ps(_mm256_fmadd_ps(y, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0));
    let e =
        _mm256_slli_epi32::<23>(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)));
    _mm256_andnot_ps(under, _mm256_mul_ps(y, _mm256_castsi256_ps(e)))
}

/// Caller: avx2 and fma.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn exp_sum(s: &mut [f32], m: f32) -> f32 {
    let m = _mm256_set1_ps(m);
    let mut sum = _mm256_setzero_ps();
    let mut chunks = s.chunks_exact_mut(8);
    for c in &mut chunks {
        // SAFETY: `c` holds 8 floats; unaligned load and store.
        unsafe {
            let e = exp8(_mm256_sub_ps(_mm256_loadu_ps(c.as_ptr()), m));
            _mm256_storeu_ps(c.as_mut_ptr(), e);
            sum = _mm256_add_ps(sum, e);
        }
    }
    let rest = chunks.into_remainder();
    if !rest.is_empty() {
        // Padded with −∞, whose weight is 0.
        let mut t = [f32::NEG_INFINITY; 8];
        t[..rest.len()].copy_from_slice(rest);
        // SAFETY: `t` holds 8 floats.
        unsafe {
            let e = exp8(_mm256_sub_ps(_mm256_loadu_ps(t.as_ptr()), m));
            _mm256_storeu_ps(t.as_mut_ptr(), e);
            sum = _mm256_add_ps(sum, e);
        }
        rest.copy_from_slice(&t[..rest.len()]);
    }
    let s = hsum4(sum, sum, sum, sum);
    _mm_cvtss_f32(s)
}

/// Caller: see the module invariant.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn pv(o: &mut [&mut [f32]], p: &[f32], stride: usize, v: &[f32], d: usize) {
    for (i, rows) in o.chunks_mut(PR).enumerate() {
        let p = &p[i * PR * stride..];
        // SAFETY: `p` holds `rows.len()` rows of `stride ≥ nk` weights, `v` nk rows of d.
        unsafe {
            match rows.len() {
                6 => pv_rows::<6>(rows, p, stride, v, d),
                5 => pv_rows::<5>(rows, p, stride, v, d),
                4 => pv_rows::<4>(rows, p, stride, v, d),
                3 => pv_rows::<3>(rows, p, stride, v, d),
                2 => pv_rows::<2>(rows, p, stride, v, d),
                _ => pv_rows::<1>(rows, p, stride, v, d),
            }
        }
    }
}

/// `O += P·V` for `R` rows, 16 columns (then a last 8) at a time, over all `v.len() / d` keys.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn pv_rows<const R: usize>(
    o: &mut [&mut [f32]],
    p: &[f32],
    stride: usize,
    v: &[f32],
    d: usize,
) {
    let t = PvTile {
        o: std::array::from_fn(|r| o[r].as_mut_ptr()),
        p: p.as_ptr(),
        stride,
        v: v.as_ptr(),
        d,
        nk: v.len() / d,
    };
    let mut c0 = 0;
    while c0 + 16 <= d {
        // SAFETY: c0 + 16 ≤ d.
        unsafe { pv_cols::<R, 2>(&t, c0) };
        c0 += 16;
    }
    if c0 < d {
        // SAFETY: d % 8 == 0, so c0 + 8 ≤ d.
        unsafe { pv_cols::<R, 1>(&t, c0) };
    }
}

/// `R` output rows, weights `p[r·stride + j]`, `nk` value rows of `d` floats at `v`.
struct PvTile<const R: usize> {
    o: [*mut f32; R],
    p: *const f32,
    stride: usize,
    v: *const f32,
    d: usize,
    nk: usize,
}

/// Columns `c0..c0 + 8·W` of `O += P·V`, the output tile held in registers over all keys.
/// Caller: c0 + 8·W ≤ d.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn pv_cols<const R: usize, const W: usize>(t: &PvTile<R>, c0: usize) {
    let mut acc = [[_mm256_setzero_ps(); W]; R];
    // SAFETY (this block): output rows hold d floats; weight (r, j) is at r·stride + j with
    // j < nk ≤ stride; value row j at j·d, j < nk.
    unsafe {
        for (a, o) in acc.iter_mut().zip(t.o) {
            for (w, a) in a.iter_mut().enumerate() {
                *a = _mm256_loadu_ps(o.add(c0 + 8 * w));
            }
        }
        for j in 0..t.nk {
            let vj = t.v.add(j * t.d + c0);
            let mut vv = [_mm256_setzero_ps(); W];
            for (w, v) in vv.iter_mut().enumerate() {
                *v = _mm256_loadu_ps(vj.add(8 * w));
            }
            for (r, a) in acc.iter_mut().enumerate() {
                let pw = _mm256_broadcast_ss(&*t.p.add(r * t.stride + j));
                for (a, &v) in a.iter_mut().zip(&vv) {
                    *a = _mm256_fmadd_ps(pw, v, *a);
                }
            }
        }
        for (a, o) in acc.iter().zip(t.o) {
            for (w, &a) in a.iter().enumerate() {
                _mm256_storeu_ps(o.add(c0 + 8 * w), a);
            }
        }
    }
}
