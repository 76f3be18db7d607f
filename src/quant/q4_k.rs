//! Q4_K and Q5_K: 256 weights per super-block in 8 groups of 32, unsigned 4-bit (Q5_K: 5-bit)
//! quants, and per group a 6-bit scale and 6-bit min under f16 super-scales `d` and `dmin`.
//! Both share the 12-byte packing of the scales and mins (`get_scale_min_k4`).
//!
//! May use: `float`, `search`. Invariant: layouts are ggml-common.h's `block_q4_K` (144 bytes)
//! and `block_q5_K` (176 bytes); weight `i` is in nibble `(i / 32) % 2` of `qs[32·(i / 64) +
//! i % 32]`, and Q5_K's fifth bit is bit `i / 32` of `qh[i % 32]`. Codecs follow
//! `quantize_row_q{4,5}_K_ref` / `dequantize_row_q{4,5}_K` in f32 operation order.

use bytemuck::{Pod, Zeroable};

use super::float::{f16_to_f32, f32_to_f16};
use super::search::{make_qkx2_quants, nearest_int};
use super::{Block, DType, QK_K};

/// `w = d·sc_g·q − dmin·m_g` for group `g = i / 32`, `q` in 0..16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ4_K {
    /// Super-scale of the group scales, f16.
    pub d: [u8; 2],
    /// Super-scale of the group mins, f16.
    pub dmin: [u8; 2],
    /// Eight 6-bit scales and eight 6-bit mins; see [`scale_min`].
    pub scales: [u8; 12],
    pub qs: [u8; 128],
}
const _: () = assert!(std::mem::size_of::<BlockQ4_K>() == 144);

/// As Q4_K with `q` in 0..32, the fifth bit in `qh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ5_K {
    pub d: [u8; 2],
    pub dmin: [u8; 2],
    pub scales: [u8; 12],
    /// Fifth bits: bit `g` of `qh[l]` belongs to weight `32·g + l`.
    pub qh: [u8; 32],
    pub qs: [u8; 128],
}
const _: () = assert!(std::mem::size_of::<BlockQ5_K>() == 176);

/// `(scale, min)` of group `j` (0..8): groups 0..4 sit in the low 6 bits of bytes `j` and
/// `j + 4`; groups 4..8 keep their low nibbles in byte `j + 4` and their top two bits in the top
/// bits of bytes `j − 4` (scale) and `j` (min).
pub fn scale_min(scales: &[u8; 12], j: usize) -> (u8, u8) {
    if j < 4 {
        (scales[j] & 63, scales[j + 4] & 63)
    } else {
        let sc = (scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4);
        let m = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
        (sc, m)
    }
}

/// Decodes either format; `qh = None` for Q4_K.
fn dequantize_k(
    d: [u8; 2],
    dmin: [u8; 2],
    scales: &[u8; 12],
    qh: Option<&[u8; 32]>,
    qs: &[u8; 128],
    out: &mut [f32],
) {
    let (d, dmin) = (f16_to_f32(d), f16_to_f32(dmin));
    for (g, out) in out.chunks_exact_mut(32).take(8).enumerate() {
        let (sc, m) = scale_min(scales, g);
        let (dl, ml) = (d * f32::from(sc), dmin * f32::from(m));
        let shift = 4 * (g % 2);
        let qs = &qs[32 * (g / 2)..][..32];
        for (l, (o, &q)) in out.iter_mut().zip(qs).enumerate() {
            let high = qh.map_or(0, |qh| ((qh[l] >> g) & 1) << 4);
            *o = dl * f32::from(((q >> shift) & 0xF) | high) - ml;
        }
    }
}

/// The shared quantizer: per group a weighted `make_qkx2_quants` (weights `rms(x) + |x|`), then
/// 6-bit scales and mins against their maxima, then the quants again against the rounded scales.
/// Returns `(d, dmin, scales, L)` with `L[i]` in `0..=nmax`.
fn quantize_k(
    x: &[f32],
    nmax: i32,
    rmin: f32,
    nstep: i32,
) -> ([u8; 2], [u8; 2], [u8; 12], [u8; QK_K]) {
    let mut l = [0u8; QK_K];
    let mut scales = [0.0f32; 8];
    let mut mins = [0.0f32; 8];
    let mut max_scale = 0.0f32;
    let mut max_min = 0.0f32;
    for j in 0..8 {
        let xg = &x[32 * j..32 * j + 32];
        let mut sum_x2 = 0.0f32;
        for &v in xg {
            sum_x2 += v * v;
        }
        let av_x = (sum_x2 / 32.0).sqrt();
        let weights: [f32; 32] = std::array::from_fn(|i| av_x + xg[i].abs());
        let (scale, min) = make_qkx2_quants(
            nmax,
            xg,
            &weights,
            &mut l[32 * j..32 * j + 32],
            rmin,
            0.1,
            nstep,
            false,
        );
        (scales[j], mins[j]) = (scale, min);
        if scale > max_scale {
            max_scale = scale;
        }
        if min > max_min {
            max_min = min;
        }
    }
    let inv_scale = if max_scale > 0.0 { 63.0 / max_scale } else { 0.0 };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let mut packed = [0u8; 12];
    for j in 0..8 {
        // ggml stores the rounded values in uint8_t before clamping: keep that wrap.
        let ls = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        let lm = (nearest_int(inv_min * mins[j]) as u8).min(63);
        if j < 4 {
            packed[j] = ls;
            packed[j + 4] = lm;
        } else {
            packed[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4);
            packed[j - 4] |= (ls >> 4) << 6;
            packed[j] |= (lm >> 4) << 6;
        }
    }
    let (d, dmin) = (f32_to_f16(max_scale / 63.0), f32_to_f16(max_min / 63.0));
    let (d_all, dmin_all) = (f16_to_f32(d), f16_to_f32(dmin));
    for j in 0..8 {
        let (sc, m) = scale_min(&packed, j);
        let dl = d_all * f32::from(sc);
        if dl == 0.0 {
            continue;
        }
        let dm = dmin_all * f32::from(m);
        for i in 32 * j..32 * j + 32 {
            l[i] = nearest_int((x[i] + dm) / dl).clamp(0, nmax) as u8;
        }
    }
    (d, dmin, packed, l)
}

