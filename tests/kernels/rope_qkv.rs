//! One attention layer's Q/K/V preparation as the models build it: strided views of one wider
//! QKV tensor, optional per-head RMSNorm of Q and of K, RoPE of Q into a tensor and of K into
//! its cache, V into its cache. The CPU runs the nodes one by one; wgpu fuses them into one
//! rope_qkv dispatch (checked), leaving out a norm whose output something else reads (checked:
//! two dispatches, still right). Positions 0, 1 and 5000; 1 and 5 tokens; NORM and
//! NEOX; partial rotary dims. Cache rows outside `pos..pos+n` must keep the poison.

use kiln::graph::{ElemType, GraphBuilder, HostBytes, ParamDesc, ParamInit, ParamTable, RopeSpec};
use kiln::graph::{Shape, Step};

use super::rope::{
    BASE, FREQ_SCALE, cache_param, cache_types, decode_cache, rope_scale, store_tol, table_param,
    written_rows,
};
use crate::common::{self, Input, tol};

#[derive(Clone, Copy)]
struct Case {
    n_heads: usize,
    n_kv: usize,
    head_dim: usize,
    n_rot: usize,
    neox: bool,
    q_norm: bool,
    k_norm: bool,
    /// The normed Q is also a graph output, so its norm must stay out of the fused group.
    q_norm_read: bool,
}

const EPS: f32 = 1e-6;
const MAX_POS: usize = 5008;

fn weight(params: &mut ParamTable, name: &str, v: &[f32]) -> kiln::graph::ParamId {
    params.push(ParamDesc {
        name: name.into(),
        shape: Shape::new(&[v.len()]),
        ty: ElemType::F32,
        init: ParamInit::Data(HostBytes::from_f32(v)),
        layer: Some(0),
    })
}

/// `x` (tokens × heads·head_dim) per-head normed when `on`, and RoPE'd by the reference.
fn reference(c: Case, x: &[f64], w: &[f64], on: bool, heads: usize, pos: &[usize]) -> Vec<f64> {
    let n = if on { kernels_ref::norm::rms_norm(x, w, EPS as f64, c.head_dim) } else { x.to_vec() };
    let r = kernels_ref::rope::rope(&n, heads, c.head_dim, pos, c.n_rot, BASE, FREQ_SCALE, c.neox);
    // The values RoPE saw, for the pair scale: the normed ones (or x itself).
    [r, n].concat()
}

