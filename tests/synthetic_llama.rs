//! A 2-layer llama with random weights, quantized by `kiln::quant` into a GGUF written here,
//! gives the same logits on the CPU backend, on wgpu in every tier, and in a forward pass built
//! from kernels-ref (f64), over a prefill and several decode steps; and the backends agree
//! with each other directly.
//!
//! Tolerances (tests/common/tol.rs, whole model): on wgpu, per element, the bound the
//! reference carries next to every logit (synthetic_llama/bounded.rs: derived from the per-op
//! rows and the f16 KV store row); NMSE ≤ `MODEL_NMSE_F32` where every op is f32 (the wgpu f32
//! tiers) and ≤ `MODEL_NMSE_QUANT` with f16 KV or 8-bit activations (the CPU, the f16 tiers).
//! The CPU against each tier: NMSE within `(√N₁ + √N₂)²`; tiers against each other: per
//! element within their combined bound. The greedy token of every step must agree with the
//! reference's.

#[path = "synthetic_llama/bounded.rs"]
mod bounded;
mod common;

use bounded::{Bounded, Matrix, Setup};
use kernels_ref::attention::AttentionParams;
use kiln::engine::{Engine, EngineOptions, Tier, WgpuOptions};
use kiln::exec::DeviceChoice;
use kiln::gguf::GgufWriter;
use kiln::model::Outputs;
use kiln::quant::{self, DType};

use common::tol;

const DIM: usize = 256;
const HIDDEN: usize = 512;
const N_HEADS: usize = 4;
const N_KV: usize = 2;
const HEAD: usize = DIM / N_HEADS;
const VOCAB: usize = 320;
const LAYERS: usize = 2;
const BASE: f64 = 10000.0;
const EPS: f32 = 1e-5;

struct Weights {
    /// name → (dtype, rows, cols, bytes)
    tensors: Vec<(String, DType, usize, usize, Vec<u8>)>,
}

/// Random weights, each matrix in a different quant type so many kernels take part.
fn weights() -> Weights {
    let mut tensors = Vec::new();
    let mut seed = 7;
    let mut mat = |name: &str, dt: DType, rows: usize, cols: usize, amp: f32| {
        seed += 1;
        let v = common::uniform(rows * cols, -amp, amp, seed);
        let bytes = quant::quantize(dt, &v).expect("quantize");
        tensors.push((name.to_string(), dt, rows, cols, bytes));
    };
    mat("token_embd.weight", DType::Q8_0, VOCAB, DIM, 1.0);
    mat("output.weight", DType::Q6_K, VOCAB, DIM, 0.2);
    let types = [
        [DType::Q4_0, DType::Q4_1, DType::Q8_0, DType::Q4_K, DType::Q5_0, DType::Q6_K, DType::Q5_K],
        [DType::Q5_1, DType::Q2_K, DType::Q3_K, DType::F16, DType::BF16, DType::Q4_K, DType::F32],
    ];
    for (il, t) in types.iter().enumerate() {
        let n = |s: &str| format!("blk.{il}.{s}.weight");
        mat(&n("attn_q"), t[0], DIM, DIM, 0.15);
        mat(&n("attn_k"), t[1], N_KV * HEAD, DIM, 0.15);
        mat(&n("attn_v"), t[2], N_KV * HEAD, DIM, 0.15);
        mat(&n("attn_output"), t[3], DIM, DIM, 0.1);
        mat(&n("ffn_gate"), t[4], HIDDEN, DIM, 0.15);
        mat(&n("ffn_up"), t[5], HIDDEN, DIM, 0.15);
        mat(&n("ffn_down"), t[6], DIM, HIDDEN, 0.1);
    }
    let mut norms = |name: String| {
        seed += 1;
        let v = common::uniform(DIM, 0.5, 1.5, seed);
        tensors.push((name, DType::F32, 1, DIM, quant::quantize(DType::F32, &v).expect("f32")));
    };
    norms("output_norm.weight".into());
    for il in 0..LAYERS {
        norms(format!("blk.{il}.attn_norm.weight"));
        norms(format!("blk.{il}.ffn_norm.weight"));
    }
    Weights { tensors }
}

