//! Device-agnostic compute graph: tensors, the closed [`Op`] enum, a builder with shape checks
//! and layer tags, and the planner (execution order, lifetimes, buffer reuse).
//!
//! May use: `quant`, `error`. Invariant: a [`Plan`] never gives two tensors that are live at
//! the same time overlapping bytes of the activation arena.

mod builder;
mod op;
mod params;
mod plan;
mod split;
mod tensor;

pub use builder::GraphBuilder;
pub use op::{AttentionSpec, GluAct, Op, RopeSpec};
pub use params::{HostBytes, HostMemory, ParamDesc, ParamInit, ParamTable};
pub use plan::{ARENA_ALIGN, Buf, Location, Plan};
pub use split::{Segment, split};
pub use tensor::{ElemType, ParamId, Shape, Source, TensorDesc, TensorId};

/// One operation of a graph and the tensor it produces.
#[derive(Debug, Clone)]
pub struct Node {
    pub op: Op,
    pub out: TensorId,
    /// Transformer layer the node belongs to (`None`: embedding, output head).
    pub layer: Option<u32>,
}

/// A graph for one step shape (e.g. decode: 1 token; prefill: n tokens). Nodes are stored in
/// construction order, which is a valid topological order.
#[derive(Debug, Clone)]
pub struct Graph {
    pub tensors: Vec<TensorDesc>,
    pub nodes: Vec<Node>,
    pub outputs: Vec<TensorId>,
}

impl Graph {
    pub fn tensor(&self, t: TensorId) -> &TensorDesc {
        &self.tensors[t.index()]
    }

    /// Host inputs, in id order.
    pub fn inputs(&self) -> impl Iterator<Item = TensorId> + '_ {
        self.tensors
            .iter()
            .enumerate()
            .filter(|(_, t)| t.source == Source::Input)
            .map(|(i, _)| TensorId(i as u32))
    }

    /// The node producing `t`, if a node does.
    pub fn producer(&self, t: TensorId) -> Option<&Node> {
        match self.tensor(t).source {
            Source::Node(n) => Some(&self.nodes[n as usize]),
            _ => None,
        }
    }
}

/// Runtime values of one execution: the graph's tokens sit at positions `pos..pos+n`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Step {
    pub pos: u32,
}
