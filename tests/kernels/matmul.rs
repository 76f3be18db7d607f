//! MatMul and MatMulGlu vs kernels-ref over the same raw blocks: every weight type through the
//! decode (n ≤ 4) and prefill (n > 4) kernels, real model shapes (SmolLM2's 49152 × 576 LM
//! head, Llama's 11008-wide FFN), concatenated weights of mixed types with bias and residual,
//! strided views, row chunking of every weight type and 2-D grids.
//!
//! Tolerances measure each output against `Σ(|scaled| + |offset|)·|x|` from
//! `quant::dequantize_parts` (the kernels sum a block's scale and min parts separately; for
//! types without an offset this is plain Σ|w·x|).

use std::sync::Arc;

use kiln::graph::{
    ElemType, GraphBuilder, HostBytes, ParamDesc, ParamId, ParamInit, ParamTable, Shape, Step,
    TensorId,
};
use kiln::quant::DType;

use crate::common::{self, Input, TestBackend, quant_blocks::random_blocks, tol};

/// Every weight type the kernels decode.
pub const TYPES: [DType; 13] = [
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::Q4_0,
    DType::Q4_1,
    DType::Q5_0,
    DType::Q5_1,
    DType::Q8_0,
    DType::Q2_K,
    DType::Q3_K,
    DType::Q4_K,
    DType::Q5_K,
    DType::Q6_K,
];

/// A random weight matrix uploaded as a param, with the reference's view of its bytes.
pub struct RefWeight {
    pub id: ParamId,
    pub rows: usize,
    pub cols: usize,
    pub bytes: Vec<u8>,
    pub dtype: DType,
    /// Dequantized weights, each weight's offset part (the block's min term), and
    /// `|scaled| + |offset|` per weight.
    w: Vec<f64>,
    offset: Vec<f64>,
    wabs: Vec<f64>,
}

pub fn push_weight(
    params: &mut ParamTable,
    dt: DType,
    rows: usize,
    cols: usize,
    seed: u64,
) -> RefWeight {
    let bytes = random_blocks(dt, rows * cols, seed);
    let (scaled, offset) = kernels_ref::quant::dequantize_parts(dt.name(), &bytes);
    let w: Vec<f64> = scaled.iter().zip(&offset).map(|(s, o)| s + o).collect();
    let wabs = scaled.iter().zip(&offset).map(|(s, o)| s.abs() + o.abs()).collect();
    let id = params.push(ParamDesc {
        name: format!("w.{dt}.{rows}x{cols}.{seed}"),
        shape: Shape::new(&[rows, cols]),
        ty: ElemType::Float(dt),
        init: ParamInit::Data(HostBytes::from_vec(bytes.clone())),
        layer: None,
    });
    RefWeight { id, rows, cols, bytes, dtype: dt, w, offset, wabs }
}

impl RefWeight {
    /// `x·Wᵀ` for n tokens as backend `tb` computes it (with the activations it really
    /// multiplies, see `common::seen_activations`), and its per-element scale.
    pub fn apply_ref(&self, tb: &TestBackend, x: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
        let xs = common::seen_activations(tb, self.dtype, x, self.cols);
        let mut y = kernels_ref::matvec::matmul(&self.w, &xs, self.rows, self.cols, n);
        let scale = kernels_ref::matvec::abs_scale(&self.wabs, &xs, self.rows, self.cols, n);
        // With Q8_1 activations (Q4_1/Q5_1 weights on the CPU), ggml's dot takes a block's
        // min term as m·s, where s = d·Σq is stored in the Q8_1 block as f16, not as the exact
        // Σ of the block's activations: add that difference per block.
        if !tb.is_gpu && kiln::backend::cpu::activation_type(self.dtype) == Some(DType::Q8_1) {
            for t in 0..n {
                let sums = common::q8_1_block_sums(&x[t * self.cols..(t + 1) * self.cols]);
                let row_x = &xs[t * self.cols..(t + 1) * self.cols];
                for r in 0..self.rows {
                    for (b, s) in sums.iter().enumerate() {
                        let exact: f64 = row_x[b * 32..(b + 1) * 32].iter().sum();
                        y[t * self.rows + r] += self.offset[r * self.cols + b * 32] * (s - exact);
                    }
                }
            }
        }
        (y, scale)
    }
}

/// Per-token concatenation of results `(values, rows)` of n tokens each.
fn concat(parts: &[(Vec<f64>, usize)], n: usize) -> Vec<f64> {
    (0..n)
        .flat_map(|t| parts.iter().flat_map(move |(v, rows)| v[t * rows..(t + 1) * rows].to_vec()))
        .collect()
}

/// K and M for the every-type test: odd block counts per row (2-byte-misaligned rows for the
/// 2-byte-aligned types), runs per row above and not a multiple of the matvec stride (64 runs
/// of 16), M odd, not a multiple of 4 and above one 64-row tile; float rows are not whole runs.
fn odd_shape(dt: DType) -> (usize, usize) {
    let cols = match dt.block_size() {
        1 => 1187,
        32 => 37 * 32,
        _ => 5 * 256,
    };
    (75, cols)
}

