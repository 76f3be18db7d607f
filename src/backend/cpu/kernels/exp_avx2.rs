//! `e^x` on 8 lanes with AVX2 + FMA, for the vector GLU activations (glu_avx2.rs) and the
//! prefill attention's softmax (attention_avx2.rs): one implementation, one test.
//!
//! Cephes' `expf` (cephes/single/expf.c): Cody–Waite reduction by ln 2 in two parts, a
//! degree-5 minimax polynomial on |r| ≤ ln 2 / 2 plus `1 + r`, the exponent added in the
//! integer domain; relative error below 2 ulp on [ln 2^-126, 88.376]. Outside it: ∞ above
//! (libm's `expf` reaches ∞ only past 88.72, so between the two this is ∞ where libm gives at
//! most 3.4·10^38), 0 below (libm gives subnormals down to −103.9: an absolute difference
//! below 1.2·10^−38), NaN for NaN.
//!
//! May use: std::arch. Invariant: callers checked avx2 and fma (dot/mod.rs `avx2`).

use std::arch::x86_64::*;

/// ln 2^-126: the smallest argument whose 2^n is a normal f32.
const LO: f32 = -87.336_55;
/// The largest argument whose 2^n (n ≤ 127) is finite.
const HI: f32 = 88.376_26;

/// `e^x` in each lane (see the module doc for accuracy and the edges).
#[target_feature(enable = "avx2,fma")]
#[inline]
pub fn exp8(x: __m256) -> __m256 {
    let under = _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_set1_ps(LO));
    let over = _mm256_cmp_ps::<_CMP_GT_OQ>(x, _mm256_set1_ps(HI));
    let nan = _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x);
    let xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(LO)), _mm256_set1_ps(HI));
    let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(
        xc,
        _mm256_set1_ps(std::f32::consts::LOG2_E),
    ));
    // r = x − n·ln 2, with ln 2 split so n·C1 is exact.
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_359_4), xc);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.121_944_4e-4), r);
    let mut p = _mm256_set1_ps(1.987_569_1e-4);
    for c in [1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.5] {
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
    }
    let y = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0));
    // 2^n as an f32 bit pattern: n ∈ [−126, 127] after the clamp, a normal exponent.
    let pow2 =
        _mm256_slli_epi32::<23>(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)));
    let e = _mm256_andnot_ps(under, _mm256_mul_ps(y, _mm256_castsi256_ps(pow2)));
    let e = _mm256_blendv_ps(e, _mm256_set1_ps(f32::INFINITY), over);
    _mm256_blendv_ps(e, x, nan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp_of(x: [f32; 8]) -> [f32; 8] {
        let mut got = [0f32; 8];
        // SAFETY: callers checked avx2 and fma; 8 f32 each way.
        unsafe { _mm256_storeu_ps(got.as_mut_ptr(), exp8(_mm256_loadu_ps(x.as_ptr()))) };
        got
    }

    /// Against f64 over the whole range, within 2 ulp (2^-23 relative).
    #[test]
    fn within_two_ulp_on_its_range() {
        if !crate::backend::cpu::kernels::dot::avx2() {
            eprintln!("SKIP: no AVX2 + FMA");
            return;
        }
        let steps = 200_000;
        let xs: Vec<f32> = (0..steps).map(|i| LO + (HI - LO) * i as f32 / steps as f32).collect();
        for x in xs.chunks_exact(8) {
            let got = exp_of(x.try_into().expect("8 lanes"));
            for (&x, &g) in x.iter().zip(&got) {
                let want = f64::from(x).exp();
                let rel = ((f64::from(g) - want) / want).abs();
                assert!(rel <= 2.0 * 2f64.powi(-23), "exp({x}) = {g}, want {want}, rel {rel:e}");
            }
        }
    }

    /// Past the range: ∞ above, 0 below, NaN for NaN, exactly 1 at 0.
    #[test]
    fn edges_as_documented() {
        if !crate::backend::cpu::kernels::dot::avx2() {
            eprintln!("SKIP: no AVX2 + FMA");
            return;
        }
        let x = [88.5f32, 1e30, f32::INFINITY, f32::NAN, -88.0, -1e30, f32::NEG_INFINITY, 0.0];
        let got = exp_of(x);
        assert!(got[..3].iter().all(|v| *v == f32::INFINITY), "{got:?}");
        assert!(got[3].is_nan(), "{got:?}");
        assert_eq!(&got[4..], &[0.0, 0.0, 0.0, 1.0], "{got:?}");
    }
}
