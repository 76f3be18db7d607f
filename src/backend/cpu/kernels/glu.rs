//! Gated linear units: `out = act(gate) ⊙ up` elementwise (`Op::Glu`), and the activation
//! itself, which the fused `MatMulGlu` applies too: [`glu_in_place`] takes glu_avx2.rs's
//! vector form where the CPU has it, the scalar [`activate`] otherwise.
//!
//! May use: `graph`, the CPU tensors, glu_avx2.rs. Invariant: both activations are the
//! overflow-free sigmoid forms of op.rs, so no input gives NaN unless it is NaN or ±∞ itself.

use rayon::prelude::*;

use crate::backend::cpu::Rows;
use crate::graph::GluAct;

/// √(2/π), rounded to f32 as ggml's `SQRT_2_OVER_PI`.
pub(super) const SQRT_2_OVER_PI: f32 = 0.797_884_6;
/// The cubic coefficient of the tanh GELU approximation (ggml's `GELU_COEF_A`).
pub(super) const GELU_COEF_A: f32 = 0.044715;

/// `silu(g) = g / (1 + e^−g)`; `gelu_tanh(g) = g / (1 + e^(−2v))`, `v = √(2/π)(g + 0.044715 g³)`
/// (equal to `0.5·g·(1 + tanh v)` without its cancellation for negative g). A large negative
/// g makes the exponential overflow to ∞ and the result −0, the right limit.
#[inline]
pub fn activate(act: GluAct, g: f32) -> f32 {
    match act {
        GluAct::Silu => g / (1.0 + (-g).exp()),
        GluAct::GeluTanh => {
            let v = SQRT_2_OVER_PI * (g + GELU_COEF_A * g * g * g);
            g / (1.0 + (-2.0 * v).exp())
        }
    }
}

/// `g[i] = act(g[i])·u[i]`, 8 lanes at a time on AVX2 + FMA CPUs.
pub fn glu_in_place(act: GluAct, g: &mut [f32], u: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if super::glu_avx2::available() {
        return super::glu_avx2::glu(act, g, u);
    }
    for (g, &u) in g.iter_mut().zip(u) {
        *g = activate(act, *g) * u;
    }
}

/// `out[r] = act(gate[r]) ⊙ up[r]`; out is contiguous `(gate.rows, gate.cols)`.
pub fn glu(gate: Rows<'_>, up: Rows<'_>, act: GluAct, out: &mut [f32]) {
    out.par_chunks_mut(gate.cols.max(1)).enumerate().for_each(|(r, y)| {
        y.copy_from_slice(gate.row(r));
        glu_in_place(act, y, up.row(r));
    });
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{assert_close, floats, run, uniform};
    use crate::backend::HostData;
    use crate::graph::{ElemType, GluAct, GraphBuilder, ParamTable};
    use kernels_ref::elementwise as re;

    /// Both activations over the nonlinear range and the extremes, against kernels-ref with
    /// tests/common/tol.rs's GLU bound `1e-7 + 1e-5·|r|` (plus `1e-7·|u|`).
    #[test]
    fn glu_matches_reference() {
        let (rows, cols) = (3, 67);
        let mut gate = uniform(rows * cols, -8.0, 8.0, 1);
        gate[..8].copy_from_slice(&[0.0, -0.0, 30.0, -30.0, 1e4, -1e4, 88.0, -100.0]);
        let up = uniform(rows * cols, -3.0, 3.0, 2);
        for act in [GluAct::Silu, GluAct::GeluTanh] {
            let (g64, u64) = (kernels_ref::quant::to_f64(&gate), kernels_ref::quant::to_f64(&up));
            let want = match act {
                GluAct::Silu => re::swiglu(&g64, &u64),
                GluAct::GeluTanh => re::geglu(&g64, &u64),
            };
            let scale: Vec<f64> =
                want.iter().zip(&u64).map(|(r, u)| r.abs() + 0.01 * u.abs()).collect();
            let params = ParamTable::new();
            let mut g = GraphBuilder::new(&params);
            let gt = g.input("gate", &[rows, cols], ElemType::F32);
            let ut = g.input("up", &[rows, cols], ElemType::F32);
            let y = g.glu(gt, ut, act, "y");
            let inputs = [(gt, HostData::F32(&gate)), (ut, HostData::F32(&up))];
            let got = run(&params, g.build(), &inputs, &[y]).unwrap();
            assert_close(
                &format!("glu {act:?}"),
                &floats(&got[0]),
                &want,
                &scale,
                (1e-7, 1e-5, 1e-10),
            );
        }
    }
}
