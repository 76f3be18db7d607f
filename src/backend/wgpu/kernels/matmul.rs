//! MatMul and MatMulGlu on the GPU: `y = x·Wᵀ` over raw GGUF weights, with fused bias, residual
//! and GLU epilogues. Up to four tokens run a decode kernel: shaders/matvec.wgsl on GPUs (lanes
//! of a workgroup split K), shaders/matvec_rows.wgsl on CPU-type adapters (an invocation per
//! row group; `Context::matvec_rows`); more run the tiled shaders/matmul.wgsl (prefill). All
//! include shaders/common/matmul_io.wgsl, whose `Params` [`MatParams`] mirrors.
//!
//! A dispatch covers up to three segments: row chunks of weights sharing one dtype, each
//! writing its own column range of the output. So Q, K and V of one dtype are one dispatch, and
//! another dtype (or a fourth chunk) starts the next dispatch, in all three kernels (matvec_rows
//! branches once per workgroup on its segment, in a pipeline of its own for several segments,
//! so its loads still name their binding). A GLU
//! whose gate and up share dtype and chunking is fused (gate and up rows in one row group,
//! `act(g)·u` written once); otherwise the gate product goes to the output and a second pass
//! over up turns it into `act(gate)·up` in place.

use bytemuck::{Pod, Zeroable};

use super::params;
use super::quant::{WEIGHT_TYPES, Weight, module_files};
use crate::backend::wgpu::pipelines::Constants;
use crate::backend::wgpu::prepare::{DispatchSpec, KernelCtx, Res};
use crate::backend::wgpu::shaders::ShaderSource;
use crate::error::{Error, Result};
use crate::graph::{Buf, GluAct, Node, ParamId, TensorId};
use crate::quant::DType;

/// Token counts up to this run a matvec kernel, larger ones the tiled kernel (§2.2 of
/// research/kernels-brief.md: llama.cpp switches at the same point).
const MATVEC_MAX_TOKENS: u32 = 4;
const MATVEC_WG: u32 = 64;
/// Row groups (invocations) per workgroup of matvec_rows: two of lavapipe's 8-wide SIMD
/// batches, and small enough that a 192-row K projection still spreads over the threads.
const ROWS_WG: u32 = 16;
const MATMUL_WG: u32 = 256;
/// Row groups (four slots each) and tokens in one tile of shaders/matmul.wgsl.
const TILE_GROUPS: u32 = 16;
const TILE_TOKENS: u32 = 64;
/// Weight bindings per dispatch (4, 5, 6).
const MAX_SEGS: usize = 3;

const FLAG_BIAS: u32 = 1;
const FLAG_RESIDUAL: u32 = 2;
const EPI_PLAIN: u32 = 0;
const EPI_GLU: u32 = 1;
const EPI_GLU_SECOND: u32 = 2;

/// Mirrors `Params` in shaders/common/matmul_io.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct MatParams {
    k: u32,
    n_tok: u32,
    row_bytes: u32,
    n_wg: u32,
    x_off: u32,
    x_stride: u32,
    y_off: u32,
    y_stride: u32,
    r_off: u32,
    r_stride: u32,
    flags: u32,
    epi: u32,
    glu_fn: u32,
    n_seg: u32,
    _pad: [u32; 2],
    /// Per segment: rows, first output column, first workgroup, 0.
    seg: [[u32; 4]; MAX_SEGS],
}

/// The kernel computing a matmul.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kernel {
    /// shaders/matvec.wgsl for `n` ≤ 4 tokens: a workgroup per row group, lanes split K.
    Lanes { n: u32 },
    /// shaders/matvec_rows.wgsl for `n` ≤ 4 tokens: an invocation per row group; `xv`: x is
    /// read as vec4 (its offset, row stride and K are multiples of 4); `multi`: a plain
    /// matmul over several segments (a pipeline of its own, see the shader).
    Rows { n: u32, xv: bool, multi: bool },
    /// shaders/matmul.wgsl: tiles of row groups × tokens.
    Tiled,
}

impl Kernel {
    /// The kernel for `n_tok` tokens of `k` inputs at arena place `x` on `cx`'s device.
    fn pick(rows_layout: bool, n_tok: u32, k: u32, x: (u32, u32)) -> Kernel {
        if n_tok > MATVEC_MAX_TOKENS {
            Kernel::Tiled
        } else if rows_layout {
            let xv = x.0.is_multiple_of(4)
                && (n_tok == 1 || x.1.is_multiple_of(4))
                && k.is_multiple_of(4);
            Kernel::Rows { n: n_tok, xv, multi: false }
        } else {
            Kernel::Lanes { n: n_tok }
        }
    }

