//! Row softmax for sampling (shaders/softmax.wgsl): rows of up to a whole vocabulary are cut
//! into chunks of [`CHUNK`] columns, one workgroup each. Rows of one chunk take one fused
//! dispatch; longer rows take two (chunk partials into scratch, then the write), so a single
//! 262 144-logit row keeps 64 workgroups busy instead of one.
//!
//! Uses the wgpu backend's dispatch description only. Invariant: the scratch buffer holds
//! `n_rows · n_chunks` (m, l) pairs, written by the first dispatch and read by the second.

use bytemuck::{Pod, Zeroable};

use super::params;
use crate::backend::wgpu::pipelines::Constants;
use crate::backend::wgpu::prepare::{DispatchSpec, KernelCtx, Res};
use crate::backend::wgpu::shaders::ShaderSource;
use crate::error::{Error, Result};
use crate::graph::{Node, TensorId};

const WG: u32 = 256;

/// Columns per workgroup: 16 per invocation, enough to hide the reduction's barriers.
pub const CHUNK: u32 = WG * 16;

const PARTIALS: u32 = 0;
const WRITE: u32 = 1;
const FUSED: u32 = 2;

/// Mirrors `Params` in shaders/softmax.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct SoftmaxParams {
    n_rows: u32,
    n_cols: u32,
    n_chunks: u32,
    chunk: u32,
    x_off: u32,
    x_stride: u32,
    y_off: u32,
    mode: u32,
}

fn source() -> ShaderSource {
    ShaderSource::new(&["common/grid.wgsl", "softmax.wgsl"])
}

fn constants() -> Constants {
    vec![("WG", WG)]
}

pub fn catalog() -> Vec<(ShaderSource, Constants)> {
    vec![(source(), constants())]
}

pub fn softmax(k: &mut KernelCtx<'_>, node: &Node, x: TensorId) -> Result<Vec<DispatchSpec>> {
    let shape = k.graph.tensor(node.out).shape;
    let (n_rows, n_cols) = (shape.rows() as u32, shape.cols() as u32);
    let (x_off, x_stride) = k.arena(x)?;
    let (y_off, _) = k.arena(node.out)?;
    let n_chunks = n_cols.div_ceil(CHUNK);
    let n_groups = n_rows
        .checked_mul(n_chunks)
        .ok_or_else(|| Error::InvalidArgument("softmax: too many rows".into()))?;
    // Every mode binds the scratch buffer (the mode is a runtime value), so ask for at least
    // one pair.
    let pairs = n_groups.max(1) as usize;
    k.scratch_bytes = k.scratch_bytes.max(pairs * 8);
    let p = |mode| SoftmaxParams {
        n_rows,
        n_cols,
        n_chunks,
        chunk: CHUNK,
        x_off,
        x_stride,
        y_off,
        mode,
    };
    let spec = |mode| DispatchSpec {
        src: source(),
        constants: constants(),
        bindings: vec![(0, params(&p(mode))), (2, Res::Arena), (4, Res::Scratch)],
        groups: k.grid(n_groups),
    };
    Ok(if n_chunks == 1 { vec![spec(FUSED)] } else { vec![spec(PARTIALS), spec(WRITE)] })
}
