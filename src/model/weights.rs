//! GGUF tensors → persistent graph tensors, with every shape checked against the hyperparameters
//! before anything is uploaded. Weights stay in the memory-mapped file (HostBytes borrow it).

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gguf::GgufFile;
use crate::graph::{
    ElemType, HostBytes, HostMemory, ParamDesc, ParamId, ParamInit, ParamTable, Shape,
};

/// A GGUF file's tensors are host memory whose pages can be dropped once uploaded.
impl HostMemory for GgufFile {
    fn release(&self, start: usize, len: usize) {
        self.release_pages(start, len);
    }
}

/// Registers tensors of one file in a [`ParamTable`].
pub struct WeightLoader<'a> {
    pub file: &'a Arc<GgufFile>,
    pub params: &'a mut ParamTable,
}

impl WeightLoader<'_> {
    fn add(&mut self, name: &str, shape: &[usize], layer: Option<u32>) -> Result<ParamId> {
        let t =
            self.file.tensor(name).ok_or_else(|| Error::Model(format!("missing tensor {name}")))?;
        // ggml order: ne[0] is the contiguous dimension, so shape (rows, cols) is ne = [cols, rows].
        let want: Vec<u64> = shape.iter().rev().map(|&d| d as u64).collect();
        let got: Vec<u64> = t.shape().to_vec();
        let trimmed: Vec<u64> = {
            let mut g = got.clone();
            while g.len() > want.len() && g.last() == Some(&1) {
                g.pop();
            }
            g
        };
        if trimmed != want {
            return Err(Error::Model(format!(
                "tensor {name} has shape {got:?} (ggml order), expected {want:?}"
            )));
        }
        let start = self.file.data_offset() + t.offset;
        let owner: Arc<dyn HostMemory> = self.file.clone();
        let bytes = HostBytes::new(owner, start as usize, t.n_bytes as usize);
        let desc = ParamDesc {
            name: name.to_string(),
            shape: Shape::new(shape),
            ty: ElemType::Float(t.dtype),
            init: ParamInit::Data(bytes),
            layer,
        };
        Ok(self.params.push(desc))
    }

    /// A weight matrix `(rows = out, cols = in)`.
    pub fn matrix(
        &mut self,
        name: &str,
        rows: usize,
        cols: usize,
        layer: Option<u32>,
    ) -> Result<ParamId> {
        self.add(name, &[rows, cols], layer)
    }

    /// An F32 vector (norm weights, biases).
    pub fn vector(&mut self, name: &str, len: usize, layer: Option<u32>) -> Result<ParamId> {
        let t =
            self.file.tensor(name).ok_or_else(|| Error::Model(format!("missing tensor {name}")))?;
        if t.dtype != crate::quant::DType::F32 {
            return Err(Error::Model(format!("tensor {name} is {}, expected F32", t.dtype)));
        }
        self.add(name, &[len], layer)
    }

    pub fn has(&self, name: &str) -> bool {
        self.file.tensor(name).is_some()
    }

    /// The raw f32 values of a vector tensor (e.g. biases to concatenate).
    pub fn f32_values(&self, name: &str) -> Result<Vec<f32>> {
        let t =
            self.file.tensor(name).ok_or_else(|| Error::Model(format!("missing tensor {name}")))?;
        if t.dtype != crate::quant::DType::F32 {
            return Err(Error::Model(format!("tensor {name} is {}, expected F32", t.dtype)));
        }
        Ok(self
            .file
            .tensor_data(t)
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}
