//! Splitting a graph into consecutive segments, each to run on its own device: the basis of
//! layer offloading. Every tensor a segment reads from an earlier segment (or from the host)
//! becomes a host input of that segment; every tensor a later segment reads, or the host wants,
//! becomes an output. Persistent tensors stay shared by id, so each device loads only the
//! parameters its segments touch.

use std::collections::HashMap;

use super::tensor::{Source, TensorDesc, TensorId};
use super::{Graph, Node};

/// One segment of a split graph.
#[derive(Debug, Clone)]
pub struct Segment {
    pub graph: Graph,
    /// Inputs of `graph` and the tensor of the original graph each receives.
    pub inputs: Vec<(TensorId, TensorId)>,
    /// Outputs of `graph` and the tensor of the original graph each produces.
    pub outputs: Vec<(TensorId, TensorId)>,
}

/// Splits `graph` at node indices `cuts` (ascending; a segment starts at each cut) into
/// `cuts.len() + 1` segments. Views are re-created inside the segment that reads them, over
/// the transferred parent tensor.
pub fn split(graph: &Graph, cuts: &[usize]) -> Vec<Segment> {
    let n = graph.nodes.len();
    let mut bounds = vec![0];
    bounds.extend(cuts.iter().copied().filter(|&c| c > 0 && c < n));
    bounds.push(n);
    bounds.dedup();
    let segment_of = |node: usize| {
        bounds.windows(2).position(|w| node >= w[0] && node < w[1]).expect("node in a segment")
    };

    // Which segments read each tensor (through views too), and whether the host reads it.
    let root = |mut t: TensorId| loop {
        match graph.tensor(t).source {
            Source::View { of, .. } => t = of,
            _ => return t,
        }
    };
    let mut readers: HashMap<TensorId, Vec<usize>> = HashMap::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        for t in node.op.inputs() {
            readers.entry(root(t)).or_default().push(segment_of(i));
        }
    }

    let mut out = Vec::new();
    for (s, w) in bounds.windows(2).enumerate() {
        let mut tensors: Vec<TensorDesc> = Vec::new();
        let mut map: HashMap<TensorId, TensorId> = HashMap::new();
        let mut inputs = Vec::new();
        let mut nodes: Vec<Node> = Vec::new();
        // Maps an original tensor into this segment, creating inputs and views as needed.
        fn bring(
            graph: &Graph,
            t: TensorId,
            tensors: &mut Vec<TensorDesc>,
            map: &mut HashMap<TensorId, TensorId>,
            inputs: &mut Vec<(TensorId, TensorId)>,
        ) -> TensorId {
            if let Some(&m) = map.get(&t) {
                return m;
            }
            let d = graph.tensor(t).clone();
            // A cache written in place is the persistent tensor itself.
            if let Source::Node(n) = d.source
                && let Some(a) = graph.nodes[n as usize].op.alias()
            {
                let id = bring(graph, a, tensors, map, inputs);
                map.insert(t, id);
                return id;
            }
            let new = match d.source {
                Source::Param(_) => d,
                Source::View { of, row_offset, col_offset } => {
                    let parent = bring(graph, of, tensors, map, inputs);
                    TensorDesc { source: Source::View { of: parent, row_offset, col_offset }, ..d }
                }
                Source::Input | Source::Node(_) => TensorDesc { source: Source::Input, ..d },
            };
            let is_input = new.source == Source::Input;
            tensors.push(new);
            let id = TensorId(tensors.len() as u32 - 1);
            if is_input {
                inputs.push((id, t));
            }
            map.insert(t, id);
            id
        }
        for node in &graph.nodes[w[0]..w[1]] {
            let mut op = node.op.clone();
            remap_inputs(&mut op, |t| bring(graph, t, &mut tensors, &mut map, &mut inputs));
            let d = graph.tensor(node.out).clone();
            tensors.push(TensorDesc { source: Source::Node(nodes.len() as u32), ..d });
            let out_id = TensorId(tensors.len() as u32 - 1);
            map.insert(node.out, out_id);
            nodes.push(Node { op, out: out_id, layer: node.layer });
        }
        // Outputs: produced here and read later or by the host.
        let mut outputs = Vec::new();
        for node in &graph.nodes[w[0]..w[1]] {
            let read_later = readers.get(&node.out).is_some_and(|r| r.iter().any(|&k| k > s));
            if (read_later || graph.outputs.contains(&node.out)) && node.op.alias().is_none() {
                outputs.push((map[&node.out], node.out));
            }
        }
        let seg_outputs = outputs.iter().map(|o| o.0).collect();
        out.push(Segment {
            graph: Graph { tensors, nodes, outputs: seg_outputs },
            inputs,
            outputs,
        });
    }
    out
}

/// Rewrites every input tensor id of `op` with `f`.
fn remap_inputs(op: &mut super::Op, mut f: impl FnMut(TensorId) -> TensorId) {
    use super::Op;
    let mut m = |t: &mut TensorId| *t = f(*t);
    match op {
        Op::GetRows { table, ids, .. } => {
            m(table);
            m(ids);
        }
        Op::MatMul { weights, x, bias, residual } => {
            weights.iter_mut().for_each(&mut m);
            m(x);
            bias.iter_mut().for_each(&mut m);
            residual.iter_mut().for_each(&mut m);
        }
        Op::MatMulGlu { gate, up, x, .. } => {
            m(gate);
            m(up);
            m(x);
        }
        Op::RmsNorm { x, weight, residual, .. } => {
            m(x);
            m(weight);
            residual.iter_mut().for_each(&mut m);
        }
        Op::Rope { x, table, cache, .. } => {
            m(x);
            m(table);
            cache.iter_mut().for_each(&mut m);
        }
        Op::KvWrite { cache, src } => {
            m(cache);
            m(src);
        }
        Op::Attention { q, k, v, .. } => {
            m(q);
            m(k);
            m(v);
        }
        Op::Glu { gate, up, .. } => {
            m(gate);
            m(up);
        }
        Op::Add { a, b } | Op::Mul { a, b } => {
            m(a);
            m(b);
        }
        Op::Softmax { x } | Op::Scale { x, .. } | Op::Argmax { x } | Op::Copy { x } => m(x),
    }
}
