//! Builds a [`Graph`] op by op with shape checks. A wrong shape is a programming error in a
//! model builder, so it panics with `#[track_caller]` pointing at the offending call; models
//! validate file-supplied dimensions before they build anything.

use std::collections::HashMap;

use super::op::{AttentionSpec, GluAct, Op, RopeSpec};
use super::params::ParamTable;
use super::tensor::{ElemType, ParamId, Shape, Source, TensorDesc, TensorId};
use super::{Graph, Node};

/// Incrementally builds a graph over the persistent tensors of `params`.
pub struct GraphBuilder<'p> {
    params: &'p ParamTable,
    tensors: Vec<TensorDesc>,
    nodes: Vec<Node>,
    param_tensors: HashMap<ParamId, TensorId>,
    outputs: Vec<TensorId>,
    layer: Option<u32>,
}

impl<'p> GraphBuilder<'p> {
    pub fn new(params: &'p ParamTable) -> Self {
        GraphBuilder {
            params,
            tensors: Vec::new(),
            nodes: Vec::new(),
            param_tensors: HashMap::new(),
            outputs: Vec::new(),
            layer: None,
        }
    }

    /// Tags the nodes built from now on with a transformer layer (`None`: outside layers).
    pub fn set_layer(&mut self, layer: Option<u32>) {
        self.layer = layer;
    }

    pub fn shape(&self, t: TensorId) -> Shape {
        self.tensors[t.index()].shape
    }

    pub fn ty(&self, t: TensorId) -> ElemType {
        self.tensors[t.index()].ty
    }

    fn push(&mut self, shape: Shape, ty: ElemType, source: Source, name: String) -> TensorId {
        self.tensors.push(TensorDesc { shape, ty, source, name });
        TensorId(self.tensors.len() as u32 - 1)
    }

    fn node(&mut self, op: Op, shape: Shape, ty: ElemType, name: &str) -> TensorId {
        let id = TensorId(self.tensors.len() as u32);
        let out = self.push(shape, ty, Source::Node(self.nodes.len() as u32), name.to_string());
        debug_assert_eq!(id, out);
        self.nodes.push(Node { op, out, layer: self.layer });
        out
    }

    /// A host input written before each execution.
    pub fn input(&mut self, name: &str, shape: &[usize], ty: ElemType) -> TensorId {
        self.push(Shape::new(shape), ty, Source::Input, name.to_string())
    }

    /// The graph tensor standing for persistent tensor `id` (one per param).
    pub fn param(&mut self, id: ParamId) -> TensorId {
        if let Some(&t) = self.param_tensors.get(&id) {
            return t;
        }
        let p = self.params.get(id);
        let t = self.push(p.shape, p.ty, Source::Param(id), p.name.clone());
        self.param_tensors.insert(id, t);
        t
    }

    /// Rows `rows` and columns `cols` of 2-D f32 tensor `of`, without a copy.
    #[track_caller]
    pub fn view(
        &mut self,
        of: TensorId,
        rows: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
    ) -> TensorId {
        let s = self.shape(of);
        assert_eq!(s.rank(), 2, "view of a rank-{} tensor", s.rank());
        assert!(
            rows.end <= s.rows() && cols.end <= s.cols() && !rows.is_empty() && !cols.is_empty()
        );
        assert_eq!(self.ty(of), ElemType::F32, "views are of f32 activations");
        let src = Source::View { of, row_offset: rows.start, col_offset: cols.start };
        let name = format!("{}[view]", self.tensors[of.index()].name);
        self.push(Shape::new(&[rows.len(), cols.len()]), ElemType::F32, src, name)
    }

    #[track_caller]
    fn expect_f32_2d(&self, t: TensorId, what: &str) -> (usize, usize) {
        let s = self.shape(t);
        assert_eq!(self.ty(t), ElemType::F32, "{what} must be f32");
        assert_eq!(s.rank(), 2, "{what} must be 2-D, got {s:?}");
        (s.rows(), s.cols())
    }

    #[track_caller]
    fn expect_weight(&self, w: TensorId, cols: usize) -> usize {
        let s = self.shape(w);
        assert_eq!(s.rank(), 2, "weight {} must be 2-D", self.tensors[w.index()].name);
        assert_eq!(
            s.cols(),
            cols,
            "weight {} has {} cols, x has {cols}",
            self.tensors[w.index()].name,
            s.cols()
        );
        assert!(matches!(self.ty(w), ElemType::Float(_)), "weights are float/quantized");
        s.rows()
    }

