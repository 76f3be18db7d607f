//! Tests over every format through the public API: block sizes, length errors, quantize ->
//! dequantize error on ggml's test signal, robustness on arbitrary bytes and floats.
//!
//! May use: `quant`. Invariant: tolerances are ggml's (tests/test-quantize-fns.cpp), not tuned.

use std::mem::{align_of, size_of};

use super::*;

/// ggml's `generate_data`: `0.1 + 2·cos(i + offset)`, evaluated in f32 like `cosf`.
fn ggml_signal(n: usize, offset: f32) -> Vec<f32> {
    (0..n).map(|i| (0.1 + 2.0 * (i as f32 + offset).cos() as f64) as f32).collect()
}

/// ggml's `array_rmse`: `sqrt(Σ diff²) / n` (note: divided by n outside the root).
fn ggml_rmse(a: &[f32], b: &[f32]) -> f32 {
    let sum: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
    (sum.sqrt() as f32) / a.len() as f32
}

/// Small deterministic generator (xorshift64*) so these tests need no crate.
fn bytes(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed >> 12;
            seed ^= seed << 25;
            seed ^= seed >> 27;
            (seed.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

#[test]
fn block_structs_match_the_dtype_table() {
    fn check<B: Block>() {
        assert_eq!(size_of::<B>(), B::DTYPE.type_size(), "{}", B::DTYPE);
        assert_eq!(align_of::<B>(), 1, "{} must be readable at any offset", B::DTYPE);
    }
    check::<BlockQ4_0>();
    check::<BlockQ4_1>();
    check::<BlockQ5_0>();
    check::<BlockQ5_1>();
    check::<BlockQ8_0>();
    check::<BlockQ8_1>();
    check::<BlockQ2_K>();
    check::<BlockQ3_K>();
    check::<BlockQ4_K>();
    check::<BlockQ5_K>();
    check::<BlockQ6_K>();
    check::<BlockQ8_K>();
}

#[test]
fn length_mismatches_are_errors_naming_the_type() {
    let mut out = vec![0.0f32; 64];
    let err = dequantize(DType::Q4_0, &[0; 36], &mut out[..31]).unwrap_err();
    assert!(matches!(&err, Error::InvalidArgument(m) if m.contains("Q4_0") && m.contains("31")));
    let err = dequantize(DType::Q4_0, &[0; 35], &mut out[..32]).unwrap_err();
    assert!(matches!(&err, Error::InvalidArgument(m) if m.contains("18") && m.contains("35")));
    assert!(dequantize(DType::F16, &[0; 3], &mut out[..1]).is_err());
    assert!(quantize(DType::Q4_K, &[0.0; 255]).is_err());
    assert!(quantize_row_q8_0_into(&[0.0; 32], &mut [0; 33]).is_err());
    assert!(quantize_row_q8_k_into(&[0.0; 256], &mut [0; 293]).is_err());
    assert!(as_blocks::<BlockQ6_K>(&[0; 211]).is_err());
    // Empty rows are valid.
    dequantize(DType::Q6_K, &[], &mut []).unwrap();
    assert!(quantize(DType::Q6_K, &[]).unwrap().is_empty());
}

#[test]
fn round_trip_error_within_ggml_limits() {
    let x = ggml_signal(4096, 0.0);
    for dtype in DType::ALL {
        let q = quantize(dtype, &x).unwrap();
        assert_eq!(q.len() as u64, dtype.row_bytes(4096).unwrap());
        let mut y = vec![f32::NAN; x.len()];
        dequantize(dtype, &q, &mut y).unwrap();
        let err = ggml_rmse(&x, &y);
        let limit = match dtype {
            DType::Q2_K => 0.0075,
            DType::Q3_K => 0.004,
            _ => 0.002,
        };
        assert!(err < limit, "{dtype}: round-trip error {err} >= {limit}");
        // Sharper than ggml's metric: no element is off by more than one quantization step of
        // the signal's full range (4.2 = max − min of 0.1 ± 2), or half an ulp for floats
        // (|x| < 4: half an ulp is 2^-10 for F16, 2^-7 for BF16).
        let step = |bits: i32| 4.2 / ((1 << bits) - 1) as f32;
        let bound = match dtype {
            DType::F32 => 0.0,
            DType::F16 => 2f32.powi(-10),
            DType::BF16 => 2f32.powi(-7),
            DType::Q2_K => step(2),
            DType::Q3_K => step(3),
            DType::Q4_0 | DType::Q4_1 | DType::Q4_K => step(4),
            DType::Q5_0 | DType::Q5_1 | DType::Q5_K => step(5),
            DType::Q6_K => step(6),
            DType::Q8_0 | DType::Q8_1 | DType::Q8_K => step(8),
        };
        let worst = x.iter().zip(&y).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(worst <= bound, "{dtype}: worst element error {worst} > {bound}");
    }
}

#[test]
fn finer_formats_are_more_accurate() {
    let x = ggml_signal(4096, 1.0);
    let err = |dtype| {
        let mut y = vec![0.0; x.len()];
        dequantize(dtype, &quantize(dtype, &x).unwrap(), &mut y).unwrap();
        ggml_rmse(&x, &y)
    };
    use DType::*;
    for pair in [[Q2_K, Q3_K], [Q3_K, Q4_K], [Q4_K, Q5_K], [Q5_K, Q6_K], [Q6_K, Q8_0]] {
        assert!(err(pair[0]) > err(pair[1]), "{pair:?}");
    }
    for pair in [[Q4_0, Q5_0], [Q4_1, Q5_1], [Q5_0, Q8_0], [Q8_0, F16], [BF16, F16], [F16, F32]] {
        assert!(err(pair[0]) > err(pair[1]), "{pair:?}");
    }
    assert_eq!(err(F32), 0.0);
}

#[test]
fn arbitrary_bytes_decode_without_panic_at_any_offset() {
    for dtype in DType::ALL {
        let n = 2 * dtype.block_size();
        let len = dtype.row_bytes(n as u64).unwrap() as usize;
        let raw = bytes(len + 1, dtype.ggml_id() as u64 + 1);
        let mut a = vec![0.0f32; n];
        let mut b = vec![0.0f32; n];
        dequantize(dtype, &raw[..len], &mut a).unwrap();
        // The same bytes one byte further along (misaligned for every wider field).
        let mut shifted = vec![0u8; len + 1];
        shifted[1..].copy_from_slice(&raw[..len]);
        dequantize(dtype, &shifted[1..], &mut b).unwrap();
        let same = a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "{dtype}");
    }
    // All-ones bytes: NaN scales everywhere; they propagate.
    let mut y = [0.0f32; 32];
    dequantize(DType::Q4_1, &[0xFF; 20], &mut y).unwrap();
    assert!(y.iter().all(|v| v.is_nan()));
}

#[test]
fn quantizers_survive_non_finite_and_extreme_inputs() {
    let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, -f32::MAX, 1e-40, 0.0];
    for dtype in DType::ALL {
        for (k, &s) in specials.iter().enumerate() {
            let mut x = ggml_signal(256, k as f32);
            x[k * 31 % 256] = s;
            let q = quantize(dtype, &x).unwrap();
            let mut y = vec![0.0; 256];
            dequantize(dtype, &q, &mut y).unwrap();
        }
        let zeros = quantize(dtype, &[0.0; 256]).unwrap();
        let mut y = vec![1.0; 256];
        dequantize(dtype, &zeros, &mut y).unwrap();
        assert!(y.iter().all(|&v| v == 0.0), "{dtype}: zeros must decode to zeros");
    }
}

#[test]
fn activation_quantizers_write_what_quantize_returns() {
    let x = ggml_signal(512, 3.0);
    type Into = fn(&[f32], &mut [u8]) -> Result<()>;
    let cases: [(DType, Into); 3] = [
        (DType::Q8_0, quantize_row_q8_0_into),
        (DType::Q8_1, quantize_row_q8_1_into),
        (DType::Q8_K, quantize_row_q8_k_into),
    ];
    for (dtype, into) in cases {
        let mut buf = vec![0xAAu8; dtype.row_bytes(512).unwrap() as usize];
        into(&x, &mut buf).unwrap();
        assert_eq!(buf, quantize(dtype, &x).unwrap(), "{dtype}");
    }
}
