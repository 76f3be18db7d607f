//! Q5_0 and Q5_1: 32 weights per block as 5-bit quants, the low 4 bits packed like Q4_0 and the
//! fifth bits in a 32-bit `qh` (bit `i` for weight `i`); Q5_1 adds an f16 min.
//!
//! May use: `float`, `q4` (min/max scan). Invariant: layouts are ggml-common.h's `block_q5_0`
//! (22 bytes) and `block_q5_1` (24 bytes); `qh` is little-endian and only 2-byte aligned in a
//! file, so it is kept as bytes. Codecs follow `quantize_row_q5_*_ref` / `dequantize_row_q5_*`.

use bytemuck::{Pod, Zeroable};

use super::float::{f16_to_f32, f32_to_f16};
use super::q4::min_max;
use super::{Block, DType};

/// `w = d·(q − 16)`, `q` in 0..32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ5_0 {
    /// Scale, f16.
    pub d: [u8; 2],
    /// Fifth bits, u32 little-endian.
    pub qh: [u8; 4],
    pub qs: [u8; 16],
}
const _: () = assert!(std::mem::size_of::<BlockQ5_0>() == 22);

/// `w = d·q + m`, `q` in 0..32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ5_1 {
    /// Scale, f16.
    pub d: [u8; 2],
    /// Min, f16.
    pub m: [u8; 2],
    /// Fifth bits, u32 little-endian.
    pub qh: [u8; 4],
    pub qs: [u8; 16],
}
const _: () = assert!(std::mem::size_of::<BlockQ5_1>() == 24);

/// The 32 unsigned 5-bit quants of a block, in weight order.
fn unpack(qh: [u8; 4], qs: &[u8; 16]) -> [u8; 32] {
    let qh = u32::from_le_bytes(qh);
    let mut q = [0u8; 32];
    for (j, &b) in qs.iter().enumerate() {
        q[j] = (b & 0xF) | ((((qh >> j) & 1) as u8) << 4);
        q[j + 16] = (b >> 4) | ((((qh >> (j + 16)) & 1) as u8) << 4);
    }
    q
}

/// Packs 32 quants (each < 32) into `(qh, qs)`.
fn pack(q: &[u8; 32]) -> ([u8; 4], [u8; 16]) {
    let mut qh = 0u32;
    let mut qs = [0u8; 16];
    for (j, b) in qs.iter_mut().enumerate() {
        *b = (q[j] & 0xF) | ((q[j + 16] & 0xF) << 4);
        qh |= u32::from((q[j] >> 4) & 1) << j;
        qh |= u32::from((q[j + 16] >> 4) & 1) << (j + 16);
    }
    (qh.to_le_bytes(), qs)
}

impl Block for BlockQ5_0 {
    const DTYPE: DType = DType::Q5_0;

    fn dequantize(&self, out: &mut [f32]) {
        let d = f16_to_f32(self.d);
        for (o, &q) in out.iter_mut().zip(&unpack(self.qh, &self.qs)) {
            *o = (i32::from(q) - 16) as f32 * d;
        }
    }

    /// `d = max / −16` (`max` the signed value of largest magnitude);
    /// `q = min(31, trunc(x/d + 16.5))`.
    fn quantize(x: &[f32]) -> Self {
        let mut amax = 0.0f32;
        let mut max = 0.0f32;
        for &v in x {
            if amax < v.abs() {
                amax = v.abs();
                max = v;
            }
        }
        let d = max / -16.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut q = [0u8; 32];
        for (qi, &v) in q.iter_mut().zip(x) {
            *qi = ((v * id + 16.5) as i8).min(31) as u8;
        }
        let (qh, qs) = pack(&q);
        BlockQ5_0 { d: f32_to_f16(d), qh, qs }
    }
}

impl Block for BlockQ5_1 {
    const DTYPE: DType = DType::Q5_1;

    fn dequantize(&self, out: &mut [f32]) {
        let d = f16_to_f32(self.d);
        let m = f16_to_f32(self.m);
        for (o, &q) in out.iter_mut().zip(&unpack(self.qh, &self.qs)) {
            // Multiply then add, two roundings, as ggml and gguf-py do.
            *o = f32::from(q) * d + m;
        }
    }

    /// `d = (max − min) / 31`, `m = min`; `q = trunc((x − min)/d + 0.5)` (ggml does not clamp:
    /// the largest value lands on 31 up to rounding; the cast saturates where C's would be UB).
    fn quantize(x: &[f32]) -> Self {
        let (min, max) = min_max(x);
        let d = (max - min) / 31.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut q = [0u8; 32];
        for (qi, &v) in q.iter_mut().zip(x) {
            *qi = ((v - min) * id + 0.5) as u8;
        }
        let (qh, qs) = pack(&q);
        BlockQ5_1 { d: f32_to_f16(d), m: f32_to_f16(min), qh, qs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q5_0_hand_made_block() {
        // d = 2.0 (0x4000); low nibbles 0..15 / 15..0; fifth bit set for weights 0 and 31.
        let mut qs = [0u8; 16];
        for (j, q) in qs.iter_mut().enumerate() {
            *q = j as u8 | ((15 - j as u8) << 4);
        }
        let qh = (1u32 | 1 << 31).to_le_bytes();
        let b = BlockQ5_0 { d: 0x4000u16.to_le_bytes(), qh, qs };
        let mut y = [0.0f32; 32];
        b.dequantize(&mut y);
        assert_eq!(y[0], 2.0 * (16.0 - 16.0));
        assert_eq!(y[1], 2.0 * (1.0 - 16.0));
        assert_eq!(y[16], 2.0 * (15.0 - 16.0));
        assert_eq!(y[31], 2.0 * (16.0 - 16.0));
        assert_eq!(y[30], 2.0 * (1.0 - 16.0));
    }

    #[test]
    fn q5_1_hand_made_block_and_round_trip() {
        let x: Vec<f32> = (0..32).map(|i| i as f32 * 0.125 - 3.0).collect();
        let b = BlockQ5_1::quantize(&x);
        assert_eq!((f16_to_f32(b.d), f16_to_f32(b.m)), (0.125, -3.0));
        assert_eq!(u32::from_le_bytes(b.qh), 0xFFFF_0000, "weights 16..32 have q >= 16");
        let mut y = [0.0f32; 32];
        b.dequantize(&mut y);
        assert_eq!(y.as_slice(), x.as_slice());
    }

    #[test]
    fn pack_and_unpack_are_inverse() {
        let q: [u8; 32] = std::array::from_fn(|i| (i * 7 % 32) as u8);
        let (qh, qs) = pack(&q);
        assert_eq!(unpack(qh, &qs), q);
    }
}
