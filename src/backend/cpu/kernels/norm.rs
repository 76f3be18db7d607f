//! RMSNorm × weight per group of `weight.len()` elements, with an optional fused residual.

use rayon::prelude::*;

use crate::backend::cpu::Rows;

/// `out = g / √(mean(g²) + eps) · w (+ r)` for every group g of each row of x.
pub fn rms_norm(x: Rows<'_>, w: &[f32], eps: f32, residual: Option<Rows<'_>>, out: &mut [f32]) {
    let group = w.len();
    out.par_chunks_mut(x.cols.max(1)).enumerate().for_each(|(r, y)| {
        let xr = x.row(r);
        let rr = residual.map(|res| res.row(r));
        for (gi, (yg, xg)) in y.chunks_mut(group).zip(xr.chunks(group)).enumerate() {
            // f64 sum of squares, as ggml's CPU backend does (ggml_float).
            let ss: f64 = xg.iter().map(|&v| (v * v) as f64).sum();
            let scale = (1.0 / (ss / group as f64 + eps as f64).sqrt()) as f32;
            for (i, (yv, xv)) in yg.iter_mut().zip(xg).enumerate() {
                *yv = xv * scale * w[i];
                if let Some(rr) = rr {
                    *yv += rr[gi * group + i];
                }
            }
        }
    });
}