fn check(c: Case, seed: u64) {
    let hd = c.head_dim;
    let (qd, kd) = (c.n_heads * hd, c.n_kv * hd);
    let width = qd + 2 * kd + 3; // Q at column 1, then K, V, two spare columns
    let mut params = ParamTable::new();
    let table = table_param(&mut params, MAX_POS, c.n_rot);
    let qw = common::uniform(hd, -1.5, 1.5, seed + 1);
    let kw = common::uniform(hd, -1.5, 1.5, seed + 2);
    let (qwp, kwp) = (weight(&mut params, "q_norm", &qw), weight(&mut params, "k_norm", &kw));
    let spec = |heads: usize| RopeSpec {
        n_heads: heads as u32,
        head_dim: hd as u32,
        n_rot: c.n_rot as u32,
        neox: c.neox,
    };
    let tol_of = |on: bool| if on { tol::RMS_NORM_THEN_ROPE } else { tol::ROPE };
    for (case, &(pos, n)) in [(0usize, 5usize), (1, 1), (5000, 3)].iter().enumerate() {
        let xw = common::uniform(n * width, -2.0, 2.0, seed + 10 + case as u64);
        let part = |c0: usize, w: usize| -> Vec<f64> {
            (0..n).flat_map(|t| xw[t * width + c0..][..w].iter().map(|&v| v as f64)).collect()
        };
        let (q, k, v) = (part(1, qd), part(1 + qd, kd), part(1 + qd + kd, kd));
        let positions: Vec<usize> = (pos..pos + n).collect();
        let (qw64, kw64) = (common::to_f64(&qw), common::to_f64(&kw));
        let q_ref = reference(c, &q, &qw64, c.q_norm, c.n_heads, &positions);
        let k_ref = reference(c, &k, &kw64, c.k_norm, c.n_kv, &positions);
        let (want_q, q_seen) = q_ref.split_at(n * qd);
        let (want_k, k_seen) = k_ref.split_at(n * kd);
        let q_scale = rope_scale(q_seen, hd, c.n_rot, c.neox);
        let k_scale = rope_scale(k_seen, hd, c.n_rot, c.neox);
        let label = format!(
            "rope_qkv {}+{}x{hd} n_rot={} neox={} norms=({}, {}) pos={pos} n={n}",
            c.n_heads, c.n_kv, c.n_rot, c.neox, c.q_norm, c.k_norm
        );
        for tb in common::backends() {
            for ty in cache_types(&tb) {
                let dims = [c.n_kv, pos + n + 2, hd];
                let mut cp = params.clone();
                let kc = cache_param(&mut cp, "cache_k", dims, ty);
                let vc = cache_param(&mut cp, "cache_v", dims, ty);
                let mut g = GraphBuilder::new(&cp);
                let xt = g.input("qkv", &[n, width], ElemType::F32);
                let mut qv = g.view(xt, 0..n, 1..1 + qd);
                let mut kv = g.view(xt, 0..n, 1 + qd..1 + qd + kd);
                let vv = g.view(xt, 0..n, 1 + qd + kd..1 + qd + 2 * kd);
                let tt = g.param(table);
                if c.q_norm {
                    let w = g.param(qwp);
                    qv = g.rms_norm(qv, w, EPS, None, "q_norm");
                    if c.q_norm_read {
                        g.output(qv);
                    }
                }
                if c.k_norm {
                    let w = g.param(kwp);
                    kv = g.rms_norm(kv, w, EPS, None, "k_norm");
                }
                let qr = g.rope(qv, tt, spec(c.n_heads), "q_rope");
                let (kct, vct) = (g.param(kc), g.param(vc));
                g.rope_into_cache(kv, tt, spec(c.n_kv), kct);
                g.kv_write(vct, vv);
                g.output(qr);
                let inputs = [(xt, Input::F32(xw.clone()))];
                let step = Step { pos: pos as u32 };
                let out = common::run(&tb, &cp, g.build(), step, &inputs, &[qr], &[kc, vc]);
                let what = format!("{label} {ty} cache on {}", tb.name);
                if let Some(d) = out.dispatches {
                    let want = if c.q_norm_read { 2 } else { 1 };
                    assert_eq!(d, want, "{what}: dispatches");
                }
                common::assert_close(
                    &format!("{what}: q"),
                    &out.outputs[0],
                    want_q,
                    &q_scale,
                    tol_of(c.q_norm),
                );
                let total = dims.iter().product();
                let (vals, poison) = decode_cache(&out.params[0], ty, total);
                let got = written_rows(&format!("{what}: k"), &vals, &poison, dims, pos, n);
                let (t, bound) =
                    tol::then_stored(tol_of(c.k_norm), store_tol(&tb, ty), &k_scale, want_k);
                common::assert_close(&format!("{what}: k"), &got, want_k, &bound, t);
                let (vals, poison) = decode_cache(&out.params[1], ty, total);
                let got = written_rows(&format!("{what}: v"), &vals, &poison, dims, pos, n);
                let zero = vec![0.0; v.len()];
                let (t, bound) = tol::then_stored(tol::EXACT, store_tol(&tb, ty), &zero, &v);
                common::assert_close(&format!("{what}: v"), &got, &v, &bound, t);
            }
        }
    }
}

const PLAIN: Case = Case {
    n_heads: 9,
    n_kv: 3,
    head_dim: 64,
    n_rot: 64,
    neox: false,
    q_norm: false,
    k_norm: false,
    q_norm_read: false,
};

#[test]
fn rope_qkv_llama_layout_matches_reference() {
    // SmolLM2: 9 query heads and 3 KV heads of 64, adjacent pairs, no QK-norm.
    check(PLAIN, 500);
}

#[test]
fn rope_qkv_with_qk_norm_matches_reference() {
    // Gemma 3 270M: 4 query heads and 1 KV head of 256, NEOX, Q and K normed per head.
    let gemma = Case { n_heads: 4, n_kv: 1, head_dim: 256, neox: true, n_rot: 256, ..PLAIN };
    check(Case { q_norm: true, k_norm: true, ..gemma }, 510);
}

#[test]
fn rope_qkv_partial_rotary_and_one_norm_match_reference() {
    // 32 of 80 dims rotated; only Q or only K normed; both pairings.
    let odd = Case { n_heads: 3, n_kv: 1, head_dim: 80, n_rot: 32, ..PLAIN };
    check(Case { q_norm: true, ..odd }, 520);
    check(Case { k_norm: true, neox: true, ..odd }, 530);
}

#[test]
fn rope_qkv_leaves_out_a_norm_read_elsewhere() {
    let odd = Case { n_heads: 2, n_kv: 2, head_dim: 32, n_rot: 32, ..PLAIN };
    check(Case { q_norm: true, k_norm: true, q_norm_read: true, ..odd }, 540);
}
