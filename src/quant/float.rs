//! Float formats: F32, F16 and BF16 rows, and the f16 scale conversions every block format uses.
//!
//! May use: `half`. Invariant: conversions round exactly as ggml's (ggml/src/ggml-impl.h):
//! f32 -> f16 and f32 -> bf16 round to nearest, ties to even; a NaN becomes ggml's quiet NaN
//! (`0x7E00` for f16, the top half with bit 6 set for bf16). Widening to f32 is exact.

use half::f16;

/// Decodes a little-endian IEEE binary16 field (exact).
#[inline]
pub(super) fn f16_to_f32(bytes: [u8; 2]) -> f32 {
    f16::from_le_bytes(bytes).to_f32()
}

/// Encodes `x` as a little-endian f16 field the way `GGML_FP32_TO_FP16` does: nearest, ties to
/// even, overflow to infinity, and every NaN as the sign plus `0x7E00`.
#[inline]
pub(super) fn f32_to_f16(x: f32) -> [u8; 2] {
    let bits = if x.is_nan() {
        ((x.to_bits() >> 16) as u16 & 0x8000) | 0x7E00
    } else {
        f16::from_f32(x).to_bits()
    };
    bits.to_le_bytes()
}

/// Widens bf16 bits to f32 (exact: bf16 is the top half of an f32).
#[inline]
fn bf16_to_f32(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// `ggml_compute_fp32_to_bf16`: a NaN keeps its top half and is forced quiet; anything else
/// rounds to nearest, ties to even (an overflow rounds up to infinity).
#[inline]
fn f32_to_bf16(x: f32) -> u16 {
    let u = x.to_bits();
    if u & 0x7fff_ffff > 0x7f80_0000 {
        return ((u >> 16) | 64) as u16;
    }
    // No wrap is possible: the largest non-NaN pattern 0xff80_0000 plus 0x8000 fits in u32.
    ((u + 0x7fff + ((u >> 16) & 1)) >> 16) as u16
}

/// Row decoders. Callers have checked `src.len() == 4 * dst.len()` (F32) or `2 * dst.len()`.
pub(super) fn dequantize_f32(src: &[u8], dst: &mut [f32]) {
    for (o, b) in dst.iter_mut().zip(src.chunks_exact(4)) {
        *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

pub(super) fn dequantize_f16(src: &[u8], dst: &mut [f32]) {
    for (o, b) in dst.iter_mut().zip(src.chunks_exact(2)) {
        *o = f16_to_f32([b[0], b[1]]);
    }
}

pub(super) fn dequantize_bf16(src: &[u8], dst: &mut [f32]) {
    for (o, b) in dst.iter_mut().zip(src.chunks_exact(2)) {
        *o = bf16_to_f32(u16::from_le_bytes([b[0], b[1]]));
    }
}

/// Row encoders, same length contract as the decoders.
pub(super) fn quantize_f32(src: &[f32], dst: &mut [u8]) {
    for (x, o) in src.iter().zip(dst.chunks_exact_mut(4)) {
        o.copy_from_slice(&x.to_le_bytes());
    }
}

pub(super) fn quantize_f16(src: &[f32], dst: &mut [u8]) {
    for (x, o) in src.iter().zip(dst.chunks_exact_mut(2)) {
        o.copy_from_slice(&f32_to_f16(*x));
    }
}

pub(super) fn quantize_bf16(src: &[f32], dst: &mut [u8]) {
    for (x, o) in src.iter().zip(dst.chunks_exact_mut(2)) {
        o.copy_from_slice(&f32_to_bf16(*x).to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_rounds_to_nearest_even_and_canonicalises_nan() {
        // 1 + 2^-11 lies halfway between 1 and the next f16 (1 + 2^-10): ties go to even (1).
        assert_eq!(f32_to_f16(1.0 + 2f32.powi(-11)), 0x3C00u16.to_le_bytes());
        // 1 + 3·2^-11 lies halfway between 1 + 2^-10 (odd) and 1 + 2^-9 (even).
        assert_eq!(f32_to_f16(1.0 + 3.0 * 2f32.powi(-11)), 0x3C02u16.to_le_bytes());
        assert_eq!(f32_to_f16(65520.0), 0x7C00u16.to_le_bytes(), "overflow rounds to inf");
        assert_eq!(f32_to_f16(f32::from_bits(0xFFC0_1234)), 0xFE00u16.to_le_bytes());
        assert_eq!(f16_to_f32(0x0001u16.to_le_bytes()), 2f32.powi(-24), "subnormal is exact");
    }

    #[test]
    fn bf16_matches_ggml_rounding() {
        assert_eq!(f32_to_bf16(f32::from_bits(0x3F80_8000)), 0x3F80, "tie to even (down)");
        assert_eq!(f32_to_bf16(f32::from_bits(0x3F81_8000)), 0x3F82, "tie to even (up)");
        assert_eq!(f32_to_bf16(f32::from_bits(0x3F80_8001)), 0x3F81);
        assert_eq!(f32_to_bf16(f32::from_bits(0x7F7F_FFFF)), 0x7F80, "overflow rounds to inf");
        assert_eq!(f32_to_bf16(f32::from_bits(0xFF80_0001)), 0xFFC0, "signalling NaN made quiet");
        assert_eq!(f32_to_bf16(f32::NEG_INFINITY), 0xFF80);
        assert_eq!(bf16_to_f32(0xC049), f32::from_bits(0xC049_0000));
    }

    #[test]
    fn rows_round_trip_values_all_three_formats_hold() {
        let x = [0.0f32, -0.0, 1.5, -2.25, 49152.0, f32::INFINITY, f32::NEG_INFINITY];
        type Enc = fn(&[f32], &mut [u8]);
        type Dec = fn(&[u8], &mut [f32]);
        let codecs: [(Enc, Dec, usize); 3] = [
            (quantize_f32, dequantize_f32, 4),
            (quantize_f16, dequantize_f16, 2),
            (quantize_bf16, dequantize_bf16, 2),
        ];
        for (enc, dec, width) in codecs {
            let mut bytes = vec![0u8; x.len() * width];
            enc(&x, &mut bytes);
            let mut y = [f32::NAN; 7];
            dec(&bytes, &mut y);
            for (a, b) in x.iter().zip(&y) {
                assert_eq!(a.to_bits(), b.to_bits(), "width {width}");
            }
        }
    }
}
