//! `MatMul` (one or more weights side by side, optional bias and residual) and `MatMulGlu`
//! (gate and up projections with the GLU fused) for weights of every kiln type.
//!
//! Scheme (ggml-cpu.c `ggml_compute_forward_mul_mat`): x `(n, k)` is converted ONCE per op into
//! the activation type each weight's dot product wants (dot/mod.rs), in the graph's
//! [`Scratch`]. Decode (n = 1): rayon splits the weight rows into blocks of [`ROWS_PER_TASK`]
//! and each row is one dot product, written straight into `out` (four rows per call where the
//! type has a four-row dot, which reads the activation block once for the four). Prefill (n > 1,
//! matmul_tiled.rs): rayon tasks own blocks of weight rows and compute them against all n
//! tokens in register tiles (several rows × several tokens per kernel call), writing their
//! columns of `out (n, rows)` directly, with bias, then residual (ggml adds them as separate
//! ops in that order), or the GLU, applied on the way.
//!
//! May use: `quant`, `graph`, the CPU tensors. Invariant: weights are read in place from the
//! parameter bytes (any alignment); once the scratch has grown to the graph's largest op,
//! nothing is allocated per step.

use rayon::prelude::*;

use super::dot::{self, DotKernel};
use super::glu::glu_in_place;
use super::matmul_tiled::{Columns, RB, TB, fill_block};
use crate::backend::cpu::Rows;
use crate::backend::cpu::tensors::Io;
use crate::error::{Error, Result};
use crate::graph::{ElemType, GluAct, TensorId};
use crate::quant::{self, DType};

/// Weight rows per rayon work item: small enough that a 64-row projection still feeds two
/// cores, large enough to amortise the per-item bookkeeping (ggml uses blocks of 16 too).
const ROWS_PER_TASK: usize = 16;

/// Buffers a prepared graph lends its kernels, reused across steps: grown on first use, never
/// shrunk, so steady-state steps allocate nothing.
#[derive(Default)]
pub struct Scratch {
    /// x converted to the weights' activation types.
    pub act: Vec<u8>,
    /// Decode's up projection of a `MatMulGlu`, before the activation joins it to the gate.
    pub up: Vec<f32>,
}

/// The first `len` elements of `v`, growing it on first use.
fn grow<T: Copy + Default>(v: &mut Vec<T>, len: usize) -> Result<&mut [T]> {
    if v.len() < len {
        v.try_reserve_exact(len - v.len())
            .map_err(|_| Error::OutOfMemory(format!("{len} elements of CPU matmul scratch")))?;
        v.resize(len, T::default());
    }
    Ok(&mut v[..len])
}

/// Activation types that need a converted copy of x (F32 dots read x in place).
const CONVERTED: [DType; 5] = [DType::F16, DType::BF16, DType::Q8_0, DType::Q8_1, DType::Q8_K];

/// Where each activation type of one op lives in the scratch: `(offset, row bytes)`.
#[derive(Default)]
struct ActPlan {
    regions: [Option<(usize, usize)>; CONVERTED.len()],
    total: usize,
}

/// x in every activation type the op's weights want.
struct Acts<'a> {
    x: Rows<'a>,
    buf: &'a [u8],
    regions: [Option<(usize, usize)>; CONVERTED.len()],
}

impl ActPlan {
    /// Reserves a region for `n` rows of `k` elements of `act`, once per type.
    fn need(&mut self, act: DType, n: usize, k: usize) -> Result<()> {
        let Some(slot) = CONVERTED.iter().position(|&c| c == act) else { return Ok(()) };
        if self.regions[slot].is_none() {
            let row_bytes = act.row_bytes(k as u64).and_then(|b| usize::try_from(b).ok());
            let size = row_bytes.and_then(|rb| rb.checked_mul(n).map(|s| (rb, s)));
            let (rb, size) = size.ok_or_else(|| {
                Error::Device(format!("{k} columns are not whole {act} activation blocks"))
            })?;
            self.regions[slot] = Some((self.total, rb));
            self.total += size;
        }
        Ok(())
    }

