//! Dequantization of raw ggml tensor bytes to f64: the oracle for every dequant, get_rows and
//! fused-dequant matvec kernel. Float types and the 32-element "legacy" blocks live here; the
//! 256-element K-quant super-blocks live in `quant_k`.
//!
//! Uses only `quant_k` and std. Invariant: each weight is its ggml formula evaluated in f64 from
//! the block's bytes, so `ref as f32` equals ggml's own f32 result bit for bit (the products are
//! exact, the final `+ m` / `− dmin·m` rounds once). Layouts and formulas: ggml-common.h
//! (`block_*` structs, all fields little-endian) and ggml-quants.c (`dequantize_row_*`).

use crate::quant_k;

/// Every type name `dequantize` accepts, in ggml's `enum ggml_type` order (BF16 = 30 is last).
pub const TYPE_NAMES: [&str; 15] = [
    "F32", "F16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K",
    "Q6_K", "Q8_K", "BF16",
];

/// One weight split as `w = scaled + offset`: `scaled` is the `d·(…)·q` term, `offset` the
/// block-constant term (`m` for Q4_1/Q5_1, `−dmin·m` for Q2_K/Q4_K/Q5_K, `NO_OFFSET` = −0 for
/// the others).
pub(crate) type Part = (f64, f64);

/// Decodes one whole block, pushing one `Part` per weight in tensor order.
pub(crate) type BlockFn = fn(&[u8], &mut Vec<Part>);

/// The `offset` of types without one. −0.0 is IEEE's exact additive identity (`x + −0 = x` even
/// for x = ±0), so `scaled + NO_OFFSET` keeps the sign of a zero weight: ggml's `q·d` with
/// q = 0 and d < 0 is −0, and fixtures compare bits.
pub(crate) const NO_OFFSET: f64 = -0.0;

/// `(elements_per_block, bytes_per_block, decoder)` for a ggml type name; panics if unknown.
/// Sizes are the `static_assert`s of ggml-common.h (QK_K = 256).
fn format(type_name: &str) -> (usize, usize, BlockFn) {
    match type_name {
        "F32" => (1, 4, f32_block),
        "F16" => (1, 2, f16_block),
        "BF16" => (1, 2, bf16_block),
        "Q4_0" => (32, 18, q4_0_block),
        "Q4_1" => (32, 20, q4_1_block),
        "Q5_0" => (32, 22, q5_0_block),
        "Q5_1" => (32, 24, q5_1_block),
        "Q8_0" => (32, 34, q8_0_block),
        "Q8_1" => (32, 36, q8_1_block),
        "Q2_K" => (256, 84, quant_k::q2_k_block),
        "Q3_K" => (256, 110, quant_k::q3_k_block),
        "Q4_K" => (256, 144, quant_k::q4_k_block),
        "Q5_K" => (256, 176, quant_k::q5_k_block),
        "Q6_K" => (256, 210, quant_k::q6_k_block),
        "Q8_K" => (256, 292, quant_k::q8_k_block),
        _ => panic!("kernels-ref: unknown ggml type name {type_name:?}"),
    }
}

/// `(elements_per_block, bytes_per_block)` of a ggml type, e.g. `Q4_K` → `(256, 144)`.
/// Panics on an unknown name.
pub fn block_shape(type_name: &str) -> (usize, usize) {
    let (elems, bytes, _) = format(type_name);
    (elems, bytes)
}

/// Every weight of a tensor of `type_name` stored in `bytes`, in order, as f64.
/// Panics on an unknown name or if `bytes.len()` is not a whole number of blocks.
pub fn dequantize(type_name: &str, bytes: &[u8]) -> Vec<f64> {
    let (scaled, offset) = dequantize_parts(type_name, bytes);
    scaled.iter().zip(&offset).map(|(s, o)| s + o).collect()
}

/// Like `dequantize`, but each weight split as `(scaled, offset)` with `w = scaled + offset`
/// (see `Part`). Tolerances for kernels that sum the two parts separately use
/// `Σ_k (|scaled_k| + |offset_k|)·|x_k|` as the natural scale (kernels-brief §6.3).
pub fn dequantize_parts(type_name: &str, bytes: &[u8]) -> (Vec<f64>, Vec<f64>) {
    let (elems, block_bytes, decode) = format(type_name);
    assert!(
        bytes.len().is_multiple_of(block_bytes),
        "kernels-ref: {} bytes is not a whole number of {type_name} blocks ({block_bytes} bytes)",
        bytes.len()
    );
    let mut parts = Vec::with_capacity(bytes.len() / block_bytes * elems);
    for block in bytes.chunks_exact(block_bytes) {
        decode(block, &mut parts);
    }
    parts.into_iter().unzip()
}

/// Promotes f32 activations to f64 (exact), so the reference sees the kernel's very inputs.
pub fn to_f64(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}

