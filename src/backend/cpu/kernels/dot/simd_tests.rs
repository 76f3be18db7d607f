//! Every SIMD dot product this CPU can run against the scalar one, its oracle; and the checks
//! that keep the dispatch table wired.
//!
//! Inputs: random raw weight blocks (fixed seeds) with f16 scales of either sign and magnitude
//! 1e-3..1e-1, random quants and packed sub-scales, plus blocks with d = 0 and blocks whose
//! quant bytes are all 0x00, 0xFF, 0x80 or 0x7F (nibbles 0/15, Q8 −128/127, Q6_K scale −128);
//! activations are random f32 rows (with zero, constant and alternating blocks, which quantize
//! to all-0 or all-±127 quants) converted by `quant::quantize_into`. Lengths: one block,
//! several blocks (odd counts exercise 2-block loops' tails) and the test models' row lengths.
//!
//! May use: the parent, `quant`. Invariant: tolerances come from the error bound in [`bound`],
//! never from observed differences.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

/// The unit roundoff of f32, 2^-24.
pub(super) const U: f64 = f32::EPSILON as f64 / 2.0;

/// Byte ranges of the f16 super-scales of a block: `(d, min-scale or None)` (ggml-common.h).
fn scale_fields(dt: DType) -> (usize, Option<usize>) {
    match dt {
        DType::Q4_0 | DType::Q5_0 | DType::Q8_0 => (0, None),
        DType::Q4_1 | DType::Q5_1 | DType::Q4_K | DType::Q5_K => (0, Some(2)),
        DType::Q2_K => (80, Some(82)),
        DType::Q3_K => (108, None),
        DType::Q6_K => (208, None),
        _ => unreachable!("{dt} is not a weight block format"),
    }
}

/// `n` weights of `dt` as raw bytes (see the module doc for the mix).
pub(super) fn weights(dt: DType, n: usize, r: &mut ChaCha8Rng) -> Vec<u8> {
    if dt.is_float() {
        let x: Vec<f32> = (0..n)
            .map(|i| if i % 61 == 7 { 0.0 } else { r.random_range(-1.0f32..1.0) * 0.1 })
            .collect();
        return quant::quantize(dt, &x).expect("whole elements");
    }
    let bs = dt.type_size();
    let mut out = vec![0u8; n / dt.block_size() * bs];
    let (d_at, m_at) = scale_fields(dt);
    for (b, block) in out.chunks_exact_mut(bs).enumerate() {
        r.fill(block);
        if b % 5 == 4 {
            block.fill([0x00, 0xFF, 0x80, 0x7F][r.random_range(0..4usize)]);
        }
        let scale = |r: &mut ChaCha8Rng| {
            let mag = 10f32.powf(r.random_range(-3.0..-1.0));
            half::f16::from_f32(if r.random::<bool>() { -mag } else { mag }).to_le_bytes()
        };
        let d = if b % 7 == 3 { [0, 0] } else { scale(r) };
        block[d_at..d_at + 2].copy_from_slice(&d);
        if let Some(m) = m_at {
            block[m..m + 2].copy_from_slice(&scale(r));
        }
    }
    out
}

/// A random f32 row: per 32 elements uniform, zero, constant or alternating (the last two give
/// quants of ±127, the extremes the integer paths must not saturate on).
pub(super) fn activations(n: usize, r: &mut ChaCha8Rng) -> Vec<f32> {
    let mut x = vec![0.0f32; n];
    for chunk in x.chunks_mut(32) {
        let c = r.random_range(-2.0f32..2.0);
        match r.random_range(0..8u32) {
            0 => {}
            1 => chunk.fill(c),
            2 => {
                chunk.iter_mut().enumerate().for_each(|(i, v)| *v = if i % 2 == 0 { c } else { -c })
            }
            _ => chunk.iter_mut().for_each(|v| *v = r.random_range(-1.0f32..1.0) * c),
        }
    }
    x
}

/// Decoded `bytes` of `dt` (n elements) as f64.
fn decode(dt: DType, bytes: &[u8], n: usize) -> Vec<f64> {
    let mut v = vec![0.0f32; n];
    quant::dequantize(dt, bytes, &mut v).expect("whole blocks");
    v.into_iter().map(f64::from).collect()
}