    #[track_caller]
    pub fn get_rows(&mut self, table: TensorId, ids: TensorId, scale: f32, name: &str) -> TensorId {
        let ts = self.shape(table);
        assert_eq!(ts.rank(), 2, "embedding table must be 2-D");
        assert_eq!(self.ty(ids), ElemType::U32, "ids must be U32");
        assert_eq!(self.shape(ids).rank(), 1, "ids must be 1-D");
        let shape = Shape::new(&[self.shape(ids).n_elements(), ts.cols()]);
        self.node(Op::GetRows { table, ids, scale }, shape, ElemType::F32, name)
    }

    /// `x · Wᵀ` for one or more weights, concatenated, with optional bias and residual.
    #[track_caller]
    pub fn matmul(
        &mut self,
        weights: &[TensorId],
        x: TensorId,
        bias: Option<TensorId>,
        residual: Option<TensorId>,
        name: &str,
    ) -> TensorId {
        assert!(!weights.is_empty(), "matmul needs a weight");
        let (n, cols) = self.expect_f32_2d(x, "matmul x");
        let rows: usize = weights.iter().map(|&w| self.expect_weight(w, cols)).sum();
        if let Some(b) = bias {
            assert_eq!(self.shape(b).n_elements(), rows, "bias length");
            assert_eq!(self.ty(b), ElemType::F32, "bias must be f32");
        }
        if let Some(r) = residual {
            assert_eq!(self.expect_f32_2d(r, "residual"), (n, rows), "residual shape");
        }
        let op = Op::MatMul { weights: weights.to_vec(), x, bias, residual };
        self.node(op, Shape::new(&[n, rows]), ElemType::F32, name)
    }

    #[track_caller]
    pub fn matmul_glu(
        &mut self,
        gate: TensorId,
        up: TensorId,
        x: TensorId,
        act: GluAct,
        name: &str,
    ) -> TensorId {
        let (n, cols) = self.expect_f32_2d(x, "matmul_glu x");
        let rows = self.expect_weight(gate, cols);
        assert_eq!(self.expect_weight(up, cols), rows, "gate and up must have equal rows");
        self.node(Op::MatMulGlu { gate, up, x, act }, Shape::new(&[n, rows]), ElemType::F32, name)
    }

    #[track_caller]
    pub fn rms_norm(
        &mut self,
        x: TensorId,
        weight: TensorId,
        eps: f32,
        residual: Option<TensorId>,
        name: &str,
    ) -> TensorId {
        let (n, cols) = self.expect_f32_2d(x, "rms_norm x");
        let group = self.shape(weight).n_elements();
        assert_eq!(self.ty(weight), ElemType::F32, "norm weight must be f32");
        assert!(group > 0 && cols % group == 0, "row of {cols} is not whole groups of {group}");
        if let Some(r) = residual {
            assert_eq!(self.expect_f32_2d(r, "residual"), (n, cols), "residual shape");
        }
        self.node(
            Op::RmsNorm { x, weight, eps, residual },
            Shape::new(&[n, cols]),
            ElemType::F32,
            name,
        )
    }

    #[track_caller]
    fn check_rope(&self, x: TensorId, table: TensorId, spec: RopeSpec) {
        let (_, cols) = self.expect_f32_2d(x, "rope x");
        assert_eq!(cols, (spec.n_heads * spec.head_dim) as usize, "rope x width");
        assert!(
            spec.n_rot.is_multiple_of(2) && spec.n_rot <= spec.head_dim,
            "bad n_rot {}",
            spec.n_rot
        );
        let ts = self.shape(table);
        assert_eq!(ts.rank(), 3, "rope table must be (max_pos, n_rot/2, 2)");
        assert_eq!(ts.dims()[1..], [spec.n_rot as usize / 2, 2], "rope table shape {ts:?}");
    }

    /// RoPE into a new tensor.
    #[track_caller]
    pub fn rope(&mut self, x: TensorId, table: TensorId, spec: RopeSpec, name: &str) -> TensorId {
        self.check_rope(x, table, spec);
        let shape = self.shape(x);
        self.node(
            Op::Rope { x, table, spec, cache: None },
            Shape::new(shape.dims()),
            ElemType::F32,
            name,
        )
    }

    #[track_caller]
    fn check_cache(&self, cache: TensorId, n_kv_heads: u32, head_dim: u32) {
        let s = self.shape(cache);
        assert!(matches!(self.tensors[cache.index()].source, Source::Param(_) | Source::Node(_)));
        assert_eq!(s.rank(), 3, "KV cache must be (n_kv_heads, ctx, head_dim)");
        assert_eq!(
            (s.dims()[0], s.dims()[2]),
            (n_kv_heads as usize, head_dim as usize),
            "KV cache shape {s:?}"
        );
        assert!(
            matches!(self.ty(cache), ElemType::F32 | ElemType::F16),
            "KV cache must be F32 or F16"
        );
    }