/// Runs one graph with a plain matmul of `w` for every token count in `ns` and checks them.
fn check_plain(tb: &TestBackend, params: &ParamTable, w: &RefWeight, ns: &[usize], seed: u64) {
    let mut g = GraphBuilder::new(params);
    let wt = g.param(w.id);
    let (mut inputs, mut outs, mut wants) = (Vec::new(), Vec::new(), Vec::new());
    for (i, &n) in ns.iter().enumerate() {
        let x = common::uniform(n * w.cols, -1.0, 1.0, seed + i as u64);
        let xt = g.input("x", &[n, w.cols], ElemType::F32);
        let y = g.matmul(&[wt], xt, None, None, "y");
        g.output(y);
        wants.push(w.apply_ref(tb, &common::to_f64(&x), n));
        inputs.push((xt, Input::F32(x)));
        outs.push(y);
    }
    let out = common::run(tb, params, g.build(), Step::default(), &inputs, &outs, &[]);
    let dt = params.get(w.id).ty;
    for ((got, (want, scale)), n) in out.outputs.iter().zip(&wants).zip(ns) {
        let what = format!("matmul {dt} {}x{} n={n} on {}", w.rows, w.cols, tb.name);
        common::assert_close(&what, got, want, scale, tol::MATMUL);
    }
}

#[test]
fn every_weight_type_in_matvec_and_tiled_kernels() {
    for (i, &dt) in TYPES.iter().enumerate() {
        let (rows, cols) = odd_shape(dt);
        let mut params = ParamTable::new();
        let w = push_weight(&mut params, dt, rows, cols, 1000 + i as u64);
        for tb in common::backends() {
            check_plain(&tb, &params, &w, &[1, 3, 7, 33], 2000 + 10 * i as u64);
        }
    }
}

#[test]
fn real_model_shapes() {
    // (type, rows, cols, token counts): SmolLM2-135M (Q4_1, dim 576, hidden 1536; its LM head
    // is the tied Q8_0 embedding, 49152 × 576), Gemma 3 270M (dim 640, hidden 2048; Q5_0/Q8_0
    // where 640 is not whole K-quant blocks), one 4096-wide row, and Llama-2-7B's FFN
    // (hidden 11008: gate/up rows, down cols), with 256 and 64 of its other dimension so a
    // case stays within seconds on lavapipe.
    let cases: [(DType, usize, usize, &[usize]); 9] = [
        (DType::Q4_1, 576, 576, &[1]),
        (DType::Q4_1, 1536, 576, &[3]),
        (DType::Q4_1, 576, 1536, &[33]),
        (DType::Q8_0, 49152, 576, &[1, 5]),
        (DType::Q5_0, 2048, 640, &[1, 7]),
        (DType::Q6_K, 640, 2048, &[1, 5]),
        (DType::Q4_K, 64, 4096, &[1, 33]),
        (DType::Q4_K, 11008, 256, &[1, 5]),
        (DType::Q6_K, 64, 11008, &[1, 5]),
    ];
    for (i, &(dt, rows, cols, ns)) in cases.iter().enumerate() {
        let mut params = ParamTable::new();
        let w = push_weight(&mut params, dt, rows, cols, 3000 + i as u64);
        for tb in common::backends() {
            check_plain(&tb, &params, &w, ns, 3100 + 10 * i as u64);
        }
    }
}

/// Concatenated weights with bias and residual, x and residual strided views of wider inputs.
fn check_concat(
    backends: &[Arc<TestBackend>],
    types: &[(DType, usize)],
    cols: usize,
    bias: bool,
    ns: &[usize],
    seed: u64,
) {
    let mut params = ParamTable::new();
    let ws: Vec<RefWeight> = types
        .iter()
        .enumerate()
        .map(|(i, &(dt, rows))| push_weight(&mut params, dt, rows, cols, seed + i as u64))
        .collect();
    let total: usize = ws.iter().map(|w| w.rows).sum();
    let b = common::uniform(total, -2.0, 2.0, seed + 50);
    let bp = params.push(ParamDesc {
        name: "bias".into(),
        shape: Shape::new(&[total]),
        ty: ElemType::F32,
        init: ParamInit::Data(HostBytes::from_f32(&b)),
        layer: None,
    });
    // x is columns 8..8 + cols of (n, cols + 40); the residual columns 3..3 + total of
    // (n + 1, total + 5), rows 1..n + 1.
    for (k, &n) in ns.iter().enumerate() {
        let xw = common::uniform(n * (cols + 40), -1.0, 1.0, seed + 60 + k as u64);
        let rw = common::uniform((n + 1) * (total + 5), -1.0, 1.0, seed + 70 + k as u64);
        let x: Vec<f64> = (0..n)
            .flat_map(|t| xw[t * (cols + 40) + 8..][..cols].to_vec())
            .map(f64::from)
            .collect();
        let res: Vec<f64> = (1..n + 1)
            .flat_map(|t| rw[t * (total + 5) + 3..][..total].to_vec())
            .map(f64::from)
            .collect();
        for tb in backends {
            let parts: Vec<(Vec<f64>, Vec<f64>, usize)> = ws
                .iter()
                .map(|w| {
                    let (v, s) = w.apply_ref(tb, &x, n);
                    (v, s, w.rows)
                })
                .collect();
            let mut want = concat(&parts.iter().map(|p| (p.0.clone(), p.2)).collect::<Vec<_>>(), n);
            let mut scale =
                concat(&parts.iter().map(|p| (p.1.clone(), p.2)).collect::<Vec<_>>(), n);
            for i in 0..n * total {
                let bi = if bias { b[i % total] as f64 } else { 0.0 };
                want[i] += bi + res[i];
                scale[i] += bi.abs() + res[i].abs();
            }
            let mut g = GraphBuilder::new(&params);
            let wts: Vec<TensorId> = ws.iter().map(|w| g.param(w.id)).collect();
            let bt = g.param(bp);
            let xt = g.input("xw", &[n, cols + 40], ElemType::F32);
            let rt = g.input("rw", &[n + 1, total + 5], ElemType::F32);
            let xv = g.view(xt, 0..n, 8..8 + cols);
            let rv = g.view(rt, 1..n + 1, 3..3 + total);
            let y = g.matmul(&wts, xv, bias.then_some(bt), Some(rv), "y");
            g.output(y);
            let inputs = [(xt, Input::F32(xw.clone())), (rt, Input::F32(rw.clone()))];
            let out = common::run(tb, &params, g.build(), Step::default(), &inputs, &[y], &[]);
            let what = format!("matmul concat {types:?} n={n} on {}", tb.name);
            common::assert_close(&what, &out.outputs[0], &want, &scale, tol::MATMUL);
        }
    }
}

