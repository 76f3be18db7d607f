//! The closed list of operations kiln computes. Backends match on [`Op`] exhaustively (no `_`
//! arm), so adding a variant makes the compiler list every place that must learn it.
//!
//! Conventions shared by every backend and by kernels-ref: activations are f32 and row-major;
//! a token's vector is one row; weights are `(rows = out, cols = in)` and `y = W·x`; the graph
//! is executed for `n` tokens at positions `pos .. pos + n`, where `pos` is a per-step runtime
//! value ([`Step`](super::Step)), not part of the graph.

use super::tensor::TensorId;

/// Gated linear unit activation applied to the gate: `act(g) · u`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GluAct {
    /// `silu(g) = g / (1 + e^−g)` (llama, qwen).
    Silu,
    /// ggml's tanh-approximated GELU, `0.5·g·(1 + tanh(√(2/π)·(g + 0.044715·g³)))` (Gemma),
    /// computed as the equivalent `g / (1 + e^(−2v))` to avoid cancellation.
    GeluTanh,
}

/// How RoPE pairs the dimensions of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RopeSpec {
    pub n_heads: u32,
    pub head_dim: u32,
    /// Rotated dimensions (≤ head_dim, even); the rest pass through.
    pub n_rot: u32,
    /// false: pairs `(x[2i], x[2i+1])` (ggml NORM, llama); true: `(x[i], x[i + n_rot/2])`
    /// (ggml NEOX: qwen2, qwen3, gemma3).
    pub neox: bool,
}

/// Shape and options of an attention op.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttentionSpec {
    pub n_heads: u32,
    pub n_kv_heads: u32,
    pub head_dim: u32,
    /// Multiplies `q·k` before the softmax (usually `1/√head_dim`).
    pub scale: f32,
    /// Sliding window W: key j is visible to the query at position p iff `p − j < W`.
    pub window: Option<u32>,
    /// Logit soft-capping `c·tanh(s/c)` applied to scaled scores.
    pub softcap: Option<f32>,
}

/// One operation. Inputs are tensor ids of the same graph; each op has exactly one output
/// tensor, except that ops writing a KV cache output the cache itself (see [`Op::alias`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `out[i] = table[ids[i]] · scale`. table: weight `(vocab, cols)` of any dtype; ids: U32
    /// `(n)`; out: f32 `(n, cols)`.
    GetRows { table: TensorId, ids: TensorId, scale: f32 },
    /// `out = concat_j(x · W_jᵀ) (+ bias) (+ residual)`. x: `(n, cols)`; each W_j:
    /// `(rows_j, cols)`; bias: `(Σ rows_j)`; residual: `(n, Σ rows_j)`; out: `(n, Σ rows_j)`.
    /// Several weights let Q, K and V share one pass over x.
    MatMul {
        weights: Vec<TensorId>,
        x: TensorId,
        bias: Option<TensorId>,
        residual: Option<TensorId>,
    },
    /// `out = act(x · Gᵀ) ⊙ (x · Uᵀ)`; gate and up: `(rows, cols)`; out: `(n, rows)`.
    MatMulGlu { gate: TensorId, up: TensorId, x: TensorId, act: GluAct },
    /// Splits each row of x into groups of `len(weight)` elements and writes
    /// `g / √(mean(g²) + eps) · weight (+ residual)`. Per-row norms and per-head Q/K norms
    /// are the same op.
    RmsNorm { x: TensorId, weight: TensorId, eps: f32, residual: Option<TensorId> },
    /// Rotates each head of x `(n, n_heads·head_dim)` by the angle of its token's position,
    /// taken from `table` `(max_pos, n_rot/2, 2)` = (cos, sin), built in f64 on the host. With
    /// `cache`, the result is written into the KV cache at positions `pos..pos+n` instead
    /// (`n_heads` is then the number of KV heads) and the output is the cache.
    Rope { x: TensorId, table: TensorId, spec: RopeSpec, cache: Option<TensorId> },
    /// Writes `src` `(n, n_kv_heads·head_dim)` into `cache` `(n_kv_heads, ctx, head_dim)` at
    /// positions `pos..pos+n`; the output is the cache.
    KvWrite { cache: TensorId, src: TensorId },
    /// Causal attention of the n queries (positions `pos..pos+n`) over cache entries
    /// `0..pos+n`. q: `(n, n_heads·head_dim)`; k, v: caches `(n_kv_heads, ctx, head_dim)`;
    /// out: `(n, n_heads·head_dim)`. Query head h reads KV head `h / (n_heads/n_kv_heads)`.
    Attention { q: TensorId, k: TensorId, v: TensorId, spec: AttentionSpec },
    /// `out = act(gate) ⊙ up`, elementwise.
    Glu { gate: TensorId, up: TensorId, act: GluAct },
    /// Softmax of each row (max-subtracted).
    Softmax { x: TensorId },
    /// `a + b`; b has a's shape or is one row broadcast over a's rows.
    Add { a: TensorId, b: TensorId },
    /// `a ⊙ b`; b has a's shape or is one row broadcast over a's rows.
    Mul { a: TensorId, b: TensorId },
    /// `x · s`.
    Scale { x: TensorId, s: f32 },
    /// Index of the largest element of each row (U32); ties go to the lowest index, NaN
    /// counts as −∞.
    Argmax { x: TensorId },
    /// Contiguous copy of x (materialises a view).
    Copy { x: TensorId },
}