    /// RoPE of K written straight into its cache; returns the updated cache.
    #[track_caller]
    pub fn rope_into_cache(
        &mut self,
        x: TensorId,
        table: TensorId,
        spec: RopeSpec,
        cache: TensorId,
    ) -> TensorId {
        self.check_rope(x, table, spec);
        self.check_cache(cache, spec.n_heads, spec.head_dim);
        let (shape, ty, name) =
            (self.shape(cache), self.ty(cache), self.tensors[cache.index()].name.clone());
        self.node(Op::Rope { x, table, spec, cache: Some(cache) }, shape, ty, &name)
    }

    /// Writes V rows into its cache; returns the updated cache.
    #[track_caller]
    pub fn kv_write(&mut self, cache: TensorId, src: TensorId) -> TensorId {
        let (_, cols) = self.expect_f32_2d(src, "kv_write src");
        let s = self.shape(cache);
        self.check_cache(cache, s.dims()[0] as u32, s.dims()[2] as u32);
        assert_eq!(cols, s.dims()[0] * s.dims()[2], "kv_write src width");
        let (ty, name) = (self.ty(cache), self.tensors[cache.index()].name.clone());
        self.node(Op::KvWrite { cache, src }, s, ty, &name)
    }

    #[track_caller]
    pub fn attention(
        &mut self,
        q: TensorId,
        k: TensorId,
        v: TensorId,
        spec: AttentionSpec,
        name: &str,
    ) -> TensorId {
        let (n, cols) = self.expect_f32_2d(q, "attention q");
        assert_eq!(cols, (spec.n_heads * spec.head_dim) as usize, "attention q width");
        assert!(
            spec.n_kv_heads > 0 && spec.n_heads.is_multiple_of(spec.n_kv_heads),
            "heads not grouped evenly"
        );
        self.check_cache(k, spec.n_kv_heads, spec.head_dim);
        self.check_cache(v, spec.n_kv_heads, spec.head_dim);
        self.node(Op::Attention { q, k, v, spec }, Shape::new(&[n, cols]), ElemType::F32, name)
    }

    #[track_caller]
    pub fn glu(&mut self, gate: TensorId, up: TensorId, act: GluAct, name: &str) -> TensorId {
        let s = self.expect_f32_2d(gate, "glu gate");
        assert_eq!(self.expect_f32_2d(up, "glu up"), s, "glu gate/up shapes");
        self.node(Op::Glu { gate, up, act }, Shape::new(&[s.0, s.1]), ElemType::F32, name)
    }

    #[track_caller]
    pub fn softmax(&mut self, x: TensorId, name: &str) -> TensorId {
        let (r, c) = self.expect_f32_2d(x, "softmax x");
        self.node(Op::Softmax { x }, Shape::new(&[r, c]), ElemType::F32, name)
    }

    #[track_caller]
    fn binary(&mut self, a: TensorId, b: TensorId, mul: bool, name: &str) -> TensorId {
        let (r, c) = self.expect_f32_2d(a, "a");
        let bs = self.shape(b);
        assert_eq!(self.ty(b), ElemType::F32, "b must be f32");
        assert!(bs.cols() == c && (bs.rows() == r || bs.rows() == 1), "b {bs:?} vs a ({r}, {c})");
        let op = if mul { Op::Mul { a, b } } else { Op::Add { a, b } };
        self.node(op, Shape::new(&[r, c]), ElemType::F32, name)
    }

    #[track_caller]
    pub fn add(&mut self, a: TensorId, b: TensorId, name: &str) -> TensorId {
        self.binary(a, b, false, name)
    }

    #[track_caller]
    pub fn mul(&mut self, a: TensorId, b: TensorId, name: &str) -> TensorId {
        self.binary(a, b, true, name)
    }

    #[track_caller]
    pub fn scale(&mut self, x: TensorId, s: f32, name: &str) -> TensorId {
        let (r, c) = self.expect_f32_2d(x, "scale x");
        self.node(Op::Scale { x, s }, Shape::new(&[r, c]), ElemType::F32, name)
    }

    #[track_caller]
    pub fn argmax(&mut self, x: TensorId, name: &str) -> TensorId {
        let (r, _) = self.expect_f32_2d(x, "argmax x");
        self.node(Op::Argmax { x }, Shape::new(&[r]), ElemType::U32, name)
    }

    #[track_caller]
    pub fn copy(&mut self, x: TensorId, name: &str) -> TensorId {
        let (r, c) = self.expect_f32_2d(x, "copy x");
        self.node(Op::Copy { x }, Shape::new(&[r, c]), ElemType::F32, name)
    }

    /// Marks a tensor the host reads after execution.
    pub fn output(&mut self, t: TensorId) {
        if !self.outputs.contains(&t) {
            self.outputs.push(t);
        }
    }

    pub fn build(self) -> Graph {
        Graph { tensors: self.tensors, nodes: self.nodes, outputs: self.outputs }
    }
}
