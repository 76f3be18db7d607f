//! Tensor descriptions of the graph IR: ids, shapes, element types, and where a tensor's data
//! comes from (a node, a host input, a persistent parameter, or a column view of another tensor).

use crate::quant::DType;

/// Index of a tensor inside one [`Graph`](super::Graph).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(pub u32);

impl TensorId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Index of a persistent tensor in a [`ParamTable`](super::ParamTable): a weight, a KV cache,
/// a RoPE table. Persistent tensors outlive graphs and are shared by all graphs of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(pub u32);

impl ParamId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Element type of a tensor: a ggml type (activations are F32; KV caches F16 or F32; weights
/// any [`DType`]) or 32-bit unsigned integers (token ids, argmax results).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElemType {
    U32,
    Float(DType),
}

impl ElemType {
    pub const F32: ElemType = ElemType::Float(DType::F32);
    pub const F16: ElemType = ElemType::Float(DType::F16);

    /// Bytes of `n` elements; `None` if `n` is not a whole number of blocks or overflows.
    pub fn bytes(self, n: usize) -> Option<usize> {
        match self {
            ElemType::U32 => n.checked_mul(4),
            ElemType::Float(dt) => dt.row_bytes(n as u64).and_then(|b| usize::try_from(b).ok()),
        }
    }
}

impl std::fmt::Display for ElemType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ElemType::U32 => f.write_str("U32"),
            ElemType::Float(dt) => write!(f, "{dt}"),
        }
    }
}

/// Row-major shape of up to 4 dimensions; the last dimension is contiguous.
/// Matrices are `(rows, cols)` with `y = W·x` (DESIGN.md §6).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    dims: [usize; 4],
    rank: u8,
}

impl Shape {
    #[track_caller]
    pub fn new(dims: &[usize]) -> Shape {
        assert!(!dims.is_empty() && dims.len() <= 4, "shape rank must be 1..=4, got {dims:?}");
        let mut d = [1; 4];
        d[..dims.len()].copy_from_slice(dims);
        Shape { dims: d, rank: dims.len() as u8 }
    }

    pub fn dims(&self) -> &[usize] {
        &self.dims[..self.rank as usize]
    }

    pub fn rank(&self) -> usize {
        self.rank as usize
    }

    pub fn n_elements(&self) -> usize {
        self.dims().iter().product()
    }

    /// Length of the last (contiguous) dimension.
    pub fn cols(&self) -> usize {
        self.dims[self.rank as usize - 1]
    }

    /// Product of every dimension but the last.
    pub fn rows(&self) -> usize {
        self.dims[..self.rank as usize - 1].iter().product()
    }
}

impl std::fmt::Debug for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.dims())
    }
}

/// Where a tensor's data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Written by the host before each execution (token ids).
    Input,
    /// A persistent tensor of the model's [`ParamTable`](super::ParamTable).
    Param(ParamId),
    /// The output of node `n` of the graph.
    Node(u32),
    /// A window of a 2-D tensor `of` starting at `(row_offset, col_offset)`, its shape given by
    /// the view's own shape; rows keep the parent's stride. Lets ops read the Q, K and V parts
    /// of one fused projection, or the last token's row, without copies.
    View { of: TensorId, row_offset: usize, col_offset: usize },
}

/// One tensor of a graph.
#[derive(Debug, Clone)]
pub struct TensorDesc {
    pub shape: Shape,
    pub ty: ElemType,
    pub source: Source,
    /// Name for debugging and error messages ("blk.3.ffn_up", "logits").
    pub name: String,
}