/// Packs 4-bit (`qh = None`) or 5-bit quants in weight order into the Q4_K/Q5_K fields.
fn pack(l: &[u8; QK_K], qs: &mut [u8; 128], mut qh: Option<&mut [u8; 32]>) {
    for (i, &q) in l.iter().enumerate() {
        let (g, lane) = (i / 32, i % 32);
        qs[32 * (g / 2) + lane] |= (q & 0xF) << (4 * (g % 2));
        if let Some(qh) = qh.as_deref_mut() {
            qh[lane] |= (q >> 4) << g;
        }
    }
}

impl Block for BlockQ4_K {
    const DTYPE: DType = DType::Q4_K;

    fn dequantize(&self, out: &mut [f32]) {
        dequantize_k(self.d, self.dmin, &self.scales, None, &self.qs, out);
    }

    /// `make_qkx2_quants(32, 15, …, rmin −1, rdelta 0.1, nstep 20)` per group.
    fn quantize(x: &[f32]) -> Self {
        let (d, dmin, scales, l) = quantize_k(x, 15, -1.0, 20);
        let mut qs = [0u8; 128];
        pack(&l, &mut qs, None);
        BlockQ4_K { d, dmin, scales, qs }
    }
}

impl Block for BlockQ5_K {
    const DTYPE: DType = DType::Q5_K;

    fn dequantize(&self, out: &mut [f32]) {
        dequantize_k(self.d, self.dmin, &self.scales, Some(&self.qh), &self.qs, out);
    }

    /// `make_qkx2_quants(32, 31, …, rmin −0.5, rdelta 0.1, nstep 15)` per group.
    fn quantize(x: &[f32]) -> Self {
        let (d, dmin, scales, l) = quantize_k(x, 31, -0.5, 15);
        let mut qs = [0u8; 128];
        let mut qh = [0u8; 32];
        pack(&l, &mut qs, Some(&mut qh));
        BlockQ5_K { d, dmin, scales, qh, qs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packs eight (scale, min) pairs the way the quantizer does.
    fn pack_scales(sm: [(u8, u8); 8]) -> [u8; 12] {
        let mut p = [0u8; 12];
        for (j, (sc, m)) in sm.into_iter().enumerate() {
            if j < 4 {
                p[j] |= sc;
                p[j + 4] |= m;
            } else {
                p[j + 4] = (sc & 0xF) | ((m & 0xF) << 4);
                p[j - 4] |= (sc >> 4) << 6;
                p[j] |= (m >> 4) << 6;
            }
        }
        p
    }

    #[test]
    fn scale_min_unpacks_every_6_bit_value() {
        for base in 0..64u8 {
            let sm: [(u8, u8); 8] = std::array::from_fn(|j| {
                ((base + 7 * j as u8) % 64, (base + 13 * j as u8 + 1) % 64)
            });
            let p = pack_scales(sm);
            for (j, want) in sm.iter().enumerate() {
                assert_eq!(scale_min(&p, j), *want, "base {base} group {j}");
            }
        }
    }

    #[test]
    fn q4_k_hand_made_block() {
        // d = 1, dmin = 0.25; group g has scale g + 1 and min 2·g; nibble q = (i % 16).
        let mut b = BlockQ4_K::zeroed();
        b.d = 0x3C00u16.to_le_bytes();
        b.dmin = 0x3400u16.to_le_bytes();
        b.scales = pack_scales(std::array::from_fn(|g| (g as u8 + 1, 2 * g as u8)));
        let l: [u8; QK_K] = std::array::from_fn(|i| (i % 16) as u8);
        pack(&l, &mut b.qs, None);
        let mut y = [0.0f32; 256];
        b.dequantize(&mut y);
        for (i, &v) in y.iter().enumerate() {
            let g = (i / 32) as f32;
            assert_eq!(v, (g + 1.0) * (i % 16) as f32 - 0.25 * 2.0 * g, "weight {i}");
        }
    }

    #[test]
    fn q5_k_hand_made_block() {
        // d = 0.5, dmin = 1; all scales 2 and mins 3; q = i % 32 (the fifth bit is used).
        let mut b = BlockQ5_K::zeroed();
        b.d = 0x3800u16.to_le_bytes();
        b.dmin = 0x3C00u16.to_le_bytes();
        b.scales = pack_scales([(2, 3); 8]);
        let l: [u8; QK_K] = std::array::from_fn(|i| (i % 32) as u8);
        pack(&l, &mut b.qs, Some(&mut b.qh));
        assert_eq!(b.qh[20], 0xFF, "lane 20 has q = 20 >= 16 in every group");
        let mut y = [0.0f32; 256];
        b.dequantize(&mut y);
        for (i, &v) in y.iter().enumerate() {
            assert_eq!(v, (i % 32) as f32 - 3.0, "weight {i}");
        }
    }
}
