//! ggml tensor types: the `DType` table, block layouts, CPU dequantize and quantize.
//!
//! May use: `error`. Invariant: block structs match ggml-common.h byte for byte (size asserts).

mod dtype;

pub use dtype::{DType, QK_K};
