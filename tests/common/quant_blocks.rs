//! Random raw quant blocks: random bytes for quants, high bits and packed scales, so every
//! nibble value and scale bit is exercised, with the f16/f32 scale fields drawn from a sane
//! range (magnitudes 2^-10..2^-4, either sign where the format allows; never NaN, Inf or
//! subnormal). Field offsets from ggml-common.h (`block_*` structs), as summarised in the
//! team's research notes (`../shared/research/kernels-brief.md` §1, outside this repository).

use kiln::quant::DType;
use rand::RngExt;

use super::rng;

fn f16_bits(v: f32) -> [u8; 2] {
    half::f16::from_f32(v).to_bits().to_le_bytes()
}

/// Offsets of the f16 scale fields inside a block, and whether they may be negative.
fn f16_fields(dt: DType) -> &'static [(usize, bool)] {
    match dt {
        DType::Q4_0 | DType::Q5_0 | DType::Q8_0 => &[(0, true)],
        DType::Q4_1 | DType::Q5_1 => &[(0, true), (2, true)],
        DType::Q8_1 => &[(0, true), (2, true)],
        DType::Q2_K => &[(80, true), (82, true)],
        DType::Q3_K => &[(108, true)],
        DType::Q4_K | DType::Q5_K => &[(0, true), (2, true)],
        DType::Q6_K => &[(208, true)],
        DType::F32 | DType::F16 | DType::BF16 | DType::Q8_K => &[],
    }
}

/// `n` elements of `dt` as raw bytes (a whole number of blocks).
pub fn random_blocks(dt: DType, n: usize, seed: u64) -> Vec<u8> {
    assert_eq!(n % dt.block_size(), 0, "{n} is not whole {dt} blocks");
    let mut r = rng(seed);
    let scale = |r: &mut rand_chacha::ChaCha8Rng, signed: bool| -> f32 {
        let mag = 2f32.powf(r.random_range(-10.0..-4.0));
        if signed && r.random::<bool>() { -mag } else { mag }
    };
    match dt {
        DType::F32 => (0..n).flat_map(|_| r.random_range(-1.0f32..1.0).to_le_bytes()).collect(),
        DType::F16 => (0..n).flat_map(|_| f16_bits(r.random_range(-1.0f32..1.0))).collect(),
        DType::BF16 => (0..n)
            .flat_map(|_| {
                half::bf16::from_f32(r.random_range(-1.0f32..1.0)).to_bits().to_le_bytes()
            })
            .collect(),
        _ => {
            let bs = dt.type_size();
            let mut out = vec![0u8; n / dt.block_size() * bs];
            for block in out.chunks_exact_mut(bs) {
                r.fill(block);
                for &(off, signed) in f16_fields(dt) {
                    let v = scale(&mut r, signed);
                    block[off..off + 2].copy_from_slice(&f16_bits(v));
                }
                if dt == DType::Q8_K {
                    let v = scale(&mut r, true);
                    block[0..4].copy_from_slice(&v.to_le_bytes());
                }
            }
            out
        }
    }
}
