//! Q6_K: 256 weights per super-block in 16 groups of 16; 6-bit quants (4 low bits in `ql`, 2
//! high bits in `qh`) and a signed 8-bit scale per group under an f16 super-scale `d` (last).
//!
//! May use: `float`, `search`. Invariant: layout is ggml-common.h's `block_q6_K` (210 bytes).
//! Weight `i` with `h = i / 128`, `k = (i % 128) / 32`, `l = i % 32`: low nibble `k / 2` of
//! `ql[64h + 32·(k % 2) + l]`, high bits `2k` of `qh[32h + l]`. Codecs follow
//! `quantize_row_q6_K_ref` / `dequantize_row_q6_K`.

use bytemuck::{Pod, Zeroable};

use super::float::{f16_to_f32, f32_to_f16};
use super::search::{GROUP_MAX_EPS, make_qx_quants, nearest_int};
use super::{Block, DType, QK_K};

/// `w = d·scales[i / 16]·(q − 32)`, `q` in 0..64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ6_K {
    /// Low four bits of the quants.
    pub ql: [u8; 128],
    /// High two bits of the quants.
    pub qh: [u8; 64],
    /// Per-group scales.
    pub scales: [i8; 16],
    /// Super-scale, f16.
    pub d: [u8; 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ6_K>() == 210);

impl Block for BlockQ6_K {
    const DTYPE: DType = DType::Q6_K;

    fn dequantize(&self, out: &mut [f32]) {
        let d = f16_to_f32(self.d);
        for (i, o) in out.iter_mut().enumerate().take(QK_K) {
            let (h, k, l) = (i / 128, (i % 128) / 32, i % 32);
            let lo = (self.ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 0xF;
            let hi = (self.qh[32 * h + l] >> (2 * k)) & 3;
            let q = i32::from(lo | (hi << 4)) - 32;
            // (d·scale)·q, left to right as ggml: both products are exact in f32 anyway.
            *o = d * f32::from(self.scales[i / 16]) * q as f32;
        }
    }

    /// Per group, `make_qx_quants(16, 32, x, L, rmse_type 1)`; the group scales are then quantized
    /// to 8 bits against the one of largest magnitude and the quants recomputed.
    fn quantize(x: &[f32]) -> Self {
        let mut l = [0i8; QK_K];
        let mut scales = [0.0f32; 16];
        let mut max_abs_scale = 0.0f32;
        let mut max_scale = 0.0f32;
        for (j, scale) in scales.iter_mut().enumerate() {
            *scale = make_qx_quants(32, &x[16 * j..16 * j + 16], &mut l[16 * j..16 * j + 16]);
            if scale.abs() > max_abs_scale {
                max_abs_scale = scale.abs();
                max_scale = *scale;
            }
        }
        let mut b = BlockQ6_K::zeroed();
        if max_abs_scale < GROUP_MAX_EPS {
            return b; // ggml zeroes the whole block; f16 0.0 is all-zero bytes.
        }
        let iscale = -128.0 / max_scale;
        b.d = f32_to_f16(1.0 / iscale);
        for (s, &scale) in b.scales.iter_mut().zip(&scales) {
            // Stored through an int8_t as ggml does (−128 stays −128).
            *s = nearest_int(iscale * scale).min(127) as i8;
        }
        let d_all = f16_to_f32(b.d);
        for j in 0..16 {
            let d = d_all * f32::from(b.scales[j]);
            if d == 0.0 {
                continue;
            }
            for i in 16 * j..16 * j + 16 {
                l[i] = (nearest_int(x[i] / d).clamp(-32, 31) + 32) as i8;
            }
        }
        for (i, &q) in l.iter().enumerate() {
            let (h, k, lane) = (i / 128, (i % 128) / 32, i % 32);
            let q = q as u8;
            b.ql[64 * h + 32 * (k % 2) + lane] |= (q & 0xF) << (4 * (k / 2));
            b.qh[32 * h + lane] |= (q >> 4) << (2 * k);
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_made_block() {
        // d = 0.5, the scale of group g is g − 8, and quant i is i % 64, so that
        // w = 0.5·(g − 8)·(i % 64 − 32).
        let mut b = BlockQ6_K::zeroed();
        b.d = 0x3800u16.to_le_bytes();
        b.scales = std::array::from_fn(|g| g as i8 - 8);
        for i in 0..QK_K {
            let (h, k, lane) = (i / 128, (i % 128) / 32, i % 32);
            let q = (i % 64) as u8;
            b.ql[64 * h + 32 * (k % 2) + lane] |= (q & 0xF) << (4 * (k / 2));
            b.qh[32 * h + lane] |= (q >> 4) << (2 * k);
        }
        // Spot-check the packing against ggml's description: weight 200 (h 1, k 2, l 8) lives in
        // the high nibble of ql[64 + 8] and bits 4..6 of qh[32 + 8].
        assert_eq!(b.ql[72] >> 4, (200 % 64) as u8 & 0xF);
        assert_eq!((b.qh[40] >> 4) & 3, (200 % 64) as u8 >> 4);
        let mut y = [0.0f32; 256];
        b.dequantize(&mut y);
        for (i, &v) in y.iter().enumerate() {
            assert_eq!(v, 0.5 * ((i / 16) as f32 - 8.0) * ((i % 64) as f32 - 32.0), "weight {i}");
        }
    }
}
