//! Row argmax for greedy sampling (shaders/argmax.wgsl), writing U32 indices into the arena.
//! Rows of one chunk ([`CHUNK`] columns) take one fused dispatch; longer rows take two: one
//! workgroup per chunk writes a (key, index) pair to scratch, then one workgroup per row
//! reduces its pairs (research/kernels-brief.md §2.11).
//!
//! Uses the wgpu backend's dispatch description only. Invariant: ties go to the lowest index
//! and NaN counts as −∞, exactly as kernels-ref's `argmax` (the shader compares integer keys).

use bytemuck::{Pod, Zeroable};

use super::params;
use crate::backend::wgpu::pipelines::Constants;
use crate::backend::wgpu::prepare::{DispatchSpec, KernelCtx, Res};
use crate::backend::wgpu::shaders::ShaderSource;
use crate::error::{Error, Result};
use crate::graph::{Node, TensorId};

const WG: u32 = 256;

/// Columns per stage-1 workgroup: 16 per invocation, so a 262 144-logit row leaves 64 pairs.
pub const CHUNK: u32 = WG * 16;

const CHUNKS: u32 = 0;
const ROWS: u32 = 1;
const FUSED: u32 = 2;

/// Mirrors `Params` in shaders/argmax.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ArgmaxParams {
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
    ShaderSource::new(&["common/grid.wgsl", "argmax.wgsl"])
}

fn constants() -> Constants {
    vec![("WG", WG)]
}

pub fn catalog() -> Vec<(ShaderSource, Constants)> {
    vec![(source(), constants())]
}

pub fn argmax(k: &mut KernelCtx<'_>, node: &Node, x: TensorId) -> Result<Vec<DispatchSpec>> {
    let shape = k.graph.tensor(x).shape;
    let (n_rows, n_cols) = (shape.rows() as u32, shape.cols() as u32);
    let (x_off, x_stride) = k.arena(x)?;
    let (y_off, _) = k.arena(node.out)?;
    let n_chunks = n_cols.div_ceil(CHUNK);
    let n_groups = n_rows
        .checked_mul(n_chunks)
        .ok_or_else(|| Error::InvalidArgument("argmax: too many rows".into()))?;
    // Every mode binds the scratch buffer (the mode is a runtime value), so ask for at least
    // one pair.
    k.scratch_bytes = k.scratch_bytes.max(n_groups.max(1) as usize * 8);
    let spec = |mode, groups| {
        let p =
            ArgmaxParams { n_rows, n_cols, n_chunks, chunk: CHUNK, x_off, x_stride, y_off, mode };
        DispatchSpec {
            src: source(),
            constants: constants(),
            bindings: vec![(0, params(&p)), (3, Res::Arena), (4, Res::Scratch)],
            groups: k.grid(groups),
        }
    };
    Ok(if n_chunks == 1 {
        vec![spec(FUSED, n_rows)]
    } else {
        vec![spec(CHUNKS, n_groups), spec(ROWS, n_rows)]
    })
}
