//! Row-wise softmax (`Op::Softmax`), for sampling.
//!
//! May use: the CPU tensors. Invariant: each row is shifted by its maximum before `exp`, so no
//! finite input overflows; the normaliser is summed in f64 (as ggml's `ggml_vec_soft_max_f32`
//! does), so long rows (a 262k vocabulary) lose nothing to the sum.

use rayon::prelude::*;

use crate::backend::cpu::Rows;

/// `y_i = exp(x_i − max) / Σ_j exp(x_j − max)` per row; out is contiguous. A row whose
/// maximum is −∞ (everything masked) has no distribution and gives zeros (kernels-ref's
/// convention); a NaN or +∞ input makes its row NaN.
pub fn softmax(x: Rows<'_>, out: &mut [f32]) {
    out.par_chunks_mut(x.cols.max(1)).enumerate().for_each(|(r, y)| {
        let row = x.row(r);
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
        if max == f32::NEG_INFINITY {
            y.fill(0.0);
            return;
        }
        let mut sum = 0.0f64;
        for (y, &v) in y.iter_mut().zip(row) {
            *y = (v - max).exp();
            sum += f64::from(*y);
        }
        // One rounding per element: the quotient is formed in f64.
        for y in y.iter_mut() {
            *y = (f64::from(*y) / sum) as f32;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{assert_close, floats, run, uniform};
    use crate::backend::HostData;
    use crate::graph::{ElemType, GraphBuilder, ParamTable};

    /// Random rows, ±1e4 logits (overflow without max-subtraction), an all-equal row and a
    /// fully masked row, against kernels-ref: `|g − r| ≤ 1e-7 + 1e-5·r`, rows sum to 1 ± 1e-5.
    #[test]
    fn softmax_matches_reference() {
        let cols = 300;
        let mut x = uniform(5 * cols, -6.0, 6.0, 3);
        for (i, v) in x[cols..2 * cols].iter_mut().enumerate() {
            *v = if i % 3 == 0 { 1e4 - (i % 7) as f32 } else { -1e4 };
        }
        x[2 * cols..3 * cols].fill(0.75);
        x[3 * cols..4 * cols].fill(f32::NEG_INFINITY);
        x[4 * cols + 17] = 40.0;
        let want = kernels_ref::softmax::softmax(&kernels_ref::quant::to_f64(&x), cols);
        let params = ParamTable::new();
        let mut g = GraphBuilder::new(&params);
        let xt = g.input("x", &[5, cols], ElemType::F32);
        let y = g.softmax(xt, "y");
        let got = floats(&run(&params, g.build(), &[(xt, HostData::F32(&x))], &[y]).unwrap()[0]);
        let scale: Vec<f64> = want.iter().map(|r| r.abs()).collect();
        assert_close("softmax", &got, &want, &scale, (1e-7, 1e-5, 1e-10));
        for (r, row) in got.chunks(cols).enumerate() {
            let sum: f64 = row.iter().map(|&v| f64::from(v)).sum();
            let target = if r == 3 { 0.0 } else { 1.0 };
            assert!((sum - target).abs() <= 1e-5, "row {r} sums to {sum}");
        }
        assert!(got[2 * cols..3 * cols].iter().all(|&v| v == got[2 * cols]), "all-equal row");
    }
}