    /// Converts x into every reserved region, in parallel over rows.
    fn convert<'a>(self, x: Rows<'a>, buf: &'a mut Vec<u8>) -> Result<Acts<'a>> {
        let buf = grow(buf, self.total)?;
        for (slot, region) in self.regions.iter().enumerate() {
            let Some((off, rb)) = *region else { continue };
            let dst = &mut buf[off..off + rb * x.rows];
            // quantize_into is `quantize_row_q8_{0,1,k}_into` for the 8-bit types and ggml's
            // rounding f32 → f16/bf16 conversion for the float ones.
            dst.par_chunks_mut(rb.max(1))
                .enumerate()
                .try_for_each(|(t, d)| quant::quantize_into(CONVERTED[slot], x.row(t), d))?;
        }
        Ok(Acts { x, buf, regions: self.regions })
    }
}

impl<'a> Acts<'a> {
    /// Row `t` of x as `act` bytes.
    fn row(&self, act: DType, t: usize) -> &'a [u8] {
        match CONVERTED.iter().position(|&c| c == act) {
            None => bytemuck::cast_slice(self.x.row(t)),
            Some(slot) => {
                let (off, rb) = self.regions[slot].expect("invariant: ActPlan::need saw this type");
                &self.buf[off + t * rb..off + (t + 1) * rb]
            }
        }
    }
}

/// A weight matrix `(rows, k)` read in place.
struct Weight<'a> {
    bytes: &'a [u8],
    rows: usize,
    row_bytes: usize,
    kernel: DotKernel,
}

impl<'a> Weight<'a> {
    fn new(io: &Io<'a>, t: TensorId, k: usize) -> Result<Weight<'a>> {
        let desc = io.graph.tensor(t);
        let ElemType::Float(dt) = desc.ty else {
            return Err(Error::Device(format!("weight {} has type {}", desc.name, desc.ty)));
        };
        let kernel = dot::kernel(dt).ok_or_else(|| {
            Error::Device(format!("no CPU dot product for {dt} weights ({})", desc.name))
        })?;
        let rows = desc.shape.rows();
        let row_bytes = dt.row_bytes(k as u64).and_then(|b| usize::try_from(b).ok());
        let bytes = io.param_of(t)?.1.bytes();
        match row_bytes {
            Some(rb) if desc.shape.cols() == k && rows.checked_mul(rb) == Some(bytes.len()) => {
                Ok(Weight { bytes, rows, row_bytes: rb, kernel })
            }
            _ => Err(Error::Device(format!(
                "weight {} ({dt}, {:?}, {} bytes) does not fit x with {k} columns",
                desc.name,
                desc.shape,
                bytes.len()
            ))),
        }
    }

    fn row(&self, r: usize) -> &'a [u8] {
        &self.bytes[r * self.row_bytes..(r + 1) * self.row_bytes]
    }

    /// Row `r` of the weight times `a`, an activation row of the kernel's type.
    #[inline]
    fn dot(&self, k: usize, r: usize, a: &[u8]) -> f32 {
        (self.kernel.dot)(k, self.row(r), a)
    }

    /// `ys[i]` = row `r0 + i` times `a`: four rows per call where the type has a four-row dot
    /// (the same bits as one at a time), the rest one by one.
    fn dots(&self, k: usize, r0: usize, a: &[u8], ys: &mut [f32]) {
        let mut done = 0;
        if let Some(dot4) = self.kernel.dot4 {
            for (i, q) in ys.chunks_exact_mut(4).enumerate() {
                let rows = std::array::from_fn(|j| self.row(r0 + 4 * i + j));
                q.copy_from_slice(&dot4(k, rows, a));
            }
            done = ys.len() - ys.len() % 4;
        }
        for (r, y) in (r0 + done..).zip(&mut ys[done..]) {
            *y = self.dot(k, r, a);
        }
    }
}

