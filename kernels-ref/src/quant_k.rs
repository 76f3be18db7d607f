//! K-quant super-blocks (QK_K = 256 weights each) decoded to f64; reached through
//! `quant::dequantize`.
//!
//! Uses only `quant`'s byte readers. Invariant: each function walks the weights in tensor order
//! with an explicit index formula (weight `i` → which byte, which bits, which sub-block scale), the
//! formula of ggml-quants.c `dequantize_row_q{2..8}_K` restated without its pointer walking.
//! Layouts: ggml-common.h `block_q2_K` … `block_q8_K` (all fields little-endian).
//!
//! Shared index shape for Q2_K/Q3_K (2-bit planes): `n = i / 128` (half), `j = (i % 128) / 32`
//! (bit plane, shift `2j`), `l = i % 32` (byte in the half's 32-byte `qs` run); the 16-weight
//! sub-block is `i / 16`.

use crate::quant::{NO_OFFSET, Part, f16_at};

/// Q4_K/Q5_K 6-bit (scale, min) of sub-block `j` (0..8) from the 12 packed bytes `s`
/// (ggml-quants.c `get_scale_min_k4`):
/// - `j < 4`: `sc = s[j] & 63`, `m = s[j+4] & 63`
/// - `j ≥ 4`: `sc = (s[j+4] & 0xF) | (s[j−4] >> 6) << 4`, `m = (s[j+4] >> 4) | (s[j] >> 6) << 4`
pub(crate) fn scale_min_k4(j: usize, s: &[u8]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        ((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4))
    }
}

/// Q3_K signed scale of 16-weight sub-block `j` (0..16) from the 12 packed bytes `s`: a 6-bit
/// value minus 32. Its low 4 bits are the low nibble of `s[j]` (j < 8) or the high nibble of
/// `s[j−8]` (j ≥ 8); its high 2 bits are bits `2·(j/4)..` of `s[8 + j%4]`. This is the
/// `kmask1`/`kmask2` unpacking of ggml-quants.c `dequantize_row_q3_K` written per scale.
pub(crate) fn q3_k_scale(j: usize, s: &[u8]) -> i32 {
    let low = if j < 8 { s[j] & 0x0F } else { s[j - 8] >> 4 };
    let high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    (low | (high << 4)) as i32 - 32
}

/// Q2_K (`scales[16] @0, qs[64] @16, d:f16 @80, dmin:f16 @82`; 84 bytes): with
/// `sc = scales[i/16]`, `q = (qs[32n + l] >> 2j) & 3`: `w_i = d·(sc & 0xF)·q − dmin·(sc >> 4)`.
pub(crate) fn q2_k_block(b: &[u8], out: &mut Vec<Part>) {
    let (scales, qs) = (&b[0..16], &b[16..80]);
    let (d, dmin) = (f16_at(b, 80), f16_at(b, 82));
    for i in 0..256 {
        let (n, j, l) = (i / 128, (i % 128) / 32, i % 32);
        let sc = scales[i / 16];
        let q = (qs[32 * n + l] >> (2 * j)) & 3;
        out.push((d * (sc & 0x0F) as f64 * q as f64, -(dmin * (sc >> 4) as f64)));
    }
}

/// Q3_K (`hmask[32] @0, qs[64] @32, scales[12] @96, d:f16 @108`; 110 bytes): with
/// `q = (qs[32n + l] >> 2j) & 3` and high bit `h = (hmask[l] >> (4n + j)) & 1`:
/// `w_i = d·q3_k_scale(i/16)·(q − (h ? 0 : 4))`, i.e. a signed 3-bit quant in −4..=3.
pub(crate) fn q3_k_block(b: &[u8], out: &mut Vec<Part>) {
    let (hmask, qs, scales) = (&b[0..32], &b[32..96], &b[96..108]);
    let d = f16_at(b, 108);
    for i in 0..256 {
        let (n, j, l) = (i / 128, (i % 128) / 32, i % 32);
        let q = ((qs[32 * n + l] >> (2 * j)) & 3) as i32;
        let h = (hmask[l] >> (4 * n + j)) & 1;
        let q = if h == 1 { q } else { q - 4 };
        out.push((d * q3_k_scale(i / 16, scales) as f64 * q as f64, NO_OFFSET));
    }
}

