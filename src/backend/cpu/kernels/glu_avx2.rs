//! AVX2 + FMA versions of the GLU activations (glu.rs `activate`), 8 lanes at a time, for
//! the fused MatMulGlu epilogue and `Op::Glu`: the scalar `expf` call per element was ~4% of
//! a Gemma 3 prefill.
//!
//! `exp8` is Cephes' `expf` (range reduction by ln 2 in two parts, a degree-5 minimax
//! polynomial on |r| ≤ ln 2 / 2, the exponent added in the integer domain), relative error
//! below 2 ulp on [−87.3, 88.3]. Above it gives ∞ (as `expf` past 88.72; between the two it
//! is ∞ where `expf` is finite but > 2·10^38, so `g / (1 + e)` is ±0 instead of a number
//! below 10^−28·|g|), below it e^−87.3 ≈ 1.2·10^−38 instead of a subnormal or 0 (an absolute
//! difference below 10^−38 in `1 + e`), and NaN for NaN.
//!
//! May use: `graph`. Invariant: every function needs avx2 and fma; callers check
//! [`available`] first.

use std::arch::x86_64::*;

use crate::graph::GluAct;

/// Whether this CPU runs these functions, within `KILN_CPU_SIMD`'s cap (dot/mod.rs).
pub fn available() -> bool {
    super::dot::avx2()
}

/// `e^x` in each lane (see the module doc for accuracy and saturation).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn exp8(x: __m256) -> __m256 {
    let hi = _mm256_set1_ps(88.3);
    let (too_big, nan) = (_mm256_cmp_ps::<_CMP_GT_OQ>(x, hi), _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x));
    let special = _mm256_blendv_ps(_mm256_set1_ps(f32::INFINITY), x, nan);
    let x = _mm256_max_ps(_mm256_min_ps(x, hi), _mm256_set1_ps(-87.3));
    // n = round(x / ln 2), r = x − n·ln 2 with ln 2 split so n·C1 is exact.
    let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(
        x,
        _mm256_set1_ps(std::f32::consts::LOG2_E),
    ));
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_359_4), x);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.121_944_4e-4), r);
    let mut p = _mm256_set1_ps(1.987_569_1e-4);
    for c in [1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5] {
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
    }
    let y = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0)));
    // 2^n as an f32 bit pattern: n ∈ [−126, 127] after the clamp, so the exponent is normal.
    let pow2 =
        _mm256_slli_epi32::<23>(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)));
    let e = _mm256_mul_ps(y, _mm256_castsi256_ps(pow2));
    _mm256_blendv_ps(e, special, _mm256_or_ps(too_big, nan))
}

/// `act(g)·u` per lane, in the forms of glu.rs `activate`.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn glu8(act: GluAct, g: __m256, u: __m256) -> __m256 {
    let e = match act {
        GluAct::Silu => exp8(_mm256_sub_ps(_mm256_setzero_ps(), g)),
        GluAct::GeluTanh => {
            let g3 = _mm256_mul_ps(_mm256_mul_ps(g, g), g);
            let inner = _mm256_fmadd_ps(_mm256_set1_ps(super::glu::GELU_COEF_A), g3, g);
            let v = _mm256_mul_ps(_mm256_set1_ps(super::glu::SQRT_2_OVER_PI), inner);
            exp8(_mm256_mul_ps(_mm256_set1_ps(-2.0), v))
        }
    };
    _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0), e)), u)
}

#[target_feature(enable = "avx2,fma")]
unsafe fn glu_inplace(act: GluAct, g: &mut [f32], u: &[f32]) {
    assert_eq!(g.len(), u.len(), "glu: gate and up lengths");
    let (mut gc, mut uc) = (g.chunks_exact_mut(8), u.chunks_exact(8));
    for (gv, uv) in (&mut gc).zip(&mut uc) {
        // SAFETY: both chunks hold 8 f32; loadu/storeu have no alignment requirement.
        unsafe {
            let r = glu8(act, _mm256_loadu_ps(gv.as_ptr()), _mm256_loadu_ps(uv.as_ptr()));
            _mm256_storeu_ps(gv.as_mut_ptr(), r);
        }
    }
    let (gt, ut) = (gc.into_remainder(), uc.remainder());
    let mut gp = [0f32; 8];
    let mut up = [0f32; 8];
    gp[..gt.len()].copy_from_slice(gt);
    up[..ut.len()].copy_from_slice(ut);
    // SAFETY: as above, on the zero-padded tails.
    unsafe {
        let r = glu8(act, _mm256_loadu_ps(gp.as_ptr()), _mm256_loadu_ps(up.as_ptr()));
        _mm256_storeu_ps(gp.as_mut_ptr(), r);
    }
    gt.copy_from_slice(&gp[..gt.len()]);
}

