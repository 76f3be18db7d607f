//! MatMul and MatMulGlu on the CPU backend against kernels-ref, for every weight type.
//!
//! The reference dequantizes the same raw weight blocks (kernels-ref, f64) and multiplies them
//! with x converted exactly as the kernel converts it (kiln's quantizer to the dot's activation
//! type, decoded by kernels-ref), so the only differences left are f32 rounding: bound
//! `rtol 1e-5 · Σ|w·x|` per element (kernels-brief §6.3). Q8_1 activations also carry
//! `s = f16(d·Σq)`, which the Q4_1/Q5_1 dots use for the min term; the reference adds that
//! term's exact difference `m·(s − d·Σq)` per block, so ggml's semantics are checked, not
//! approximated. A second check holds the result to the unquantized product: NMSE ≤ 1e-4.

use kernels_ref::matvec;
use kernels_ref::quant as rq;

use super::super::dot;
use super::super::testkit::{assert_close, floats, nmse, random_blocks, run, uniform, weight};
use crate::backend::HostData;
use crate::graph::{ElemType, GluAct, GraphBuilder, ParamTable};
use crate::quant::{self, DType};

/// Every weight type the CPU matmul runs.
const TYPES: [DType; 13] = [
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

const MATMUL_TOL: (f64, f64, f64) = (0.0, 1e-5, 1e-9);

/// The reference of `x (n, k) · Wᵀ` for raw weight bytes `w` `(rows, k)` of `dt`:
/// `(want, scale, unquantized)`, each `(n, rows)`.
fn reference(dt: DType, w: &[u8], rows: usize, k: usize, x: &[f32]) -> [Vec<f64>; 3] {
    let n = x.len() / k;
    let act = dot::kernel(dt).unwrap().act;
    let (scaled, offset) = rq::dequantize_parts(dt.name(), w);
    let wf: Vec<f64> = scaled.iter().zip(&offset).map(|(s, o)| s + o).collect();
    let wabs: Vec<f64> = scaled.iter().zip(&offset).map(|(s, o)| s.abs() + o.abs()).collect();
    let mut xq = Vec::with_capacity(x.len());
    let mut s_delta = Vec::new(); // per (t, block of 32): s − d·Σq of Q8_1 activations
    for row in x.chunks_exact(k) {
        if act == DType::F32 {
            xq.extend(rq::to_f64(row));
            continue;
        }
        let bytes = quant::quantize(act, row).unwrap();
        xq.extend(rq::dequantize(act.name(), &bytes));
        if act == DType::Q8_1 {
            for b in bytes.chunks_exact(36) {
                let (d, s) = (f16_at(b, 0), f16_at(b, 2));
                let sum: f64 = b[4..].iter().map(|&q| f64::from(q as i8)).sum();
                s_delta.push(s - d * sum);
            }
        }
    }
    let mut want = matvec::matmul(&wf, &xq, rows, k, n);
    if act == DType::Q8_1 {
        let nb = k / 32;
        for t in 0..n {
            for r in 0..rows {
                let m = |b: usize| offset[r * k + 32 * b];
                want[t * rows + r] += (0..nb).map(|b| m(b) * s_delta[t * nb + b]).sum::<f64>();
            }
        }
    }
    let scale = matvec::abs_scale(&wabs, &xq, rows, k, n);
    let exact = matvec::matmul(&wf, &rq::to_f64(x), rows, k, n);
    [want, scale, exact]
}

fn f16_at(b: &[u8], off: usize) -> f64 {
    rq::f16_to_f64(u16::from_le_bytes([b[off], b[off + 1]]))
}

/// Elements per block of the test's K: odd block counts (2-byte-misaligned rows for the
/// 18/22/34/210-byte blocks), and a K that is not a multiple of the float dots' lanes.
fn odd_k(dt: DType) -> usize {
    match dt.block_size() {
        1 => 123,
        32 => 7 * 32,
        _ => 3 * 256,
    }
}

/// One weight of `dt` `(rows, k)` times x `(n, k)`, checked against the reference.
fn check_type(dt: DType, rows: usize, k: usize, n: usize, seed: u64) {
    let wb = random_blocks(dt, rows * k, seed);
    let x = uniform(n * k, -1.0, 1.0, seed + 1);
    let [want, scale, exact] = reference(dt, &wb, rows, k, &x);
    let mut params = ParamTable::new();
    let wp = weight(&mut params, dt, rows, k, wb);
    let mut g = GraphBuilder::new(&params);
    let xt = g.input("x", &[n, k], ElemType::F32);
    let wt = g.param(wp);
    let y = g.matmul(&[wt], xt, None, None, "y");
    let got = run(&params, g.build(), &[(xt, HostData::F32(&x))], &[y]).unwrap();
    let got = floats(&got[0]);
    let what = format!("matmul {dt} {rows}x{k} n={n}");
    assert_close(&what, &got, &want, &scale, MATMUL_TOL);
    let e = nmse(&got, &exact);
    assert!(e <= 1e-4, "{what}: NMSE {e:e} against unquantized activations");
}

#[test]
fn every_weight_type_matches_reference() {
    for (i, dt) in TYPES.into_iter().enumerate() {
        for n in [1, 3, 7] {
            check_type(dt, 37, odd_k(dt), n, 100 * i as u64 + n as u64);
        }
    }
}

/// Model shapes: SmolLM2's FFN (576 → 1536, Q4_1) and Gemma 3 270M's down projection
/// (2048 → 640, Q4_K and Q6_K), decode and a short prefill.
#[test]
fn model_shapes_match_reference() {
    check_type(DType::Q4_1, 1536, 576, 1, 1);
    check_type(DType::Q4_1, 1536, 576, 5, 2);
    check_type(DType::Q4_K, 640, 2048, 1, 3);
    check_type(DType::Q6_K, 640, 2048, 2, 4);
    check_type(DType::Q8_0, 640, 640, 1, 5);
}

/// Several weights of mixed types side by side, on a strided view of x, with bias and
/// residual: `out = concat_j(x · W_jᵀ) + bias + residual`.
#[test]
fn concat_view_bias_residual() {
    let k = 512;
    let parts = [(DType::Q4_K, 20), (DType::Q8_0, 9), (DType::F16, 5), (DType::Q6_K, 17)];
    let m: usize = parts.iter().map(|p| p.1).sum();
    for (n, with_bias, with_res) in [(1, true, true), (4, true, false), (3, false, true)] {
        let seed = 7 * n as u64;
        // x is rows 1..n+1, columns 32..32+k of a wider input.
        let wide = uniform((n + 2) * (k + 64), -1.0, 1.0, seed);
        let x: Vec<f32> =
            (1..n + 1).flat_map(|t| wide[t * (k + 64) + 32..][..k].to_vec()).collect();
        let bias = uniform(m, -0.5, 0.5, seed + 1);
        let res = uniform(n * m, -2.0, 2.0, seed + 2);
        let mut params = ParamTable::new();
        let (mut want, mut scale) = (vec![0.0; n * m], vec![0.0; n * m]);
        let mut ids = Vec::new();
        let mut first = 0;
        for (j, &(dt, rows)) in parts.iter().enumerate() {
            let wb = random_blocks(dt, rows * k, seed + 10 + j as u64);
            let [w, s, _] = reference(dt, &wb, rows, k, &x);
            for t in 0..n {
                for r in 0..rows {
                    want[t * m + first + r] = w[t * rows + r];
                    scale[t * m + first + r] = s[t * rows + r];
                }
            }
            ids.push(weight(&mut params, dt, rows, k, wb));
            first += rows;
        }
        for t in 0..n {
            for (r, &b) in bias.iter().enumerate() {
                let i = t * m + r;
                if with_bias {
                    want[i] += f64::from(b);
                    scale[i] += f64::from(b).abs();
                }
                if with_res {
                    want[i] += f64::from(res[i]);
                    scale[i] += f64::from(res[i]).abs();
                }
            }
        }
        let bp = params.push(crate::graph::ParamDesc {
            name: "bias".into(),
            shape: crate::graph::Shape::new(&[m]),
            ty: ElemType::F32,
            init: crate::graph::ParamInit::Data(crate::graph::HostBytes::from_f32(&bias)),
            layer: None,
        });
        let mut g = GraphBuilder::new(&params);
        let wt = g.input("wide", &[n + 2, k + 64], ElemType::F32);
        let xt = g.view(wt, 1..n + 1, 32..32 + k);
        let rt = g.input("res", &[n, m], ElemType::F32);
        let ws: Vec<_> = ids.iter().map(|&p| g.param(p)).collect();
        let bt = g.param(bp);
        let y = g.matmul(&ws, xt, with_bias.then_some(bt), with_res.then_some(rt), "y");
        let inputs = [(wt, HostData::F32(&wide)), (rt, HostData::F32(&res))];
        let got = run(&params, g.build(), &inputs, &[y]).unwrap();
        let what = format!("concat n={n} bias={with_bias} residual={with_res}");
        assert_close(&what, &floats(&got[0]), &want, &scale, MATMUL_TOL);
    }
}

/// `act(x·Gᵀ) ⊙ (x·Uᵀ)` with gate and up of different types, both activations.
#[test]
fn matmul_glu_matches_reference() {
    let (rows, k) = (45, 512);
    for (i, (act, n)) in
        [(GluAct::Silu, 1), (GluAct::GeluTanh, 1), (GluAct::Silu, 3), (GluAct::GeluTanh, 4)]
            .into_iter()
            .enumerate()
    {
        let seed = 1000 + 10 * i as u64;
        let (gb, ub) = (
            random_blocks(DType::Q4_K, rows * k, seed),
            random_blocks(DType::Q8_0, rows * k, seed + 1),
        );
        // Larger x so gate values reach the nonlinear range of both activations.
        let x = uniform(n * k, -8.0, 8.0, seed + 2);
        let [gw, gs, _] = reference(DType::Q4_K, &gb, rows, k, &x);
        let [uw, us, _] = reference(DType::Q8_0, &ub, rows, k, &x);
        let want = match act {
            GluAct::Silu => kernels_ref::elementwise::swiglu(&gw, &uw),
            GluAct::GeluTanh => kernels_ref::elementwise::geglu(&gw, &uw),
        };
        // Error propagation: |act'| ≤ 1.13 for both, so a gate error e_g moves the result by
        // ≤ 1.13·|u|·e_g; an up error e_u by |act(g)|·e_u; plus the activation's own rounding.
        let scale: Vec<f64> = (0..want.len())
            .map(|j| 1.2 * uw[j].abs() * gs[j] + (want[j] / uw[j]).abs() * us[j] + want[j].abs())
            .collect();
        let mut params = ParamTable::new();
        let gp = weight(&mut params, DType::Q4_K, rows, k, gb);
        let up = weight(&mut params, DType::Q8_0, rows, k, ub);
        let mut g = GraphBuilder::new(&params);
        let xt = g.input("x", &[n, k], ElemType::F32);
        let (gt, ut) = (g.param(gp), g.param(up));
        let y = g.matmul_glu(gt, ut, xt, act, "y");
        let got = run(&params, g.build(), &[(xt, HostData::F32(&x))], &[y]).unwrap();
        assert_close(
            &format!("matmul_glu {act:?} n={n}"),
            &floats(&got[0]),
            &want,
            &scale,
            MATMUL_TOL,
        );
    }
}
