//! Hand-computed cases for `quant`: float decoding (special values, subnormals) and the 32-weight
//! blocks. Expected values are worked out by hand from ggml-common.h, never from the decoder.

use super::*;

/// f16 bit patterns for the scales used below.
const F16_ONE: [u8; 2] = [0x00, 0x3C];
const F16_HALF: [u8; 2] = [0x00, 0x38];
const F16_TWO: [u8; 2] = [0x00, 0x40];

#[test]
fn block_shapes_match_ggml_static_asserts() {
    let want = [
        ("F32", 1, 4),
        ("F16", 1, 2),
        ("BF16", 1, 2),
        ("Q4_0", 32, 2 + 16),
        ("Q4_1", 32, 4 + 16),
        ("Q5_0", 32, 2 + 4 + 16),
        ("Q5_1", 32, 4 + 4 + 16),
        ("Q8_0", 32, 2 + 32),
        ("Q8_1", 32, 4 + 32),
        ("Q2_K", 256, 16 + 64 + 4),
        ("Q3_K", 256, 32 + 64 + 12 + 2),
        ("Q4_K", 256, 4 + 12 + 128),
        ("Q5_K", 256, 4 + 12 + 32 + 128),
        ("Q6_K", 256, 128 + 64 + 16 + 2),
        ("Q8_K", 256, 4 + 256 + 32),
    ];
    assert_eq!(want.len(), TYPE_NAMES.len());
    for (name, elems, bytes) in want {
        assert!(TYPE_NAMES.contains(&name));
        assert_eq!(block_shape(name), (elems, bytes), "{name}");
        assert_eq!(dequantize(name, &vec![0u8; 3 * bytes]).len(), 3 * elems, "{name}");
    }
}

#[test]
fn f16_special_values_and_subnormals() {
    let cases: [(u16, f64); 11] = [
        (0x3C00, 1.0),
        (0xC000, -2.0),
        (0x3555, 0.333251953125),      // 0x155/1024 + 1 over 4
        (0x7BFF, 65504.0),             // largest finite
        (0x0400, 1.0 / 16384.0),       // smallest normal 2^-14
        (0x0001, 1.0 / 16777216.0),    // smallest subnormal 2^-24
        (0x03FF, 1023.0 / 16777216.0), // largest subnormal
        (0x8001, -1.0 / 16777216.0),
        (0x0000, 0.0),
        (0x7C00, f64::INFINITY),
        (0xFC00, f64::NEG_INFINITY),
    ];
    for (bits, want) in cases {
        assert_eq!(f16_to_f64(bits), want, "f16 {bits:#06x}");
    }
    assert!(f16_to_f64(0x8000) == 0.0 && f16_to_f64(0x8000).is_sign_negative());
    assert!(f16_to_f64(0x7E00).is_nan() && f16_to_f64(0xFC01).is_nan());
}

#[test]
fn bf16_special_values_and_subnormals() {
    let two_pow = |e: i32| 2f64.powi(e);
    let cases: [(u16, f64); 8] = [
        (0x3F80, 1.0),
        (0xC000, -2.0),
        (0x3EAB, 0.333984375),                        // 0x2B/128 + 1 over 4
        (0x7F7F, (2.0 - two_pow(-7)) * two_pow(127)), // largest finite
        (0x0080, two_pow(-126)),                      // smallest normal
        (0x0001, two_pow(-133)),                      // smallest subnormal: f32 bits 0x0001_0000
        (0x7F80, f64::INFINITY),
        (0xFF80, f64::NEG_INFINITY),
    ];
    for (bits, want) in cases {
        assert_eq!(bf16_to_f64(bits), want, "bf16 {bits:#06x}");
    }
    assert!(bf16_to_f64(0x8000) == 0.0 && bf16_to_f64(0x8000).is_sign_negative());
    assert!(bf16_to_f64(0x7FC0).is_nan());
}

#[test]
fn float_tensors_decode_little_endian() {
    assert_eq!(dequantize("F32", &[0x00, 0x00, 0xC0, 0x3F, 0x00, 0x00, 0x80, 0xBF]), [1.5, -1.0]);
    assert_eq!(dequantize("F16", &[0x00, 0x3C, 0x00, 0xC0]), [1.0, -2.0]);
    assert_eq!(dequantize("BF16", &[0x80, 0x3F, 0x00, 0xC0]), [1.0, -2.0]);
    assert_eq!(to_f64(&[0.1f32]), [0.1f32 as f64]);
}

