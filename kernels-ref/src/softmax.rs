//! Row-wise softmax and log-softmax: the oracle for the standalone `softmax` kernel (sampling)
//! and for perplexity checks; `attention` uses the same max-subtraction.
//!
//! Uses nothing. Invariant: each row of `n_cols` values is shifted by its maximum before `exp`,
//! so no finite input overflows, and sums accumulate in f64.

/// Per row: `y_i = exp(x_i − max) / Σ_j exp(x_j − max)`, the max-subtracted form every ggml
/// backend uses (ggml-cpu/ops.cpp `ggml_compute_forward_soft_max_f32`). Inputs are finite or
/// −∞ (a masked logit, weight 0). A row whose maximum is −∞ (everything masked) has no
/// distribution; it gives all zeros, the same convention as a fully masked attention row.
pub fn softmax(x: &[f64], n_cols: usize) -> Vec<f64> {
    check_rows(x, n_cols);
    let mut y = vec![0.0; x.len()];
    for (row, out) in x.chunks_exact(n_cols).zip(y.chunks_exact_mut(n_cols)) {
        let max = row_max(row);
        if max == f64::NEG_INFINITY {
            continue; // stays zero
        }
        let mut sum = 0.0;
        for i in 0..n_cols {
            out[i] = (row[i] - max).exp();
            sum += out[i];
        }
        for v in out.iter_mut() {
            *v /= sum;
        }
    }
    y
}

/// Per row: `y_i = x_i − max − ln Σ_j exp(x_j − max)` (= ln softmax, without the cancellation of
/// `ln(softmax)` for tiny probabilities). Used for perplexity: `−mean(log_softmax(logits)[token])`.
/// A row whose maximum is −∞ gives all −∞.
pub fn log_softmax(x: &[f64], n_cols: usize) -> Vec<f64> {
    check_rows(x, n_cols);
    let mut y = vec![f64::NEG_INFINITY; x.len()];
    for (row, out) in x.chunks_exact(n_cols).zip(y.chunks_exact_mut(n_cols)) {
        let max = row_max(row);
        if max == f64::NEG_INFINITY {
            continue;
        }
        let mut sum = 0.0;
        for &v in row {
            sum += (v - max).exp();
        }
        let log_sum = sum.ln();
        for i in 0..n_cols {
            out[i] = row[i] - max - log_sum;
        }
    }
    y
}

fn row_max(row: &[f64]) -> f64 {
    let mut max = f64::NEG_INFINITY;
    for &v in row {
        if v > max {
            max = v;
        }
    }
    max
}

fn check_rows(x: &[f64], n_cols: usize) {
    assert!(n_cols > 0, "kernels-ref: softmax needs n_cols > 0");
    assert_eq!(x.len() % n_cols, 0, "kernels-ref: softmax x is not whole rows of {n_cols}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_by_hand() {
        // [0, ln 3]: weights 1 and 3 → [1/4, 3/4].
        let y = softmax(&[0.0, 3f64.ln()], 2);
        assert!((y[0] - 0.25).abs() < 1e-15 && (y[1] - 0.75).abs() < 1e-15, "{y:?}");
    }

    #[test]
    fn large_logits_do_not_overflow() {
        // Without max-subtraction exp(1e4) = inf and the row would be NaN.
        let y = softmax(&[1e4, 1e4 - 1.0, -1e4], 3);
        let p0 = 1.0 / (1.0 + (-1f64).exp());
        assert!((y[0] - p0).abs() < 1e-15 && (y[1] - (1.0 - p0)).abs() < 1e-15, "{y:?}");
        assert_eq!(y[2], 0.0);
        let y = softmax(&[-1e4, -1e4], 2);
        assert_eq!(y, [0.5, 0.5]);
    }

    #[test]
    fn rows_are_independent_and_sum_to_one() {
        let y = softmax(&[1.0, 2.0, 3.0, -5.0, 0.0, 5.0], 3);
        for row in y.chunks(3) {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        }
        assert!(y[2] > y[1] && y[1] > y[0]);
    }

    #[test]
    fn masked_entries_and_fully_masked_rows() {
        let inf = f64::NEG_INFINITY;
        assert_eq!(softmax(&[inf, 0.0, inf, inf], 2), [0.0, 1.0, 0.0, 0.0]);
        assert_eq!(log_softmax(&[inf, inf], 2), [inf, inf]);
    }

    #[test]
    fn log_softmax_matches_ln_of_softmax_and_stays_finite() {
        let x = [0.5, -1.0, 2.0];
        let (p, lp) = (softmax(&x, 3), log_softmax(&x, 3));
        for i in 0..3 {
            assert!((p[i].ln() - lp[i]).abs() < 1e-15);
        }
        // exp(−1e4) underflows to 0 in softmax; log_softmax keeps the exact −2e4.
        assert_eq!(log_softmax(&[1e4, -1e4], 2), [0.0, -2e4]);
    }
}