fn write_gguf(w: &Weights, path: &std::path::Path) {
    let mut g = GgufWriter::new();
    g.add("general.architecture", "llama")
        .add("llama.block_count", LAYERS as u32)
        .add("llama.context_length", 64u32)
        .add("llama.embedding_length", DIM as u32)
        .add("llama.feed_forward_length", HIDDEN as u32)
        .add("llama.attention.head_count", N_HEADS as u32)
        .add("llama.attention.head_count_kv", N_KV as u32)
        .add("llama.rope.freq_base", BASE as f32)
        .add("llama.attention.layer_norm_rms_epsilon", EPS)
        .add("llama.vocab_size", VOCAB as u32);
    // A SentencePiece vocabulary of VOCAB tokens: specials, the 256 byte tokens, then pieces.
    let mut tokens: Vec<String> = vec!["<unk>".into(), "<s>".into(), "</s>".into()];
    tokens.extend((0..256).map(|b| format!("<0x{b:02X}>")));
    let mut i = 0;
    while tokens.len() < VOCAB {
        tokens.push(format!("\u{2581}p{i}"));
        i += 1;
    }
    let types: Vec<i32> = (0..VOCAB)
        .map(|i| {
            if i < 3 {
                3
            } else if i < 259 {
                6
            } else {
                1
            }
        })
        .collect();
    let scores: Vec<f32> = (0..VOCAB).map(|i| -(i as f32)).collect();
    g.add("tokenizer.ggml.model", "llama")
        .add("tokenizer.ggml.tokens", tokens.iter().map(String::as_str).collect::<Vec<_>>())
        .add("tokenizer.ggml.scores", scores)
        .add("tokenizer.ggml.token_type", types)
        .add("tokenizer.ggml.bos_token_id", 1u32)
        .add("tokenizer.ggml.eos_token_id", 2u32);
    for (name, dt, rows, cols, bytes) in &w.tensors {
        let ne: Vec<u64> =
            if *rows == 1 { vec![*cols as u64] } else { vec![*cols as u64, *rows as u64] };
        g.add_tensor(name, *dt, &ne, bytes.clone()).expect("tensor");
    }
    g.write(path).expect("write gguf");
}

/// The f64 reference for a wgpu tier set up as `setup`: per step, the last token's logits with
/// their bounds (the values do not depend on `setup`).
fn reference(w: &Weights, steps: &[Vec<u32>], setup: Setup) -> Vec<Bounded> {
    let m = |name: &str| {
        let t = w.tensors.iter().find(|t| t.0 == name).unwrap_or_else(|| panic!("{name}"));
        Matrix::new(t.1, t.2, t.3, &t.4)
    };
    let embd = m("token_embd.weight");
    let (mut k_cache, mut v_cache) =
        (vec![Bounded::default(); LAYERS], vec![Bounded::default(); LAYERS]);
    let mut pos = 0;
    let mut out = Vec::new();
    for tokens in steps {
        let n = tokens.len();
        let positions: Vec<usize> = (pos..pos + n).collect();
        // get_rows of Q8_0 is exact (tol.rs EXACT).
        let mut x = Bounded::exact(
            tokens
                .iter()
                .flat_map(|&t| embd.values()[t as usize * DIM..][..DIM].to_vec())
                .collect(),
        );
        for il in 0..LAYERS {
            let g = |s: &str| m(&format!("blk.{il}.{s}.weight"));
            let h = bounded::rms_norm(&x, g("attn_norm").values(), EPS as f64);
            let qkv = bounded::matmul(&h, &[&g("attn_q"), &g("attn_k"), &g("attn_v")], None);
            let width = DIM + 2 * N_KV * HEAD;
            let q = bounded::rope(&qkv.columns(width, 0, DIM), N_HEADS, HEAD, &positions, BASE);
            let k = qkv.columns(width, DIM, DIM + N_KV * HEAD);
            let k = bounded::store(&bounded::rope(&k, N_KV, HEAD, &positions, BASE), setup);
            let v = bounded::store(&qkv.columns(width, DIM + N_KV * HEAD, width), setup);
            k_cache[il].extend(k);
            v_cache[il].extend(v);
            let p = AttentionParams::causal(n, N_HEADS, N_KV, HEAD, pos + n, pos);
            let a = bounded::attention(&q, &k_cache[il], &v_cache[il], p, setup);
            x = bounded::matmul(&a, &[&g("attn_output")], Some(&x));
            let h = bounded::rms_norm(&x, g("ffn_norm").values(), EPS as f64);
            let f = bounded::matmul_glu(&h, &g("ffn_gate"), &g("ffn_up"));
            x = bounded::matmul(&f, &[&g("ffn_down")], Some(&x));
        }
        let last = x.tail((n - 1) * DIM);
        let h = bounded::rms_norm(&last, m("output_norm.weight").values(), EPS as f64);
        out.push(bounded::matmul(&h, &[&m("output.weight")], None));
        pos += n;
    }
    out
}

/// `Σ(a − b)² / Σr²`.
fn nmse(a: &[f32], b: &[f64], r: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(a, b)| (*a as f64 - b).powi(2)).sum();
    num / r.iter().map(|r| r * r).sum::<f64>()
}