impl Op {
    /// Every tensor the op reads, in a fixed order.
    pub fn inputs(&self) -> Vec<TensorId> {
        match self {
            Op::GetRows { table, ids, .. } => vec![*table, *ids],
            Op::MatMul { weights, x, bias, residual } => {
                let mut v = weights.clone();
                v.push(*x);
                v.extend(bias.iter().chain(residual.iter()));
                v
            }
            Op::MatMulGlu { gate, up, x, .. } => vec![*gate, *up, *x],
            Op::RmsNorm { x, weight, residual, .. } => {
                let mut v = vec![*x, *weight];
                v.extend(residual.iter());
                v
            }
            Op::Rope { x, table, cache, .. } => {
                let mut v = vec![*x, *table];
                v.extend(cache.iter());
                v
            }
            Op::KvWrite { cache, src } => vec![*cache, *src],
            Op::Attention { q, k, v, .. } => vec![*q, *k, *v],
            Op::Glu { gate, up, .. } => vec![*gate, *up],
            Op::Softmax { x } | Op::Scale { x, .. } | Op::Argmax { x } | Op::Copy { x } => {
                vec![*x]
            }
            Op::Add { a, b } | Op::Mul { a, b } => vec![*a, *b],
        }
    }

    /// The input whose storage the output shares (a KV cache written in place), if any.
    pub fn alias(&self) -> Option<TensorId> {
        match self {
            Op::KvWrite { cache, .. } => Some(*cache),
            Op::Rope { cache, .. } => *cache,
            Op::GetRows { .. }
            | Op::MatMul { .. }
            | Op::MatMulGlu { .. }
            | Op::RmsNorm { .. }
            | Op::Attention { .. }
            | Op::Glu { .. }
            | Op::Softmax { .. }
            | Op::Add { .. }
            | Op::Mul { .. }
            | Op::Scale { .. }
            | Op::Argmax { .. }
            | Op::Copy { .. } => None,
        }
    }

    /// Short stem used in logs, profiles and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Op::GetRows { .. } => "get_rows",
            Op::MatMul { .. } => "matmul",
            Op::MatMulGlu { .. } => "matmul_glu",
            Op::RmsNorm { .. } => "rms_norm",
            Op::Rope { .. } => "rope",
            Op::KvWrite { .. } => "kv_write",
            Op::Attention { .. } => "attention",
            Op::Glu { .. } => "glu",
            Op::Softmax { .. } => "softmax",
            Op::Add { .. } => "add",
            Op::Mul { .. } => "mul",
            Op::Scale { .. } => "scale",
            Op::Argmax { .. } => "argmax",
            Op::Copy { .. } => "copy",
        }
    }
}
