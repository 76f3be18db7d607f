//! attention vs kernels-ref: decode (one token, KV lengths around the tile and split sizes,
//! several splits), prefill (7 and 33 tokens at position 0 and later), GQA ratios 1, 3 and 4
//! at real model shapes (SmolLM2: 9/3 heads of 64; Gemma 3 270M: 4/1 heads of 256), sliding
//! window edges, soft-capping, exact huge logits, and rows that see no key in a whole split.
//!
//! The caches are filled the way a model fills them: earlier positions by two setup executions
//! of a fill graph (rope into the K cache, kv_write into the V cache), the current step's keys
//! by the same ops in the graph under test. The reference reads the caches back, so f16 caches
//! are compared against exactly the rounded values the kernel saw; slots at or beyond pos + n
//! must still hold the harness's NaN poison, so a kernel reading them would output NaN.

use kiln::graph::{
    AttentionSpec, ElemType, GraphBuilder, ParamId, ParamTable, RopeSpec, Step, TensorId,
};

use crate::common::{self, Input, Setup, tol};
use crate::rope::{
    BASE, FREQ_SCALE, cache_param, cache_types, decode_cache, table_param, written_rows,
};

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

#[derive(Clone, Copy)]
pub(crate) struct Case {
    pub(crate) n_heads: usize,
    pub(crate) n_kv_heads: usize,
    pub(crate) head_dim: usize,
    /// Tokens of the step under test, at positions pos..pos+n.
    pub(crate) n: usize,
    pub(crate) pos: usize,
    pub(crate) window: Option<u32>,
    pub(crate) softcap: Option<f32>,
    /// Integer q and k in [-range, range] (exact scores, huge logits) instead of uniform [-1, 1];
    /// K is then written without RoPE so it stays integral.
    pub(crate) int_range: Option<i32>,
    /// Read q, k and v of the step as column views of one fused (n, q | k | v) input, as a
    /// model does after its fused QKV projection.
    pub(crate) fused: bool,
}

pub(crate) const SMOLLM2: Case = Case {
    n_heads: 9,
    n_kv_heads: 3,
    head_dim: 64,
    n: 1,
    pos: 0,
    window: None,
    softcap: None,
    int_range: None,
    fused: false,
};
pub(crate) const GEMMA3: Case = Case { n_heads: 4, n_kv_heads: 1, head_dim: 256, ..SMOLLM2 };
pub(crate) const MHA: Case = Case { n_heads: 2, n_kv_heads: 2, head_dim: 128, ..SMOLLM2 };

fn values(c: &Case, n: usize, seed: u64) -> Vec<f32> {
    match c.int_range {
        Some(r) => {
            let v = common::uniform(n, -(r as f32) - 0.5, r as f32 + 0.5, seed);
            v.iter().map(|x| x.round()).collect()
        }
        None => common::uniform(n, -1.0, 1.0, seed),
    }
}

/// Writes the step's K (rope'd unless the case wants integral keys) and V rows into the caches.
fn write_kv(
    g: &mut GraphBuilder<'_>,
    c: &Case,
    (kt, vt): (TensorId, TensorId),
    (table, kc, vc): (ParamId, ParamId, ParamId),
) -> (TensorId, TensorId) {
    let (table, kc, vc) = (g.param(table), g.param(kc), g.param(vc));
    let kc = match c.int_range {
        Some(_) => g.kv_write(kc, kt),
        None => {
            let d = c.head_dim as u32;
            let spec = RopeSpec { n_heads: c.n_kv_heads as u32, head_dim: d, n_rot: d, neox: true };
            g.rope_into_cache(kt, table, spec, kc)
        }
    };
    (kc, g.kv_write(vc, vt))
}