    fn file(self) -> &'static str {
        match self {
            Kernel::Lanes { .. } => "matvec.wgsl",
            Kernel::Rows { .. } => "matvec_rows.wgsl",
            Kernel::Tiled => "matmul.wgsl",
        }
    }

    fn constants(self) -> Constants {
        match self {
            Kernel::Lanes { n } => vec![("WG", MATVEC_WG), ("N_TOK", n)],
            Kernel::Rows { n, xv, multi } => {
                vec![("WG", ROWS_WG), ("N_TOK", n), ("XV", xv as u32), ("MULTI", multi as u32)]
            }
            Kernel::Tiled => vec![("WG", MATMUL_WG)],
        }
    }

    /// Workgroups for `groups` row groups of `n_tok` tokens.
    fn workgroups(self, groups: u32, n_tok: u32) -> u32 {
        match self {
            Kernel::Lanes { .. } => groups,
            Kernel::Rows { .. } => groups.div_ceil(ROWS_WG),
            Kernel::Tiled => groups.div_ceil(TILE_GROUPS) * n_tok.div_ceil(TILE_TOKENS),
        }
    }
}

fn source(dt: DType, file: &'static str) -> Result<ShaderSource> {
    Ok(ShaderSource::new(&module_files(dt, &["common/matmul_io.wgsl"], file)?))
}

pub fn catalog() -> Vec<(ShaderSource, Constants)> {
    let kernels = [
        Kernel::Lanes { n: 1 },
        Kernel::Lanes { n: MATVEC_MAX_TOKENS },
        Kernel::Rows { n: 1, xv: true, multi: false },
        Kernel::Rows { n: 1, xv: true, multi: true },
        Kernel::Rows { n: 3, xv: false, multi: true },
        Kernel::Tiled,
    ];
    let mut v = Vec::new();
    for (dt, _) in WEIGHT_TYPES {
        for kern in kernels {
            let src = source(dt, kern.file()).expect("invariant: every listed type has a decoder");
            v.push((src, kern.constants()));
        }
    }
    v
}

/// One weight chunk of a dispatch: `rows` rows whose results land in output columns `col..`.
#[derive(Clone, Copy)]
struct Seg {
    id: ParamId,
    chunk: usize,
    rows: u32,
    col: u32,
}

/// What every dispatch of one node shares: shapes, arena places and epilogue inputs.
struct Io {
    kernel: Kernel,
    k: u32,
    n_tok: u32,
    x: (u32, u32),
    y: (u32, u32),
    residual: Option<(u32, u32)>,
    bias: Option<ParamId>,
    glu_fn: u32,
}

impl Io {
    fn new(k: &KernelCtx<'_>, node: &Node, x: TensorId) -> Result<Io> {
        let xs = k.graph.tensor(x).shape;
        let (cols, n_tok, xloc) = (xs.cols() as u32, xs.rows() as u32, k.arena(x)?);
        Ok(Io {
            kernel: Kernel::pick(k.cx.matvec_rows, n_tok, cols, xloc),
            k: cols,
            n_tok,
            x: xloc,
            y: k.arena(node.out)?,
            residual: None,
            bias: None,
            glu_fn: 0,
        })
    }

    /// One dispatch over `segs` (all of dtype `dt`, rows of `row_bytes` bytes).
    fn dispatch(
        &self,
        k: &KernelCtx<'_>,
        dt: DType,
        row_bytes: u32,
        segs: &[Seg],
        epi: u32,
    ) -> Result<DispatchSpec> {
        // Row groups of four slots: four rows, or two gate and two up rows of a fused GLU.
        let groups = |rows: u32| if epi == EPI_GLU { rows.div_ceil(2) } else { rows.div_ceil(4) };
        let workgroups = |rows: u32| self.kernel.workgroups(groups(rows), self.n_tok);
        // A fused GLU's workgroups are those of its gate segment; the up segment rides along.
        let counted = if epi == EPI_GLU { 1 } else { segs.len() };
        let mut seg = [[0u32; 4]; MAX_SEGS];
        let mut n_wg = 0u32;
        for (i, s) in segs.iter().enumerate() {
            seg[i] = [s.rows, s.col, n_wg, 0];
            if i < counted {
                n_wg = n_wg.checked_add(workgroups(s.rows)).ok_or_else(|| {
                    Error::Device(format!("matmul of {} rows needs too many workgroups", s.rows))
                })?;
            }
        }
        let (r_off, r_stride) = self.residual.unwrap_or((0, 0));
        let flags = if self.bias.is_some() { FLAG_BIAS } else { 0 }
            | if self.residual.is_some() { FLAG_RESIDUAL } else { 0 };
        let p = MatParams {
            k: self.k,
            n_tok: self.n_tok,
            row_bytes,
            n_wg,
            x_off: self.x.0,
            x_stride: self.x.1,
            y_off: self.y.0,
            y_stride: self.y.1,
            r_off,
            r_stride,
            flags,
            epi,
            glu_fn: self.glu_fn,
            n_seg: segs.len() as u32,
            _pad: [0; 2],
            seg,
        };
        let kernel = match self.kernel {
            Kernel::Rows { n, xv, .. } => {
                Kernel::Rows { n, xv, multi: segs.len() > 1 && epi != EPI_GLU }
            }
            other => other,
        };
        // Unused weight bindings repeat segment 0; without a bias, binding 7 is never read.
        let w = |i: usize| {
            let s = segs.get(i).unwrap_or(&segs[0]);
            Res::Param(s.id, s.chunk)
        };
        let bias = match self.bias {
            Some(b) => Res::Param(b, 0),
            None => w(0),
        };
        let mut bindings =
            vec![(0, params(&p)), (2, Res::Arena), (4, w(0)), (5, w(1)), (6, w(2)), (7, bias)];
        if matches!(kernel, Kernel::Rows { .. }) {
            bindings.push((3, Res::Arena)); // x as vec4
        }
        Ok(DispatchSpec {
            src: source(dt, kernel.file())?,
            constants: kernel.constants(),
            bindings,
            groups: k.grid(n_wg),
        })
    }