/// 4-bit quant of weight `i` in a K-quant `qs[128]`: 64-weight chunk `c = i/64` uses bytes
/// `qs[32c..32c+32]`, low nibbles for its first 32 weights (even sub-block `i/32`), high
/// nibbles for the next 32 (odd sub-block).
fn k_nibble(qs: &[u8], i: usize) -> u8 {
    let byte = qs[32 * (i / 64) + i % 32];
    if (i / 32).is_multiple_of(2) { byte & 0x0F } else { byte >> 4 }
}

/// Q4_K (`d:f16 @0, dmin:f16 @2, scales[12] @4, qs[128] @16`; 144 bytes): with
/// `(sc, m) = scale_min_k4(i/32)`: `w_i = d·sc·q_i − dmin·m`.
pub(crate) fn q4_k_block(b: &[u8], out: &mut Vec<Part>) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let (scales, qs) = (&b[4..16], &b[16..144]);
    for i in 0..256 {
        let (sc, m) = scale_min_k4(i / 32, scales);
        let q = k_nibble(qs, i);
        out.push((d * sc as f64 * q as f64, -(dmin * m as f64)));
    }
}

/// Q5_K (`d @0, dmin @2, scales[12] @4, qh[32] @16, qs[128] @48`; 176 bytes): Q4_K's nibble
/// plus bit `i/32` of `qh[i % 32]` as bit 4 (the `u1`/`u2` masks of `dequantize_row_q5_K`):
/// `w_i = d·sc·q_i − dmin·m`, `q_i` in 0..32.
pub(crate) fn q5_k_block(b: &[u8], out: &mut Vec<Part>) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let (scales, qh, qs) = (&b[4..16], &b[16..48], &b[48..176]);
    for i in 0..256 {
        let (sc, m) = scale_min_k4(i / 32, scales);
        let q = k_nibble(qs, i) | (((qh[i % 32] >> (i / 32)) & 1) << 4);
        out.push((d * sc as f64 * q as f64, -(dmin * m as f64)));
    }
}

/// Q6_K (`ql[128] @0, qh[64] @128, scales:i8[16] @192, d:f16 @208` — d is LAST; 210 bytes):
/// with `h = i/128`, `g = (i%128)/32`, `l = i%32`, `b = ql[64h + 32(g&1) + l]`:
/// `q = (g < 2 ? b & 0xF : b >> 4) | ((qh[32h + l] >> 2g) & 3) << 4`;
/// `w_i = d·scales[i/16]·(q − 32)`.
pub(crate) fn q6_k_block(b: &[u8], out: &mut Vec<Part>) {
    let (ql, qh, scales) = (&b[0..128], &b[128..192], &b[192..208]);
    let d = f16_at(b, 208);
    for i in 0..256 {
        let (h, g, l) = (i / 128, (i % 128) / 32, i % 32);
        let byte = ql[64 * h + 32 * (g % 2) + l];
        let low = if g < 2 { byte & 0x0F } else { byte >> 4 };
        let high = (qh[32 * h + l] >> (2 * g)) & 3;
        let q = (low | (high << 4)) as i32 - 32;
        out.push((d * (scales[i / 16] as i8) as f64 * q as f64, NO_OFFSET));
    }
}

/// Q8_K (`d:f32 @0, qs:i8[256] @4, bsums:i16[16] @260`; 292 bytes): `w_i = d·qs_i`. Note `d` is
/// an f32, not an f16; `bsums` (sums of 16 quants) only speeds up dot products.
pub(crate) fn q8_k_block(b: &[u8], out: &mut Vec<Part>) {
    let d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64;
    for i in 0..256 {
        out.push((d * (b[4 + i] as i8) as f64, NO_OFFSET));
    }
}

#[cfg(test)]
mod tests {
    // Hand-computed cases for `quant_k`: each K-quant's scale packing and bit planes. The packed
    // bytes below were worked out by hand from ggml-common.h / ggml-quants.c, and each expected
    // weight is written as its formula with the hand-picked numbers.
    use super::*;
    use crate::quant::dequantize;

