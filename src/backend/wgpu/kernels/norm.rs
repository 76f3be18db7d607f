//! RMSNorm × weight, per row or per head group, with an optional fused residual add
//! (shaders/rms_norm.wgsl).

use bytemuck::{Pod, Zeroable};

use super::params;
use crate::backend::wgpu::pipelines::Constants;
use crate::backend::wgpu::prepare::{DispatchSpec, KernelCtx, Res};
use crate::backend::wgpu::shaders::ShaderSource;
use crate::error::{Error, Result};
use crate::graph::{Buf, Node, TensorId};

const WG: u32 = 256;

/// Mirrors `Params` in shaders/rms_norm.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RmsNormParams {
    n_groups: u32,
    n_cols: u32,
    group: u32,
    x_off: u32,
    x_stride: u32,
    r_off: u32,
    r_stride: u32,
    has_res: u32,
    y_off: u32,
    eps: f32,
    _pad: [u32; 2],
}

fn source() -> ShaderSource {
    ShaderSource::new(&["common/grid.wgsl", "rms_norm.wgsl"])
}

fn constants() -> Constants {
    vec![("WG", WG)]
}

pub fn catalog() -> Vec<(ShaderSource, Constants)> {
    vec![(source(), constants())]
}

pub fn rms_norm(
    k: &mut KernelCtx<'_>,
    node: &Node,
    x: TensorId,
    weight: TensorId,
    eps: f32,
    residual: Option<TensorId>,
) -> Result<Vec<DispatchSpec>> {
    let shape = k.graph.tensor(node.out).shape;
    let (n_rows, n_cols) = (shape.rows() as u32, shape.cols() as u32);
    let group = k.graph.tensor(weight).shape.n_elements() as u32;
    let (x_off, x_stride) = k.arena(x)?;
    let (r_off, r_stride) = match residual {
        Some(r) => k.arena(r)?,
        None => (0, 0),
    };
    let (y_off, _) = k.arena(node.out)?;
    let Buf::Param(w) = k.plan.location(weight).buf else {
        return Err(Error::Device("rms_norm weight must be a persistent tensor".into()));
    };
    let n_groups = n_rows * (n_cols / group);
    let p = RmsNormParams {
        n_groups,
        n_cols,
        group,
        x_off,
        x_stride,
        r_off,
        r_stride,
        has_res: residual.is_some() as u32,
        y_off,
        eps,
        _pad: [0; 2],
    };
    Ok(vec![DispatchSpec {
        src: source(),
        constants: constants(),
        bindings: vec![(0, params(&p)), (2, Res::Arena), (3, Res::Param(w, 0))],
        groups: k.grid(n_groups),
    }])
}
