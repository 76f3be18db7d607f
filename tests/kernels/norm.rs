//! rms_norm (per row and per head group, with and without the fused residual) vs kernels-ref.

use kiln::graph::{
    ElemType, GraphBuilder, HostBytes, ParamDesc, ParamInit, ParamTable, Plan, Shape, Step,
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

/// `y = rms_norm(x, w1) (+ r)`, then `z = rms_norm(y, w2)`: two nodes that wgpu runs as one
/// dispatch unless that is unsafe (checked). x comes from an add, so unless `keep_x` makes it
/// an output it dies at the first norm and the planner may put z on its bytes. z's reference
/// normalises the backend's own y, so each output is held to RMS_NORM alone.
fn check_pair(n_rows: usize, n_cols: usize, group: usize, residual: bool, keep_x: bool, seed: u64) {
    let a = common::uniform(n_rows * n_cols, -2.0, 2.0, seed);
    let b = common::uniform(n_rows * n_cols, -1.0, 1.0, seed + 1);
    let r = common::uniform(n_rows * n_cols, -1.0, 1.0, seed + 2);
    let w1 = common::uniform(group, -1.5, 1.5, seed + 3);
    let w2 = common::uniform(group, -1.5, 1.5, seed + 4);
    let (eps1, eps2) = (1e-6f32, 1e-5f32);
    let mut params = ParamTable::new();
    let mut push = |name: &str, v: &[f32]| {
        params.push(ParamDesc {
            name: name.into(),
            shape: Shape::new(&[group]),
            ty: ElemType::F32,
            init: ParamInit::Data(HostBytes::from_f32(v)),
            layer: None,
        })
    };
    let (w1p, w2p) = (push("w1", &w1), push("w2", &w2));
    // f32 addition rounds correctly on every backend: x is exactly this.
    let x: Vec<f64> = a.iter().zip(&b).map(|(p, q)| (p + q) as f64).collect();
    let mut want_y = kernels_ref::norm::rms_norm(&x, &common::to_f64(&w1), eps1 as f64, group);
    let mut scale_y = common::abs(&want_y);
    if residual {
        want_y = kernels_ref::elementwise::add(&want_y, &common::to_f64(&r));
        scale_y = scale_y.iter().zip(&r).map(|(s, r)| s + (*r as f64).abs()).collect();
    }
    for tb in common::backends() {
        let mut g = GraphBuilder::new(&params);
        let at = g.input("a", &[n_rows, n_cols], ElemType::F32);
        let bt = g.input("b", &[n_rows, n_cols], ElemType::F32);
        let rt = g.input("r", &[n_rows, n_cols], ElemType::F32);
        let xt = g.add(at, bt, "x");
        let (w1t, w2t) = (g.param(w1p), g.param(w2p));
        let y = g.rms_norm(xt, w1t, eps1, residual.then_some(rt), "y");
        let z = g.rms_norm(y, w2t, eps2, None, "z");
        g.output(y);
        g.output(z);
        if keep_x {
            g.output(xt);
        }
        let mut inputs = vec![(at, Input::F32(a.clone())), (bt, Input::F32(b.clone()))];
        if residual {
            inputs.push((rt, Input::F32(r.clone())));
        }
        let graph = g.build();
        // Whether the planner put z on x's bytes (x dies at the first norm): then only a
        // single group may be fused (one workgroup orders its reads before its writes). The
        // harness keeps the inputs alive to the end; so does this plan.
        let mut kept = graph.clone();
        kept.outputs.extend(inputs.iter().map(|(t, _)| *t));
        let plan = Plan::new(&kept);
        let span = |t: kiln::graph::TensorId| {
            let loc = plan.location(t);
            (loc.offset, loc.offset + n_rows * n_cols)
        };
        let ((x0, x1), (z0, z1)) = (span(xt), span(z));
        let overlap = x0 < z1 && z0 < x1;
        let out = common::run(&tb, &params, graph, Step::default(), &inputs, &[y, z], &[]);
        let what = format!(
            "rms_norm pair {n_rows}x{n_cols}/{group} res={residual} overlap={overlap} on {}",
            tb.name
        );
        if let Some(d) = out.dispatches {
            let fused = !overlap || n_rows * n_cols == group;
            assert_eq!(d, if fused { 2 } else { 3 }, "{what}: the add, then the norms");
        }
        common::assert_close(
            &format!("{what}: y"),
            &out.outputs[0],
            &want_y,
            &scale_y,
            tol::RMS_NORM,
        );
        let y_got = common::to_f64(&out.outputs[0]);
        let want_z = kernels_ref::norm::rms_norm(&y_got, &common::to_f64(&w2), eps2 as f64, group);
        let scale_z = common::abs(&want_z);
        common::assert_close(
            &format!("{what}: z"),
            &out.outputs[1],
            &want_z,
            &scale_z,
            tol::RMS_NORM,
        );
    }
}

#[test]
fn rms_norm_pair_matches_reference() {
    // Gemma 3 decode: post-norm + residual, then the next input norm, one row of 640 (z on x's
    // bytes: one workgroup orders it).
    check_pair(1, 640, 640, true, false, 60);
    check_pair(1, 257, 257, false, false, 61);
    // Several groups (prefill rows, per-head groups): fused only where z overlaps neither x
    // nor r.
    check_pair(5, 640, 640, true, false, 62);
    check_pair(5, 640, 640, true, true, 63);
    check_pair(2, 4 * 64, 64, false, false, 64);
    check_pair(2, 4 * 64, 64, false, true, 65);
}
