//! Matrix-vector and matrix-matrix products, plus the per-output scale `Σ|w·x|` that tolerances
//! are measured against: the oracle for the matvec (decode) and matmul (prefill) kernels.
//!
//! Uses `quant` (for `matvec_quant`). Invariant: `W` is row-major `(rows = out, cols = in)` and
//! `y = W·x`, the layout of a GGUF weight with `ne[0] = cols` (ggml's `mul_mat(W, x)`); every
//! dot product is a straight loop accumulating in f64.

use crate::quant;

/// `y[r] = Σ_c w[r·cols + c]·x[c]` for `r` in `0..rows`.
pub fn matvec(w: &[f64], x: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    matmul(w, x, rows, cols, 1)
}

/// `y[t·rows + r] = Σ_c w[r·cols + c]·x[t·cols + c]`: `x` holds `n` input vectors (n × cols,
/// e.g. the tokens of a prefill), `y` the `n` outputs (n × rows).
pub fn matmul(w: &[f64], x: &[f64], rows: usize, cols: usize, n: usize) -> Vec<f64> {
    check_shapes(w, x, rows, cols, n);
    let mut y = vec![0.0; n * rows];
    for t in 0..n {
        for r in 0..rows {
            let mut sum = 0.0;
            for c in 0..cols {
                sum += w[r * cols + c] * x[t * cols + c];
            }
            y[t * rows + r] = sum;
        }
    }
    y
}

/// `s[t·rows + r] = Σ_c |w[r·cols + c]·x[t·cols + c]|`, the natural scale of each output of
/// `matmul` (n = 1 for `matvec`): an f32 dot product of K terms is off by at most about
/// `K·2^−24·s`, so per-element bounds are `atol + rtol·s` (kernels-brief §6.2). For kernels
/// that sum a quant's scale and min parts separately, pass `|scaled| + |offset|` from
/// `quant::dequantize_parts` as `w`.
pub fn abs_scale(w: &[f64], x: &[f64], rows: usize, cols: usize, n: usize) -> Vec<f64> {
    check_shapes(w, x, rows, cols, n);
    let mut s = vec![0.0; n * rows];
    for t in 0..n {
        for r in 0..rows {
            let mut sum = 0.0;
            for c in 0..cols {
                sum += (w[r * cols + c] * x[t * cols + c]).abs();
            }
            s[t * rows + r] = sum;
        }
    }
    s
}

/// `matvec` of a raw ggml weight: `dequantize(type_name, w_bytes)` (rows × cols), then `W·x`.
/// Each row of a GGUF weight is `cols / block_elems` consecutive blocks, so the whole tensor
/// dequantizes row by row in one pass.
pub fn matvec_quant(
    type_name: &str,
    w_bytes: &[u8],
    x: &[f64],
    rows: usize,
    cols: usize,
) -> Vec<f64> {
    let w = quant::dequantize(type_name, w_bytes);
    assert_eq!(w.len(), rows * cols, "kernels-ref: {type_name} weight is not {rows} × {cols}");
    matvec(&w, x, rows, cols)
}

fn check_shapes(w: &[f64], x: &[f64], rows: usize, cols: usize, n: usize) {
    assert_eq!(w.len(), rows * cols, "kernels-ref: w is not rows × cols = {rows} × {cols}");
    assert_eq!(x.len(), n * cols, "kernels-ref: x is not n × cols = {n} × {cols}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matvec_2x3_by_hand() {
        let w = [1.0, 2.0, 3.0, -1.0, 0.5, 0.0];
        assert_eq!(matvec(&w, &[1.0, -1.0, 2.0], 2, 3), [1.0 - 2.0 + 6.0, -1.0 - 0.5]);
    }

    #[test]
    fn matmul_rows_are_independent_matvecs() {
        let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 3 × 2
        let x = [1.0, 0.0, 0.0, 1.0]; // two tokens: e0, e1
        assert_eq!(matmul(&w, &x, 3, 2, 2), [1.0, 3.0, 5.0, 2.0, 4.0, 6.0]);
    }

    #[test]
    fn abs_scale_sums_magnitudes_not_values() {
        let w = [1.0, -2.0, 3.0];
        let x = [2.0, 1.0, -1.0];
        assert_eq!(matvec(&w, &x, 1, 3), [-3.0]);
        assert_eq!(abs_scale(&w, &x, 1, 3, 1), [7.0]);
    }

    #[test]
    fn matvec_quant_dequantizes_rows_of_blocks() {
        // Two rows of one Q8_0 block each: d = 1 (row 0) and d = 2 (row 1), qs[0] = 3.
        let mut bytes = Vec::new();
        for d in [[0x00, 0x3C], [0x00, 0x40]] {
            bytes.extend(d);
            bytes.push(3);
            bytes.extend([0u8; 31]);
        }
        let mut x = vec![0.0; 32];
        x[0] = 0.5;
        assert_eq!(matvec_quant("Q8_0", &bytes, &x, 2, 32), [1.5, 3.0]);
    }

    #[test]
    #[should_panic(expected = "rows × cols")]
    fn wrong_weight_size_panics() {
        matvec(&[1.0; 5], &[1.0; 3], 2, 3);
    }
}
