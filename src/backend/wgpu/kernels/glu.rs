//! Gated activations `act(gate) ⊙ up` (SwiGLU, GeGLU) as one elementwise dispatch:
//! shaders/glu_vec4.wgsl when every offset, stride and the column count are multiples of 4
//! (all planned tensors are; views may not be), shaders/glu.wgsl otherwise. Both share the
//! activation math in shaders/common/glu_act.wgsl.
//!
//! Uses the wgpu backend's dispatch description only. Invariant: the vec4 path is chosen
//! only when every index it forms, divided by 4, is exact.

use bytemuck::{Pod, Zeroable};

use super::params;
use crate::backend::wgpu::pipelines::Constants;
use crate::backend::wgpu::prepare::{DispatchSpec, KernelCtx, Res};
use crate::backend::wgpu::shaders::ShaderSource;
use crate::error::Result;
use crate::graph::{GluAct, Node, TensorId};

const WG: u32 = 256;

/// Mirrors `Params` in shaders/glu.wgsl and shaders/glu_vec4.wgsl (the latter in vec4 units).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct GluParams {
    n_rows: u32,
    n_cols: u32,
    g_off: u32,
    g_stride: u32,
    u_off: u32,
    u_stride: u32,
    y_off: u32,
    _pad: u32,
}

fn source(vec4: bool) -> ShaderSource {
    let kernel = if vec4 { "glu_vec4.wgsl" } else { "glu.wgsl" };
    ShaderSource::new(&["common/grid.wgsl", "common/glu_act.wgsl", kernel])
}

/// `ACT` in shaders/common/glu_act.wgsl.
fn act_code(act: GluAct) -> u32 {
    match act {
        GluAct::Silu => 0,
        GluAct::GeluTanh => 1,
    }
}

fn constants(act: GluAct) -> Constants {
    vec![("WG", WG), ("ACT", act_code(act))]
}

pub fn catalog() -> Vec<(ShaderSource, Constants)> {
    let mut v = Vec::new();
    for vec4 in [false, true] {
        for act in [GluAct::Silu, GluAct::GeluTanh] {
            v.push((source(vec4), constants(act)));
        }
    }
    v
}

pub fn glu(
    k: &mut KernelCtx<'_>,
    node: &Node,
    gate: TensorId,
    up: TensorId,
    act: GluAct,
) -> Result<Vec<DispatchSpec>> {
    let shape = k.graph.tensor(node.out).shape;
    let (n_rows, n_cols) = (shape.rows() as u32, shape.cols() as u32);
    let (g_off, g_stride) = k.arena(gate)?;
    let (u_off, u_stride) = k.arena(up)?;
    let (y_off, _) = k.arena(node.out)?;
    let vec4 = [n_cols, g_off, g_stride, u_off, u_stride, y_off].iter().all(|v| v % 4 == 0);
    let w = if vec4 { 4 } else { 1 };
    let p = GluParams {
        n_rows,
        n_cols: n_cols / w,
        g_off: g_off / w,
        g_stride: g_stride / w,
        u_off: u_off / w,
        u_stride: u_stride / w,
        y_off: y_off / w,
        _pad: 0,
    };
    let n = (n_rows as u64 * (n_cols / w) as u64).div_ceil(WG as u64) as u32;
    Ok(vec![DispatchSpec {
        src: source(vec4),
        constants: constants(act),
        bindings: vec![(0, params(&p)), (2, Res::Arena)],
        groups: k.grid(n),
    }])
}
