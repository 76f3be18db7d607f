//! Backends refuse and fail with errors, never panics or hangs.
//!
//! `Backend::supports(graph, op)` looks at the operands' element types, not just the op: a
//! matmul or get_rows over a weight type a backend has no kernel for, or a KV cache of a type
//! the backend does not store, is reported unsupported, and preparing such a graph is an
//! `Err` naming the op. What each backend decodes: the CPU's matmul has a dot kernel for the
//! 13 weight types (not Q8_1/Q8_K, which ggml only makes as activation formats) and its
//! get_rows dequantizes every type; wgpu has a WGSL decoder for the same 13 for both; KV caches
//! are F32 or F16 on the CPU and the tier's type on wgpu (F16 in the f16 tiers, else F32).
//!
//! (A wait for the GPU past its time limit is an `Error::Device` too; lavapipe sometimes runs
//! a submission before `submit` returns, so no GPU test can force a timeout: the unit tests of
//! src/backend/wgpu/wait.rs check the limit and the error.)

mod common;

use std::sync::Arc;

use kiln::graph::{
    AttentionSpec, ElemType, Graph, GraphBuilder, HostBytes, Op, ParamDesc, ParamInit, ParamTable,
    Plan, Shape,
};
use kiln::quant::DType;

const WEIGHT_TYPES: [DType; 13] = [
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
/// Types only ggml's activations use: no backend matmuls them as weights.
const ACTIVATION_ONLY: [DType; 2] = [DType::Q8_1, DType::Q8_K];

/// 256 columns: whole blocks of every type (K-quants have 256 per block).
const COLS: usize = 256;

fn weight(params: &mut ParamTable, dt: DType, name: &str) -> kiln::graph::ParamId {
    let bytes = common::quant_blocks::random_blocks(dt, 4 * COLS, 7);
    params.push(ParamDesc {
        name: name.into(),
        shape: Shape::new(&[4, COLS]),
        ty: ElemType::Float(dt),
        init: ParamInit::Data(HostBytes::from_vec(bytes)),
        layer: None,
    })
}

/// A one-node graph of `kind` (matmul, matmul_glu or get_rows) over a weight of type `dt`.
fn weight_graph(kind: &str, dt: DType) -> (ParamTable, Graph) {
    let mut params = ParamTable::new();
    let w = weight(&mut params, dt, "w");
    let u = weight(&mut params, DType::Q8_0, "up");
    let mut g = GraphBuilder::new(&params);
    let w = g.param(w);
    let out = match kind {
        "matmul" => {
            let x = g.input("x", &[2, COLS], ElemType::F32);
            g.matmul(&[w], x, None, None, "y")
        }
        "matmul_glu" => {
            let (x, u) = (g.input("x", &[2, COLS], ElemType::F32), g.param(u));
            g.matmul_glu(w, u, x, kiln::graph::GluAct::Silu, "y")
        }
        _ => {
            let ids = g.input("ids", &[3], ElemType::U32);
            g.get_rows(w, ids, 1.0, "y")
        }
    };
    g.output(out);
    let graph = g.build();
    (params, graph)
}

/// An attention node over KV caches of type `kv`.
fn attention_graph(kv: ElemType) -> (ParamTable, Graph) {
    let mut params = ParamTable::new();
    let cache = |params: &mut ParamTable, name: &str| {
        params.push(ParamDesc {
            name: name.into(),
            shape: Shape::new(&[1, 8, 16]),
            ty: kv,
            init: ParamInit::Zeroed,
            layer: None,
        })
    };
    let (k, v) = (cache(&mut params, "k"), cache(&mut params, "v"));
    let mut g = GraphBuilder::new(&params);
    let (k, v) = (g.param(k), g.param(v));
    let q = g.input("q", &[1, 32], ElemType::F32);
    let spec = AttentionSpec {
        n_heads: 2,
        n_kv_heads: 1,
        head_dim: 16,
        scale: 0.25,
        window: None,
        softcap: None,
    };
    let out = g.attention(q, k, v, spec, "attn");
    g.output(out);
    let graph = g.build();
    (params, graph)
}

fn only_op(graph: &Graph) -> &Op {
    &graph.nodes.last().expect("a node").op
}

/// Asserts what `supports` says, and that `prepare` agrees: Ok when supported, an `Err`
/// naming the op otherwise.
fn check(tb: &common::TestBackend, params: &ParamTable, graph: Graph, want: bool, what: &str) {
    let mut b = tb.inner.lock().unwrap_or_else(|e| e.into_inner());
    let op = only_op(&graph).clone();
    assert_eq!(b.supports(&graph, &op), want, "{}: supports({what})", tb.name);
    let ids: Vec<_> = params.iter().map(|(id, _)| id).collect();
    b.unload_params(&ids);
    // Weights the backend cannot decode may still be uploaded as bytes.
    b.load_params(params, &ids).unwrap_or_else(|e| panic!("{}: load {what}: {e}", tb.name));
    let graph = Arc::new(graph);
    let plan = Arc::new(Plan::new(&graph));
    match b.prepare(graph, plan) {
        Ok(h) => {
            assert!(want, "{}: prepared unsupported {what}", tb.name);
            b.release(h);
        }
        Err(e) => {
            assert!(!want, "{}: prepare {what}: {e}", tb.name);
            assert!(e.to_string().contains(op.name()), "{}: error {e} names no op", tb.name);
        }
    }
    b.unload_params(&ids);
}

#[test]
fn weight_ops_are_supported_exactly_for_decoded_types() {
    for tb in common::backends() {
        for kind in ["matmul", "matmul_glu", "get_rows"] {
            for dt in WEIGHT_TYPES.into_iter().chain(ACTIVATION_ONLY) {
                // The CPU's get_rows dequantizes any type; everything else needs a weight type.
                let want = WEIGHT_TYPES.contains(&dt) || (kind == "get_rows" && !tb.is_gpu);
                let (params, graph) = weight_graph(kind, dt);
                check(&tb, &params, graph, want, &format!("{kind} of {dt}"));
            }
        }
    }
}

#[test]
fn kv_caches_must_have_the_backend_type() {
    for tb in common::backends() {
        for kv in [ElemType::F32, ElemType::F16] {
            let want = match tb.tier {
                None => true,
                Some(tier) => (kv == ElemType::F16) == tier.f16,
            };
            let (params, graph) = attention_graph(kv);
            check(&tb, &params, graph, want, &format!("attention over {kv} caches"));
        }
    }
}