/// `E = Σ_i (|scale part of w_i| + |min part of w_i|)·|a_i|`, which bounds the sum of the
/// magnitudes of the terms either version adds: every term is a sum of some of these products
/// (a block, a lane or a min sum). The two parts come from decoding the block with the other
/// super-scale zeroed. Q8_1's `s` is `d·Σq` rounded to f16, so min terms carry (1 + 2^-11).
pub(super) fn magnitude(dt: DType, w: &[u8], act: DType, a: &[u8], n: usize) -> f64 {
    let a = decode(act, a, n);
    let part = |zero: Option<usize>| {
        let mut w = w.to_vec();
        if let Some(at) = zero {
            for block in w.chunks_exact_mut(dt.type_size()) {
                block[at..at + 2].fill(0);
            }
        }
        decode(dt, &w, n).iter().zip(&a).map(|(w, a)| (w * a).abs()).sum::<f64>()
    };
    if dt.is_float() {
        return part(None);
    }
    match scale_fields(dt) {
        (_, None) => part(None),
        (d, Some(m)) => part(Some(m)) + part(Some(d)) * (1.0 + 2f64.powi(-11)),
    }
}

/// `|simd − scalar| ≤ 2·γ_k·E` with `k = D + R + 3`, γ_k = k·u/(1 − k·u), u = 2^-24 (Higham,
/// Accuracy and Stability of Numerical Algorithms, §3.1, §4.2). Both versions add the same
/// exact integer-times-scale terms (the integer parts are exact, so only f32 rounding can
/// differ) in different orders, each within γ_{D+R}·Σ|terms| of the exact sum, where D is the
/// longest chain of f32 additions a term passes through and R ≤ 4 the roundings in forming a
/// term (d_w·d_a, ·sum, a product and a subtraction of a min term); f16 decodes and i32 → f32
/// conversions (|lane| < 2^24) are exact. The last 3 cover E itself being summed from f32
/// decodes (each within 3 roundings). D, taking the longer of the two versions: block formats
/// nb + 8 (scalar: one running sum over nb blocks; SIMD: ≤ nb per lane, then ≤ 5 combining
/// adds), K-quants nb + 8 (scalar: 8 lanes over nb blocks folded one by one into the min sum),
/// floats n/8 + 16 (scalar: 8 lanes of n/8, a 3-level tree, a tail < 8; SIMD: 4×8 lanes of
/// n/32, ≤ 3 tail vectors, 5 combining adds, a scalar tail < 8). Worst-case, so observed
/// differences are far below it, while one wrong element (≈ E/n) is far above it.
fn bound(dt: DType, n: usize, e: f64) -> f64 {
    let d = if dt.is_float() { n / 8 + 16 } else { n / dt.block_size() + 8 };
    let k = (d + 4 + 3) as f64;
    2.0 * (k * U / (1.0 - k * U)) * e
}

/// The SIMD levels this CPU has, with their tables.
pub(super) fn simd_tables() -> Vec<(Level, Table)> {
    LEVELS.iter().map(|l| l.0).filter(|&l| l <= detected()).map(|l| (l, table(l))).collect()
}

