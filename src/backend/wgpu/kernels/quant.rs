//! Weight types the matmul and get_rows kernels decode on the GPU, each with its WGSL snippet
//! (shaders/common/quant_<dtype>.wgsl, interface in shaders/common/quant_bytes.wgsl), and how
//! a kernel finds the persistent tensor behind a weight operand.
//!
//! Adding a weight type is one snippet plus one row of [`WEIGHT_TYPES`]; the kernels and the
//! shader catalog pick it up from here. Q8_1 and Q8_K have no snippet: ggml only makes them as
//! activation formats, never as stored weights.

use crate::backend::wgpu::prepare::KernelCtx;
use crate::backend::wgpu::store::Chunk;
use crate::error::{Error, Result};
use crate::graph::{Buf, ElemType, ParamId, TensorId};
use crate::quant::DType;

/// Every weight type with a decoder, and its snippet under `shaders/`.
pub const WEIGHT_TYPES: [(DType, &str); 13] = [
    (DType::F32, "common/quant_f32.wgsl"),
    (DType::F16, "common/quant_f16.wgsl"),
    (DType::BF16, "common/quant_bf16.wgsl"),
    (DType::Q4_0, "common/quant_q4_0.wgsl"),
    (DType::Q4_1, "common/quant_q4_1.wgsl"),
    (DType::Q5_0, "common/quant_q5_0.wgsl"),
    (DType::Q5_1, "common/quant_q5_1.wgsl"),
    (DType::Q8_0, "common/quant_q8_0.wgsl"),
    (DType::Q2_K, "common/quant_q2_k.wgsl"),
    (DType::Q3_K, "common/quant_q3_k.wgsl"),
    (DType::Q4_K, "common/quant_q4_k.wgsl"),
    (DType::Q5_K, "common/quant_q5_k.wgsl"),
    (DType::Q6_K, "common/quant_q6_k.wgsl"),
];

/// The decoder snippet of `dt`, or an error naming the type the GPU cannot decode.
fn snippet(dt: DType) -> Result<&'static str> {
    WEIGHT_TYPES
        .iter()
        .find(|(t, _)| *t == dt)
        .map(|(_, s)| *s)
        .ok_or_else(|| Error::Device(format!("the wgpu backend has no {dt} weight decoder")))
}

/// The files of a module decoding `dt` with `kernel` (a file under `shaders/`) and the
/// snippets `extra` between the decoder and the kernel.
pub fn module_files(
    dt: DType,
    extra: &[&'static str],
    kernel: &'static str,
) -> Result<Vec<&'static str>> {
    let mut files = vec!["common/grid.wgsl", "common/quant_bytes.wgsl", snippet(dt)?];
    files.extend_from_slice(extra);
    files.push(kernel);
    Ok(files)
}

/// A weight operand as the kernels see it: its type, persistent tensor, row length and bytes.
pub struct Weight<'a> {
    pub dt: DType,
    pub id: ParamId,
    pub cols: u32,
    pub row_bytes: u32,
    pub chunks: &'a [Chunk],
}

impl KernelCtx<'_> {
    /// The weight matrix behind graph tensor `t` (a persistent 2-D tensor of a decodable type).
    pub(crate) fn weight(&self, t: TensorId) -> Result<Weight<'_>> {
        let desc = self.graph.tensor(t);
        let Buf::Param(id) = self.plan.location(t).buf else {
            return Err(Error::Device(format!("weight {} is not a persistent tensor", desc.name)));
        };
        let ElemType::Float(dt) = desc.ty else {
            return Err(Error::Device(format!("weight {} has type {}", desc.name, desc.ty)));
        };
        snippet(dt)?;
        let cols = desc.shape.cols();
        let row_bytes = dt
            .row_bytes(cols as u64)
            .and_then(|b| u32::try_from(b).ok())
            .ok_or_else(|| Error::Device(format!("weight {}: bad row of {cols}", desc.name)))?;
        let chunks = &self.store.get(id)?.chunks;
        Ok(Weight { dt, id, cols: cols as u32, row_bytes, chunks })
    }
}
