//! Test support for the CPU kernel unit tests: seeded inputs, random raw quant blocks, weight
//! params, one-graph runs on a fresh [`CpuBackend`] with poisoned activations, and the
//! NMSE + per-element comparison against kernels-ref (the rule of tests/common/mod.rs).

use std::sync::Arc;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::backend::cpu::CpuBackend;
use crate::backend::{Backend, HostData};
use crate::error::Result;
use crate::graph::{
    ElemType, Graph, HostBytes, ParamDesc, ParamId, ParamInit, ParamTable, Plan, Shape, Step,
    TensorId,
};
use crate::quant::DType;

/// `n` values uniform in `[lo, hi)`.
pub fn uniform(n: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| r.random_range(lo..hi)).collect()
}

/// Offsets of the f16 scale fields of a block (ggml-common.h).
fn f16_fields(dt: DType) -> &'static [usize] {
    match dt {
        DType::Q4_0 | DType::Q5_0 | DType::Q8_0 => &[0],
        DType::Q4_1 | DType::Q5_1 | DType::Q8_1 | DType::Q4_K | DType::Q5_K => &[0, 2],
        DType::Q2_K => &[80, 82],
        DType::Q3_K => &[108],
        DType::Q6_K => &[208],
        DType::F32 | DType::F16 | DType::BF16 | DType::Q8_K => &[],
    }
}

/// `n` elements of `dt` as raw bytes: random quants, high bits and packed scales; f16 (and
/// Q8_K's f32) scales of either sign with magnitudes 2^-10..2^-4; floats uniform in [−1, 1).
pub fn random_blocks(dt: DType, n: usize, seed: u64) -> Vec<u8> {
    assert_eq!(n % dt.block_size(), 0, "{n} is not whole {dt} blocks");
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let scale = |r: &mut ChaCha8Rng| {
        let mag = 2f32.powf(r.random_range(-10.0..-4.0));
        if r.random::<bool>() { -mag } else { mag }
    };
    match dt {
        DType::F32 => (0..n).flat_map(|_| r.random_range(-1.0f32..1.0).to_le_bytes()).collect(),
        DType::F16 => (0..n)
            .flat_map(|_| half::f16::from_f32(r.random_range(-1.0f32..1.0)).to_le_bytes())
            .collect(),
        DType::BF16 => (0..n)
            .flat_map(|_| half::bf16::from_f32(r.random_range(-1.0f32..1.0)).to_le_bytes())
            .collect(),
        _ => {
            let bs = dt.type_size();
            let mut out = vec![0u8; n / dt.block_size() * bs];
            for block in out.chunks_exact_mut(bs) {
                r.fill(block);
                for &off in f16_fields(dt) {
                    let v = scale(&mut r);
                    block[off..off + 2].copy_from_slice(&half::f16::from_f32(v).to_le_bytes());
                }
                if dt == DType::Q8_K {
                    let v = scale(&mut r);
                    block[..4].copy_from_slice(&v.to_le_bytes());
                }
            }
            out
        }
    }
}

/// Adds a weight `(rows, cols)` of `dt` holding `bytes`.
pub fn weight(
    params: &mut ParamTable,
    dt: DType,
    rows: usize,
    cols: usize,
    bytes: Vec<u8>,
) -> ParamId {
    params.push(ParamDesc {
        name: format!("w{}.{dt}", params.len()),
        shape: Shape::new(&[rows, cols]),
        ty: ElemType::Float(dt),
        init: ParamInit::Data(HostBytes::from_vec(bytes)),
        layer: None,
    })
}

/// Runs `graph` twice on a 2-thread CPU backend with poisoned activations (the second run
/// reuses the grown scratch and must give the same bits) and returns the words of `read`.
pub fn run(
    params: &ParamTable,
    mut graph: Graph,
    inputs: &[(TensorId, HostData<'_>)],
    read: &[TensorId],
) -> Result<Vec<Vec<u32>>> {
    for &t in read {
        graph.outputs.push(t);
    }
    let mut b = CpuBackend::new(2)?;
    b.set_poison(true);
    let ids: Vec<ParamId> = params.iter().map(|(id, _)| id).collect();
    b.load_params(params, &ids)?;
    let graph = Arc::new(graph);
    let plan = Arc::new(Plan::new(&graph));
    let h = b.prepare(graph.clone(), plan)?;
    let mut runs = Vec::new();
    for _ in 0..2 {
        b.execute(h, Step::default(), inputs)?;
        let mut words = Vec::new();
        for &t in read {
            let mut v = vec![0u32; graph.tensor(t).shape.n_elements()];
            b.read_u32(h, t, &mut v)?;
            words.push(v);
        }
        runs.push(words);
    }
    assert_eq!(runs[0], runs[1], "a second run with the reused scratch differs");
    Ok(runs.swap_remove(0))
}

/// Words read back as f32.
pub fn floats(words: &[u32]) -> Vec<f32> {
    words.iter().map(|&w| f32::from_bits(w)).collect()
}

/// NaN/Inf must match; every element within `atol + rtol·scale[i]`; NMSE at most `nmse`.
#[track_caller]
pub fn assert_close(what: &str, got: &[f32], want: &[f64], scale: &[f64], tol: (f64, f64, f64)) {
    let (atol, rtol, max_nmse) = tol;
    assert_eq!(got.len(), want.len(), "{what}: length");
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (i, (&g, &r)) in got.iter().zip(want).enumerate() {
        let g = f64::from(g);
        if r.is_nan() || g.is_nan() || r.is_infinite() || g.is_infinite() {
            assert!(g == r || (g.is_nan() && r.is_nan()), "{what}[{i}]: got {g}, want {r}");
            continue;
        }
        let bound = atol + rtol * scale[i];
        assert!((g - r).abs() <= bound, "{what}[{i}]: got {g}, want {r}, bound {bound:e}");
        num += (g - r) * (g - r);
        den += r * r;
    }
    if den > 0.0 {
        assert!(num / den <= max_nmse, "{what}: NMSE {:e} > {max_nmse:e}", num / den);
    }
}

/// NMSE of `got` against `want`.
pub fn nmse(got: &[f32], want: &[f64]) -> f64 {
    let num: f64 = got.iter().zip(want).map(|(&g, &r)| (f64::from(g) - r).powi(2)).sum();
    num / want.iter().map(|r| r * r).sum::<f64>()
}