pub(crate) fn check(what: &str, c: Case, seed: u64) {
    let (hd, kvw) = (c.head_dim, c.n_kv_heads * c.head_dim);
    let kv_len = c.pos + c.n;
    let ctx = kv_len + 5;
    let q = values(&c, c.n * c.n_heads * hd, seed);
    // Earlier positions in two setup steps (0..a, a..pos), then the step under test.
    let a = c.pos / 2;
    let fills = [(0, a), (a, c.pos - a)];
    let fill_kv: Vec<(Vec<f32>, Vec<f32>)> = fills
        .iter()
        .enumerate()
        .map(|(i, &(_, m))| {
            (
                values(&c, m * kvw, seed + 10 + i as u64),
                common::uniform(m * kvw, -1.0, 1.0, seed + 20 + i as u64),
            )
        })
        .collect();
    let k_new = values(&c, c.n * kvw, seed + 1);
    let v_new = common::uniform(c.n * kvw, -1.0, 1.0, seed + 2);
    // Every key and value row the caches should hold, positions 0..kv_len.
    let k_all: Vec<f64> =
        fill_kv.iter().flat_map(|f| &f.0).chain(&k_new).map(|&x| x as f64).collect();
    let v_all: Vec<f64> =
        fill_kv.iter().flat_map(|f| &f.1).chain(&v_new).map(|&x| x as f64).collect();
    let (k_want, k_scale) = match c.int_range {
        Some(_) => (k_all.clone(), vec![0.0; k_all.len()]),
        None => {
            let positions: Vec<usize> = (0..kv_len).collect();
            let (h, d) = (c.n_kv_heads, hd);
            let r = kernels_ref::rope::rope(&k_all, h, d, &positions, d, BASE, FREQ_SCALE, true);
            // |x0| + |x1| of each NEOX pair.
            let s = (0..k_all.len())
                .map(|i| k_all[i].abs() + k_all[i - i % d + (i % d + d / 2) % d].abs())
                .collect();
            (r, s)
        }
    };
    let spec = AttentionSpec {
        n_heads: c.n_heads as u32,
        n_kv_heads: c.n_kv_heads as u32,
        head_dim: hd as u32,
        scale: 1.0 / (hd as f32).sqrt(),
        window: c.window,
        softcap: c.softcap,
    };
    for tb in common::backends() {
        for ty in cache_types(&tb) {
            let mut params = ParamTable::new();
            let table = table_param(&mut params, ctx, hd);
            let dims = [c.n_kv_heads, ctx, hd];
            let kc = cache_param(&mut params, "cache_k", dims, ty);
            let vc = cache_param(&mut params, "cache_v", dims, ty);
            let mut setup = Vec::new();
            for (&(start, m), (kf, vf)) in fills.iter().zip(&fill_kv) {
                if m == 0 {
                    continue;
                }
                let mut g = GraphBuilder::new(&params);
                let kt = g.input("k", &[m, kvw], ElemType::F32);
                let vt = g.input("v", &[m, kvw], ElemType::F32);
                write_kv(&mut g, &c, (kt, vt), (table, kc, vc));
                let inputs = vec![(kt, Input::F32(kf.clone())), (vt, Input::F32(vf.clone()))];
                setup.push(Setup { graph: g.build(), step: Step { pos: start as u32 }, inputs });
            }
            let mut g = GraphBuilder::new(&params);
            let qw = c.n_heads * hd;
            let (qt, kt, vt, inputs) = if c.fused {
                let all = g.input("qkv", &[c.n, qw + 2 * kvw], ElemType::F32);
                let (qt, kt) = (g.view(all, 0..c.n, 0..qw), g.view(all, 0..c.n, qw..qw + kvw));
                let vt = g.view(all, 0..c.n, qw + kvw..qw + 2 * kvw);
                let rows = (0..c.n).flat_map(|t| {
                    let (qr, kr) = (&q[t * qw..][..qw], &k_new[t * kvw..][..kvw]);
                    qr.iter().chain(kr).chain(&v_new[t * kvw..][..kvw]).copied()
                });
                (qt, kt, vt, vec![(all, Input::F32(rows.collect()))])
            } else {
                let qt = g.input("q", &[c.n, qw], ElemType::F32);
                let kt = g.input("k", &[c.n, kvw], ElemType::F32);
                let vt = g.input("v", &[c.n, kvw], ElemType::F32);
                let inputs = vec![
                    (qt, Input::F32(q.clone())),
                    (kt, Input::F32(k_new.clone())),
                    (vt, Input::F32(v_new.clone())),
                ];
                (qt, kt, vt, inputs)
            };
            let (kcache, vcache) = write_kv(&mut g, &c, (kt, vt), (table, kc, vc));
            let o = g.attention(qt, kcache, vcache, spec, "o");
            g.output(o);
            let step = Step { pos: c.pos as u32 };
            let out =
                common::run_after(&tb, &params, setup, g.build(), step, &inputs, &[o], &[kc, vc]);
            let label = format!("{what} ({ty} cache) on {}", tb.name);
            let cache = |i: usize| {
                let (vals, poison) = decode_cache(&out.params[i], ty, dims.iter().product());
                common::to_f64(&written_rows(&label, &vals, &poison, dims, 0, kv_len))
            };
            let (k, v) = (cache(0), cache(1));
            // The caches hold what the write ops were given (K rotated at its position).
            let store = crate::rope::store_tol(&tb, ty);
            let (t, bound) = tol::then_stored(tol::ROPE, store, &k_scale, &k_want);
            common::assert_close(&format!("{label}: K cache"), &to_f32(&k), &k_want, &bound, t);
            let (t, bound) = tol::then_stored(tol::EXACT, store, &v_all, &v_all);
            common::assert_close(&format!("{label}: V cache"), &to_f32(&v), &v_all, &bound, t);
            let p = kernels_ref::attention::AttentionParams {
                scale: spec.scale as f64,
                sliding_window: c.window.map(|w| w as usize),
                softcap: c.softcap.map(|s| s as f64),
                ..kernels_ref::attention::AttentionParams::causal(
                    c.n,
                    c.n_heads,
                    c.n_kv_heads,
                    hd,
                    kv_len,
                    c.pos,
                )
            };
            let q64 = common::to_f64(&q);
            let want = kernels_ref::attention::attention(&q64, &k, &v, p.clone());
            let scale = kernels_ref::attention::attention_abs_scale(&q64, &k, &v, p);
            let t = if ty == ElemType::F16 { tol::ATTENTION_F16 } else { tol::ATTENTION_F32 };
            common::assert_close(&label, &out.outputs[0], &want, &scale, t);
        }
    }
}

