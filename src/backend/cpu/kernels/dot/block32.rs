//! Dot products of the 32-element block formats with 8-bit activations: Q4_0, Q5_0, Q8_0 with
//! Q8_0 and Q4_1, Q5_1 with Q8_1.
//!
//! Each follows ggml-cpu/quants.c `ggml_vec_dot_<w>_<a>_generic`: per block an exact integer
//! sum of `q_w·q_a` (elements `j` and `j + 16` share a byte of 4-bit quants), then one f32
//! update of a single running sum with ggml's exact expression and operand order —
//! `sumi·dw·da` (Q4_0), `sumi·(dw·da)` (Q8_0), `(dw·da)·sumi` (Q5_0), and for the min formats
//! `(dw·da)·sumi + mw·sa`, where `sa = d·Σq_a` was stored by the Q8_1 quantizer.
//!
//! May use: `quant`. Invariant: both rows hold `n / 32` blocks.

use super::{blocks, f16};
use crate::quant::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};

/// `Σ_j lo(qs[j])·a[j] + hi(qs[j])·a[j + 16]` for nibble quants `lo`, `hi` already offset.
#[inline(always)]
fn nibble_sum(
    qs: &[u8; 16],
    a: &[i8; 32],
    lo: impl Fn(usize, u8) -> i32,
    hi: impl Fn(usize, u8) -> i32,
) -> i32 {
    let (mut s0, mut s1) = (0i32, 0i32);
    for j in 0..16 {
        s0 += lo(j, qs[j]) * i32::from(a[j]);
        s1 += hi(j, qs[j]) * i32::from(a[j + 16]);
    }
    s0 + s1
}

/// The fifth bit of element `i` (0..32) of a Q5 block, as 0 or 16.
#[inline(always)]
fn bit5(qh: u32, i: usize) -> i32 {
    (((qh >> i) & 1) << 4) as i32
}

pub(super) fn dot_q4_0_q8_0(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ4_0>(w), blocks::<BlockQ8_0>(a));
    debug_assert!(x.len() == n / 32 && y.len() == x.len());
    let mut sumf = 0.0f32;
    for (x, y) in x.iter().zip(y) {
        let sumi =
            nibble_sum(&x.qs, &y.qs, |_, q| i32::from(q & 0xF) - 8, |_, q| i32::from(q >> 4) - 8);
        sumf += sumi as f32 * f16(x.d) * f16(y.d);
    }
    sumf
}

pub(super) fn dot_q4_1_q8_1(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ4_1>(w), blocks::<BlockQ8_1>(a));
    debug_assert!(x.len() == n / 32 && y.len() == x.len());
    let mut sumf = 0.0f32;
    for (x, y) in x.iter().zip(y) {
        let sumi = nibble_sum(&x.qs, &y.qs, |_, q| i32::from(q & 0xF), |_, q| i32::from(q >> 4));
        sumf += (f16(x.d) * f16(y.d)) * sumi as f32 + f16(x.m) * f16(y.s);
    }
    sumf
}

pub(super) fn dot_q5_0_q8_0(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ5_0>(w), blocks::<BlockQ8_0>(a));
    debug_assert!(x.len() == n / 32 && y.len() == x.len());
    let mut sumf = 0.0f32;
    for (x, y) in x.iter().zip(y) {
        let qh = u32::from_le_bytes(x.qh);
        let sumi = nibble_sum(
            &x.qs,
            &y.qs,
            |j, q| (i32::from(q & 0xF) | bit5(qh, j)) - 16,
            |j, q| (i32::from(q >> 4) | bit5(qh, j + 16)) - 16,
        );
        sumf += (f16(x.d) * f16(y.d)) * sumi as f32;
    }
    sumf
}

pub(super) fn dot_q5_1_q8_1(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ5_1>(w), blocks::<BlockQ8_1>(a));
    debug_assert!(x.len() == n / 32 && y.len() == x.len());
    let mut sumf = 0.0f32;
    for (x, y) in x.iter().zip(y) {
        let qh = u32::from_le_bytes(x.qh);
        let sumi = nibble_sum(
            &x.qs,
            &y.qs,
            |j, q| i32::from(q & 0xF) | bit5(qh, j),
            |j, q| i32::from(q >> 4) | bit5(qh, j + 16),
        );
        sumf += (f16(x.d) * f16(y.d)) * sumi as f32 + f16(x.m) * f16(y.s);
    }
    sumf
}

pub(super) fn dot_q8_0_q8_0(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let (x, y) = (blocks::<BlockQ8_0>(w), blocks::<BlockQ8_0>(a));
    debug_assert!(x.len() == n / 32 && y.len() == x.len());
    let mut sumf = 0.0f32;
    for (x, y) in x.iter().zip(y) {
        let sumi: i32 = x.qs.iter().zip(&y.qs).map(|(&p, &q)| i32::from(p) * i32::from(q)).sum();
        sumf += sumi as f32 * (f16(x.d) * f16(y.d));
    }
    sumf
}

#[cfg(test)]
mod tests {
    use crate::quant::{self, DType};

    /// One block of each format against the exact sum of decoded weights times decoded
    /// activations: with d = 1 everywhere (and m = 0, s = d·Σq exact) the float part is
    /// exact, so any nibble or high-bit mix-up shows as an integer difference.
    #[test]
    fn one_block_with_unit_scales_is_exact() {
        let a: Vec<f32> = (0..32).map(|i| (i as f32 * 7.0) % 23.0 - 11.0).collect();
        let one = 0x3C00u16.to_le_bytes();
        let mut qs = [0u8; 16];
        for (j, q) in qs.iter_mut().enumerate() {
            *q = ((j * 5 % 16) | ((j * 11 % 16) << 4)) as u8;
        }
        let qh = 0xA5C3_0F96u32.to_le_bytes();
        let cases: Vec<(DType, Vec<u8>)> = vec![
            (DType::Q4_0, [&one[..], &qs].concat()),
            (DType::Q4_1, [&one[..], &[0, 0], &qs].concat()),
            (DType::Q5_0, [&one[..], &qh, &qs].concat()),
            (DType::Q5_1, [&one[..], &[0, 0], &qh, &qs].concat()),
            (DType::Q8_0, [&one[..], &qs, &qs].concat()),
        ];
        for (dt, block) in cases {
            let k = super::super::kernel(dt).unwrap();
            // Activations with amax 127 quantize to d = 1 and q = x exactly.
            let mut x = a.clone();
            x[5] = 127.0;
            let xq = quant::quantize(k.act, &x).unwrap();
            let mut wd = vec![0.0f32; 32];
            quant::dequantize(dt, &block, &mut wd).unwrap();
            let want: f32 = wd.iter().zip(&x).map(|(w, x)| w * x.round()).sum();
            assert_eq!((k.dot)(32, &block, &xq), want, "{dt}");
        }
    }
}
