//! The planner never gives two simultaneously live tensors overlapping arena bytes: checked
//! directly on random graphs, and by running random graphs on the CPU backend against a naive
//! evaluation in which every tensor has storage of its own.

mod common;

use std::collections::HashMap;

use kiln::graph::{
    Buf, ElemType, Graph, GraphBuilder, Op, ParamTable, Plan, Source, Step, TensorId,
};
use rand::RngExt;

use common::Input;

/// A random graph of elementwise ops, copies and views over `n_inputs` inputs of shape (r, c).
fn random_graph(seed: u64, params: &ParamTable) -> (Graph, Vec<TensorId>, (usize, usize)) {
    let mut r = common::rng(seed);
    let (rows, cols) = (r.random_range(1..5usize), r.random_range(1..40usize));
    let mut g = GraphBuilder::new(params);
    let mut pool: Vec<TensorId> =
        (0..3).map(|i| g.input(&format!("in{i}"), &[rows, cols], ElemType::F32)).collect();
    let inputs = pool.clone();
    let n_ops = r.random_range(3..40);
    for k in 0..n_ops {
        // Prefer recent tensors so chains form and lifetimes vary.
        let pick = |r: &mut rand_chacha::ChaCha8Rng, pool: &Vec<TensorId>| {
            let n = pool.len();
            pool[n - 1 - r.random_range(0..n.min(6))]
        };
        let a = pick(&mut r, &pool);
        let b = pick(&mut r, &pool);
        let t = match r.random_range(0..5) {
            0 => g.add(a, b, &format!("add{k}")),
            1 => g.mul(a, b, &format!("mul{k}")),
            2 => g.scale(a, 0.5, &format!("scale{k}")),
            3 => {
                // A view of a window, copied back to full shape via add with itself is not
                // shape-preserving, so copy a full-width window of all rows.
                let v = g.view(a, 0..rows, 0..cols);
                g.copy(v, &format!("copyview{k}"))
            }
            _ => g.copy(a, &format!("copy{k}")),
        };
        pool.push(t);
    }
    let n_out = r.random_range(1..4);
    for _ in 0..n_out {
        let t = pool[r.random_range(3..pool.len())];
        g.output(t);
    }
    (g.build(), inputs, (rows, cols))
}

#[test]
fn live_tensors_never_share_arena_bytes() {
    let params = ParamTable::new();
    for seed in 0..300 {
        let (graph, _, _) = random_graph(seed, &params);
        let plan = Plan::new(&graph);
        let spans: Vec<(usize, usize, usize, usize)> = (0..graph.tensors.len())
            .filter_map(|t| {
                let loc = plan.locations[t]?;
                let (first, last) = plan.lifetimes[t]?;
                (loc.buf == Buf::Arena).then(|| {
                    let bytes = graph.tensors[t].shape.n_elements() * 4;
                    (loc.offset * 4, loc.offset * 4 + bytes, first, last)
                })
            })
            .collect();
        for (i, a) in spans.iter().enumerate() {
            assert!(a.1 <= plan.arena_bytes, "seed {seed}: tensor past the arena");
            for b in &spans[i + 1..] {
                let live_together = a.2 <= b.3 && b.2 <= a.3;
                let overlap = a.0 < b.1 && b.0 < a.1;
                assert!(
                    !(live_together && overlap),
                    "seed {seed}: {a:?} and {b:?} alias while live"
                );
            }
        }
        // Every read happens inside the producer's lifetime.
        for (k, &ni) in plan.order.iter().enumerate() {
            for inp in graph.nodes[ni as usize].op.inputs() {
                let mut root = inp;
                while let Source::View { of, .. } = graph.tensor(root).source {
                    root = of;
                }
                if let Some((first, last)) = plan.lifetimes[root.index()] {
                    let time = k + 1; // node k of the order runs at time k + 1
                    assert!(first <= time && time <= last, "seed {seed}: read outside lifetime");
                }
            }
        }
    }
}

/// Evaluates `graph` naively: each tensor gets its own vector.
fn naive(graph: &Graph, inputs: &HashMap<TensorId, Vec<f32>>) -> HashMap<TensorId, Vec<f32>> {
    let mut vals: HashMap<TensorId, Vec<f32>> = inputs.clone();
    fn get(graph: &Graph, vals: &HashMap<TensorId, Vec<f32>>, t: TensorId) -> Vec<f32> {
        match graph.tensor(t).source {
            Source::View { of, row_offset, col_offset } => {
                let parent = get(graph, vals, of);
                let pc = graph.tensor(of).shape.cols();
                let s = graph.tensor(t).shape;
                (0..s.rows())
                    .flat_map(|r| (0..s.cols()).map(move |c| (r, c)))
                    .map(|(r, c)| parent[(row_offset + r) * pc + col_offset + c])
                    .collect()
            }
            _ => vals[&t].clone(),
        }
    }
    for node in &graph.nodes {
        let v = match &node.op {
            Op::Add { a, b } => get(graph, &vals, *a)
                .iter()
                .zip(get(graph, &vals, *b))
                .map(|(x, y)| x + y)
                .collect(),
            Op::Mul { a, b } => get(graph, &vals, *a)
                .iter()
                .zip(get(graph, &vals, *b))
                .map(|(x, y)| x * y)
                .collect(),
            Op::Scale { x, s } => get(graph, &vals, *x).iter().map(|v| v * s).collect(),
            Op::Copy { x } => get(graph, &vals, *x),
            other => panic!("random graphs do not use {}", other.name()),
        };
        vals.insert(node.out, v);
    }
    vals
}

#[test]
fn random_graphs_run_like_naive_evaluation() {
    let params = ParamTable::new();
    let cpu = common::cpu_backend();
    let gpu = common::gpu_backends();
    for seed in 0..60 {
        let (graph, inputs, (rows, cols)) = random_graph(1000 + seed, &params);
        let data: HashMap<TensorId, Vec<f32>> = inputs
            .iter()
            .enumerate()
            .map(|(i, &t)| (t, common::uniform(rows * cols, -2.0, 2.0, seed * 10 + i as u64)))
            .collect();
        let want = naive(&graph, &data);
        let outputs = graph.outputs.clone();
        let host: Vec<(TensorId, Input)> =
            inputs.iter().map(|t| (*t, Input::F32(data[t].clone()))).collect();
        // The CPU always; one GPU tier too when present (the others run in tests/kernels).
        for tb in std::iter::once(&cpu).chain(gpu.first()) {
            let got =
                common::run(tb, &params, graph.clone(), Step::default(), &host, &outputs, &[]);
            for (o, g) in outputs.iter().zip(&got.outputs) {
                assert_eq!(
                    g,
                    &want[o],
                    "seed {seed} on {}: output {}",
                    tb.name,
                    graph.tensor(*o).name
                );
            }
        }
    }
}