/// Every SIMD version of `dt`'s dot against the scalar one on rows of each length in `lens`.
fn check(dt: DType, lens: &[usize]) {
    let &(_, act, scalar) = SCALAR.iter().find(|e| e.0 == dt).expect("weight type");
    for (level, t) in simd_tables() {
        let &(_, simd_act, simd) = t.iter().find(|e| e.0 == dt).expect("weight type");
        assert_eq!(simd_act, act, "{dt} {level:?}: activation type");
        if std::ptr::fn_addr_eq(simd, scalar) {
            continue;
        }
        for (i, &n) in lens.iter().enumerate() {
            let mut r =
                ChaCha8Rng::seed_from_u64(0x5eed_0000 + 1000 * dt.ggml_id() as u64 + i as u64);
            for row in 0..8 {
                let w = weights(dt, n, &mut r);
                let x = activations(n, &mut r);
                let mut a = vec![0u8; act.type_size() * n / act.block_size()];
                quant::quantize_into(act, &x, &mut a).expect("whole blocks");
                let (got, want) = (simd(n, &w, &a), scalar(n, &w, &a));
                let tol = bound(dt, n, magnitude(dt, &w, act, &a, n));
                let diff = (f64::from(got) - f64::from(want)).abs();
                assert!(
                    diff <= tol,
                    "{dt} {level:?} n={n} row {row}: simd {got:e}, scalar {want:e}, |diff| {diff:e} > {tol:e}"
                );
                // The same bytes one byte off any alignment give the same bits.
                let (mut ws, mut as_) = (vec![0u8; w.len() + 1], vec![0u8; a.len() + 3]);
                ws[1..].copy_from_slice(&w);
                as_[3..].copy_from_slice(&a);
                assert_eq!(simd(n, &ws[1..], &as_[3..]).to_bits(), got.to_bits(), "{dt} offset");
            }
        }
    }
}

/// Every four-row dot this CPU can run gives, for each of four different rows, the bits of its
/// level's one-row dot (which `check` ties to the scalar one), at any alignment.
#[test]
fn four_row_dots_equal_the_one_row_dot() {
    let levels: Vec<Level> = simd_tables().into_iter().map(|l| l.0).collect();
    let mut checked = 0;
    for level in levels {
        let (t, d4) = (table(level), dot4s(level));
        for (&(dt, act, dot), dot4) in t.iter().zip(d4) {
            let Some(dot4) = dot4 else { continue };
            for (i, &n) in LENS_32.iter().enumerate() {
                let mut r =
                    ChaCha8Rng::seed_from_u64(0x4_0000 + 1000 * dt.ggml_id() as u64 + i as u64);
                // One buffer holding the four rows back to back, one byte off alignment.
                let rows: Vec<Vec<u8>> = (0..4).map(|_| weights(dt, n, &mut r)).collect();
                let mut buf = vec![0u8; 1];
                rows.iter().for_each(|w| buf.extend_from_slice(w));
                let rb = rows[0].len();
                let w: [&[u8]; 4] = std::array::from_fn(|j| &buf[1 + j * rb..1 + (j + 1) * rb]);
                let x = activations(n, &mut r);
                let mut a = vec![0u8; act.type_size() * n / act.block_size()];
                quant::quantize_into(act, &x, &mut a).expect("whole blocks");
                let got = dot4(n, w, &a);
                for (j, row) in rows.iter().enumerate() {
                    let want = dot(n, row, &a);
                    assert_eq!(
                        got[j].to_bits(),
                        want.to_bits(),
                        "{dt} {level:?} n={n} row {j}: {} vs {want}",
                        got[j]
                    );
                }
                checked += 1;
            }
        }
    }
    #[cfg(target_arch = "x86_64")]
    if detected() >= Level::Avx2 {
        assert!(checked > 0, "AVX2 CPU but no four-row dot was checked");
    }
    let _ = checked;
}

/// Row lengths: one block, several, and the test models' widths (SmolLM2 576/1536, Gemma 3
/// 270M 640/2048) where they are whole blocks.
const LENS_32: &[usize] = &[32, 64, 96, 160, 576, 640, 1536, 2048];
const LENS_256: &[usize] = &[256, 512, 768, 1280, 1536, 2048];
const LENS_FLOAT: &[usize] = &[1, 7, 8, 31, 33, 100, 576, 640, 1536, 2048];

macro_rules! simd_vs_scalar {
    ($($name:ident: $dt:ident, $lens:ident;)*) => {$(
        #[test]
        fn $name() {
            check(DType::$dt, $lens);
        }
    )*};
}