/// IEEE 754 binary16 bits → f64 (exact): sign, 5-bit exponent (bias 15), 10-bit mantissa.
/// Exponent 0 is subnormal `mant·2^−24`; exponent 31 is ±inf (mant 0) or NaN.
pub fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((bits >> 10) & 0x1F) as i32;
    let mant = (bits & 0x3FF) as f64;
    let magnitude = match exp {
        0 => mant * pow2(-24),
        31 if mant == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1024.0 + mant) * pow2(exp - 25), // (1 + mant/2^10)·2^(exp−15)
    };
    sign * magnitude
}

/// bfloat16 bits → f64 (exact): bf16 is the upper half of an f32, as in ggml's
/// `ggml_compute_bf16_to_fp32` (`bits << 16`), so every f32 special case carries over.
pub fn bf16_to_f64(bits: u16) -> f64 {
    f32::from_bits((bits as u32) << 16) as f64
}

/// 2^e exactly, for e in the normal f64 exponent range (built from the bits, no rounding).
fn pow2(e: i32) -> f64 {
    assert!((-1022..=1023).contains(&e), "invariant: pow2 exponent {e} in range");
    f64::from_bits(((e + 1023) as u64) << 52)
}

/// Little-endian u16 at byte offset `at`.
pub(crate) fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// Little-endian f16 at byte offset `at`, as f64.
pub(crate) fn f16_at(b: &[u8], at: usize) -> f64 {
    f16_to_f64(u16_at(b, at))
}

/// 4-bit quant `i` (0..32) of a 16-byte `qs`: elements 0..16 are the low nibbles of
/// `qs[0..16]`, elements 16..32 the high nibbles (ggml-quants.c `dequantize_row_q4_0`).
fn nibble(qs: &[u8], i: usize) -> u8 {
    if i < 16 { qs[i] & 0x0F } else { qs[i - 16] >> 4 }
}

fn f32_block(b: &[u8], out: &mut Vec<Part>) {
    out.push((f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64, NO_OFFSET));
}

fn f16_block(b: &[u8], out: &mut Vec<Part>) {
    out.push((f16_at(b, 0), NO_OFFSET));
}

fn bf16_block(b: &[u8], out: &mut Vec<Part>) {
    out.push((bf16_to_f64(u16_at(b, 0)), NO_OFFSET));
}

/// Q4_0 (`d:f16 @0, qs[16] @2`): `w_i = d·(q_i − 8)`.
fn q4_0_block(b: &[u8], out: &mut Vec<Part>) {
    let d = f16_at(b, 0);
    for i in 0..32 {
        out.push((d * (nibble(&b[2..18], i) as f64 - 8.0), NO_OFFSET));
    }
}

/// Q4_1 (`d:f16 @0, m:f16 @2, qs[16] @4`): `w_i = d·q_i + m`.
fn q4_1_block(b: &[u8], out: &mut Vec<Part>) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    for i in 0..32 {
        out.push((d * nibble(&b[4..20], i) as f64, m));
    }
}

/// 5-bit quant `i`: the Q4_0 nibble plus bit `i` of the little-endian u32 `qh` as bit 4
/// (ggml-quants.c `dequantize_row_q5_0`: `xh_0` takes bit j, `xh_1` bit j + 16).
fn five_bit(qh: u32, qs: &[u8], i: usize) -> f64 {
    (nibble(qs, i) | ((((qh >> i) & 1) as u8) << 4)) as f64
}

/// Q5_0 (`d:f16 @0, qh:u32 @2, qs[16] @6`): `w_i = d·(q_i − 16)`, `q_i` 5 bits.
fn q5_0_block(b: &[u8], out: &mut Vec<Part>) {
    let d = f16_at(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    for i in 0..32 {
        out.push((d * (five_bit(qh, &b[6..22], i) - 16.0), NO_OFFSET));
    }
}

/// Q5_1 (`d:f16 @0, m:f16 @2, qh:u32 @4, qs[16] @8`): `w_i = d·q_i + m`, `q_i` 5 bits.
fn q5_1_block(b: &[u8], out: &mut Vec<Part>) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    for i in 0..32 {
        out.push((d * five_bit(qh, &b[8..24], i), m));
    }
}

/// Q8_0 (`d:f16 @0, qs:i8[32] @2`): `w_i = d·qs_i`.
fn q8_0_block(b: &[u8], out: &mut Vec<Part>) {
    let d = f16_at(b, 0);
    for i in 0..32 {
        out.push((d * (b[2 + i] as i8) as f64, NO_OFFSET));
    }
}

/// Q8_1 (`d:f16 @0, s:f16 @2, qs:i8[32] @4`): `w_i = d·qs_i`. `s = d·Σqs` only speeds up dot
/// products in ggml (ggml-common.h `block_q8_1`); it is not part of the values.
fn q8_1_block(b: &[u8], out: &mut Vec<Part>) {
    let d = f16_at(b, 0);
    for i in 0..32 {
        out.push((d * (b[4 + i] as i8) as f64, NO_OFFSET));
    }
}

#[cfg(test)]
#[path = "quant_tests.rs"]
mod tests;