/// Decode's `out[r] = row r · a` for every row, in parallel over blocks of rows: at least
/// [`ROWS_PER_TASK`], and about 16 blocks per thread for large matrices (an output head has
/// 50 000–260 000 rows), so the per-block bookkeeping stays small next to the work.
fn matvec(w: &Weight<'_>, k: usize, a: &[u8], out: &mut [f32]) {
    let per_thread = out.len() / (16 * rayon::current_num_threads());
    let rows = (per_thread / ROWS_PER_TASK).max(1) * ROWS_PER_TASK;
    out.par_chunks_mut(rows).enumerate().for_each(|(b, ys)| {
        w.dots(k, b * rows, a, ys);
    });
}

/// Decode's `out (1, m) += bias (+ residual)`, in that order.
fn epilogue(out: &mut [f32], bias: Option<&[f32]>, residual: Option<Rows<'_>>) {
    if let Some(b) = bias {
        out.iter_mut().zip(b).for_each(|(v, b)| *v += b);
    }
    if let Some(res) = residual {
        out.iter_mut().zip(res.row(0)).for_each(|(v, r)| *v += r);
    }
}

/// Prefill's products of `w` into columns `first..first + w.rows` of `out (n, m)`, plus bias
/// and residual.
fn tiled(
    w: &Weight<'_>,
    k: usize,
    acts: &Acts<'_>,
    first: usize,
    cols: &Columns<'_>,
    bias: Option<&[f32]>,
    residual: Option<Rows<'_>>,
) {
    let n = acts.x.rows;
    cols.par_blocks(first..first + w.rows, |mut cb| {
        let rows = cb.c0 - first..cb.c0 - first + cb.width;
        let mut block = [0f32; RB * TB];
        for t0 in (0..n).step_by(TB) {
            let toks = t0..(t0 + TB).min(n);
            let a_row = |t| acts.row(w.kernel.act, t);
            fill_block(&w.kernel, k, |r| w.row(r), a_row, rows.clone(), toks.clone(), &mut block);
            for (j, t) in toks.enumerate() {
                cb.store(t, &block, j, |_, v| v);
                let c0 = cb.c0;
                let dst = cb.row(t);
                if let Some(b) = bias {
                    dst.iter_mut().zip(&b[c0..]).for_each(|(v, b)| *v += b);
                }
                if let Some(res) = residual {
                    dst.iter_mut().zip(&res.row(t)[c0..]).for_each(|(v, r)| *v += r);
                }
            }
        }
    });
}

/// A bias as one contiguous run of f32.
fn flat<'a>(io: &Io<'a>, t: TensorId, len: usize) -> Result<&'a [f32]> {
    let r = io.rows(t)?;
    if (r.rows <= 1 || r.stride == r.cols) && r.rows * r.cols == len {
        return Ok(&r.data[r.offset..r.offset + len]);
    }
    Err(Error::Device(format!("bias {} is not {len} contiguous values", io.graph.tensor(t).name)))
}

