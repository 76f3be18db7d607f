//! Dot products of one weight row with one activation row, the inner loop of every CPU matmul,
//! and the table that picks one per weight type.
//!
//! ggml's CPU scheme (ggml-cpu/ggml-cpu.c `type_traits_cpu`): each weight type names a
//! `vec_dot_type` its activations are converted to once per op — F32/F16/BF16 weights keep
//! their own type; Q4_0, Q5_0, Q8_0 use Q8_0; Q4_1, Q5_1 use Q8_1 (its `s = d·Σq` carries the
//! min term); the K-quants use Q8_K (its `bsums` carry the min term). The dot products then
//! work on integer quants block by block and follow ggml's scalar references
//! (ggml-cpu/quants.c `ggml_vec_dot_*_generic`) operation for operation, so results match
//! llama.cpp's CPU backend up to its SIMD accumulation order.
//!
//! Files: float.rs (F32, F16, BF16), block32.rs (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), k_quants.rs
//! (Q2_K … Q6_K). May use: `quant`. Invariant: a [`VecDot`] gets `n` elements as whole blocks
//! of both types (the caller checked the byte lengths); it reads bytes at any alignment and
//! never allocates. A SIMD version of any entry keeps the signature and replaces the scalar one
//! in [`kernel`]'s table, chosen once per process.

mod block32;
mod float;
mod k_quants;

use std::sync::OnceLock;

use crate::quant::{self, Block, DType};

/// `Σ_i w[i]·a[i]` over `n` elements: `w` is one weight row of the weight type, `a` one
/// activation row already converted to the entry's activation type, both as raw bytes.
pub type VecDot = fn(n: usize, w: &[u8], a: &[u8]) -> f32;

/// How to multiply weights of one type: the activation type to convert x to, and the dot.
#[derive(Clone, Copy)]
pub struct DotKernel {
    pub act: DType,
    pub dot: VecDot,
}

/// `(weight type, activation type, dot)`: the portable scalar versions.
const SCALAR: [(DType, DType, VecDot); 13] = [
    (DType::F32, DType::F32, float::dot_f32),
    (DType::F16, DType::F16, float::dot_f16),
    (DType::BF16, DType::BF16, float::dot_bf16),
    (DType::Q4_0, DType::Q8_0, block32::dot_q4_0_q8_0),
    (DType::Q4_1, DType::Q8_1, block32::dot_q4_1_q8_1),
    (DType::Q5_0, DType::Q8_0, block32::dot_q5_0_q8_0),
    (DType::Q5_1, DType::Q8_1, block32::dot_q5_1_q8_1),
    (DType::Q8_0, DType::Q8_0, block32::dot_q8_0_q8_0),
    (DType::Q2_K, DType::Q8_K, k_quants::dot_q2_k_q8_k),
    (DType::Q3_K, DType::Q8_K, k_quants::dot_q3_k_q8_k),
    (DType::Q4_K, DType::Q8_K, k_quants::dot_q4_k_q8_k),
    (DType::Q5_K, DType::Q8_K, k_quants::dot_q5_k_q8_k),
    (DType::Q6_K, DType::Q8_K, k_quants::dot_q6_k_q8_k),
];

/// The dot product for weights of type `w`, or `None` for types that are only ever activations
/// (Q8_1, Q8_K: ggml has no CPU dot with them as weights either).
pub fn kernel(w: DType) -> Option<DotKernel> {
    static CHOSEN: OnceLock<[(DType, DType, VecDot); 13]> = OnceLock::new();
    let table = CHOSEN.get_or_init(select);
    table.iter().find(|e| e.0 == w).map(|&(_, act, dot)| DotKernel { act, dot })
}

/// Picks the best implementation of each entry for this CPU. Only the scalar ones exist yet;
/// SIMD versions (AVX2/FMA, AVX-512, NEON) go here behind `is_x86_feature_detected!` /
/// `is_aarch64_feature_detected!`, replacing single entries.
fn select() -> [(DType, DType, VecDot); 13] {
    SCALAR
}

/// Views whole blocks of `bytes` (alignment 1, so any offset works).
fn blocks<B: Block>(bytes: &[u8]) -> &[B] {
    quant::as_blocks(bytes).expect("invariant: matmul passes whole blocks to dot products")
}

/// Decodes an f16 scale field.
#[inline]
fn f16(bits: [u8; 2]) -> f32 {
    float::f16_to_f32(u16::from_le_bytes(bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every weight type kiln runs has a dot product whose activation type has the same block
    /// size, so one activation row serves a whole weight row.
    #[test]
    fn every_weight_type_has_a_dot_with_matching_blocks() {
        for dt in DType::ALL {
            match kernel(dt) {
                Some(k) => assert_eq!(k.act.block_size(), dt.block_size(), "{dt}"),
                None => assert!(matches!(dt, DType::Q8_1 | DType::Q8_K), "{dt} has no dot"),
            }
        }
    }
}