#[test]
fn q4_0_nibbles_0_to_15_map_to_minus_8_to_7() {
    // qs[j] = j | (15 − j) << 4: weight j is nibble j, weight 16 + j is nibble 15 − j.
    let mut block = F16_ONE.to_vec();
    block.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
    let w = dequantize("Q4_0", &block);
    let want: Vec<f64> = (-8..8).chain((-8..8).rev()).map(f64::from).collect();
    assert_eq!(w, want);
}

#[test]
fn q4_1_is_d_q_plus_m() {
    // d = 0.5, m = −1.0 (0xBC00); qs[3] = 0xA7: weight 3 → q 7, weight 19 → q 10.
    let mut block = [F16_HALF, [0x00, 0xBC]].concat();
    block.extend([0u8; 16]);
    block[4 + 3] = 0xA7;
    let w = dequantize("Q4_1", &block);
    assert_eq!((w[3], w[19], w[0]), (2.5, 4.0, -1.0));
    let (scaled, offset) = dequantize_parts("Q4_1", &block);
    assert_eq!((scaled[19], offset[19]), (5.0, -1.0));
}

#[test]
fn q5_0_high_bits_come_from_qh_bit_i() {
    // d = 2; qh = 0x8001_0001 sets bit 4 of weights 0, 16 and 31.
    // qs[0] = 0x53: weight 0 low nibble 3, weight 16 high nibble 5; qs[15] = 0xA0: weight 31 → 10.
    let mut block = F16_TWO.to_vec();
    block.extend(0x8001_0001u32.to_le_bytes());
    block.extend([0u8; 16]);
    block[6] = 0x53;
    block[6 + 15] = 0xA0;
    let w = dequantize("Q5_0", &block);
    assert_eq!(w[0], 2.0 * (19.0 - 16.0));
    assert_eq!(w[16], 2.0 * (21.0 - 16.0));
    assert_eq!(w[31], 2.0 * (26.0 - 16.0));
    assert_eq!(w[15], 2.0 * (0.0 - 16.0)); // nibble 0, bit 15 clear
    assert_eq!(w[1], -32.0);
}

#[test]
fn q5_1_high_bits_and_min() {
    // d = 0.25 (0x3400), m = 1.5 (0x3E00); qh bit 4 set; qs[4] = 0x0F.
    let mut block = [[0x00, 0x34], [0x00, 0x3E]].concat();
    block.extend(0x0000_0010u32.to_le_bytes());
    block.extend([0u8; 16]);
    block[8 + 4] = 0x0F;
    let w = dequantize("Q5_1", &block);
    assert_eq!(w[4], 0.25 * 31.0 + 1.5); // 15 | 16
    assert_eq!(w[20], 1.5); // high nibble 0, bit 20 clear
    assert_eq!(w[0], 1.5);
}

#[test]
fn q8_0_and_q8_1_are_signed_bytes_times_d() {
    let mut q8_0 = F16_HALF.to_vec();
    q8_0.extend([0x80, 0x7F, 0xFF]); // −128, 127, −1
    q8_0.extend([0u8; 29]);
    assert_eq!(dequantize("Q8_0", &q8_0)[..4], [-64.0, 63.5, -0.5, 0.0]);

    // Q8_1 with s = NaN (0x7E00): s must not leak into the values.
    let mut q8_1 = [F16_TWO, [0x00, 0x7E]].concat();
    q8_1.extend([0xFD, 0x05]); // −3, 5
    q8_1.extend([0u8; 30]);
    assert_eq!(dequantize("Q8_1", &q8_1)[..3], [-6.0, 10.0, 0.0]);
}

#[test]
#[should_panic(expected = "unknown ggml type")]
fn unknown_type_panics() {
    dequantize("Q4_2", &[]);
}

#[test]
#[should_panic(expected = "not a whole number")]
fn partial_block_panics() {
    dequantize("Q4_0", &[0u8; 19]);
}

#[test]
fn zero_weights_keep_the_sign_ggml_gives_them() {
    // Q8_0 with d = −1 (0xBC00) and q = 0: ggml computes 0·d = −0; Q4_1 with m = +0: −0 + 0 = +0.
    let mut q8_0 = vec![0x00, 0xBC];
    q8_0.extend([0u8; 32]);
    assert!(dequantize("Q8_0", &q8_0)[0].is_sign_negative());
    let mut q4_1 = vec![0x00, 0xBC, 0x00, 0x00];
    q4_1.extend([0u8; 16]);
    assert!(dequantize("Q4_1", &q4_1)[0].is_sign_positive());
}
