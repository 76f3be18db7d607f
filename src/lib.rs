//! kiln: run GGUF language models on any GPU through wgpu compute shaders, with a rayon CPU
//! fallback. The architecture map (modules bottom to top, and who may use whom) is in README.md
//! and enforced by `tests/architecture.rs`.

pub mod backend;
pub mod cli;
pub mod engine;
pub mod error;
pub mod exec;
pub mod gguf;
pub mod graph;
pub mod model;
pub mod quant;
pub mod sample;
pub mod tokenizer;

pub use error::{Error, Result};