fn rms_of(v: &[f64]) -> f64 {
    (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt()
}

/// Index of the largest value (the first on ties).
fn argmax<T: PartialOrd + Copy>(v: &[T]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// `|a − b| ≤ bound` per element, naming the worst element otherwise.
#[track_caller]
fn assert_within(what: &str, a: &[f32], b: &[f64], bound: &[f64]) {
    for i in 0..a.len() {
        let d = (a[i] as f64 - b[i]).abs();
        assert!(
            d <= bound[i],
            "{what}: logit {i}: {} vs {}, |diff| {d:e} > bound {:e}",
            a[i],
            b[i],
            bound[i]
        );
    }
}

/// One backend's run: its name, tier, NMSE ceiling and logits per step.
struct Run {
    name: String,
    tier: Option<Tier>,
    ceiling: f64,
    logits: Vec<Vec<f32>>,
}

#[test]
fn two_layer_llama_matches_reference_on_every_backend() {
    let w = weights();
    let dir = std::env::temp_dir().join(format!("kiln-synthetic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let path = dir.join("llama2l.gguf");
    write_gguf(&w, &path);
    let steps: Vec<Vec<u32>> = vec![vec![3, 17, 250, 99, 1, 42, 7], vec![8], vec![311], vec![64]];

    let mut configs: Vec<(String, DeviceChoice, Option<Tier>)> =
        vec![("cpu".into(), DeviceChoice::Cpu, None)];
    if common::gpu_backends().is_empty() {
        eprintln!("SKIP gpu part: no adapter");
    } else {
        for tb in common::gpu_backends() {
            configs.push((tb.name.clone(), DeviceChoice::Gpu, tb.tier));
        }
    }
    // Bounds per KV store (f32 caches, f16 caches); the values are the same in both.
    let setup = |f16: bool| Setup { kv_store: f16.then_some(tol::KV_F16_STORE_GPU) };
    let refs = [reference(&w, &steps, setup(false)), reference(&w, &steps, setup(true))];
    let mut runs: Vec<Run> = Vec::new();
    for (name, device, tier) in configs {
        let opts = EngineOptions {
            device,
            threads: 2,
            n_ctx: 64,
            n_batch: 64,
            wgpu: WgpuOptions { tier, ..WgpuOptions::default() },
            ..EngineOptions::default()
        };
        let mut e =
            Engine::load(&path, &opts, |_, _| {}).unwrap_or_else(|err| panic!("{name}: {err}"));
        let f16_kv = e.model.kv_type == kiln::graph::ElemType::F16;
        let gpu = tier.is_some();
        let ceiling = if !gpu || f16_kv { tol::MODEL_NMSE_QUANT } else { tol::MODEL_NMSE_F32 };
        let mut logits = Vec::new();
        for (s, (tokens, want)) in steps.iter().zip(&refs[f16_kv as usize]).enumerate() {
            e.eval(tokens, Outputs::Last).unwrap_or_else(|err| panic!("{name} step {s}: {err}"));
            let got = e.logits().to_vec();
            let what = format!("{name} step {s}");
            let err = nmse(&got, &want.v, &want.v);
            eprintln!("{what}: logits NMSE {err:.3e} (ceiling {ceiling:e})");
            assert!(err <= ceiling, "{what}: logits NMSE {err:e} > {ceiling:e}");
            if gpu {
                let b: Vec<f64> = (0..want.v.len()).map(|i| want.bound(i)).collect();
                let used = (0..b.len()).map(|i| (got[i] as f64 - want.v[i]).abs() / b[i]);
                eprintln!(
                    "{what}: worst |diff| / bound {:.2e}; largest bound / rms logit {:.2e}",
                    used.fold(0.0, f64::max),
                    b.iter().fold(0.0, |m: f64, b| m.max(*b)) / rms_of(&want.v)
                );
                assert_within(&what, &got, &want.v, &b);
            }
            let want_f32: Vec<f32> = want.v.iter().map(|&x| x as f32).collect();
            assert_eq!(argmax(&got), argmax(&want_f32), "{what}: greedy token differs");
            logits.push(got);
        }
        runs.push(Run { name, tier, ceiling, logits });
    }
    // Backends against each other directly (the same reference values normalise the NMSE).
    for (i, a) in runs.iter().enumerate() {
        for b in &runs[i + 1..] {
            let ceiling = (a.ceiling.sqrt() + b.ceiling.sqrt()).powi(2);
            for (s, plain) in refs[0].iter().enumerate() {
                let what = format!("{} vs {} step {s}", a.name, b.name);
                let other: Vec<f64> = b.logits[s].iter().map(|&x| x as f64).collect();
                let err = nmse(&a.logits[s], &other, &plain.v);
                assert!(err <= ceiling, "{what}: NMSE {err:e} > {ceiling:e}");
                // Per element where both have a bound: two wgpu tiers.
                if let (Some(ta), Some(tb)) = (a.tier, b.tier) {
                    let (ea, eb) = (&refs[ta.f16 as usize][s].err, &refs[tb.f16 as usize][s].err);
                    let both: Vec<f64> = (ea.iter().zip(eb))
                        .map(|(x, y)| (x.e + y.e).min(tol::MODEL_LAMBDA * (x.q + y.q).sqrt()))
                        .collect();
                    assert_within(&what, &a.logits[s], &other, &both);
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
