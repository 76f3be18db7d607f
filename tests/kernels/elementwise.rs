//! add, mul (with row broadcast), scale, copy and views vs kernels-ref.

use kiln::graph::{ElemType, GraphBuilder, ParamTable, Step};

use crate::common::{self, Input, tol};

#[test]
fn add_mul_scale_copy_match_reference() {
    let params = ParamTable::new();
    for (i, &(rows, cols)) in [(1, 1), (3, 7), (5, 257), (2, 4096)].iter().enumerate() {
        let seed = 100 + i as u64;
        let a = common::uniform(rows * cols, -3.0, 3.0, seed);
        let b = common::uniform(rows * cols, -3.0, 3.0, seed + 1);
        let brow = common::uniform(cols, -3.0, 3.0, seed + 2);
        let (a64, b64) = (common::to_f64(&a), common::to_f64(&b));
        let brow64: Vec<f64> = (0..rows * cols).map(|k| brow[k % cols] as f64).collect();
        for tb in common::backends() {
            let mut g = GraphBuilder::new(&params);
            let at = g.input("a", &[rows, cols], ElemType::F32);
            let bt = g.input("b", &[rows, cols], ElemType::F32);
            let bb = g.input("brow", &[1, cols], ElemType::F32);
            let sum = g.add(at, bt, "sum");
            let prod = g.mul(at, bt, "prod");
            let bcast = g.mul(at, bb, "bcast");
            let sc = g.scale(at, 0.375, "scaled");
            let cp = g.copy(at, "copy");
            for t in [sum, prod, bcast, sc, cp] {
                g.output(t);
            }
            let inputs = [
                (at, Input::F32(a.clone())),
                (bt, Input::F32(b.clone())),
                (bb, Input::F32(brow.clone())),
            ];
            let out = common::run(
                &tb,
                &params,
                g.build(),
                Step::default(),
                &inputs,
                &[sum, prod, bcast, sc, cp],
                &[],
            );
            let name = |op: &str| format!("{op} {rows}x{cols} on {}", tb.name);
            let want = kernels_ref::elementwise::add(&a64, &b64);
            common::assert_close(
                &name("add"),
                &out.outputs[0],
                &want,
                &common::abs(&want),
                tol::ONE_ROUNDING,
            );
            let want = kernels_ref::elementwise::mul(&a64, &b64);
            common::assert_close(
                &name("mul"),
                &out.outputs[1],
                &want,
                &common::abs(&want),
                tol::ONE_ROUNDING,
            );
            let want = kernels_ref::elementwise::mul(&a64, &brow64);
            common::assert_close(
                &name("mul bcast"),
                &out.outputs[2],
                &want,
                &common::abs(&want),
                tol::ONE_ROUNDING,
            );
            let want = kernels_ref::elementwise::scale(&a64, 0.375);
            common::assert_close(
                &name("scale"),
                &out.outputs[3],
                &want,
                &common::abs(&want),
                tol::ONE_ROUNDING,
            );
            common::assert_close(
                &name("copy"),
                &out.outputs[4],
                &a64,
                &common::abs(&a64),
                tol::EXACT,
            );
        }
    }
}

#[test]
fn views_read_strided_windows() {
    // A copy of the window rows 1..3, cols 2..7 of a (4, 9) tensor.
    let params = ParamTable::new();
    let a = common::uniform(36, -1.0, 1.0, 7);
    for tb in common::backends() {
        let mut g = GraphBuilder::new(&params);
        let at = g.input("a", &[4, 9], ElemType::F32);
        let v = g.view(at, 1..3, 2..7);
        let c = g.copy(v, "c");
        g.output(c);
        let out = common::run(
            &tb,
            &params,
            g.build(),
            Step::default(),
            &[(at, Input::F32(a.clone()))],
            &[c],
            &[],
        );
        let want: Vec<f32> =
            (1..3).flat_map(|r| (2..7).map(move |c| (r, c))).map(|(r, c)| a[r * 9 + c]).collect();
        assert_eq!(out.outputs[0], want, "{}", tb.name);
    }
}
