//! AVX2 + FMA versions of the GLU activations (glu.rs `activate`), 8 lanes at a time, for
//! the fused MatMulGlu epilogue and `Op::Glu`: the scalar `expf` call per element was ~4% of
//! a Gemma 3 prefill.
//!
//! The exponential is exp_avx2.rs's: where it gives ∞ a little before libm (x > 88.376),
//! `g / (1 + e)` is ±0 instead of a number below 10^−28·|g|; where it flushes to 0 (x below
//! ln 2^-126), `1 + e` differs from libm's by less than 10^−38. So the results stay within
//! glu.rs's tolerance, and NaN only for NaN.
//!
//! May use: `graph`, exp_avx2.rs. Invariant: every function needs avx2 and fma; callers check
//! [`available`] first.

use std::arch::x86_64::*;

use super::exp_avx2::exp8;
use crate::graph::GluAct;

/// Whether this CPU runs these functions, within `KILN_CPU_SIMD`'s cap (dot/mod.rs).
pub fn available() -> bool {
    super::dot::avx2()
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
