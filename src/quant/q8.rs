//! Q8_0 and Q8_1: 32 weights per block as signed bytes with an f16 scale; Q8_1 also stores
//! `s = d·Σq` (f16), which dot products against Q4_1/Q5_1 weights use for the min term.
//!
//! May use: `float`. Invariant: layouts are ggml-common.h's `block_q8_0` (34 bytes) and
//! `block_q8_1` (36 bytes). Quantizers follow `quantize_row_q8_0_ref` / `_q8_1_ref`: `d = amax /
//! 127`, `q = roundf(x/d)` (half away from zero). ggml has no Q8_1 decoder; ours is `w = d·q`.

use bytemuck::{Pod, Zeroable};

use super::float::{f16_to_f32, f32_to_f16};
use super::{Block, DType};

/// `w = d·q`, `q` in −128..128.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ8_0 {
    /// Scale, f16.
    pub d: [u8; 2],
    pub qs: [i8; 32],
}
const _: () = assert!(std::mem::size_of::<BlockQ8_0>() == 34);

/// `w = d·q`; `s = d·Σq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ8_1 {
    /// Scale, f16.
    pub d: [u8; 2],
    /// `d` times the sum of the quants, f16.
    pub s: [u8; 2],
    pub qs: [i8; 32],
}
const _: () = assert!(std::mem::size_of::<BlockQ8_1>() == 36);

/// `(d, quants)` for one block: `d = amax / 127`, `q = roundf(x · (1/d))`.
fn quantize_q8(x: &[f32]) -> (f32, [i8; 32]) {
    let mut amax = 0.0f32;
    for &v in x {
        // ggml's MAX(a, b) is `a > b ? a : b`.
        amax = if amax > v.abs() { amax } else { v.abs() };
    }
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut qs = [0i8; 32];
    for (q, &v) in qs.iter_mut().zip(x) {
        // f32::round is C's roundf; the cast saturates where C's would be undefined (NaN, inf).
        *q = (v * id).round() as i8;
    }
    (d, qs)
}

fn dequantize_q8(d: [u8; 2], qs: &[i8; 32], out: &mut [f32]) {
    let d = f16_to_f32(d);
    for (o, &q) in out.iter_mut().zip(qs) {
        *o = f32::from(q) * d;
    }
}

impl Block for BlockQ8_0 {
    const DTYPE: DType = DType::Q8_0;

    fn dequantize(&self, out: &mut [f32]) {
        dequantize_q8(self.d, &self.qs, out);
    }

    fn quantize(x: &[f32]) -> Self {
        let (d, qs) = quantize_q8(x);
        BlockQ8_0 { d: f32_to_f16(d), qs }
    }
}

impl Block for BlockQ8_1 {
    const DTYPE: DType = DType::Q8_1;

    fn dequantize(&self, out: &mut [f32]) {
        dequantize_q8(self.d, &self.qs, out);
    }

    /// As Q8_0, plus `s = f16(Σq · d)` with the unrounded f32 `d`.
    fn quantize(x: &[f32]) -> Self {
        let (d, qs) = quantize_q8(x);
        let sum: i32 = qs.iter().map(|&q| i32::from(q)).sum();
        BlockQ8_1 { d: f32_to_f16(d), s: f32_to_f16(sum as f32 * d), qs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_0_hand_made_block() {
        let qs: [i8; 32] = std::array::from_fn(|i| (i as i8 - 16) * 8);
        let b = BlockQ8_0 { d: 0x3400u16.to_le_bytes(), qs }; // d = 0.25
        let mut y = [0.0f32; 32];
        b.dequantize(&mut y);
        for (i, v) in y.iter().enumerate() {
            assert_eq!(*v, (i as f32 - 16.0) * 2.0);
        }
    }

    #[test]
    fn q8_quantizers_round_half_away_from_zero() {
        // amax = 127 gives d = 1 and id = 1, so x/d is x itself.
        let mut x = [0.0f32; 32];
        x[0] = 127.0;
        x[1] = 2.5;
        x[2] = -2.5;
        x[3] = 0.5;
        x[4] = -126.5;
        let b = BlockQ8_0::quantize(&x);
        assert_eq!(f16_to_f32(b.d), 1.0);
        assert_eq!(&b.qs[..6], &[127, 3, -3, 1, -127, 0]);
        let b1 = BlockQ8_1::quantize(&x);
        assert_eq!(b1.qs, b.qs);
        assert_eq!(f16_to_f32(b1.s), 1.0, "s = d·Σq = 127 + 3 − 3 + 1 − 127");
        assert_eq!(BlockQ8_0::quantize(&[0.0; 32]).qs, [0; 32], "zero block: id = 0");
    }
}