    /// (sc, m) per Q4_K/Q5_K sub-block; sub-blocks 4..8 have values ≥ 16 to exercise the high bits.
    const SC: [u8; 8] = [1, 2, 3, 63, 17, 5, 48, 33];
    const M: [u8; 8] = [0, 4, 62, 7, 20, 1, 35, 63];
    /// `SC`/`M` packed: bytes 0..4 = sc0..3 | (sc4..7 >> 4) << 6, bytes 4..8 = m0..3 | (m4..7 >> 4)
    /// << 6, bytes 8..12 = (sc4..7 & 0xF) | (m4..7 & 0xF) << 4.
    const K4_SCALES: [u8; 12] = [65, 2, 195, 191, 64, 4, 190, 199, 65, 21, 48, 241];

    /// Q3_K signed scales (raw 6-bit value − 32) and their 12-byte packing.
    const Q3_SCALES: [i32; 16] =
        [-32, -31, -1, 0, 1, 31, -16, 15, -27, -22, -12, 8, 18, 28, -30, 0];
    const Q3_PACKED: [u8; 12] =
        [0x50, 0xA1, 0x4F, 0x80, 0x21, 0xCF, 0x20, 0x0F, 0xC8, 0xCC, 0x15, 0xAA];

    #[test]
    fn scale_min_k4_unpacks_both_halves() {
        for j in 0..8 {
            assert_eq!(scale_min_k4(j, &K4_SCALES), (SC[j], M[j]), "sub-block {j}");
        }
    }

    #[test]
    fn q3_k_scales_are_6_bit_minus_32() {
        for (j, &want) in Q3_SCALES.iter().enumerate() {
            assert_eq!(q3_k_scale(j, &Q3_PACKED), want, "scale {j}");
        }
    }

    #[test]
    fn q4_k_weights_use_scale_and_min_of_their_sub_block() {
        // d = 1.0, dmin = 0.5.
        let mut b = vec![0u8; 144];
        b[0..4].copy_from_slice(&[0x00, 0x3C, 0x00, 0x38]);
        b[4..16].copy_from_slice(&K4_SCALES);
        b[16] = 0x21; // weight 0 (sub 0) q = 1, weight 32 (sub 1) q = 2
        b[16 + 96 + 5] = 0xF3; // weight 197 (sub 6) q = 3, weight 229 (sub 7) q = 15
        let w = dequantize("Q4_K", &b);
        assert_eq!(w[0], 1.0 * 1.0 * 1.0 - 0.5 * 0.0);
        assert_eq!(w[32], 2.0 * 2.0 - 0.5 * 4.0);
        assert_eq!(w[197], 48.0 * 3.0 - 0.5 * 35.0);
        assert_eq!(w[229], 33.0 * 15.0 - 0.5 * 63.0);
        assert_eq!(w[128], -0.5 * 20.0); // sub 4, q = 0
        assert_eq!(w.len(), 256);
    }

    #[test]
    fn q5_k_adds_bit_j_of_qh_as_bit_4() {
        let mut b = vec![0u8; 176];
        b[0..4].copy_from_slice(&[0x00, 0x3C, 0x00, 0x38]);
        b[4..16].copy_from_slice(&K4_SCALES);
        b[16] = 0x01; // qh[0] bit 0: weight 0 (sub 0) gets +16
        b[16 + 5] = 0x80; // qh[5] bit 7: weight 229 (sub 7) gets +16, weight 197 (sub 6) does not
        b[48] = 0x21;
        b[48 + 96 + 5] = 0xF3;
        let w = dequantize("Q5_K", &b);
        assert_eq!(w[0], 1.0 * 17.0 - 0.0);
        assert_eq!(w[32], 2.0 * 2.0 - 0.5 * 4.0);
        assert_eq!(w[197], 48.0 * 3.0 - 0.5 * 35.0);
        assert_eq!(w[229], 33.0 * 31.0 - 0.5 * 63.0);
    }