#[test]
fn concatenated_weights_of_mixed_types_with_bias_and_residual_views() {
    // Q and K share a dispatch; V's other type takes a second one.
    let qkv = [(DType::Q4_K, 96), (DType::Q4_K, 32), (DType::Q6_K, 33)];
    check_concat(&common::backends(), &qkv, 512, true, &[1, 7], 40);
    // Three segments fill a dispatch; the fourth weight starts the next one.
    let four = [(DType::Q8_0, 40), (DType::Q8_0, 24), (DType::Q8_0, 25), (DType::Q8_0, 8)];
    check_concat(&common::backends(), &four, 96, false, &[2, 5], 50);
}

/// Storage bindings this small split the test weights into several row chunks.
pub const SMALL_BINDING: u64 = 64 << 10;

/// `(rows, cols)` of a `dt` matrix of about 2⅓ small bindings of bytes, so it splits into at
/// least three row chunks, the last one partial. Rows are 2-byte-misaligned for the 2-byte
/// aligned types (odd block counts; 257 floats). The arena of up to 8 tokens of x and y stays
/// under 48 KiB, so it fits the small binding too.
pub fn chunked_shape(dt: DType) -> (usize, usize) {
    let cols = match dt.block_size() {
        1 => 257,
        32 => 15 * 32,
        _ => 3 * 256,
    };
    let row_bytes = dt.row_bytes(cols as u64).expect("whole blocks") as usize;
    let per_binding = SMALL_BINDING as usize / row_bytes;
    let rows = 2 * per_binding + per_binding / 3 + 1;
    assert!(rows * row_bytes > 2 * SMALL_BINDING as usize && rows * 8 * 4 < 20 << 10);
    (rows, cols)
}

#[test]
fn every_weight_type_in_row_chunks() {
    let small = common::gpu_backends_small_binding(SMALL_BINDING);
    for (i, &dt) in TYPES.iter().enumerate() {
        let (rows, cols) = chunked_shape(dt);
        let mut params = ParamTable::new();
        let w = push_weight(&mut params, dt, rows, cols, 4000 + i as u64);
        for tb in &small {
            // Decode (matvec) and prefill (tiled) kernels, each dispatch over several chunks.
            check_plain(tb, &params, &w, &[1, 7], 4100 + 10 * i as u64);
        }
    }
}

#[test]
fn weights_larger_than_a_binding_run_as_row_chunks() {
    // The activation arena must fit the small binding too: token counts stay ≤ 9.
    let small = common::gpu_backends_small_binding(SMALL_BINDING);
    // Q8_0 (544 B rows): chunks of 120, 120, 60 rows in one dispatch; then the F16 weight.
    check_concat(&small, &[(DType::Q8_0, 300), (DType::F16, 8)], 512, true, &[1, 9], 60);
    // Q4_0 (288 B rows): four chunks, more than one dispatch holds.
    check_concat(&small, &[(DType::Q4_0, 700)], 512, false, &[3, 7], 70);
}

#[test]
fn more_than_65535_workgroups_use_a_2d_grid() {
    // Gemma 3's LM head has 262 144 rows: 65 536 matvec workgroups of 4 rows.
    let (rows, cols) = (262_144, 16);
    let mut params = ParamTable::new();
    let w = push_weight(&mut params, DType::F16, rows, cols, 80);
    for tb in common::backends() {
        check_plain(&tb, &params, &w, &[1], 81);
    }
}
