//! ggml tensor types: the `DType` table, block layouts, CPU dequantize and quantize.
//!
//! One file per format family (`float`, `q4`, `q5`, `q8`, `q2_k`, `q3_k`, `q4_k` for Q4_K and
//! Q5_K, `q6_k`, `q8_k`) plus `search`, the K-quant scale searches. Sources: ggml-common.h for
//! layouts, ggml-quants.c (`quantize_row_*_ref`, `dequantize_row_*`) for the arithmetic.
//!
//! May use: `error`. Invariant: block structs match ggml-common.h byte for byte (size asserts)
//! and have alignment 1, so any byte slice of whole blocks is a block slice wherever it sits
//! (GGUF blocks are only 2-byte aligned). Codecs do ggml's f32 operations in ggml's order, so
//! decoded values and quantized bytes equal ggml's (tests/quant_oracle.rs checks both).

mod dtype;
mod float;
mod q2_k;
mod q3_k;
mod q4;
mod q4_k;
mod q5;
mod q6_k;
mod q8;
mod q8_k;
mod search;

pub use dtype::{DType, QK_K};
pub use q2_k::BlockQ2_K;
pub use q3_k::BlockQ3_K;
pub use q4::{BlockQ4_0, BlockQ4_1};
pub use q4_k::{BlockQ4_K, BlockQ5_K, scale_min};
pub use q5::{BlockQ5_0, BlockQ5_1};
pub use q6_k::BlockQ6_K;
pub use q8::{BlockQ8_0, BlockQ8_1};
pub use q8_k::BlockQ8_K;

use crate::error::{Error, Result};

/// One ggml quant block: `#[repr(C)]`, alignment 1, `DTYPE.type_size()` bytes holding
/// `DTYPE.block_size()` weights.
pub trait Block: bytemuck::Pod {
    const DTYPE: DType;

    /// Decodes the block into `out[..DTYPE.block_size()]`.
    fn dequantize(&self, out: &mut [f32]);

    /// Encodes `x[..DTYPE.block_size()]` as ggml's reference quantizer does. Never panics on
    /// NaN or infinite inputs (the bytes are then unspecified, as in ggml); panics if `x` is
    /// shorter than a block (a caller bug: [`quantize`] checks lengths first).
    fn quantize(x: &[f32]) -> Self;
}

/// Decodes `dst.len()` elements of type `dtype` from `src`, which holds exactly those elements
/// (`dtype.row_bytes(dst.len())` bytes at any alignment). No allocation; any byte pattern is
/// accepted (NaN or infinite scales propagate into the output).
pub fn dequantize(dtype: DType, src: &[u8], dst: &mut [f32]) -> Result<()> {
    check_lengths(dtype, src.len(), dst.len())?;
    match dtype {
        DType::F32 => float::dequantize_f32(src, dst),
        DType::F16 => float::dequantize_f16(src, dst),
        DType::BF16 => float::dequantize_bf16(src, dst),
        DType::Q4_0 => dequantize_blocks::<BlockQ4_0>(src, dst)?,
        DType::Q4_1 => dequantize_blocks::<BlockQ4_1>(src, dst)?,
        DType::Q5_0 => dequantize_blocks::<BlockQ5_0>(src, dst)?,
        DType::Q5_1 => dequantize_blocks::<BlockQ5_1>(src, dst)?,
        DType::Q8_0 => dequantize_blocks::<BlockQ8_0>(src, dst)?,
        DType::Q8_1 => dequantize_blocks::<BlockQ8_1>(src, dst)?,
        DType::Q2_K => dequantize_blocks::<BlockQ2_K>(src, dst)?,
        DType::Q3_K => dequantize_blocks::<BlockQ3_K>(src, dst)?,
        DType::Q4_K => dequantize_blocks::<BlockQ4_K>(src, dst)?,
        DType::Q5_K => dequantize_blocks::<BlockQ5_K>(src, dst)?,
        DType::Q6_K => dequantize_blocks::<BlockQ6_K>(src, dst)?,
        DType::Q8_K => dequantize_blocks::<BlockQ8_K>(src, dst)?,
    }
    Ok(())
}

/// Encodes `src` (a whole number of blocks) as `dtype`, following ggml's reference quantizers.
pub fn quantize(dtype: DType, src: &[f32]) -> Result<Vec<u8>> {
    let n_bytes = expected_bytes(dtype, src.len())?;
    // Sized from the caller's slice (already in memory), never from a file.
    let mut out = vec![0u8; n_bytes];
    quantize_into(dtype, src, &mut out)?;
    Ok(out)
}