#[test]
fn decode_smollm2_around_tile_and_split_sizes() {
    // One token; the wgpu kernel's key tile is 64 here and a split covers 256 keys.
    for (i, kv_len) in [1usize, 63, 64, 65, 700].into_iter().enumerate() {
        let c = Case { pos: kv_len - 1, ..SMOLLM2 };
        check(&format!("smollm2 decode kv_len={kv_len}"), c, 1000 + i as u64);
    }
}

#[test]
fn decode_long_context_caps_the_split_count() {
    // 10 241 keys = 41 blocks of 256: more than the 32-split cap, so splits take 2 blocks each.
    check("smollm2 decode kv_len=10241", Case { pos: 10240, ..SMOLLM2 }, 1050);
}

#[test]
fn decode_gemma3_with_and_without_window() {
    for (i, (kv_len, window)) in
        [(1usize, None), (65, None), (700, None), (700, Some(512))].into_iter().enumerate()
    {
        let c = Case { pos: kv_len - 1, window, ..GEMMA3 };
        check(&format!("gemma3 decode kv_len={kv_len} window={window:?}"), c, 1100 + i as u64);
    }
}

#[test]
fn decode_one_kv_head_per_query_head() {
    // GQA ratio 1: a 256-key tile; 255/256/257 also straddle the first split boundary.
    for (i, kv_len) in [255usize, 256, 257].into_iter().enumerate() {
        let c = Case { pos: kv_len - 1, ..MHA };
        check(&format!("mha decode kv_len={kv_len}"), c, 1200 + i as u64);
    }
}

#[test]
fn prefill_at_start_and_after_earlier_steps() {
    for (i, (n, pos)) in [(7usize, 0usize), (33, 0), (7, 40), (33, 40)].into_iter().enumerate() {
        let c = Case { n, pos, ..SMOLLM2 };
        check(&format!("smollm2 prefill n={n} pos={pos}"), c, 1300 + i as u64);
    }
    check("gemma3 prefill n=7 pos=0", Case { n: 7, ..GEMMA3 }, 1310);
    check("gemma3 prefill n=33 pos=100", Case { n: 33, pos: 100, ..GEMMA3 }, 1311);
}

#[test]
fn sliding_window_edges() {
    // pos − j = W − 1 is visible and pos − j = W masked, for one token and across a batch whose
    // queries each see a different window.
    let w = Some(16);
    check("smollm2 decode W=16 pos=40", Case { pos: 40, window: w, ..SMOLLM2 }, 1400);
    check("smollm2 prefill W=16 n=33 pos=7", Case { n: 33, pos: 7, window: w, ..SMOLLM2 }, 1401);
    check("gemma3 prefill W=16 n=33 pos=100", Case { n: 33, pos: 100, window: w, ..GEMMA3 }, 1402);
}

#[test]
fn softcap_bounds_scores() {
    // Scores up to ~±4 against a cap of 2: both the small-argument and the large-argument
    // branches of tanh are taken.
    let c = Case { softcap: Some(2.0), int_range: None, ..MHA };
    check("mha decode softcap kv_len=700", Case { pos: 699, ..c }, 1500);
    check("mha prefill softcap n=33 pos=0", Case { n: 33, ..c }, 1501);
}

#[test]
fn huge_exact_logits() {
    // Integer q and k in [-16, 16]: every q·k is exact in f32, scaled scores reach ±2000, so
    // only the max-subtraction keeps exp finite.
    let c = Case { int_range: Some(16), ..SMOLLM2 };
    check("smollm2 decode huge logits", Case { pos: 299, ..c }, 1600);
    check("smollm2 prefill huge logits", Case { n: 33, pos: 5, ..c }, 1601);
}

#[test]
fn q_k_v_as_views_of_a_fused_projection() {
    // Strided rows everywhere: rope into the cache, kv_write and attention read views.
    check("smollm2 fused decode kv_len=300", Case { pos: 299, fused: true, ..SMOLLM2 }, 1800);
    check("gemma3 fused prefill n=7 pos=9", Case { n: 7, pos: 9, fused: true, ..GEMMA3 }, 1801);
}

#[test]
fn rows_with_no_visible_key_in_a_split() {
    // Five tokens at 254..258 (one wgpu row tile): the second split holds keys 256..258, which
    // tokens 254 and 255 cannot see, so their partials in it must carry zero weight.
    check("smollm2 n=5 pos=254", Case { n: 5, pos: 254, ..SMOLLM2 }, 1700);
}
