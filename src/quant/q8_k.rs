//! Q8_K: 256 activations per block as signed bytes with an f32 scale and the sums of each group
//! of 16 quants; the CPU backend quantizes activations to it for K-quant dot products.
//!
//! May use: nothing outside `quant`. Invariant: layout is ggml-common.h's `block_q8_K` (292
//! bytes: `d: f32`, `qs: [i8; 256]`, `bsums: [i16; 16]`, all little-endian, only 2-byte aligned in
//! a buffer, so kept as bytes). The quantizer follows `quantize_row_q8_K_ref`.

use bytemuck::{Pod, Zeroable};

use super::search::nearest_int;
use super::{Block, DType};

/// `w = d·q`; `bsums[g] = Σ q[16g..16g + 16]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ8_K {
    /// Scale, f32 little-endian.
    pub d: [u8; 4],
    pub qs: [i8; 256],
    /// Sixteen i16 little-endian group sums.
    pub bsums: [u8; 32],
}
const _: () = assert!(std::mem::size_of::<BlockQ8_K>() == 292);

impl BlockQ8_K {
    /// The scale.
    pub fn scale(&self) -> f32 {
        f32::from_le_bytes(self.d)
    }

    /// Sum of the quants of group `g` (0..16).
    pub fn bsum(&self, g: usize) -> i16 {
        i16::from_le_bytes([self.bsums[2 * g], self.bsums[2 * g + 1]])
    }
}

impl Block for BlockQ8_K {
    const DTYPE: DType = DType::Q8_K;

    fn dequantize(&self, out: &mut [f32]) {
        let d = self.scale();
        for (o, &q) in out.iter_mut().zip(&self.qs) {
            *o = d * f32::from(q);
        }
    }

    /// `d = max / −127` (`max` the signed value of largest magnitude, so it maps to −127 exactly
    /// and the other side stays within 127); `q = min(127, nearest_int(x · (−127/max)))`, ties to
    /// even. An all-zero block is all zeros (ggml leaves `bsums` unwritten there; we zero them).
    fn quantize(x: &[f32]) -> Self {
        let mut amax = 0.0f32;
        let mut max = 0.0f32;
        for &v in x {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        let mut b = BlockQ8_K::zeroed();
        if amax == 0.0 {
            return b;
        }
        let iscale = -127.0 / max;
        for (q, &v) in b.qs.iter_mut().zip(x) {
            *q = nearest_int(iscale * v).min(127) as i8;
        }
        for (g, s) in b.bsums.chunks_exact_mut(2).enumerate() {
            let sum: i32 = b.qs[16 * g..16 * g + 16].iter().map(|&q| i32::from(q)).sum();
            s.copy_from_slice(&(sum as i16).to_le_bytes());
        }
        b.d = (1.0 / iscale).to_le_bytes();
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_made_block() {
        // d = -0.25 as f32 bytes; q = i − 128 for weight i (−128..127); bsums are not read.
        let mut b = BlockQ8_K::zeroed();
        b.d = (-0.25f32).to_le_bytes();
        b.qs = std::array::from_fn(|i| (i as i32 - 128) as i8);
        b.bsums = [0xFF; 32];
        let mut y = [0.0f32; 256];
        b.dequantize(&mut y);
        for (i, &v) in y.iter().enumerate() {
            assert_eq!(v, -0.25 * (i as f32 - 128.0), "weight {i}");
        }
        assert_eq!(b.bsum(3), -1);
    }

    #[test]
    fn quantize_scales_and_sums() {
        let mut x = [0.0f32; 256];
        x[0] = -2.0; // largest magnitude: iscale = 63.5, d = 1/63.5
        x[1] = 1.0; // 63.5 -> 64 (tie to even)
        x[17] = 0.5; // 31.75 -> 32
        x[255] = 2.0; // 63.5 · 2 = 127, the top of the range
        let b = BlockQ8_K::quantize(&x);
        assert_eq!(b.scale(), 1.0 / 63.5);
        assert_eq!((b.qs[0], b.qs[1], b.qs[17], b.qs[255]), (-127, 64, 32, 127));
        assert_eq!((b.bsum(0), b.bsum(1), b.bsum(15)), (-63, 32, 127));
        let mut y = [0.0f32; 256];
        b.dequantize(&mut y);
        assert_eq!(y[255], 127.0 / 63.5);
    }
}