    /// Dispatches for `weights` side by side in the output, batching chunks of one dtype.
    fn plain(
        &self,
        k: &KernelCtx<'_>,
        weights: &[Weight<'_>],
        epi: u32,
    ) -> Result<Vec<DispatchSpec>> {
        let mut out = Vec::new();
        let mut batch: Vec<Seg> = Vec::new();
        let mut batch_type: Option<(DType, u32)> = None;
        let mut col = 0u32;
        for w in weights {
            for (ci, c) in w.chunks.iter().enumerate() {
                if batch_type != Some((w.dt, w.row_bytes)) || batch.len() == MAX_SEGS {
                    if let Some((dt, rb)) = batch_type {
                        out.push(self.dispatch(k, dt, rb, &batch, epi)?);
                    }
                    batch.clear();
                    batch_type = Some((w.dt, w.row_bytes));
                }
                let seg_col = col + c.row_start as u32;
                batch.push(Seg { id: w.id, chunk: ci, rows: c.rows as u32, col: seg_col });
            }
            col += w.chunks.iter().map(|c| c.rows as u32).sum::<u32>();
        }
        if let Some((dt, rb)) = batch_type {
            out.push(self.dispatch(k, dt, rb, &batch, epi)?);
        }
        Ok(out)
    }
}

/// The weights behind `ts`, checked to take rows of `cols` inputs.
fn weights<'a>(k: &'a KernelCtx<'_>, ts: &[TensorId], cols: u32) -> Result<Vec<Weight<'a>>> {
    ts.iter()
        .map(|&t| {
            let w = k.weight(t)?;
            if w.cols != cols {
                return Err(Error::Device(format!(
                    "weight {} has {} cols, x has {cols}",
                    k.graph.tensor(t).name,
                    w.cols
                )));
            }
            Ok(w)
        })
        .collect()
}

/// `Op::MatMul`: `concat_j(x·W_jᵀ) (+ bias) (+ residual)`.
pub fn matmul(
    k: &KernelCtx<'_>,
    node: &Node,
    ws: &[TensorId],
    x: TensorId,
    bias: Option<TensorId>,
    residual: Option<TensorId>,
) -> Result<Vec<DispatchSpec>> {
    let mut io = Io::new(k, node, x)?;
    if let Some(b) = bias {
        let Buf::Param(id) = k.plan.location(b).buf else {
            return Err(Error::Device("matmul bias must be a persistent tensor".into()));
        };
        if k.store.get(id)?.chunks.len() != 1 {
            return Err(Error::Device("matmul bias exceeds one storage binding".into()));
        }
        io.bias = Some(id);
    }
    io.residual = residual.map(|r| k.arena(r)).transpose()?;
    let ws = weights(k, ws, io.k)?;
    io.plain(k, &ws, EPI_PLAIN)
}

/// `Op::MatMulGlu`: `act(x·Gᵀ) ⊙ (x·Uᵀ)`.
pub fn matmul_glu(
    k: &KernelCtx<'_>,
    node: &Node,
    gate: TensorId,
    up: TensorId,
    x: TensorId,
    act: GluAct,
) -> Result<Vec<DispatchSpec>> {
    let mut io = Io::new(k, node, x)?;
    io.glu_fn = match act {
        GluAct::Silu => 0,
        GluAct::GeluTanh => 1,
    };
    let ws = weights(k, &[gate, up], io.k)?;
    let (g, u) = (&ws[0], &ws[1]);
    let same_chunks = g.chunks.len() == u.chunks.len()
        && g.chunks
            .iter()
            .zip(u.chunks)
            .all(|(a, b)| (a.row_start, a.rows) == (b.row_start, b.rows));
    if g.dt != u.dt || !same_chunks {
        // Unfused: gate into the output, then up turns it into act(gate)·up.
        let mut out = io.plain(k, &ws[..1], EPI_PLAIN)?;
        out.extend(io.plain(k, &ws[1..], EPI_GLU_SECOND)?);
        return Ok(out);
    }
    let mut out = Vec::with_capacity(g.chunks.len());
    for (ci, c) in g.chunks.iter().enumerate() {
        let (rows, col) = (c.rows as u32, c.row_start as u32);
        let segs = [Seg { id: g.id, chunk: ci, rows, col }, Seg { id: u.id, chunk: ci, rows, col }];
        out.push(io.dispatch(k, g.dt, g.row_bytes, &segs, EPI_GLU)?);
    }
    Ok(out)
}
