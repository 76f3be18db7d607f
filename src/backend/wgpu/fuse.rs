//! Fusions across graph nodes, found when a graph is prepared: runs of consecutive nodes (in
//! the plan's order) that one wgpu kernel computes in a single dispatch. The graph keeps its
//! simple ops, which the CPU backend and kernels-ref run one by one; only the dispatch list
//! changes, and every fused result is the unfused kernels' arithmetic in the same order.
//!
//! - [`RopeQkv`]: RoPE of Q into a tensor, RoPE of K into its cache and the V cache write of
//!   one attention layer, each optionally after a per-head RMSNorm of Q and K (Gemma 3,
//!   Qwen 3): up to five nodes, one shaders/rope_qkv.wgsl dispatch.
//! - [`NormPair`]: an RMSNorm (+ residual) whose output the next node RMS-norms again (Gemma
//!   3's post-attention norm then the FFN's input norm, a post-FFN norm then the next layer's
//!   input norm): two nodes, one shaders/rms_norm.wgsl dispatch.
//!
//! Invariant (why a fusion is safe): members are consecutive in the order, so nothing else runs
//! between them; no member reads what another member writes, except the edges the kernel
//! computes itself (a norm feeding its RoPE or the second norm); the arena ranges a fused
//! kernel writes never overlap those it reads (checked on the plan: the planner may reuse a
//! dead input's bytes for a later member's output, and a fused kernel writes that output while
//! it still reads the input), except where the kernel orders the two itself (a `NormPair` of a
//! single group, one workgroup); and every weight it binds is resident or in one streamed
//! layer (stream.rs uploads a layer before its first dispatch). Anything else stays unfused.

use crate::graph::{Buf, Graph, Op, ParamId, Plan, RopeSpec, Source, TensorId};

/// Dispatch-building units of a prepared graph, in execution order.
pub enum Unit {
    /// One node, computed by its own kernel(s).
    Node(u32),
    RopeQkv(RopeQkv),
    NormPair(NormPair),
}

impl Unit {
    /// The last member node (the fused dispatch counts toward its layer).
    pub fn last_node(&self) -> u32 {
        match self {
            Unit::Node(n) => *n,
            Unit::RopeQkv(r) => *r.nodes.last().expect("invariant: members"),
            Unit::NormPair(p) => p.nodes[1],
        }
    }
}

/// One attention layer's Q/K/V preparation (`Op::RmsNorm` ×0..2, `Op::Rope` into a tensor and
/// into the K cache, `Op::KvWrite` of V).
pub struct RopeQkv {
    /// Member nodes, in order.
    pub nodes: Vec<u32>,
    /// Q, K and V before any norm: `(n, heads·head_dim)` arena tensors (views allowed).
    pub q: TensorId,
    pub k: TensorId,
    pub v: TensorId,
    /// Per-head norm weight `(head_dim)` and eps of Q and of K.
    pub q_norm: Option<(TensorId, f32)>,
    pub k_norm: Option<(TensorId, f32)>,
    pub table: TensorId,
    /// Q's RoPE (n_heads = Q heads); K's has the same layout over `n_kv_heads` heads.
    pub spec: RopeSpec,
    pub n_kv_heads: u32,
    /// The rotated Q (the Q rope's output) and the two caches.
    pub q_out: TensorId,
    pub k_cache: TensorId,
    pub v_cache: TensorId,
}

/// `y = rms_norm(x, w1) (+ residual)` then `z = rms_norm(y, w2)`, groups of equal length.
pub struct NormPair {
    pub nodes: [u32; 2],
    pub x: TensorId,
    pub w1: TensorId,
    pub eps1: f32,
    pub residual: Option<TensorId>,
    pub y: TensorId,
    pub w2: TensorId,
    pub eps2: f32,
    pub z: TensorId,
}

