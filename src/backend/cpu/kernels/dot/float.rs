//! Float dot products: F32 × F32, F16 × F16 and BF16 × BF16 (ggml converts the activations to
//! the weight's own float type, ggml-cpu/vec.cpp `ggml_vec_dot_f16`/`_bf16`/`_f32`).
//!
//! Accumulation: [`LANES`] f32 partial sums (element `i` goes to lane `i % LANES`), reduced as a
//! halving tree, then the tail. This is the shape of ggml's SIMD paths (f32 vector
//! accumulators) rather than its scalar fallback (one f64 sum); a SIMD version with the same
//! lane count gives the same bits for F16/BF16, whose products are exact in f32 (11 + 11 and
//! 8 + 8 significant bits), so FMA or not does not matter there.
//!
//! May use: nothing (tests check the f16 decode against `half`). Invariant: inputs are `n`
//! little-endian elements each, at any alignment.

/// Independent f32 accumulators: enough for 8-wide vectors and for instruction-level
/// parallelism in the scalar loop.
const LANES: usize = 8;

/// Lane-wise dot of two rows of `W`-byte elements decoded by `dec`.
#[inline(always)]
fn dot_lanes<const W: usize>(n: usize, w: &[u8], a: &[u8], dec: impl Fn(&[u8]) -> f32) -> f32 {
    debug_assert!(w.len() == n * W && a.len() == n * W, "dot of {n}: {} / {}", w.len(), a.len());
    let mut acc = [0.0f32; LANES];
    let (wc, ac) = (w.chunks_exact(W * LANES), a.chunks_exact(W * LANES));
    let (wt, at) = (wc.remainder(), ac.remainder());
    for (wb, ab) in wc.zip(ac) {
        for (l, s) in acc.iter_mut().enumerate() {
            *s += dec(&wb[l * W..l * W + W]) * dec(&ab[l * W..l * W + W]);
        }
    }
    let mut half = LANES / 2;
    while half > 0 {
        for l in 0..half {
            acc[l] += acc[l + half];
        }
        half /= 2;
    }
    let mut sum = acc[0];
    for (wb, ab) in wt.chunks_exact(W).zip(at.chunks_exact(W)) {
        sum += dec(wb) * dec(ab);
    }
    sum
}

#[inline(always)]
fn le_f32(b: &[u8]) -> f32 {
    f32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

#[inline(always)]
fn le_f16(b: &[u8]) -> f32 {
    f16_to_f32(u16::from_le_bytes([b[0], b[1]]))
}

/// Exact binary16 → f32 without branches or runtime CPU checks, so loops over it vectorize
/// (`half`'s scalar conversion re-checks for F16C per call). Placing the 15 magnitude bits at
/// the top of an f32's exponent and mantissa and multiplying by 2^112 rebiases the exponent
/// (15 → 127) exactly, subnormals included; the all-ones exponent (∞, NaN) is mapped directly.
#[inline(always)]
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let (h, sign) = (u32::from(h), u32::from(h & 0x8000) << 16);
    let magnitude = (h & 0x7fff) << 13;
    let finite = f32::from_bits(magnitude) * f32::from_bits(0x7780_0000); // 2^112
    let special = f32::from_bits(magnitude | 0x7f80_0000);
    let v = if h & 0x7c00 == 0x7c00 { special } else { finite };
    f32::from_bits(v.to_bits() | sign)
}

#[inline(always)]
fn le_bf16(b: &[u8]) -> f32 {
    f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16)
}

pub(super) fn dot_f32(n: usize, w: &[u8], a: &[u8]) -> f32 {
    dot_lanes::<4>(n, w, a, le_f32)
}

pub(super) fn dot_f16(n: usize, w: &[u8], a: &[u8]) -> f32 {
    dot_lanes::<2>(n, w, a, le_f16)
}

pub(super) fn dot_bf16(n: usize, w: &[u8], a: &[u8]) -> f32 {
    dot_lanes::<2>(n, w, a, le_bf16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_f32(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn small_integer_rows_are_exact_for_every_length() {
        // Integers keep every partial sum exact, so any lane split must give the true value;
        // lengths around LANES exercise the tail.
        for n in [0, 1, 7, 8, 9, 16, 17, 33] {
            let w: Vec<f32> = (0..n).map(|i| (i % 5) as f32 - 2.0).collect();
            let a: Vec<f32> = (0..n).map(|i| (i % 3) as f32 + 1.0).collect();
            let want: f32 = w.iter().zip(&a).map(|(x, y)| x * y).sum();
            assert_eq!(dot_f32(n, &bytes_f32(&w), &bytes_f32(&a)), want, "f32 n={n}");
            let h = |v: &[f32]| -> Vec<u8> {
                v.iter().flat_map(|x| half::f16::from_f32(*x).to_le_bytes()).collect()
            };
            assert_eq!(dot_f16(n, &h(&w), &h(&a)), want, "f16 n={n}");
            let b = |v: &[f32]| -> Vec<u8> {
                v.iter().flat_map(|x| ((x.to_bits() >> 16) as u16).to_le_bytes()).collect()
            };
            assert_eq!(dot_bf16(n, &b(&w), &b(&a)), want, "bf16 n={n}");
        }
    }

    #[test]
    fn f16_decode_is_exact_for_every_bit_pattern() {
        for h in 0..=u16::MAX {
            let (got, want) = (f16_to_f32(h), half::f16::from_bits(h).to_f32());
            assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()), "{h:#x}");
        }
    }

    #[test]
    fn reads_rows_at_odd_byte_offsets() {
        let w = bytes_f32(&[1.5, -2.0, 0.25]);
        let mut shifted = vec![0u8; 1];
        shifted.extend(&w);
        assert_eq!(dot_f32(3, &shifted[1..], &w), 1.5 * 1.5 + 4.0 + 0.0625);
    }
}
