//! RMSNorm (× weight): the oracle for `rms_norm` kernels, including per-head QK-norm
//! (Gemma 3, Qwen 3), which is the same formula with `n_cols = head_dim`.
//!
//! Uses nothing. Invariant: each row of `n_cols` values is normalised independently, with the
//! mean of squares accumulated in f64.

/// Per row of `n_cols` values: `y_i = x_i / sqrt(mean(x²) + eps) · weight_i`, with
/// `mean(x²) = Σ x_i² / n_cols` (ggml's `ggml_rms_norm` followed by `ggml_mul` with the norm
/// weight, as llama.cpp's `build_norm` does with `LLM_NORM_RMS`). An all-zero row gives zeros
/// through the `eps` path (the scale is `1/sqrt(eps)`, finite for eps > 0).
///
/// Gemma stores its norm weights as `w` with the multiplier `1 + w`; the converter
/// (convert_hf_to_gguf.py) already folds the `+1` into the GGUF weights, so pass them as they are.
pub fn rms_norm(x: &[f64], weight: &[f64], eps: f64, n_cols: usize) -> Vec<f64> {
    assert!(n_cols > 0, "kernels-ref: rms_norm needs n_cols > 0");
    assert_eq!(weight.len(), n_cols, "kernels-ref: rms_norm weight is not n_cols long");
    assert_eq!(x.len() % n_cols, 0, "kernels-ref: rms_norm x is not whole rows of {n_cols}");
    let mut y = vec![0.0; x.len()];
    for (row, out) in x.chunks_exact(n_cols).zip(y.chunks_exact_mut(n_cols)) {
        let mut sum_sq = 0.0;
        for &v in row {
            sum_sq += v * v;
        }
        let scale = 1.0 / (sum_sq / n_cols as f64 + eps).sqrt();
        for i in 0..n_cols {
            out[i] = row[i] * scale * weight[i];
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_norm_by_hand() {
        // Row [3, 4]: mean(x²) = 12.5, eps = 0 → scale 1/sqrt(12.5).
        let y = rms_norm(&[3.0, 4.0], &[1.0, 2.0], 0.0, 2);
        let s = 1.0 / 12.5f64.sqrt();
        assert_eq!(y, [3.0 * s, 4.0 * s * 2.0]);
    }

    #[test]
    fn rows_are_independent() {
        // Row 0 = [2, 2] → ±1 · w; row 1 = [−5, 5] → ±1 · w (eps = 0).
        let y = rms_norm(&[2.0, 2.0, -5.0, 5.0], &[1.0, 3.0], 0.0, 2);
        assert_eq!(y, [1.0, 3.0, -1.0, 3.0]);
    }

    #[test]
    fn all_zero_row_takes_the_eps_path() {
        let y = rms_norm(&[0.0; 4], &[1.0; 4], 1e-6, 4);
        assert_eq!(y, [0.0; 4]);
        assert!(y.iter().all(|v| v.is_finite()));
        // Tiny values: eps dominates, scale = 1/sqrt(1e-12 + 1e-6) ≈ 1000.
        let y = rms_norm(&[1e-6, -1e-6], &[1.0, 1.0], 1e-6, 2);
        let want = 1e-6 / (1e-12f64 + 1e-6).sqrt();
        assert_eq!(y, [want, -want]);
    }

    #[test]
    #[should_panic(expected = "whole rows")]
    fn partial_row_panics() {
        rms_norm(&[1.0; 3], &[1.0; 2], 1e-6, 2);
    }
}