/// Groups `plan.order` into units. `one_stream(ids)`: the persistent tensors `ids` may be bound
/// by one dispatch (none of them, or all from one streamed layer, is streamed).
pub fn units(graph: &Graph, plan: &Plan, one_stream: impl Fn(&[ParamId]) -> bool) -> Vec<Unit> {
    let f = Finder { graph, plan, uses: uses(graph, plan), one_stream: &one_stream };
    let order = &plan.order;
    let mut out = Vec::with_capacity(order.len());
    let mut i = 0;
    while i < order.len() {
        if let Some(r) = (3..=5).rev().find_map(|n| f.rope_qkv(order.get(i..i + n)?)) {
            i += r.nodes.len();
            out.push(Unit::RopeQkv(r));
        } else if let Some(p) = order.get(i..i + 2).and_then(|w| f.norm_pair(w[0], w[1])) {
            i += 2;
            out.push(Unit::NormPair(p));
        } else {
            out.push(Unit::Node(order[i]));
            i += 1;
        }
    }
    out
}

/// How many times each tensor (by its root, through views) is read by a planned node or is a
/// graph output.
fn uses(graph: &Graph, plan: &Plan) -> Vec<usize> {
    let mut n = vec![0; graph.tensors.len()];
    let reads = plan.order.iter().flat_map(|&ni| graph.nodes[ni as usize].op.inputs());
    for t in reads.chain(graph.outputs.iter().copied()) {
        n[root(graph, t).index()] += 1;
    }
    n
}

fn root(graph: &Graph, mut t: TensorId) -> TensorId {
    while let Source::View { of, .. } = graph.tensor(t).source {
        t = of;
    }
    t
}

struct Finder<'a> {
    graph: &'a Graph,
    plan: &'a Plan,
    uses: Vec<usize>,
    one_stream: &'a dyn Fn(&[ParamId]) -> bool,
}

