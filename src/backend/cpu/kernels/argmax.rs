//! Row-wise argmax (`Op::Argmax`), for greedy sampling.
//!
//! May use: the CPU tensors. Invariant: the result is fully determined — ties go to the lowest
//! index, NaN counts as −∞ (so an all-NaN or all-−∞ row gives 0) — and is written as U32 bits
//! into the f32 arena, the way `Io::u32s` and `read_u32` read it back.

use rayon::prelude::*;

use crate::backend::cpu::Rows;

/// Index of the largest element of each row of x; `out` has one word per row.
pub fn argmax(x: Rows<'_>, out: &mut [f32]) {
    out.par_iter_mut().enumerate().for_each(|(r, o)| {
        let (mut best, mut best_v) = (0usize, f32::NEG_INFINITY);
        // Strictly greater: an equal value never displaces an earlier one, and a comparison
        // with NaN is false, so NaN never wins.
        for (i, &v) in x.row(r).iter().enumerate() {
            if v > best_v {
                (best, best_v) = (i, v);
            }
        }
        *o = f32::from_bits(best as u32);
    });
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{run, uniform};
    use crate::backend::HostData;
    use crate::graph::{ElemType, GraphBuilder, ParamTable};

    /// Ties go to the lowest index, NaN never wins, all-NaN and all-−∞ rows give 0; checked
    /// exactly against kernels-ref.
    #[test]
    fn argmax_ties_nan_and_clear_maxima() {
        let cols = 9;
        let (nan, ninf) = (f32::NAN, f32::NEG_INFINITY);
        let mut rows: Vec<[f32; 9]> = vec![
            [1.0, 3.0, 2.0, 3.0, 3.0, 0.0, -1.0, 3.0, 2.5],
            [nan, -1e30, nan, -2e30, nan, nan, nan, nan, nan],
            [nan; 9],
            [ninf; 9],
            [ninf, nan, ninf, nan, ninf, nan, ninf, nan, -5.0],
            [0.0; 9],
            [-0.0, 0.0, f32::INFINITY, 1.0, f32::INFINITY, nan, 2.0, 1.0, 0.0],
            [2.0, nan, 5.0, 4.0, nan, 5.0, 1.0, 0.0, 4.9],
        ];
        let random = uniform(cols, -1.0, 1.0, 9);
        rows.push(random.try_into().unwrap());
        let x: Vec<f32> = rows.iter().flatten().copied().collect();
        let params = ParamTable::new();
        let mut g = GraphBuilder::new(&params);
        let xt = g.input("x", &[rows.len(), cols], ElemType::F32);
        let y = g.argmax(xt, "y");
        let got = &run(&params, g.build(), &[(xt, HostData::F32(&x))], &[y]).unwrap()[0];
        for (r, row) in rows.iter().enumerate() {
            let want = kernels_ref::argmax::argmax(&kernels_ref::quant::to_f64(row));
            assert_eq!(got[r] as usize, want, "row {r}: {row:?}");
        }
        assert_eq!(&got[..5], &[1, 1, 0, 0, 8]);
    }
}
