//! argmax vs kernels-ref, exactly: random rows from 1 column to the Gemma 3 vocabulary, ties
//! (inside a lane, across lanes, across stage-1 chunks), NaN, ±∞, ±0, all-equal rows and
//! strided views.
//!
//! The wgpu kernel reduces 4096-column chunks (kernels/argmax.rs `CHUNK`); the tie positions
//! below straddle multiples of 4096, and of every smaller power of two, so they cross a chunk
//! or lane boundary whatever the chunk size.

use kiln::graph::{ElemType, GraphBuilder, ParamTable, Step};

use crate::common::{self, Input, tol};

/// Argmax of each row of `x` `(rows, cols)`, or of the window `[col_offset, col_offset + cols)`
/// of a wider tensor when `col_offset` > 0, checked exactly against kernels-ref.
fn check(what: &str, x: &[f32], rows: usize, cols: usize, col_offset: usize) {
    let want: Vec<f64> = x
        .chunks(cols)
        .map(|row| kernels_ref::argmax::argmax(&common::to_f64(row)) as f64)
        .collect();
    let params = ParamTable::new();
    for tb in common::backends() {
        let mut b = GraphBuilder::new(&params);
        let (xt, input) = if col_offset == 0 {
            let t = b.input("x", &[rows, cols], ElemType::F32);
            (t, (t, Input::F32(x.to_vec())))
        } else {
            // Larger values outside the window: reading past it changes the answer.
            let width = cols + col_offset + 2;
            let mut wide = vec![1e30f32; rows * width];
            for r in 0..rows {
                let dst = r * width + col_offset;
                wide[dst..dst + cols].copy_from_slice(&x[r * cols..(r + 1) * cols]);
            }
            let t = b.input("wide", &[rows, width], ElemType::F32);
            (b.view(t, 0..rows, col_offset..col_offset + cols), (t, Input::F32(wide)))
        };
        let y = b.argmax(xt, "y");
        b.output(y);
        let out = common::run(&tb, &params, b.build(), Step::default(), &[input], &[y], &[]);
        let name = format!("argmax {what} {rows}x{cols} on {}", tb.name);
        common::assert_close(&name, &out.outputs[0], &want, &want, tol::EXACT);
    }
}

/// A row of `cols` values below 1 with the value 1 at every position in `at`.
fn row_with_max_at(cols: usize, at: &[usize], seed: u64) -> Vec<f32> {
    let mut x = common::uniform(cols, -1.0, 0.99, seed);
    for &i in at {
        x[i] = 1.0;
    }
    x
}

#[test]
fn argmax_matches_reference() {
    let shapes =
        [(1, 1), (3, 7), (2, 257), (3, 576), (1, 4097), (2, 10_000), (3, 49_152), (1, 262_144)];
    for (i, &(rows, cols)) in shapes.iter().enumerate() {
        let x = common::uniform(rows * cols, -30.0, 30.0, 700 + i as u64);
        check("random", &x, rows, cols, 0);
    }
}

#[test]
fn argmax_ties_go_to_the_lowest_index() {
    let n = 262_144;
    let rows = [
        // Across the chunk boundary at 4096 (and at every power of two ≤ 4096).
        vec![4095, 4096, 200_000],
        // The first column of one chunk against the last of a later one.
        vec![4096, 12_287, n - 1],
        // One lane, several of its columns (a lane's stride is ≤ 256 if WG ≤ 256).
        vec![300, 300 + 256 * 3, 300 + 256 * 9],
        // A later lane of the same chunk holds the lower index.
        vec![256, 1],
        // Only the very last column.
        vec![n - 1],
    ];
    let mut x = Vec::new();
    for (i, at) in rows.iter().enumerate() {
        x.extend(row_with_max_at(n, at, 800 + i as u64));
    }
    check("ties", &x[..3 * n], 3, n, 0);
    check("ties", &x[3 * n..], 2, n, 0);
    // The same in a row of one chunk (the fused path).
    check("ties", &row_with_max_at(3000, &[1000, 7, 2999], 810), 1, 3000, 0);
}

#[test]
fn argmax_of_nan_infinities_and_zeros() {
    let (nan, inf) = (f32::NAN, f32::INFINITY);
    let cases: Vec<(&str, Vec<f32>)> = vec![
        ("all NaN", vec![nan; 5000]),
        ("NaN is -inf", {
            let mut v = vec![nan; 5000];
            v[4500] = -1e30;
            v
        }),
        ("NaN among -inf", {
            let mut v = vec![f32::NEG_INFINITY; 5000];
            v[0] = nan;
            v[4097] = nan;
            v
        }),
        ("all -inf", vec![f32::NEG_INFINITY; 5000]),
        ("+inf ties", {
            let mut v = common::uniform(5000, -1.0, 1.0, 820);
            v[4099] = inf;
            v[4098] = nan;
            v[4999] = inf;
            v
        }),
        ("-0 equals +0", {
            let mut v = vec![-1.0f32; 5000];
            v[4100] = -0.0;
            v[4101] = 0.0;
            v
        }),
        ("negative", common::uniform(5000, -3.0, -1.0, 821)),
    ];
    for (what, x) in &cases {
        check(what, x, 1, 5000, 0);
        check(what, &x[..3000], 1, 3000, 0);
    }
}

#[test]
fn argmax_of_equal_rows_and_views() {
    for &cols in &[1, 7, 576, 49_152, 262_144] {
        check("all-equal", &vec![0.25f32; 2 * cols], 2, cols, 0);
    }
    let x = common::uniform(3 * 700, -5.0, 5.0, 830);
    check("view", &x, 3, 700, 3);
    let x = common::uniform(2 * 9000, -5.0, 5.0, 831);
    check("view", &x, 2, 9000, 1);
}
