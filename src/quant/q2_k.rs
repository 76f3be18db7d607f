//! Q2_K: 256 weights per super-block in 16 groups of 16, 2-bit quants, and per group a 4-bit
//! scale and a 4-bit min under f16 super-scales `d` and `dmin`.
//!
//! May use: `float`, `search`. Invariant: layout is ggml-common.h's `block_q2_K` (84 bytes);
//! weight `i` is bits `2·((i % 128) / 32)` of `qs[32·(i / 128) + i % 32]`, group `i / 16`.
//! Codecs follow `quantize_row_q2_K_ref` / `dequantize_row_q2_K` in f32 operation order.

use bytemuck::{Pod, Zeroable};

use super::float::{f16_to_f32, f32_to_f16};
use super::search::{make_qkx2_quants, nearest_int};
use super::{Block, DType, QK_K};

/// `w = d·(scales[g] & 0xF)·q − dmin·(scales[g] >> 4)` for group `g = i / 16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ2_K {
    /// Per group: scale in the low nibble, min in the high nibble.
    pub scales: [u8; 16],
    pub qs: [u8; 64],
    /// Super-scale of the group scales, f16.
    pub d: [u8; 2],
    /// Super-scale of the group mins, f16.
    pub dmin: [u8; 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ2_K>() == 84);

impl Block for BlockQ2_K {
    const DTYPE: DType = DType::Q2_K;

    fn dequantize(&self, out: &mut [f32]) {
        let d = f16_to_f32(self.d);
        let dmin = f16_to_f32(self.dmin);
        for (g, (out, &sc)) in out.chunks_exact_mut(16).zip(&self.scales).enumerate() {
            let dl = d * f32::from(sc & 0xF);
            let ml = dmin * f32::from(sc >> 4);
            let (half, quarter, second) = (g / 8, (g % 8) / 2, g % 2);
            let qs = &self.qs[32 * half + 16 * second..][..16];
            let shift = 2 * quarter;
            for (o, &q) in out.iter_mut().zip(qs) {
                *o = dl * f32::from((q >> shift) & 3) - ml;
            }
        }
    }

    /// Per group, `make_qkx2_quants` with weights `|x|` (absolute-error fit); group scales and
    /// mins are then quantized to 4 bits against their maxima and the quants recomputed.
    fn quantize(x: &[f32]) -> Self {
        let mut l = [0u8; QK_K];
        let mut scales = [0.0f32; 16];
        let mut mins = [0.0f32; 16];
        let mut max_scale = 0.0f32;
        let mut max_min = 0.0f32;
        for j in 0..16 {
            let xg = &x[16 * j..16 * j + 16];
            let weights: [f32; 16] = std::array::from_fn(|i| xg[i].abs());
            let (scale, min) =
                make_qkx2_quants(3, xg, &weights, &mut l[16 * j..16 * j + 16], -0.5, 0.1, 15, true);
            scales[j] = scale;
            mins[j] = min;
            if scale > max_scale {
                max_scale = scale;
            }
            if min > max_min {
                max_min = min;
            }
        }
        let mut b = BlockQ2_K::zeroed();
        if max_scale > 0.0 {
            let iscale = 15.0 / max_scale;
            for (s, &scale) in b.scales.iter_mut().zip(&scales) {
                *s = nearest_int(iscale * scale) as u8;
            }
            b.d = f32_to_f16(max_scale / 15.0);
        } else {
            b.d = f32_to_f16(0.0);
        }
        if max_min > 0.0 {
            let iscale = 15.0 / max_min;
            for (s, &min) in b.scales.iter_mut().zip(&mins) {
                *s |= (nearest_int(iscale * min) << 4) as u8;
            }
            b.dmin = f32_to_f16(max_min / 15.0);
        } else {
            b.dmin = f32_to_f16(0.0);
        }
        let (d_all, dmin_all) = (f16_to_f32(b.d), f16_to_f32(b.dmin));
        for j in 0..16 {
            let d = d_all * f32::from(b.scales[j] & 0xF);
            if d == 0.0 {
                continue;
            }
            let dm = dmin_all * f32::from(b.scales[j] >> 4);
            for i in 16 * j..16 * j + 16 {
                l[i] = nearest_int((x[i] + dm) / d).clamp(0, 3) as u8;
            }
        }
        for (h, qs) in b.qs.chunks_exact_mut(32).enumerate() {
            let l = &l[128 * h..];
            for (i, q) in qs.iter_mut().enumerate() {
                *q = l[i] | (l[i + 32] << 2) | (l[i + 64] << 4) | (l[i + 96] << 6);
            }
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_made_block() {
        // d = 1, dmin = 0.5; group g has scale g % 16 and min 1; every 2-bit quant is 2 except
        // weight 200 (half 1, quarter 2, l = 8), which is 3.
        let mut b = BlockQ2_K::zeroed();
        b.d = 0x3C00u16.to_le_bytes();
        b.dmin = 0x3800u16.to_le_bytes();
        for (g, s) in b.scales.iter_mut().enumerate() {
            *s = g as u8 | 0x10;
        }
        b.qs = [0b1010_1010; 64];
        b.qs[32 + 8] |= 0b01 << 4;
        let mut y = [0.0f32; 256];
        b.dequantize(&mut y);
        for (i, &v) in y.iter().enumerate() {
            let q = if i == 200 { 3.0 } else { 2.0 };
            assert_eq!(v, (i / 16) as f32 * q - 0.5, "weight {i}");
        }
    }
}
