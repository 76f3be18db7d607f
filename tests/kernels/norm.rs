//! rms_norm (per row and per head group, with and without the fused residual) vs kernels-ref.

use kiln::graph::{
    ElemType, GraphBuilder, HostBytes, ParamDesc, ParamInit, ParamTable, Shape, Step,
};

use crate::common::{self, Input, tol};

fn check(n_rows: usize, n_cols: usize, group: usize, residual: bool, seed: u64) {
    let x = common::uniform(n_rows * n_cols, -2.0, 2.0, seed);
    let w = common::uniform(group, -1.5, 1.5, seed + 1);
    let r = common::uniform(n_rows * n_cols, -1.0, 1.0, seed + 2);
    let eps = 1e-6f32;
    let mut params = ParamTable::new();
    let wp = params.push(ParamDesc {
        name: "norm.weight".into(),
        shape: Shape::new(&[group]),
        ty: ElemType::F32,
        init: ParamInit::Data(HostBytes::from_f32(&w)),
        layer: None,
    });
    let mut want =
        kernels_ref::norm::rms_norm(&common::to_f64(&x), &common::to_f64(&w), eps as f64, group);
    let mut scale = common::abs(&want);
    if residual {
        want = kernels_ref::elementwise::add(&want, &common::to_f64(&r));
        scale = scale.iter().zip(&r).map(|(s, r)| s + (*r as f64).abs()).collect();
    }
    for tb in common::backends() {
        let mut g = GraphBuilder::new(&params);
        let xt = g.input("x", &[n_rows, n_cols], ElemType::F32);
        let rt = g.input("r", &[n_rows, n_cols], ElemType::F32);
        let wt = g.param(wp);
        let y = g.rms_norm(xt, wt, eps, residual.then_some(rt), "y");
        g.output(y);
        let mut inputs = vec![(xt, Input::F32(x.clone()))];
        if residual {
            inputs.push((rt, Input::F32(r.clone())));
        }
        let out = common::run(&tb, &params, g.build(), Step::default(), &inputs, &[y], &[]);
        let what = format!("rms_norm {n_rows}x{n_cols}/{group} res={residual} on {}", tb.name);
        common::assert_close(&what, &out.outputs[0], &want, &scale, tol::RMS_NORM);
    }
}

#[test]
fn rms_norm_matches_reference() {
    for (i, &(rows, cols)) in
        [(1, 1), (3, 7), (2, 257), (4, 576), (1, 2048), (2, 4096)].iter().enumerate()
    {
        check(rows, cols, cols, false, 10 + i as u64);
    }
}

#[test]
fn rms_norm_per_head_group_matches_reference() {
    check(3, 4 * 64, 64, false, 30);
    check(2, 8 * 256, 256, false, 31);
}

#[test]
fn rms_norm_with_residual_matches_reference() {
    check(3, 640, 640, true, 40);
}

#[test]
fn rms_norm_of_zero_row_uses_eps() {
    // An all-zero row divides by sqrt(eps) and must give exact zeros, never NaN.
    let mut params = ParamTable::new();
    let w = vec![1.0f32; 64];
    let wp = params.push(ParamDesc {
        name: "w".into(),
        shape: Shape::new(&[64]),
        ty: ElemType::F32,
        init: ParamInit::Data(HostBytes::from_f32(&w)),
        layer: None,
    });
    for tb in common::backends() {
        let mut g = GraphBuilder::new(&params);
        let xt = g.input("x", &[1, 64], ElemType::F32);
        let wt = g.param(wp);
        let y = g.rms_norm(xt, wt, 1e-6, None, "y");
        g.output(y);
        let out = common::run(
            &tb,
            &params,
            g.build(),
            Step::default(),
            &[(xt, Input::F32(vec![0.0; 64]))],
            &[y],
            &[],
        );
        assert!(
            out.outputs[0].iter().all(|&v| v == 0.0),
            "{}: {:?}",
            tb.name,
            &out.outputs[0][..4]
        );
    }
}
