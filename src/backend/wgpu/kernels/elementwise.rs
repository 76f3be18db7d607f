//! Elementwise kernels: add, mul (with row broadcast), scale and copy (shaders/binary.wgsl).

use bytemuck::{Pod, Zeroable};

use super::params;
use crate::backend::wgpu::pipelines::Constants;
use crate::backend::wgpu::prepare::{DispatchSpec, KernelCtx, Res};
use crate::backend::wgpu::shaders::ShaderSource;
use crate::error::Result;
use crate::graph::{Node, TensorId};

pub const ADD: u32 = 0;
pub const MUL: u32 = 1;
pub const SCALE: u32 = 2;
pub const COPY: u32 = 3;

const WG: u32 = 256;

/// Mirrors `Params` in shaders/binary.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct BinaryParams {
    n_rows: u32,
    n_cols: u32,
    op: u32,
    a_off: u32,
    a_stride: u32,
    b_off: u32,
    b_stride: u32,
    y_off: u32,
    s: f32,
    _pad: [u32; 3],
}

fn source() -> ShaderSource {
    ShaderSource::new(&["common/grid.wgsl", "binary.wgsl"])
}

fn constants() -> Constants {
    vec![("WG", WG)]
}

pub fn catalog() -> Vec<(ShaderSource, Constants)> {
    vec![(source(), constants())]
}

pub fn binary(
    k: &mut KernelCtx<'_>,
    node: &Node,
    a: TensorId,
    b: Option<TensorId>,
    op: u32,
    s: f32,
) -> Result<Vec<DispatchSpec>> {
    let shape = k.graph.tensor(node.out).shape;
    let (n_rows, n_cols) = (shape.rows() as u32, shape.cols() as u32);
    let (a_off, a_stride) = k.arena(a)?;
    let (b_off, b_stride) = match b {
        Some(b) => {
            let (off, stride) = k.arena(b)?;
            // A single row broadcasts over all rows.
            (off, if k.graph.tensor(b).shape.rows() == 1 { 0 } else { stride })
        }
        None => (0, 0),
    };
    let (y_off, _) = k.arena(node.out)?;
    let p = BinaryParams {
        n_rows,
        n_cols,
        op,
        a_off,
        a_stride,
        b_off,
        b_stride,
        y_off,
        s,
        _pad: [0; 3],
    };
    let n = (n_rows as u64 * n_cols as u64).div_ceil(WG as u64) as u32;
    Ok(vec![DispatchSpec {
        src: source(),
        constants: constants(),
        bindings: vec![(0, params(&p)), (2, Res::Arena)],
        groups: k.grid(n),
    }])
}
