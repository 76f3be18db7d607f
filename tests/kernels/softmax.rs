//! softmax vs kernels-ref: one-chunk rows (the fused dispatch) and multi-chunk rows up to the
//! Gemma 3 vocabulary (partials, then the write), logits of ±30 and ±1e4, all-equal rows, −∞
//! entries, fully masked rows and strided views. Each row must also sum to 1 within 1e-5.

use kiln::graph::{ElemType, GraphBuilder, ParamTable, Step};

use crate::common::{self, Input, tol};

/// Runs softmax on `x` `(rows, cols)`, read through a view of a wider tensor when
/// `col_offset` > 0, and checks it against kernels-ref.
fn check(what: &str, x: &[f32], rows: usize, cols: usize, col_offset: usize) {
    let want = kernels_ref::softmax::softmax(&common::to_f64(x), cols);
    let params = ParamTable::new();
    for tb in common::backends() {
        let mut b = GraphBuilder::new(&params);
        let (xt, input) = if col_offset == 0 {
            let t = b.input("x", &[rows, cols], ElemType::F32);
            (t, (t, Input::F32(x.to_vec())))
        } else {
            // x sits at columns [col_offset, col_offset + cols) of a wider tensor of 100s, which would
            // dominate the result if the kernel read past the window.
            let width = cols + col_offset + 3;
            let mut wide = vec![100.0f32; rows * width];
            for r in 0..rows {
                let dst = r * width + col_offset;
                wide[dst..dst + cols].copy_from_slice(&x[r * cols..(r + 1) * cols]);
            }
            let t = b.input("wide", &[rows, width], ElemType::F32);
            (b.view(t, 0..rows, col_offset..col_offset + cols), (t, Input::F32(wide)))
        };
        let y = b.softmax(xt, "y");
        b.output(y);
        let out = common::run(&tb, &params, b.build(), Step::default(), &[input], &[y], &[]);
        let name = format!("softmax {what} {rows}x{cols} on {}", tb.name);
        let got = &out.outputs[0];
        common::assert_close(&name, got, &want, &common::abs(&want), tol::SOFTMAX);
        for (r, row) in got.chunks(cols).enumerate() {
            let masked = want[r * cols..(r + 1) * cols].iter().all(|&v| v == 0.0);
            let sum: f64 = row.iter().map(|&v| v as f64).sum();
            let expect = if masked { 0.0 } else { 1.0 };
            assert!((sum - expect).abs() <= 1e-5, "{name}: row {r} sums to {sum}");
        }
    }
}

#[test]
fn softmax_matches_reference() {
    // 4097 = one full chunk of 4096 plus a chunk holding a single column.
    let shapes =
        [(1, 1), (3, 7), (2, 257), (3, 576), (1, 4097), (2, 10_000), (2, 49_152), (1, 262_144)];
    for (i, &(rows, cols)) in shapes.iter().enumerate() {
        let x = common::uniform(rows * cols, -30.0, 30.0, 400 + i as u64);
        check("±30", &x, rows, cols, 0);
    }
}

#[test]
fn softmax_of_huge_logits_does_not_overflow() {
    for (i, &(rows, cols)) in [(3, 576), (2, 49_152), (1, 262_144)].iter().enumerate() {
        let x = common::uniform(rows * cols, -1e4, 1e4, 500 + i as u64);
        check("±1e4", &x, rows, cols, 0);
    }
    // Two nearly equal huge maxima in different chunks share the mass.
    let mut x = common::uniform(49_152, -1e4, 0.0, 510);
    x[3] = 1e4;
    x[40_000] = 1e4 - 0.5;
    check("two huge maxima", &x, 1, 49_152, 0);
}

#[test]
fn softmax_of_equal_rows_is_uniform() {
    for (i, &cols) in [7, 576, 49_152, 262_144].iter().enumerate() {
        let x = vec![2.5f32 + i as f32; 2 * cols];
        check("all-equal", &x, 2, cols, 0);
    }
}

#[test]
fn softmax_with_masked_entries_and_views() {
    let cols = 9000;
    let mut x = common::uniform(3 * cols, -30.0, 30.0, 600);
    // Row 0: every other entry masked; row 1: a whole 4096-column chunk masked; row 2: all.
    for v in x[..cols].iter_mut().step_by(2) {
        *v = f32::NEG_INFINITY;
    }
    x[cols..2 * cols][..4096].fill(f32::NEG_INFINITY);
    x[2 * cols..].fill(f32::NEG_INFINITY);
    check("masked", &x, 3, cols, 0);
    let x = common::uniform(2 * 700, -30.0, 30.0, 601);
    check("view", &x, 2, 700, 5);
    let x = common::uniform(2 * 5000, -30.0, 30.0, 602);
    check("view", &x, 2, 5000, 1);
}