/// `g[i] = act(g[i])·u[i]`. Only call when [`available`].
pub fn glu(act: GluAct, g: &mut [f32], u: &[f32]) {
    assert!(available(), "glu_avx2 called on a CPU without AVX2 + FMA");
    // SAFETY: `available` checked avx2 and fma.
    unsafe { glu_inplace(act, g, u) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// e^x against f64 over the whole domain, within 2 ulp (2^-23 relative).
    #[test]
    fn exp8_is_within_two_ulp() {
        if !available() {
            eprintln!("SKIP: no AVX2 + FMA");
            return;
        }
        let mut xs: Vec<f32> =
            (0..=200_000).map(|i| -87.3 + 175.6 * i as f32 / 200_000.0).collect();
        xs.truncate(xs.len() / 8 * 8);
        for x in xs.chunks_exact(8) {
            let mut got = [0f32; 8];
            // SAFETY: available() above; 8 f32 each way.
            unsafe {
                _mm256_storeu_ps(got.as_mut_ptr(), exp8(_mm256_loadu_ps(x.as_ptr())));
            }
            for (&x, &g) in x.iter().zip(&got) {
                let want = f64::from(x).exp();
                let rel = ((f64::from(g) - want) / want).abs();
                assert!(rel <= 2.0 * 2f64.powi(-23), "exp({x}) = {g}, want {want}, rel {rel:e}");
            }
        }
    }

    /// Past the domain: ∞ above, NaN for NaN, a tiny positive number below.
    #[test]
    fn exp8_saturates_as_documented() {
        if !available() {
            eprintln!("SKIP: no AVX2 + FMA");
            return;
        }
        let x = [88.5f32, 1e30, f32::INFINITY, f32::NAN, -88.0, -1e30, f32::NEG_INFINITY, 0.0];
        let mut got = [0f32; 8];
        // SAFETY: available() above; 8 f32 each way.
        unsafe { _mm256_storeu_ps(got.as_mut_ptr(), exp8(_mm256_loadu_ps(x.as_ptr()))) };
        assert!(got[..3].iter().all(|v| *v == f32::INFINITY), "{got:?}");
        assert!(got[3].is_nan(), "{got:?}");
        assert!(got[4..7].iter().all(|v| *v > 0.0 && *v < 1.3e-38), "{got:?}");
        assert_eq!(got[7], 1.0);
    }

    /// The vector activations against the scalar ones, over the nonlinear range, extremes and
    /// odd lengths (the padded tail), within glu.rs's bound `1e-7 + 1e-5·|r|`.
    #[test]
    fn glu_matches_scalar() {
        if !available() {
            eprintln!("SKIP: no AVX2 + FMA");
            return;
        }
        let mut gate: Vec<f32> = (0..1003).map(|i| -12.0 + 24.0 * i as f32 / 1003.0).collect();
        gate[..8].copy_from_slice(&[0.0, -0.0, 30.0, -30.0, 1e4, -1e4, 88.0, -100.0]);
        let up: Vec<f32> = (0..1003).map(|i| ((i * 37) % 11) as f32 / 3.0 - 1.5).collect();
        for act in [GluAct::Silu, GluAct::GeluTanh] {
            for len in [1003, 8, 7, 1] {
                let mut got = gate[..len].to_vec();
                glu(act, &mut got, &up[..len]);
                for ((&g, &u), &r) in gate.iter().zip(&up).zip(&got) {
                    let want = super::super::glu::activate(act, g) * u;
                    let tol = 1e-7 + 1e-5 * want.abs() + 1e-7 * u.abs();
                    assert!((r - want).abs() <= tol, "{act:?} g={g} u={u}: {r} vs {want}");
                }
            }
        }
    }
}