impl Finder<'_> {
    fn op(&self, ni: u32) -> &Op {
        &self.graph.nodes[ni as usize].op
    }

    fn out(&self, ni: u32) -> TensorId {
        self.graph.nodes[ni as usize].out
    }

    fn dims(&self, t: TensorId) -> &[usize] {
        self.graph.tensor(t).shape.dims()
    }

    /// Arena elements `[start, end)` a tensor spans; `None` outside the arena.
    fn span(&self, t: TensorId) -> Option<(usize, usize)> {
        let loc = self.plan.locations[t.index()]?;
        let s = self.graph.tensor(t).shape;
        (loc.buf == Buf::Arena)
            .then(|| (loc.offset, loc.offset + (s.rows().max(1) - 1) * loc.row_stride + s.cols()))
    }

    /// No tensor of `written` shares arena elements with a tensor of `read`.
    fn disjoint(&self, written: &[TensorId], read: &[TensorId]) -> bool {
        written.iter().all(|&w| {
            read.iter().all(|&r| match (self.span(w), self.span(r)) {
                (Some(a), Some(b)) => a.1 <= b.0 || b.1 <= a.0,
                _ => true,
            })
        })
    }

    fn param(&self, t: TensorId) -> Option<ParamId> {
        match self.plan.locations[t.index()]?.buf {
            Buf::Param(p) => Some(p),
            Buf::Arena => None,
        }
    }

    /// A per-head norm feeding one RoPE: `(x, weight, eps)` when node `ni` is an RMSNorm
    /// without residual whose groups are `head_dim` long and whose output only that RoPE
    /// reads.
    fn head_norm(&self, ni: u32, head_dim: u32) -> Option<(TensorId, TensorId, f32)> {
        let Op::RmsNorm { x, weight, eps, residual: None } = *self.op(ni) else { return None };
        let ok = self.graph.tensor(weight).shape.n_elements() == head_dim as usize
            && self.uses[self.out(ni).index()] == 1;
        ok.then_some((x, weight, eps))
    }

    /// `nodes` as one [`RopeQkv`], if they are exactly its members.
    fn rope_qkv(&self, nodes: &[u32]) -> Option<RopeQkv> {
        let (mut q, mut k, mut v, mut norms) = (None, None, None, Vec::new());
        for &ni in nodes {
            match self.op(ni) {
                Op::Rope { cache: None, .. } if q.is_none() => q = Some(ni),
                Op::Rope { cache: Some(_), .. } if k.is_none() => k = Some(ni),
                Op::KvWrite { .. } if v.is_none() => v = Some(ni),
                Op::RmsNorm { residual: None, .. } => norms.push(ni),
                _ => return None,
            }
        }
        let (qn, kn, vn) = (q?, k?, v?);
        let Op::Rope { x: qx, table, spec, cache: None } = *self.op(qn) else { return None };
        let Op::Rope { x: kx, table: kt, spec: ks, cache: Some(k_cache) } = *self.op(kn) else {
            return None;
        };
        let Op::KvWrite { cache: v_cache, src: v } = *self.op(vn) else { return None };
        let hd = spec.head_dim;
        let same_rope =
            kt == table && (ks.head_dim, ks.n_rot, ks.neox) == (hd, spec.n_rot, spec.neox);
        let cache_dims = self.dims(k_cache);
        let n = self.graph.tensor(qx).shape.rows();
        let shapes = cache_dims == self.dims(v_cache)
            && cache_dims.len() == 3
            && cache_dims[0] == ks.n_heads as usize
            && cache_dims[2] == hd as usize
            && self.graph.tensor(k_cache).ty == self.graph.tensor(v_cache).ty
            && [(qx, spec.n_heads), (kx, ks.n_heads), (v, ks.n_heads)].iter().all(|&(t, h)| {
                let s = self.graph.tensor(t).shape;
                s.rank() == 2 && s.rows() == n && s.cols() == (h * hd) as usize
            });
        if !same_rope || !shapes {
            return None;
        }
        // Each norm must feed one of the two RoPEs, at most one norm each.
        let (mut q_src, mut k_src, mut q_norm, mut k_norm) = (qx, kx, None, None);
        for &ni in &norms {
            let (x, w, eps) = self.head_norm(ni, hd)?;
            let out = self.out(ni);
            if out == qx && q_norm.is_none() {
                (q_src, q_norm) = (x, Some((w, eps)));
            } else if out == kx && k_norm.is_none() {
                (k_src, k_norm) = (x, Some((w, eps)));
            } else {
                return None;
            }
        }
        let q_out = self.out(qn);
        let sources = [q_src, k_src, v];
        let internal = [q_out, self.out(kn), self.out(vn)];
        let self_fed = sources.iter().any(|&s| internal.contains(&root(self.graph, s)));
        let weights: Vec<ParamId> =
            [q_norm, k_norm].iter().flatten().filter_map(|&(w, _)| self.param(w)).collect();
        if self_fed || !self.disjoint(&[q_out], &sources) || !(self.one_stream)(&weights) {
            return None;
        }
        Some(RopeQkv {
            nodes: nodes.to_vec(),
            q: q_src,
            k: k_src,
            v,
            q_norm,
            k_norm,
            table,
            spec,
            n_kv_heads: ks.n_heads,
            q_out,
            k_cache,
            v_cache,
        })
    }

    /// Nodes `a`, `b` as one [`NormPair`], if `b` RMS-norms `a`'s output in the same groups.
    fn norm_pair(&self, a: u32, b: u32) -> Option<NormPair> {
        let Op::RmsNorm { x, weight: w1, eps: eps1, residual } = *self.op(a) else { return None };
        let Op::RmsNorm { x: bx, weight: w2, eps: eps2, residual: None } = *self.op(b) else {
            return None;
        };
        let (y, z) = (self.out(a), self.out(b));
        let group = self.graph.tensor(w1).shape.n_elements();
        let ok = bx == y
            && self.graph.tensor(w2).shape.n_elements() == group
            && self.graph.tensor(z).shape == self.graph.tensor(y).shape;
        let read: Vec<TensorId> = std::iter::once(x).chain(residual).collect();
        let weights: Vec<ParamId> = [w1, w2].iter().filter_map(|&w| self.param(w)).collect();
        // z may land on x or r, which die at the first norm; the kernel orders that within one
        // workgroup (one group: a decode row), not across workgroups.
        let one_group = self.graph.tensor(y).shape.n_elements() == group;
        let safe = self.disjoint(&[y], &read)
            && self.disjoint(&[z], &[y])
            && (one_group || self.disjoint(&[z], &read));
        (ok && safe && (self.one_stream)(&weights)).then_some(NormPair {
            nodes: [a, b],
            x,
            w1,
            eps1,
            residual,
            y,
            w2,
            eps2,
            z,
        })
    }
}
