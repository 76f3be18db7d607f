//! The planner: which nodes run and in what order, how long each activation lives, and where
//! it sits in one activation arena.
//!
//! Buffer reuse is greedy by size (the TFLite/ratchet "greedy by size" offset assignment): the
//! largest tensors are placed first, each at the lowest arena offset that overlaps no already
//! placed tensor whose lifetime intersects its own. Inputs live from before the first node;
//! outputs until after the last.

use super::Graph;
use super::tensor::{ParamId, Source, TensorId};

/// Arena offsets are multiples of this many bytes (WebGPU's default
/// `min_storage_buffer_offset_alignment`, so any tensor can also be bound on its own).
pub const ARENA_ALIGN: usize = 256;

/// The buffer a tensor's elements live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buf {
    /// The graph's activation arena.
    Arena,
    /// A persistent tensor.
    Param(ParamId),
}

/// Where element `(r, c)` of a tensor lives: `buf[offset + r·row_stride + c]`, in elements of
/// the tensor's type (4-byte units for the f32/u32 arena).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub buf: Buf,
    pub offset: usize,
    pub row_stride: usize,
}

/// An executable schedule for one graph.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Node indices in execution order; nodes that feed no output and write no state are gone.
    pub order: Vec<u32>,
    /// Per tensor: its location, or `None` for tensors the plan never touches.
    pub locations: Vec<Option<Location>>,
    /// Per tensor: the `[first, last]` positions in `order` during which an arena tensor must
    /// keep its value (`first = 0` for inputs: written before the first node).
    pub lifetimes: Vec<Option<(usize, usize)>>,
    /// Bytes of the activation arena.
    pub arena_bytes: usize,
}

impl Plan {
    /// Plans `graph`.
    pub fn new(graph: &Graph) -> Plan {
        let order = live_nodes(graph);
        let n = graph.tensors.len();

        // Lifetimes of arena-resident tensors, in "time" units: node k of `order` runs at time
        // k + 1; inputs are written at time 0; outputs are read after the last node.
        let end = order.len() + 1;
        let mut life: Vec<Option<(usize, usize)>> = vec![None; n];
        let root = |mut t: TensorId| loop {
            match graph.tensor(t).source {
                Source::View { of, .. } => t = of,
                _ => return t,
            }
        };
        for (k, &ni) in order.iter().enumerate() {
            let node = &graph.nodes[ni as usize];
            let time = k + 1;
            if node.op.alias().is_none() {
                life[node.out.index()] = Some((time, time));
            }
            for inp in node.op.inputs() {
                let r = root(inp);
                if matches!(graph.tensor(r).source, Source::Input) && life[r.index()].is_none() {
                    life[r.index()] = Some((0, 0));
                }
                if let Some((_, last)) = life[r.index()].as_mut() {
                    *last = (*last).max(time);
                }
            }
        }
        for &o in &graph.outputs {
            let r = root(o);
            if matches!(graph.tensor(r).source, Source::Input) && life[r.index()].is_none() {
                life[r.index()] = Some((0, 0));
            }
            if let Some((_, last)) = life[r.index()].as_mut() {
                *last = end;
            }
        }

        // Greedy by size.
        let size = |t: usize| {
            let d = &graph.tensors[t];
            let bytes =
                d.ty.bytes(d.shape.n_elements()).expect("invariant: activations are f32/u32");
            bytes.div_ceil(ARENA_ALIGN) * ARENA_ALIGN
        };
        let mut todo: Vec<usize> = (0..n).filter(|&t| life[t].is_some()).collect();
        todo.sort_by_key(|&t| (std::cmp::Reverse(size(t)), t));
        let mut placed: Vec<(usize, usize, usize, usize)> = Vec::new(); // (offset, size, first, last)
        let mut offsets = vec![0usize; n];
        let mut arena_bytes = 0;
        for t in todo {
            let (first, last) = life[t].expect("invariant: filtered on Some");
            let sz = size(t);
            let mut clashes: Vec<(usize, usize)> = placed
                .iter()
                .filter(|p| p.2 <= last && first <= p.3)
                .map(|p| (p.0, p.0 + p.1))
                .collect();
            clashes.sort_unstable();
            let mut off = 0;
            for (s, e) in clashes {
                if off + sz <= s {
                    break;
                }
                off = off.max(e);
            }
            placed.push((off, sz, first, last));
            offsets[t] = off;
            arena_bytes = arena_bytes.max(off + sz);
        }

        let locations =
            (0..n).map(|t| resolve(graph, TensorId(t as u32), &life, &offsets)).collect();
        Plan { order, locations, lifetimes: life, arena_bytes }
    }

    pub fn location(&self, t: TensorId) -> Location {
        self.locations[t.index()].expect("invariant: tensor is used by the plan")
    }
}

/// Nodes needed for the outputs or writing persistent state, in construction order.
fn live_nodes(graph: &Graph) -> Vec<u32> {
    let mut needed = vec![false; graph.nodes.len()];
    let mut stack: Vec<TensorId> = graph.outputs.clone();
    for node in &graph.nodes {
        if node.op.alias().is_some() {
            stack.push(node.out);
        }
    }
    while let Some(t) = stack.pop() {
        match graph.tensor(t).source {
            Source::Node(ni) if !needed[ni as usize] => {
                needed[ni as usize] = true;
                stack.extend(graph.nodes[ni as usize].op.inputs());
            }
            Source::View { of, .. } => stack.push(of),
            _ => {}
        }
    }
    (0..graph.nodes.len() as u32).filter(|&i| needed[i as usize]).collect()
}

fn resolve(
    graph: &Graph,
    t: TensorId,
    life: &[Option<(usize, usize)>],
    offsets: &[usize],
) -> Option<Location> {
    let d = graph.tensor(t);
    match d.source {
        Source::Param(p) => {
            Some(Location { buf: Buf::Param(p), offset: 0, row_stride: d.shape.cols() })
        }
        Source::View { of, row_offset, col_offset } => {
            let parent = resolve(graph, of, life, offsets)?;
            Some(Location {
                buf: parent.buf,
                offset: parent.offset + row_offset * parent.row_stride + col_offset,
                row_stride: parent.row_stride,
            })
        }
        Source::Node(ni) => match graph.nodes[ni as usize].op.alias() {
            Some(a) => resolve(graph, a, life, offsets),
            None => life[t.index()].map(|_| Location {
                buf: Buf::Arena,
                offset: offsets[t.index()] / 4,
                row_stride: d.shape.cols(),
            }),
        },
        Source::Input => life[t.index()].map(|_| Location {
            buf: Buf::Arena,
            offset: offsets[t.index()] / 4,
            row_stride: d.shape.cols(),
        }),
    }
}