/// [`quantize`] into a caller buffer of exactly `dtype.row_bytes(src.len())` bytes; no allocation.
pub fn quantize_into(dtype: DType, src: &[f32], dst: &mut [u8]) -> Result<()> {
    check_lengths(dtype, dst.len(), src.len())?;
    match dtype {
        DType::F32 => float::quantize_f32(src, dst),
        DType::F16 => float::quantize_f16(src, dst),
        DType::BF16 => float::quantize_bf16(src, dst),
        DType::Q4_0 => quantize_blocks::<BlockQ4_0>(src, dst)?,
        DType::Q4_1 => quantize_blocks::<BlockQ4_1>(src, dst)?,
        DType::Q5_0 => quantize_blocks::<BlockQ5_0>(src, dst)?,
        DType::Q5_1 => quantize_blocks::<BlockQ5_1>(src, dst)?,
        DType::Q8_0 => quantize_blocks::<BlockQ8_0>(src, dst)?,
        DType::Q8_1 => quantize_blocks::<BlockQ8_1>(src, dst)?,
        DType::Q2_K => quantize_blocks::<BlockQ2_K>(src, dst)?,
        DType::Q3_K => quantize_blocks::<BlockQ3_K>(src, dst)?,
        DType::Q4_K => quantize_blocks::<BlockQ4_K>(src, dst)?,
        DType::Q5_K => quantize_blocks::<BlockQ5_K>(src, dst)?,
        DType::Q6_K => quantize_blocks::<BlockQ6_K>(src, dst)?,
        DType::Q8_K => quantize_blocks::<BlockQ8_K>(src, dst)?,
    }
    Ok(())
}

/// Quantizes an activation row to Q8_0 in place (per decode step, no allocation).
pub fn quantize_row_q8_0_into(src: &[f32], dst: &mut [u8]) -> Result<()> {
    quantize_into(DType::Q8_0, src, dst)
}

/// Quantizes an activation row to Q8_1 (for Q4_1/Q5_1 dot products), no allocation.
pub fn quantize_row_q8_1_into(src: &[f32], dst: &mut [u8]) -> Result<()> {
    quantize_into(DType::Q8_1, src, dst)
}

/// Quantizes an activation row to Q8_K (for K-quant dot products), no allocation.
pub fn quantize_row_q8_k_into(src: &[f32], dst: &mut [u8]) -> Result<()> {
    quantize_into(DType::Q8_K, src, dst)
}

/// Views `bytes` as blocks of `B` (alignment 1, so only the length can be wrong).
pub fn as_blocks<B: Block>(bytes: &[u8]) -> Result<&[B]> {
    bytemuck::try_cast_slice(bytes).map_err(|e| {
        Error::InvalidArgument(format!(
            "{}: {} bytes are not whole {}-byte blocks ({e})",
            B::DTYPE,
            bytes.len(),
            B::DTYPE.type_size()
        ))
    })
}

fn dequantize_blocks<B: Block>(src: &[u8], dst: &mut [f32]) -> Result<()> {
    for (b, out) in as_blocks::<B>(src)?.iter().zip(dst.chunks_exact_mut(B::DTYPE.block_size())) {
        b.dequantize(out);
    }
    Ok(())
}

fn quantize_blocks<B: Block>(src: &[f32], dst: &mut [u8]) -> Result<()> {
    let blocks: &mut [B] = bytemuck::try_cast_slice_mut(dst)
        .map_err(|e| Error::InvalidArgument(format!("{}: output buffer: {e}", B::DTYPE)))?;
    for (b, x) in blocks.iter_mut().zip(src.chunks_exact(B::DTYPE.block_size())) {
        *b = B::quantize(x);
    }
    Ok(())
}

/// Bytes that `n_elems` elements of `dtype` take, or an error naming the mismatch.
fn expected_bytes(dtype: DType, n_elems: usize) -> Result<usize> {
    dtype.row_bytes(n_elems as u64).and_then(|b| usize::try_from(b).ok()).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{dtype}: {n_elems} elements are not a whole number of {}-element blocks",
            dtype.block_size()
        ))
    })
}

fn check_lengths(dtype: DType, n_bytes: usize, n_elems: usize) -> Result<()> {
    let want = expected_bytes(dtype, n_elems)?;
    if n_bytes != want {
        return Err(Error::InvalidArgument(format!(
            "{dtype}: {n_elems} elements take {want} bytes, but the byte buffer holds {n_bytes}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod roundtrip_tests;
