//! Q4_0 and Q4_1: 32 weights per block as 4-bit quants with an f16 scale (Q4_1 adds an f16 min).
//!
//! May use: `float`. Invariant: layouts are ggml-common.h's `block_q4_0` (18 bytes) and
//! `block_q4_1` (20 bytes); byte `j` of `qs` holds weight `j` in its low nibble and weight
//! `j + 16` in its high nibble. Codecs follow `quantize_row_q4_*_ref` / `dequantize_row_q4_*`.

use bytemuck::{Pod, Zeroable};

use super::float::{f16_to_f32, f32_to_f16};
use super::{Block, DType};

/// `w = d·(q − 8)`, `q` in 0..16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ4_0 {
    /// Scale, f16.
    pub d: [u8; 2],
    pub qs: [u8; 16],
}
const _: () = assert!(std::mem::size_of::<BlockQ4_0>() == 18);

/// `w = d·q + m`, `q` in 0..16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ4_1 {
    /// Scale, f16.
    pub d: [u8; 2],
    /// Min (the value of `q = 0`), f16.
    pub m: [u8; 2],
    pub qs: [u8; 16],
}
const _: () = assert!(std::mem::size_of::<BlockQ4_1>() == 20);

impl Block for BlockQ4_0 {
    const DTYPE: DType = DType::Q4_0;

    fn dequantize(&self, out: &mut [f32]) {
        let d = f16_to_f32(self.d);
        let (lo, hi) = out.split_at_mut(16);
        for ((&q, a), b) in self.qs.iter().zip(lo).zip(hi) {
            *a = ((q & 0xF) as i32 - 8) as f32 * d;
            *b = ((q >> 4) as i32 - 8) as f32 * d;
        }
    }

    /// `d = max / −8` where `max` is the signed value of largest magnitude, so `max` maps to
    /// `q = 0` exactly; `q = min(15, trunc(x/d + 8.5))`.
    fn quantize(x: &[f32]) -> Self {
        let mut amax = 0.0f32;
        let mut max = 0.0f32;
        for &v in x {
            if amax < v.abs() {
                amax = v.abs();
                max = v;
            }
        }
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut qs = [0u8; 16];
        for (j, q) in qs.iter_mut().enumerate() {
            let q0 = ((x[j] * id + 8.5) as i8).min(15) as u8;
            let q1 = ((x[j + 16] * id + 8.5) as i8).min(15) as u8;
            *q = q0 | (q1 << 4);
        }
        BlockQ4_0 { d: f32_to_f16(d), qs }
    }
}

impl Block for BlockQ4_1 {
    const DTYPE: DType = DType::Q4_1;

    fn dequantize(&self, out: &mut [f32]) {
        let d = f16_to_f32(self.d);
        let m = f16_to_f32(self.m);
        let (lo, hi) = out.split_at_mut(16);
        for ((&q, a), b) in self.qs.iter().zip(lo).zip(hi) {
            // Multiply then add, two roundings, as ggml and gguf-py do (no fused multiply-add).
            *a = (q & 0xF) as f32 * d + m;
            *b = (q >> 4) as f32 * d + m;
        }
    }

    /// `d = (max − min) / 15`, `m = min`; `q = min(15, trunc((x − min)/d + 0.5))`.
    fn quantize(x: &[f32]) -> Self {
        let (min, max) = min_max(x);
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut qs = [0u8; 16];
        for (j, q) in qs.iter_mut().enumerate() {
            let q0 = (((x[j] - min) * id + 0.5) as i8).min(15) as u8;
            let q1 = (((x[j + 16] - min) * id + 0.5) as i8).min(15) as u8;
            *q = q0 | (q1 << 4);
        }
        BlockQ4_1 { d: f32_to_f16(d), m: f32_to_f16(min), qs }
    }
}

/// `(min, max)` of a block, starting from `(f32::MAX, −f32::MAX)` as ggml does.
pub(super) fn min_max(x: &[f32]) -> (f32, f32) {
    let mut min = f32::MAX;
    let mut max = -f32::MAX;
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_0_hand_made_block() {
        // d = 1.0 (0x3C00); byte j = (j & 0xF) | (15 − j) << 4.
        let mut qs = [0u8; 16];
        for (j, q) in qs.iter_mut().enumerate() {
            *q = j as u8 | ((15 - j as u8) << 4);
        }
        let b = BlockQ4_0 { d: 0x3C00u16.to_le_bytes(), qs };
        let mut y = [0.0f32; 32];
        b.dequantize(&mut y);
        for j in 0..16 {
            assert_eq!(y[j], j as f32 - 8.0);
            assert_eq!(y[j + 16], 7.0 - j as f32);
        }
    }

    #[test]
    fn q4_0_quantize_maps_largest_magnitude_to_code_zero() {
        let mut x = [0.0f32; 32];
        x[3] = -4.0; // largest magnitude, negative: d = 0.5, so -4 -> q = 0
        x[20] = 3.5;
        x[21] = 0.25; // x/d = 0.5: trunc(0.5 + 8.5) = 9, a tie rounded up (not to even)
        let b = BlockQ4_0::quantize(&x);
        assert_eq!(f16_to_f32(b.d), 0.5);
        assert_eq!(b.qs[3] & 0xF, 0);
        assert_eq!(b.qs[4] >> 4, 15); // x[20] = 3.5 -> 7 + 8.5 = 15.5 -> 15
        assert_eq!(b.qs[5] >> 4, 9);
        assert_eq!(b.qs[0] & 0xF, 8); // zero -> 8
    }

    #[test]
    fn q4_1_hand_made_block() {
        // d = 0.5 (0x3800), m = -2.0 (0xC000), all quants 3 (low) and 12 (high).
        let b =
            BlockQ4_1 { d: 0x3800u16.to_le_bytes(), m: 0xC000u16.to_le_bytes(), qs: [0xC3; 16] };
        let mut y = [0.0f32; 32];
        b.dequantize(&mut y);
        assert!(y[..16].iter().all(|&v| v == -0.5));
        assert!(y[16..].iter().all(|&v| v == 4.0));
    }

    #[test]
    fn q4_1_quantize_spans_min_to_max() {
        let x: Vec<f32> = (0..32).map(|i| (i % 16) as f32 * 0.25 - 1.0).collect();
        let b = BlockQ4_1::quantize(&x);
        assert_eq!((f16_to_f32(b.d), f16_to_f32(b.m)), (0.25, -1.0));
        let mut y = [0.0f32; 32];
        b.dequantize(&mut y);
        assert_eq!(y.as_slice(), x.as_slice());
    }
}
