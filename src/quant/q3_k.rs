//! Q3_K: 256 weights per super-block in 16 groups of 16; 3-bit signed quants (2 low bits in `qs`,
//! the third in `hmask`) and a 6-bit signed scale per group under one f16 super-scale `d`.
//!
//! May use: `float`, `search`. Invariant: layout is ggml-common.h's `block_q3_K` (110 bytes).
//! Weight `i`: low bits as Q2_K's, high bit is bit `i / 32` of `hmask[i % 32]` (a clear bit
//! means subtract 4). Codecs follow `quantize_row_q3_K_ref` / `dequantize_row_q3_K`.

use bytemuck::{Pod, Zeroable};

use super::float::{f16_to_f32, f32_to_f16};
use super::search::{make_q3_quants, nearest_int};
use super::{Block, DType, QK_K};

/// `w = d·(s_g − 32)·(q − 4·(1 − h))` with `s_g` the 6-bit scale of group `g = i / 16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ3_K {
    /// High (third) bits of the quants.
    pub hmask: [u8; 32],
    /// Low two bits of the quants.
    pub qs: [u8; 64],
    /// Sixteen 6-bit scales: low nibbles of groups 0..8 in bytes 0..8 (low half) and of groups
    /// 8..16 in bytes 0..8 (high half); the top two bits of group `g` at bit `2·(g / 4)` of
    /// byte `8 + g % 4`.
    pub scales: [u8; 12],
    /// Super-scale, f16.
    pub d: [u8; 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ3_K>() == 110);

/// The 6-bit scale of group `g` (0..64, not yet offset by −32).
fn scale6(scales: &[u8; 12], g: usize) -> u8 {
    let low = if g < 8 { scales[g] & 0xF } else { scales[g - 8] >> 4 };
    let high = (scales[8 + g % 4] >> (2 * (g / 4))) & 3;
    low | (high << 4)
}

impl Block for BlockQ3_K {
    const DTYPE: DType = DType::Q3_K;

    fn dequantize(&self, out: &mut [f32]) {
        let d_all = f16_to_f32(self.d);
        for (g, out) in out.chunks_exact_mut(16).take(16).enumerate() {
            let dl = d_all * (i32::from(scale6(&self.scales, g)) - 32) as f32;
            let (half, quarter, second) = (g / 8, (g % 8) / 2, g % 2);
            let qs = &self.qs[32 * half + 16 * second..][..16];
            let hm = &self.hmask[16 * second..][..16];
            let (shift, bit) = (2 * quarter, 1u8 << (4 * half + quarter));
            for ((o, &q), &h) in out.iter_mut().zip(qs).zip(hm) {
                let q = i32::from((q >> shift) & 3) - if h & bit != 0 { 0 } else { 4 };
                *o = dl * q as f32;
            }
        }
    }

    /// Per group, `make_q3_quants` (`x²`-weighted fit); the group scales are then quantized to
    /// 6 bits against the one of largest magnitude and the quants recomputed.
    fn quantize(x: &[f32]) -> Self {
        let mut l = [0i8; QK_K];
        let mut scales = [0.0f32; 16];
        let mut amax = 0.0f32;
        let mut max_scale = 0.0f32;
        for (j, scale) in scales.iter_mut().enumerate() {
            *scale = make_q3_quants(4, &x[16 * j..16 * j + 16], &mut l[16 * j..16 * j + 16]);
            if scale.abs() > amax {
                amax = scale.abs();
                max_scale = *scale;
            }
        }
        let mut b = BlockQ3_K::zeroed();
        if max_scale != 0.0 {
            let iscale = -32.0 / max_scale;
            for (j, &scale) in scales.iter().enumerate() {
                // ggml stores the rounded scale in an int8_t before clamping: keep that wrap.
                let q = i32::from(nearest_int(iscale * scale) as i8).clamp(-32, 31) + 32;
                if j < 8 {
                    b.scales[j] = (q & 0xF) as u8;
                } else {
                    b.scales[j - 8] |= ((q & 0xF) << 4) as u8;
                }
                b.scales[8 + j % 4] |= ((q >> 4) << (2 * (j / 4))) as u8;
            }
            b.d = f32_to_f16(1.0 / iscale);
        } else {
            b.d = f32_to_f16(0.0);
        }
        let d_all = f16_to_f32(b.d);
        for j in 0..16 {
            let d = d_all * (i32::from(scale6(&b.scales, j)) - 32) as f32;
            if d == 0.0 {
                continue;
            }
            for i in 16 * j..16 * j + 16 {
                l[i] = (nearest_int(x[i] / d).clamp(-4, 3) + 4) as i8;
            }
        }
        for (i, li) in l.iter_mut().enumerate() {
            if *li > 3 {
                b.hmask[i % 32] |= 1 << (i / 32);
                *li -= 4;
            }
        }
        for (h, qs) in b.qs.chunks_exact_mut(32).enumerate() {
            let l = &l[128 * h..];
            for (i, q) in qs.iter_mut().enumerate() {
                *q = l[i] as u8
                    | (l[i + 32] as u8) << 2
                    | (l[i + 64] as u8) << 4
                    | (l[i + 96] as u8) << 6;
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
        // d = 0.5; every group scale is 33 (s − 32 = 1), except group 9 at 30 (s − 32 = −2);
        // every low-bit pair is 1 and every high bit set (q = 1), except weight 40 (group 2,
        // hmask[8] bit 1) whose high bit is clear (q = 1 − 4 = −3).
        let mut b = BlockQ3_K::zeroed();
        b.d = 0x3800u16.to_le_bytes();
        for g in 0..16usize {
            let s: u8 = if g == 9 { 30 } else { 33 };
            if g < 8 {
                b.scales[g] |= s & 0xF;
            } else {
                b.scales[g - 8] |= (s & 0xF) << 4;
            }
            b.scales[8 + g % 4] |= (s >> 4) << (2 * (g / 4));
        }
        b.qs = [0b0101_0101; 64];
        b.hmask = [0xFF; 32];
        b.hmask[8] &= !(1 << 1);
        let mut y = [0.0f32; 256];
        b.dequantize(&mut y);
        for (i, &v) in y.iter().enumerate() {
            let s = if i / 16 == 9 { -2.0 } else { 1.0 };
            let q = if i == 40 { -3.0 } else { 1.0 };
            assert_eq!(v, 0.5 * s * q, "weight {i}");
        }
    }
}
