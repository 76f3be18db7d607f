//! kiln: run GGUF language models on any GPU through wgpu compute shaders, with a rayon CPU
//! fallback. The architecture map (modules bottom to top, and who may use whom) is in README.md
//! and enforced by `tests/architecture.rs`.

pub mod error;
pub mod quant;
pub mod gguf;
pub mod graph;
pub mod backend;
pub mod exec;
pub mod model;
pub mod tokenizer;
pub mod sample;
pub mod engine;
pub mod cli;

pub use error::{Error, Result};
