//! RMSNorm × weight, per row or per head group, with an optional fused residual add
//! (shaders/rms_norm.wgsl); and two consecutive norms, the second over the first's output, in
//! one dispatch of the same shader (fuse.rs `NormPair`).

use bytemuck::{Pod, Zeroable};

use super::params;
use crate::backend::wgpu::fuse::NormPair;
use crate::backend::wgpu::pipelines::Constants;
use crate::backend::wgpu::prepare::{DispatchSpec, KernelCtx, Res};
use crate::backend::wgpu::shaders::ShaderSource;
use crate::error::{Error, Result};
use crate::graph::{Buf, Node, ParamId, TensorId};

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
    pair: u32,
    z_off: u32,
    eps2: f32,
    _pad: [u32; 3],
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

/// The second norm of a pair: its weight, eps and output.
struct Second {
    w: TensorId,
    eps: f32,
    z: TensorId,
}

pub fn rms_norm(
    k: &mut KernelCtx<'_>,
    node: &Node,
    x: TensorId,
    weight: TensorId,
    eps: f32,
    residual: Option<TensorId>,
) -> Result<Vec<DispatchSpec>> {
    dispatch(k, node.out, x, weight, eps, residual, None)
}

/// `fuse::NormPair`: both norms in one dispatch.
pub fn rms_norm_pair(k: &mut KernelCtx<'_>, pair: &NormPair) -> Result<Vec<DispatchSpec>> {
    let second = Second { w: pair.w2, eps: pair.eps2, z: pair.z };
    dispatch(k, pair.y, pair.x, pair.w1, pair.eps1, pair.residual, Some(second))
}

fn weight_param(k: &KernelCtx<'_>, w: TensorId) -> Result<ParamId> {
    match k.plan.location(w).buf {
        Buf::Param(id) => Ok(id),
        Buf::Arena => Err(Error::Device("rms_norm weight must be a persistent tensor".into())),
    }
}

fn dispatch(
    k: &mut KernelCtx<'_>,
    out: TensorId,
    x: TensorId,
    weight: TensorId,
    eps: f32,
    residual: Option<TensorId>,
    second: Option<Second>,
) -> Result<Vec<DispatchSpec>> {
    let shape = k.graph.tensor(out).shape;
    let (n_rows, n_cols) = (shape.rows() as u32, shape.cols() as u32);
    let group = k.graph.tensor(weight).shape.n_elements() as u32;
    let (x_off, x_stride) = k.arena(x)?;
    let (r_off, r_stride) = match residual {
        Some(r) => k.arena(r)?,
        None => (0, 0),
    };
    let (y_off, _) = k.arena(out)?;
    let w = weight_param(k, weight)?;
    // Without a second norm, binding 4 repeats the weight (read, never used).
    let (w2, z_off, eps2) = match &second {
        Some(s) => (weight_param(k, s.w)?, k.arena(s.z)?.0, s.eps),
        None => (w, 0, 0.0),
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
        pair: second.is_some() as u32,
        z_off,
        eps2,
        _pad: [0; 3],
    };
    Ok(vec![DispatchSpec {
        src: source(),
        constants: constants(),
        bindings: vec![
            (0, params(&p)),
            (2, Res::Arena),
            (3, Res::Param(w, 0)),
            (4, Res::Param(w2, 0)),
        ],
        groups: k.grid(n_groups),
    }])
}
