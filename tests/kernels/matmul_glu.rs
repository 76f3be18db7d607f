//! MatMulGlu vs kernels-ref's swiglu/geglu over the two reference products: fused (gate and up
//! of one type), unfused (mixed types: gate pass, then up turning it into act(gate)·up), both
//! activations, x as a strided view, Llama's 11008 hidden rows, and weights split into row
//! chunks (every weight type fused, and a mixed-type pair).

use std::sync::Arc;

use kiln::graph::{ElemType, GluAct, GraphBuilder, ParamTable, Step};
use kiln::quant::DType;

use crate::common::{self, Input, TestBackend, tol};
use crate::matmul::{SMALL_BINDING, TYPES, chunked_shape, push_weight};

#[allow(clippy::too_many_arguments)]
fn check_glu(
    backends: &[Arc<TestBackend>],
    gate_type: DType,
    up_type: DType,
    rows: usize,
    cols: usize,
    act: GluAct,
    ns: &[usize],
    seed: u64,
) {
    let mut params = ParamTable::new();
    let gw = push_weight(&mut params, gate_type, rows, cols, seed);
    let uw = push_weight(&mut params, up_type, rows, cols, seed + 1);
    let f = match act {
        GluAct::Silu => kernels_ref::elementwise::silu,
        GluAct::GeluTanh => kernels_ref::elementwise::gelu_tanh,
    };
    for (k, &n) in ns.iter().enumerate() {
        // x is columns 4..4 + cols of an (n, cols + 4) input.
        let xw = common::uniform(n * (cols + 4), -1.0, 1.0, seed + 10 + k as u64);
        let x: Vec<f64> =
            (0..n).flat_map(|t| xw[t * (cols + 4) + 4..][..cols].to_vec()).map(f64::from).collect();
        for tb in backends {
            let (g, sg) = gw.apply_ref(tb, &x, n);
            let (u, su) = uw.apply_ref(tb, &x, n);
            let want: Vec<f64> = g.iter().zip(&u).map(|(&g, &u)| f(g) * u).collect();
            let scale: Vec<f64> = (0..n * rows)
                .map(|i| 1.2 * sg[i] * u[i].abs() + f(g[i]).abs() * su[i] + want[i].abs())
                .collect();
            let mut gb = GraphBuilder::new(&params);
            let (gt, ut) = (gb.param(gw.id), gb.param(uw.id));
            let xt = gb.input("xw", &[n, cols + 4], ElemType::F32);
            let xv = gb.view(xt, 0..n, 4..4 + cols);
            let y = gb.matmul_glu(gt, ut, xv, act, "y");
            gb.output(y);
            let inputs = [(xt, Input::F32(xw.clone()))];
            let out = common::run(tb, &params, gb.build(), Step::default(), &inputs, &[y], &[]);
            let what = format!(
                "matmul_glu {act:?} {gate_type}/{up_type} {rows}x{cols} n={n} on {}",
                tb.name
            );
            common::assert_close(&what, &out.outputs[0], &want, &scale, tol::MATMUL_GLU);
        }
    }
}

#[test]
fn fused_swiglu_and_geglu() {
    let all = common::backends();
    check_glu(&all, DType::Q4_K, DType::Q4_K, 75, 512, GluAct::Silu, &[1, 33], 500);
    // Gemma 3's FFN shape and activation.
    check_glu(&all, DType::Q8_0, DType::Q8_0, 2048, 640, GluAct::GeluTanh, &[1, 7], 510);
    // Llama-2-7B's hidden_dim of 11008 rows (over 256 of its 4096 cols, to stay quick).
    check_glu(&all, DType::Q4_K, DType::Q4_K, 11008, 256, GluAct::Silu, &[1, 5], 515);
}

#[test]
fn gate_and_up_of_different_types() {
    let all = common::backends();
    check_glu(&all, DType::Q5_0, DType::Q8_0, 37, 160, GluAct::GeluTanh, &[3, 7], 520);
}

#[test]
fn glu_weights_larger_than_a_binding() {
    // The activation arena must fit the small binding too: token counts stay ≤ 9.
    let small = common::gpu_backends_small_binding(SMALL_BINDING);
    // Q4_K (288 B rows): gate and up both in chunks of 227 and 173 rows, fused per chunk.
    check_glu(&small, DType::Q4_K, DType::Q4_K, 400, 512, GluAct::Silu, &[1, 7], 530);
    // Gate in Q4_K chunks, up in Q8_0 chunks of 120 rows: the unfused path, chunk by chunk.
    check_glu(&small, DType::Q4_K, DType::Q8_0, 400, 512, GluAct::GeluTanh, &[2, 9], 540);
}

#[test]
fn every_weight_type_fused_in_row_chunks() {
    let small = common::gpu_backends_small_binding(SMALL_BINDING);
    for (i, &dt) in TYPES.iter().enumerate() {
        // Gate and up of one type chunk alike: one fused dispatch per chunk.
        let (rows, cols) = chunked_shape(dt);
        check_glu(&small, dt, dt, rows, cols, GluAct::Silu, &[1, 7], 550 + 10 * i as u64);
    }
}