    #[test]
    fn q6_k_reads_d_from_the_end() {
        let mut b = vec![0u8; 210];
        b[0] = 0x7A; // ql[0]: weight 0 low nibble 10, weight 64 high nibble 7 (never read as d)
        b[128] = 0x03; // qh[0] bits 0-1 = 3: weight 0 high bits
        b[96] = 0x05; // ql[96]: weight 160 (h 1, g 1, l 0) low nibble 5
        b[128 + 32] = 0x04; // qh[32] bits 2-3 = 1: weight 160 high bits
        b[127] = 0xF0; // ql[127]: weight 255 (h 1, g 3, l 31) high nibble 15
        b[128 + 63] = 0x80; // qh[63] bits 6-7 = 2: weight 255 high bits
        b[192] = (-3i8) as u8; // scale of weights 0..16
        b[192 + 4] = 1; // weights 64..80
        b[192 + 10] = 2; // weights 160..176
        b[192 + 15] = 127; // weights 240..256
        b[208..210].copy_from_slice(&[0x00, 0x38]); // d = 0.5
        let w = dequantize("Q6_K", &b);
        assert_eq!(w[0], 0.5 * -3.0 * ((10 | 3 << 4) - 32) as f64);
        assert_eq!(w[1], 0.5 * -3.0 * -32.0);
        assert_eq!(w[64], 0.5 * 1.0 * (7 - 32) as f64);
        assert_eq!(w[160], 0.5 * 2.0 * ((5 | 1 << 4) - 32) as f64);
        assert_eq!(w[255], 0.5 * 127.0 * ((15 | 2 << 4) - 32) as f64);
        assert_eq!(w[100], 0.0); // scale 6 is 0
    }

    #[test]
    fn q2_k_low_nibble_scale_high_nibble_min() {
        let mut b = vec![0u8; 84];
        b[0] = 0x21; // sub 0: sc 1, m 2
        b[2] = 0x14; // sub 2: sc 4, m 1
        b[5] = 0xF3; // sub 5: sc 3, m 15
        b[15] = 0x0A; // sub 15: sc 10, m 0
        b[16] = 0x1B; // qs[0]: weight 0 q 3, weight 32 q 2, weight 64 q 1, weight 96 q 0
        b[16 + 16] = 0x30; // qs[16] bits 4-5: weight 80 (n 0, j 2, l 16) q 3
        b[16 + 63] = 0xC0; // qs[63] bits 6-7: weight 255 (n 1, j 3, l 31) q 3
        b[80..84].copy_from_slice(&[0x00, 0x3C, 0x00, 0x34]); // d = 1, dmin = 0.25
        let w = dequantize("Q2_K", &b);
        assert_eq!(w[0], 1.0 * 3.0 - 0.25 * 2.0);
        assert_eq!(w[1], -0.25 * 2.0);
        assert_eq!(w[32], 4.0 * 2.0 - 0.25 * 1.0);
        assert_eq!(w[80], 3.0 * 3.0 - 0.25 * 15.0);
        assert_eq!(w[255], 10.0 * 3.0);
    }

    #[test]
    fn q3_k_hmask_bit_clear_subtracts_4() {
        let mut b = vec![0u8; 110];
        b[0] = 0x01; // hmask[0] bit 0: weight 0 high bit set; bit 4 (weight 128) clear
        b[16] = 0x04; // hmask[16] bit 2: weight 80 set; bit 0 (weight 16) clear
        b[15] = 0x80; // hmask[15] bit 7: weight 239 (n 1, j 3, l 15) set; bit 6 (weight 207) clear
        b[32] = 0x02; // qs[0] bits 0-1: weight 0 q 2
        b[32 + 16] = 0x30; // qs[16] bits 4-5: weight 80 q 3; bits 0-1 (weight 16) q 0
        b[32 + 47] = 0x40; // qs[47] bits 6-7: weight 239 q 1; bits 4-5 (weight 207) q 0
        b[96..108].copy_from_slice(&Q3_PACKED);
        b[108..110].copy_from_slice(&[0x00, 0x38]); // d = 0.5
        let w = dequantize("Q3_K", &b);
        assert_eq!(w[0], 0.5 * -32.0 * 2.0);
        assert_eq!(w[16], 0.5 * -31.0 * -4.0);
        assert_eq!(w[80], 0.5 * 31.0 * 3.0);
        assert_eq!(w[128], 0.5 * -27.0 * -4.0);
        assert_eq!(w[207], 0.5 * 18.0 * -4.0);
        assert_eq!(w[239], 0.5 * -30.0 * 1.0);
    }

    #[test]
    fn q8_k_has_an_f32_scale() {
        let mut b = vec![0u8; 292];
        b[0..4].copy_from_slice(&0.25f32.to_le_bytes());
        b[4] = 0x80; // −128
        b[4 + 255] = 0x7F;
        b[260..292].fill(0xAB); // bsums are not values
        let w = dequantize("Q8_K", &b);
        assert_eq!((w[0], w[1], w[255]), (-32.0, 0.0, 31.75));
    }
}