/// `out = concat_j(x · W_jᵀ) (+ bias) (+ residual)`, out contiguous `(n, Σ rows_j)`.
pub fn matmul(
    io: &Io<'_>,
    weights: &[TensorId],
    x: TensorId,
    bias: Option<TensorId>,
    residual: Option<TensorId>,
    scratch: &mut Scratch,
    out: &mut [f32],
) -> Result<()> {
    let x = io.rows(x)?;
    let (n, k) = (x.rows, x.cols);
    if n == 0 {
        return Ok(());
    }
    let m = out.len() / n;
    let bias = bias.map(|b| flat(io, b, m)).transpose()?;
    let residual = residual.map(|r| io.rows(r)).transpose()?;
    let mut plan = ActPlan::default();
    for &w in weights {
        plan.need(Weight::new(io, w, k)?.kernel.act, n, k)?;
    }
    let acts = plan.convert(x, &mut scratch.act)?;
    let mut first = 0;
    if n == 1 {
        for &w in weights {
            let w = Weight::new(io, w, k)?;
            let Some(part) = out.get_mut(first..first + w.rows) else {
                return Err(Error::Device(format!("weights have more than {m} rows")));
            };
            // The activation row is looked up once per weight, not once per row.
            let a = acts.row(w.kernel.act, 0);
            matvec(&w, k, a, part);
            first += w.rows;
        }
    } else {
        let cols = Columns::new(&mut *out, n, m);
        for &w in weights {
            let w = Weight::new(io, w, k)?;
            if first + w.rows > m {
                return Err(Error::Device(format!("weights have more than {m} rows")));
            }
            tiled(&w, k, &acts, first, &cols, bias, residual);
            first += w.rows;
        }
    }
    if first != m {
        return Err(Error::Device(format!("weights have {first} rows, out has {m}")));
    }
    if n == 1 && (bias.is_some() || residual.is_some()) {
        epilogue(out, bias, residual);
    }
    Ok(())
}

/// `out = act(x · Gᵀ) ⊙ (x · Uᵀ)`, out contiguous `(n, rows)`.
pub fn matmul_glu(
    io: &Io<'_>,
    gate: TensorId,
    up: TensorId,
    x: TensorId,
    act: GluAct,
    scratch: &mut Scratch,
    out: &mut [f32],
) -> Result<()> {
    let x = io.rows(x)?;
    let (n, k) = (x.rows, x.cols);
    if n == 0 {
        return Ok(());
    }
    let (g, u) = (Weight::new(io, gate, k)?, Weight::new(io, up, k)?);
    let m = g.rows;
    if u.rows != m || out.len() != n * m {
        return Err(Error::Device(format!("gate {m} rows, up {} rows, out {}", u.rows, out.len())));
    }
    let mut plan = ActPlan::default();
    plan.need(g.kernel.act, n, k)?;
    plan.need(u.kernel.act, n, k)?;
    let acts = plan.convert(x, &mut scratch.act)?;
    if n == 1 {
        // Per task: its rows' gate products into out, up products into the scratch, then the
        // activation over both, vectorized.
        let up = grow(&mut scratch.up, m)?;
        let (ga, ua) = (acts.row(g.kernel.act, 0), acts.row(u.kernel.act, 0));
        let tasks = out.par_chunks_mut(ROWS_PER_TASK).zip(up.par_chunks_mut(ROWS_PER_TASK));
        tasks.enumerate().for_each(|(b, (gs, us))| {
            g.dots(k, b * ROWS_PER_TASK, ga, gs);
            u.dots(k, b * ROWS_PER_TASK, ua, us);
            glu_in_place(act, gs, us);
        });
        return Ok(());
    }
    let cols = Columns::new(out, n, m);
    cols.par_blocks(0..m, |mut cb| {
        let rows = cb.c0..cb.c0 + cb.width;
        let (mut gb, mut ub) = ([0f32; RB * TB], [0f32; RB * TB]);
        for t0 in (0..n).step_by(TB) {
            let toks = t0..(t0 + TB).min(n);
            for (w, block) in [(&g, &mut gb), (&u, &mut ub)] {
                let a_row = |t| acts.row(w.kernel.act, t);
                fill_block(&w.kernel, k, |r| w.row(r), a_row, rows.clone(), toks.clone(), block);
            }
            for (j, t) in toks.enumerate() {
                cb.store(t, &gb, j, |_, g| g);
                let up: [f32; RB] = std::array::from_fn(|i| ub[i * TB + j]);
                let width = cb.width;
                glu_in_place(act, cb.row(t), &up[..width]);
            }
        }
    });
    Ok(())
}

#[cfg(test)]
#[path = "matmul_tests.rs"]
mod tests;
