//! Plain, obviously-correct CPU references for every kiln kernel: the test oracle.
//!
//! Uses nothing: no dependencies, not even `half` (f16/bf16 are decoded by hand in `quant`), and
//! nothing from kiln's `src/` — it is written independently so a bug there cannot hide here.
//! Invariant: every function is a straight loop over the textbook formula, evaluated in f64
//! (inputs `&[f64]`, outputs `Vec<f64>`), so it is more precise than any f32 kernel under test.
//!
//! Rules (DESIGN.md §5, aesthetics.md §10.3):
//! - llama2.c style: no SIMD, threads or cleverness; reductions accumulate in f64.
//! - Numerically correct anyway: softmax subtracts the row maximum; GELU uses a
//!   cancellation-free (but mathematically identical) form.
//! - Each function's doc comment states the formula and where the convention comes from
//!   (ggml-common.h, ggml-quants.c, llama.cpp's RoPE and attention code).
//! - Matrices are row-major `(rows = out, cols = in)` and `y = W·x`.
//! - Bad shapes panic: this is an oracle for tests, never a library path.

pub mod argmax;
pub mod attention;
pub mod elementwise;
pub mod embed;
pub mod matvec;
pub mod norm;
pub mod quant;
mod quant_k;
pub mod rope;
pub mod softmax;