simd_vs_scalar! {
    simd_f32_matches_scalar: F32, LENS_FLOAT;
    simd_f16_matches_scalar: F16, LENS_FLOAT;
    simd_bf16_matches_scalar: BF16, LENS_FLOAT;
    simd_q4_0_matches_scalar: Q4_0, LENS_32;
    simd_q4_1_matches_scalar: Q4_1, LENS_32;
    simd_q5_0_matches_scalar: Q5_0, LENS_32;
    simd_q5_1_matches_scalar: Q5_1, LENS_32;
    simd_q8_0_matches_scalar: Q8_0, LENS_32;
    simd_q2_k_matches_scalar: Q2_K, LENS_256;
    simd_q3_k_matches_scalar: Q3_K, LENS_256;
    simd_q4_k_matches_scalar: Q4_K, LENS_256;
    simd_q5_k_matches_scalar: Q5_K, LENS_256;
    simd_q6_k_matches_scalar: Q6_K, LENS_256;
}

/// On a CPU with AVX2 + FMA + F16C every entry of the process table is a SIMD version, and on
/// one with AVX-512 + VNNI too the AVX-512 ones are (unless `KILN_CPU_SIMD` caps the level),
/// so a broken detection or `select` cannot pass silently.
#[test]
fn simd_entries_are_selected_when_the_cpu_has_them() {
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c");
        let avx512 = avx2
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512vnni");
        if !avx2 {
            eprintln!("skipped: this CPU lacks avx2/fma/f16c");
            return;
        }
        assert!(detected() >= Level::Avx2);
        assert_eq!(detected() == Level::Avx512, avx512);
        let cap = env_cap().unwrap_or(Level::Avx512);
        if cap == Level::Scalar {
            eprintln!("skipped: KILN_CPU_SIMD=scalar");
            return;
        }
        for (dt, _, scalar) in SCALAR {
            let k = kernel(dt).expect("weight type");
            assert!(!std::ptr::fn_addr_eq(k.dot, scalar), "{dt}: the scalar dot was selected");
        }
        if avx512 && cap == Level::Avx512 {
            for (dt, dot) in AVX512 {
                let k = kernel(dt).expect("weight type");
                assert!(std::ptr::fn_addr_eq(k.dot, dot), "{dt}: the AVX-512 dot is not selected");
            }
        }
    }
}

#[test]
fn scalar_level_is_the_scalar_table() {
    for ((w, a, d), (w2, a2, d2)) in table(Level::Scalar).into_iter().zip(SCALAR) {
        assert!(w == w2 && a == a2 && std::ptr::fn_addr_eq(d, d2), "{w}");
    }
}

/// On aarch64 the NEON entries are always selected, and the dot-product ones where the CPU has
/// the extension (unless `KILN_CPU_SIMD` caps the level).
#[test]
#[cfg(target_arch = "aarch64")]
fn neon_entries_are_selected() {
    let dotprod = std::arch::is_aarch64_feature_detected!("dotprod");
    assert_eq!(detected(), if dotprod { Level::Dotprod } else { Level::Neon });
    let cap = env_cap().unwrap_or(Level::Dotprod);
    let want: &[(DType, VecDot)] = match cap {
        Level::Scalar => return eprintln!("skipped: KILN_CPU_SIMD=scalar"),
        Level::Dotprod if dotprod => &DOTPROD,
        _ => &NEON,
    };
    for &(dt, dot) in want {
        let k = kernel(dt).expect("weight type");
        assert!(std::ptr::fn_addr_eq(k.dot, dot), "{dt}: the {cap:?} dot is not selected");
    }
}

#[test]
fn kiln_cpu_simd_values() {
    assert_eq!(parse_cap("scalar"), Some(Level::Scalar));
    assert_eq!(parse_cap(""), None);
    assert_eq!(parse_cap("sse9"), None);
    #[cfg(target_arch = "x86_64")]
    {
        assert_eq!(parse_cap(" AVX2 "), Some(Level::Avx2));
        assert_eq!(parse_cap("avx512"), Some(Level::Avx512));
        assert_eq!(parse_cap("neon"), None, "another architecture's level");
    }
    #[cfg(target_arch = "aarch64")]
    {
        assert_eq!(parse_cap(" NEON "), Some(Level::Neon));
        assert_eq!(parse_cap("dotprod"), Some(Level::Dotprod));
        assert_eq!(parse_cap("avx2"), None, "another architecture's level");
    }
}
