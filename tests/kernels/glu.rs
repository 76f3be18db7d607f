//! glu (SwiGLU and GeGLU) vs kernels-ref: odd and real widths, the vec4 and the scalar path
//! (views whose columns are not 4-aligned), and gates far past exp's f32 range.

use kiln::graph::{ElemType, GluAct, GraphBuilder, ParamTable, Step};

use crate::common::{self, Input, tol};

/// Gates past every threshold of the kernel: exp(−g) overflows f32 below g = −88.7, GELU's
/// exponent −2v passes 88 near g = −10, g³ overflows f32 past |g| = 7e12.
const EXTREME: [f32; 14] =
    [-20.0, 20.0, -88.0, -89.0, 88.0, 89.0, -100.0, 100.0, -1e4, 1e4, -1e30, 1e30, -f32::MAX, 0.0];

fn reference(act: GluAct, g: &[f32], u: &[f32]) -> Vec<f64> {
    let (g, u) = (common::to_f64(g), common::to_f64(u));
    match act {
        GluAct::Silu => kernels_ref::elementwise::swiglu(&g, &u),
        GluAct::GeluTanh => kernels_ref::elementwise::geglu(&g, &u),
    }
}

/// `|y − r| ≤ 1e-7 + 1e-5·|r| + 1e-7·|u|` (tol.rs GLU): the scale carries the |u| term.
fn scale(want: &[f64], u: &[f32]) -> Vec<f64> {
    want.iter().zip(u).map(|(r, u)| r.abs() + 0.01 * (*u as f64).abs()).collect()
}

/// Gate and up as `(rows, cols)` tensors of their own (the vec4 path whenever cols % 4 = 0),
/// or, with `gap`, as column windows `[0, cols)` and `[cols + gap, 2·cols + gap)` of one
/// `(rows, 2·cols + gap)` tensor (the scalar path when gap or cols is not a multiple of 4).
fn check(act: GluAct, rows: usize, cols: usize, gap: Option<usize>, seed: u64) {
    let mut g = common::uniform(rows * cols, -20.0, 20.0, seed);
    for (slot, v) in g.iter_mut().step_by(7).zip(EXTREME.iter().cycle()) {
        *slot = *v;
    }
    let u = common::uniform(rows * cols, -1.0, 1.0, seed + 1);
    let want = reference(act, &g, &u);
    let params = ParamTable::new();
    for tb in common::backends() {
        let mut b = GraphBuilder::new(&params);
        let (gt, ut, inputs) = match gap {
            None => {
                let gt = b.input("gate", &[rows, cols], ElemType::F32);
                let ut = b.input("up", &[rows, cols], ElemType::F32);
                (gt, ut, vec![(gt, Input::F32(g.clone())), (ut, Input::F32(u.clone()))])
            }
            Some(gap) => {
                let width = 2 * cols + gap;
                let mut both = common::uniform(rows * width, -1.0, 1.0, seed + 2);
                for r in 0..rows {
                    let row = &mut both[r * width..(r + 1) * width];
                    row[..cols].copy_from_slice(&g[r * cols..(r + 1) * cols]);
                    row[cols + gap..].copy_from_slice(&u[r * cols..(r + 1) * cols]);
                }
                let t = b.input("gate_up", &[rows, width], ElemType::F32);
                let gt = b.view(t, 0..rows, 0..cols);
                let ut = b.view(t, 0..rows, cols + gap..width);
                (gt, ut, vec![(t, Input::F32(both))])
            }
        };
        let y = b.glu(gt, ut, act, "y");
        b.output(y);
        let out = common::run(&tb, &params, b.build(), Step::default(), &inputs, &[y], &[]);
        let what = format!("glu {act:?} {rows}x{cols} gap={gap:?} on {}", tb.name);
        common::assert_close(&what, &out.outputs[0], &want, &scale(&want, &u), tol::GLU);
    }
}

#[test]
fn swiglu_and_geglu_match_reference() {
    let shapes = [(1, 1), (3, 7), (2, 257), (3, 576), (2, 1536), (1, 49_152), (1, 262_144)];
    for (i, &(rows, cols)) in shapes.iter().enumerate() {
        for act in [GluAct::Silu, GluAct::GeluTanh] {
            check(act, rows, cols, None, 200 + i as u64);
        }
    }
}

#[test]
fn glu_reads_views() {
    for act in [GluAct::Silu, GluAct::GeluTanh] {
        // Aligned windows (vec4 path over strided rows), then misaligned ones (scalar path).
        check(act, 3, 64, Some(0), 300);
        check(act, 3, 64, Some(4), 301);
        check(act, 2, 64, Some(1), 302);
        check(act, 3, 37, Some(2), 303);
    }
}

#[test]
fn glu_of_huge_negative_gates_is_zero_not_nan() {
    // g·sigmoid(g) → −0 as g → −∞; exp(−g) = ∞ must not turn it into NaN.
    let g: Vec<f32> = vec![-89.0, -100.0, -1e4, -1e30, -f32::MAX, -1e38, -500.0, -88.8];
    let u = vec![1.0f32, -2.0, 3.0, -0.5, 1.0, 7.0, -1.0, 2.0];
    let params = ParamTable::new();
    for act in [GluAct::Silu, GluAct::GeluTanh] {
        for tb in common::backends() {
            let mut b = GraphBuilder::new(&params);
            let gt = b.input("gate", &[1, 8], ElemType::F32);
            let ut = b.input("up", &[1, 8], ElemType::F32);
            let y = b.glu(gt, ut, act, "y");
            b.output(y);
            let inputs = [(gt, Input::F32(g.clone())), (ut, Input::F32(u.clone()))];
            let out = common::run(&tb, &params, b.build(), Step::default(), &inputs, &[y], &[]);
            for (i, v) in out.outputs[0].iter().enumerate() {
                assert!(v.abs() < 1e-30, "{act:?} on {}: y[{i}] = {v} for g = {}", tb.name, g[i]);
            }
        }
    }
}
