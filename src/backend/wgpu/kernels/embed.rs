//! GetRows: embedding row lookup with dequantization and a fused scale (shaders/get_rows.wgsl).
//!
//! The token ids may stay on the GPU (written by the previous step's argmax), so the host never
//! knows which table chunk a row lives in: every chunk's dispatch reads all ids and writes the
//! rows it holds. An id past the table (≥ vocab) reads nothing; the last chunk's dispatch
//! writes a row of zeros for it.

use bytemuck::{Pod, Zeroable};

use super::params;
use super::quant::{WEIGHT_TYPES, module_files};
use crate::backend::wgpu::pipelines::Constants;
use crate::backend::wgpu::prepare::{DispatchSpec, KernelCtx, Res};
use crate::backend::wgpu::shaders::ShaderSource;
use crate::error::Result;
use crate::graph::{Node, TensorId};
use crate::quant::DType;

const WG: u32 = 64;

/// Mirrors `Params` in shaders/get_rows.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct GetRowsParams {
    n_ids: u32,
    ids_off: u32,
    y_off: u32,
    y_stride: u32,
    cols: u32,
    row_bytes: u32,
    row_start: u32,
    rows: u32,
    last: u32,
    scale: f32,
    _pad: [u32; 2],
}

fn source(dt: DType) -> Result<ShaderSource> {
    Ok(ShaderSource::new(&module_files(dt, &[], "get_rows.wgsl")?))
}

pub fn catalog() -> Vec<(ShaderSource, Constants)> {
    WEIGHT_TYPES
        .iter()
        .map(|(dt, _)| {
            (source(*dt).expect("invariant: every listed type has a decoder"), vec![("WG", WG)])
        })
        .collect()
}

/// `Op::GetRows`: `out[i] = table[ids[i]] · scale`.
pub fn get_rows(
    k: &KernelCtx<'_>,
    node: &Node,
    table: TensorId,
    ids: TensorId,
    scale: f32,
) -> Result<Vec<DispatchSpec>> {
    let w = k.weight(table)?;
    let (ids_off, _) = k.arena(ids)?;
    let (y_off, y_stride) = k.arena(node.out)?;
    let n_ids = k.graph.tensor(ids).shape.n_elements() as u32;
    let mut out = Vec::with_capacity(w.chunks.len());
    for (ci, c) in w.chunks.iter().enumerate() {
        let p = GetRowsParams {
            n_ids,
            ids_off,
            y_off,
            y_stride,
            cols: w.cols,
            row_bytes: w.row_bytes,
            row_start: c.row_start as u32,
            rows: c.rows as u32,
            last: (ci + 1 == w.chunks.len()) as u32,
            scale,
            _pad: [0; 2],
        };
        out.push(DispatchSpec {
            src: source(w.dt)?,
            constants: vec![("WG", WG)],
            bindings: vec![
                (0, params(&p)),
                (2, Res::Arena),
                (3, Res::Arena),
                (4, Res::Param(w.id, ci)),
            ],
            groups: k.grid(n_ids),
        });
    }
    Ok(out)
}
