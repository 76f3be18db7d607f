//! Elementwise ops: add, mul, scale, the GLU activations (SwiGLU for llama, GeGLU for Gemma) and
//! tanh soft-capping: the oracle for the elementwise and fused-GLU kernels.
//!
//! Uses nothing. Invariant: outputs have the inputs' length and element `i` depends only on
//! element `i` of each input; every formula is evaluated in a form that does not cancel in f64.

/// `y_i = a_i + b_i` (residual connections).
pub fn add(a: &[f64], b: &[f64]) -> Vec<f64> {
    assert_eq!(a.len(), b.len(), "kernels-ref: add needs equal lengths");
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}

/// `y_i = a_i · b_i`.
pub fn mul(a: &[f64], b: &[f64]) -> Vec<f64> {
    assert_eq!(a.len(), b.len(), "kernels-ref: mul needs equal lengths");
    a.iter().zip(b).map(|(x, y)| x * y).collect()
}

/// `y_i = s · x_i` (e.g. Gemma's embedding scale `sqrt(dim)`).
pub fn scale(x: &[f64], s: f64) -> Vec<f64> {
    x.iter().map(|v| v * s).collect()
}

/// SiLU: `silu(g) = g · sigmoid(g) = g / (1 + e^−g)` (ggml's `ggml_silu_f32`). For g → −∞,
/// `e^−g` overflows to inf and the result is `g/inf = −0`, the correct limit.
pub fn silu(g: f64) -> f64 {
    g / (1.0 + (-g).exp())
}

/// GELU, tanh approximation — ggml's `GELU` op (ggml-cpu/vec.h `ggml_gelu_f32`), which is what
/// llama.cpp runs for Gemma's `gelu_pytorch_tanh`:
/// `gelu(g) = 0.5·g·(1 + tanh(v))`, `v = √(2/π)·(g + 0.044715·g³)`.
/// Evaluated as the identical `g / (1 + e^(−2v))` (since `0.5·(1 + tanh v) = 1/(1 + e^(−2v))`),
/// which keeps full relative accuracy for negative g where `1 + tanh v` cancels. ggml rounds
/// the constants to f32 (0.044715f, relative difference 3e-8); this reference uses them exactly.
pub fn gelu_tanh(g: f64) -> f64 {
    let v = (2.0 / std::f64::consts::PI).sqrt() * (g + 0.044715 * g * g * g);
    g / (1.0 + (-2.0 * v).exp())
}

/// SwiGLU: `y_i = silu(gate_i) · up_i` (llama's FFN: `down(silu(gate·x) ⊙ up·x)`).
pub fn swiglu(gate: &[f64], up: &[f64]) -> Vec<f64> {
    assert_eq!(gate.len(), up.len(), "kernels-ref: swiglu needs equal lengths");
    gate.iter().zip(up).map(|(&g, &u)| silu(g) * u).collect()
}

/// GeGLU: `y_i = gelu_tanh(gate_i) · up_i` (Gemma's FFN).
pub fn geglu(gate: &[f64], up: &[f64]) -> Vec<f64> {
    assert_eq!(gate.len(), up.len(), "kernels-ref: geglu needs equal lengths");
    gate.iter().zip(up).map(|(&g, &u)| gelu_tanh(g) * u).collect()
}

/// Soft-capping: `y_i = c · tanh(x_i / c)`, smoothly limiting values to (−c, c) — Gemma 2's
/// final-logit softcap (llama.cpp `f_final_logit_softcapping`), and the same map `attention`
/// applies to scores. `tanh` saturates to ±1 in f64 without overflow, so any finite x is fine.
pub fn softcap(x: &[f64], c: f64) -> Vec<f64> {
    assert!(c > 0.0, "kernels-ref: softcap needs c > 0");
    x.iter().map(|v| c * (v / c).tanh()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_mul_scale_by_hand() {
        assert_eq!(add(&[1.0, -2.0], &[0.5, 2.0]), [1.5, 0.0]);
        assert_eq!(mul(&[1.0, -2.0], &[0.5, 3.0]), [0.5, -6.0]);
        assert_eq!(scale(&[1.0, -2.0], 0.25), [0.25, -0.5]);
    }

    #[test]
    fn silu_known_values_and_limits() {
        assert_eq!(silu(0.0), 0.0);
        assert!((silu(1.0) - 1.0 / (1.0 + (-1f64).exp())).abs() < 1e-16);
        assert_eq!(silu(1000.0), 1000.0);
        assert!(silu(-1000.0) == 0.0); // −0, not NaN
        assert_eq!(swiglu(&[0.0, 1000.0], &[5.0, 2.0]), [0.0, 2000.0]);
    }

    #[test]
    fn gelu_tanh_equals_the_tanh_formula() {
        let tanh_form = |g: f64| {
            let v = (2.0 / std::f64::consts::PI).sqrt() * (g + 0.044715 * g.powi(3));
            0.5 * g * (1.0 + v.tanh())
        };
        for g in [-3.0, -1.0, -0.1, 0.0, 0.3, 1.0, 2.5, 6.0] {
            let (a, b) = (gelu_tanh(g), tanh_form(g));
            // 1e-12: the tanh form itself loses digits to `1 + tanh v` for negative g.
            assert!((a - b).abs() <= 1e-12 * b.abs(), "g = {g}: {a} vs {b}");
        }
        // Published value: gelu_tanh(1) ≈ 0.8411919906082768.
        assert!((gelu_tanh(1.0) - 0.8411919906082768).abs() < 1e-15);
    }

    #[test]
    fn gelu_tanh_keeps_relative_accuracy_for_negative_inputs() {
        // At g = −10 the tanh form's `1 + tanh v` is 0 in f64; the true value is about
        // −10·e^(2v) with v = √(2/π)·(−10 − 44.715) ≈ −43.657, i.e. ≈ −1.1e−37, not 0.
        let v = (2.0 / std::f64::consts::PI).sqrt() * (-10.0 - 44.715);
        let want = -10.0 * (2.0 * v).exp() / (1.0 + (2.0 * v).exp());
        let got = gelu_tanh(-10.0);
        assert!(got < 0.0 && ((got - want) / want).abs() < 1e-13, "{got} vs {want}");
        assert!(gelu_tanh(-1e6) == 0.0 && gelu_tanh(1e6) == 1e6);
        assert_eq!(geglu(&[1e6], &[0.5]), [5e5]);
    }

    #[test]
    fn softcap_limits_to_c() {
        let y = softcap(&[0.0, 30.0, -1e6, 1e6], 30.0);
        assert_eq!(y[0], 0.0);
        assert!((y[1] - 30.0 * 1f64.tanh()).abs() < 1e-14);
        assert_eq!((y[2], y[3]), (-30.0, 30.0));
    }
}
