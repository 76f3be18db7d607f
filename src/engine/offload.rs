//! Deciding where each part of a model runs when it does not all fit on the GPU.
//!
//! 1. Residency: `-ngl N` (llama.cpp's meaning), or a memory budget (`--gpu-memory`, else what
//!    the adapter reports) that the model's parts are fitted into: activations, scratch and
//!    streaming slots are set aside first, then the output head, then layers from the last
//!    down, each with its KV cache.
//! 2. Every layer that is not resident is streamed (its weights uploaded from the mmap into a
//!    reusable GPU slot before it runs, wgpu/stream.rs) or computed by the CPU backend, chosen
//!    per phase: `--offload stream|cpu` forces one; `auto` measures the devices now (upload
//!    bandwidth, GPU and CPU matvec and matmul speed on the model's own layer shape and weight
//!    type, with `kernel_bench`) and picks, for decode and for a prefill batch separately, the
//!    mode with the smaller predicted time. A non-resident head or embedding runs on the CPU
//!    (an embedding lookup reads one row; Gemma 3's tied head exceeds one GPU binding).
//!
//! May use: everything the engine may.

use std::time::Duration;

use super::EngineOptions;
use super::kernel_bench::{Case, Kernel, KernelBench, ModelShape};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::exec::{Assignment, DeviceChoice, OffloadMode, Place, Placement};
use crate::graph::{ParamInit, Plan};
use crate::model::{Model, Outputs};
use crate::quant::DType;

/// Device speeds measured for planning (bytes and FLOPs per second).
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    pub upload: f64,
    pub gpu_matvec: f64,
    pub cpu_matvec: f64,
    pub gpu_matmul: f64,
    pub cpu_matmul: f64,
}

/// Predicted time of one step's non-resident layers in each mode.
#[derive(Debug, Clone, Copy)]
pub struct Prediction {
    pub stream: Duration,
    pub cpu: Duration,
}

/// Where each part of the model runs.
pub struct OffloadPlan {
    pub embed: Place,
    /// Resident (`Gpu`) or not (`Cpu`: decided per phase below).
    pub resident: Vec<bool>,
    pub head: Place,
    /// How non-resident layers run in each phase (`Stream` or `Cpu`).
    pub prefill: Place,
    pub decode: Place,
    pub placement: Placement,
    /// Bytes of persistent tensors placed on the GPU, and the activations (and slots) reserved.
    pub gpu_bytes: u64,
    pub reserve: u64,
    pub rates: Option<Rates>,
    /// Per phase (prefill of `n_batch` tokens, decode of one), when measured.
    pub predicted: Option<(Prediction, Prediction, usize)>,
}

impl OffloadPlan {
    /// One line: how many layers where.
    pub fn summary(&self) -> String {
        let on = self.resident.iter().filter(|&&r| r).count();
        let off = self.resident.len() - on;
        let mode = |p: Place| match p {
            Place::Stream => "streamed",
            _ => "on the CPU",
        };
        let off_text = if off == 0 {
            String::new()
        } else if self.prefill == self.decode {
            format!(", {off} {}", mode(self.decode))
        } else {
            format!(", {off} {} in prefill and {} in decode", mode(self.prefill), mode(self.decode))
        };
        format!(
            "{on}/{} layers resident on the GPU{off_text}, head on the {}",
            self.resident.len(),
            if self.head == Place::Gpu { "GPU" } else { "CPU" }
        )
    }

    /// The whole plan, part by part, for `-v` and `kiln bench`.
    pub fn describe(&self) -> String {
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        let mut s = format!(
            "offload plan: {}; GPU holds {:.1} MiB of weights and caches + {:.1} MiB reserved \
             (activations, streaming slots)\n",
            self.summary(),
            mib(self.gpu_bytes),
            mib(self.reserve)
        );
        s.push_str(&format!(
            "  embedding: {}\n",
            if self.embed == Place::Gpu { "GPU" } else { "CPU" }
        ));
        let mut start = 0;
        for il in 1..=self.resident.len() {
            if il == self.resident.len() || self.resident[il] != self.resident[start] {
                let what = if self.resident[start] {
                    "resident on the GPU".to_string()
                } else {
                    format!("prefill {:?}, decode {:?}", self.prefill, self.decode)
                };
                s.push_str(&format!("  layers {start}..={}: {what}\n", il - 1));
                start = il;
            }
        }
        s.push_str(&format!(
            "  output head: {}",
            if self.head == Place::Gpu { "GPU" } else { "CPU" }
        ));
        if let Some(r) = &self.rates {
            s.push_str(&format!(
                "\n  measured: upload {:.2} GB/s; matvec GPU {:.2} / CPU {:.2} GB/s; matmul GPU {:.1} / CPU {:.1} GFLOP/s",
                r.upload / 1e9,
                r.gpu_matvec / 1e9,
                r.cpu_matvec / 1e9,
                r.gpu_matmul / 1e9,
                r.cpu_matmul / 1e9
            ));
        }
        if let Some((pre, dec, n)) = &self.predicted {
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            s.push_str(&format!(
                "\n  predicted for the non-resident layers: prefill of {n}: stream {:.1} ms, cpu {:.1} ms; decode: stream {:.2} ms, cpu {:.2} ms per token",
                ms(pre.stream),
                ms(pre.cpu),
                ms(dec.stream),
                ms(dec.cpu)
            ));
        }
        s
    }
}

/// Per layer: weight bytes, state (KV cache) bytes; the head's and the separate embedding's.
struct Sizes {
    weights: Vec<u64>,
    state: Vec<u64>,
    head: u64,
    embed: u64,
}

fn sizes(model: &Model) -> Sizes {
    let n = model.hp.n_layers;
    let (mut weights, mut state) = (vec![0u64; n], vec![0u64; n]);
    for (_, p) in model.params.iter() {
        if let Some(l) = p.layer {
            match p.init {
                ParamInit::Data(_) => weights[l as usize] += p.n_bytes() as u64,
                ParamInit::Zeroed => state[l as usize] += p.n_bytes() as u64,
            }
        }
    }
    let head = (model.params.get(model.output).n_bytes()
        + model.params.get(model.output_norm).n_bytes()) as u64;
    let embed = if model.output == model.tok_embd {
        0
    } else {
        model.params.get(model.tok_embd).n_bytes() as u64
    };
    Sizes { weights, state, head, embed }
}

/// The plan for `opts` on GPU backend `gpu`, or `None` when everything stays on the GPU.
pub fn place(
    model: &Model,
    opts: &EngineOptions,
    gpu: &mut dyn Backend,
) -> Result<Option<OffloadPlan>> {
    let n_layers = model.hp.n_layers;
    let sz = sizes(model);
    let batch = opts.n_batch.clamp(1, model.n_ctx);
    let activations = [
        Plan::new(&model.build(batch, Outputs::Last).graph).arena_bytes,
        Plan::new(&model.build(1, Outputs::Last).graph).arena_bytes,
    ]
    .iter()
    .sum::<usize>() as u64;
    let layer_bytes: Vec<usize> =
        sz.weights.iter().zip(&sz.state).map(|(w, s)| (w + s) as usize).collect();
    let fit = |reserve: u64, budget: u64| {
        crate::exec::fit_budget(&layer_bytes, sz.head as usize, sz.embed as usize, budget, reserve)
    };
    // Streaming needs two slots of the largest layer's weights (and, for streamed layers, their
    // KV caches stay on the GPU: counted below once the off layers are known).
    let slots = 2 * sz.weights.iter().copied().max().unwrap_or(0);
    let budget = match (opts.n_gpu_layers, opts.gpu_memory) {
        (Some(_), _) => None,
        (None, Some(b)) => Some(b),
        (None, None) => match gpu.memory_budget() {
            Some(b) => Some(b),
            None => return Ok(None),
        },
    };
    // Residency as (embed, layers, head, bytes used, bytes reserved), without streaming slots
    // and with them (two slots of the largest layer's weights, plus the KV caches of the layers
    // left off, which streaming keeps on the GPU).
    let off_state = |l: &[Place]| -> u64 {
        l.iter().zip(&sz.state).filter(|(p, _)| **p != Place::Gpu).map(|(_, s)| s).sum()
    };
    type Fit = (Place, Vec<Place>, Place, u64, u64);
    let fits: Box<dyn Fn(bool) -> Fit> = match (opts.n_gpu_layers, budget) {
        (Some(ngl), _) => Box::new(move |_| {
            let (e, l, h) = crate::exec::n_gpu_layers(n_layers, ngl);
            let used = l
                .iter()
                .zip(&layer_bytes)
                .filter(|(p, _)| **p == Place::Gpu)
                .map(|(_, &b)| b as u64)
                .sum::<u64>()
                + if h == Place::Gpu { sz.head } else { 0 };
            (e, l, h, used, activations)
        }),
        (None, Some(budget)) => {
            if budget <= activations {
                return Err(Error::OutOfMemory(format!(
                    "--gpu-memory {} MiB does not even hold the activations ({} MiB)",
                    budget >> 20,
                    activations >> 20
                )));
            }
            Box::new(move |streaming| {
                let (e, l, h, used) = fit(activations, budget);
                if !streaming || l.iter().all(|&p| p == Place::Gpu) {
                    return (e, l, h, used, activations);
                }
                let mut reserve = activations + slots + off_state(&l);
                let (mut e, mut l, mut h, mut used) = fit(reserve, budget);
                for _ in 0..4 {
                    let r = activations + slots + off_state(&l);
                    if r == reserve {
                        break;
                    }
                    reserve = r;
                    (e, l, h, used) = fit(reserve, budget);
                }
                (e, l, h, used, reserve)
            })
        }
        (None, None) => unreachable!("handled above"),
    };
    let off_of =
        |f: &Fit| -> Vec<usize> { (0..n_layers).filter(|&l| f.1[l] != Place::Gpu).collect() };
    let (rates, predicted, prefill, decode, chosen) = match opts.offload {
        OffloadMode::Cpu => (None, None, Place::Cpu, Place::Cpu, fits(false)),
        OffloadMode::Stream => (None, None, Place::Stream, Place::Stream, fits(true)),
        OffloadMode::Phases { prefill, decode } => {
            let streams = prefill == Place::Stream || decode == Place::Stream;
            (None, None, prefill, decode, fits(streams))
        }
        OffloadMode::Auto => {
            let with_slots = fits(true);
            let off = off_of(&with_slots);
            if off.is_empty() {
                (None, None, Place::Cpu, Place::Cpu, with_slots)
            } else {
                let rates = measure(model, opts, gpu)?;
                let bytes: u64 = off.iter().map(|&l| sz.weights[l]).sum();
                let (pre, dec) = predict(&rates, model, bytes, off.len(), batch);
                let pick =
                    |p: &Prediction| if p.stream < p.cpu { Place::Stream } else { Place::Cpu };
                let (pm, dm) = (pick(&pre), pick(&dec));
                let chosen = if pm == Place::Stream || dm == Place::Stream {
                    with_slots
                } else {
                    fits(false)
                };
                (Some(rates), Some((pre, dec, batch)), pm, dm, chosen)
            }
        }
    };
    let (embed, places, head, mut gpu_bytes, reserve) = chosen;
    if embed == Place::Gpu && head == Place::Gpu && places.iter().all(|&p| p == Place::Gpu) {
        return Ok(None);
    }
    let resident: Vec<bool> = places.iter().map(|&p| p == Place::Gpu).collect();
    let off: Vec<usize> = (0..n_layers).filter(|&l| !resident[l]).collect();
    let streams = !off.is_empty() && (prefill == Place::Stream || decode == Place::Stream);
    if streams {
        gpu_bytes += off.iter().map(|&l| sz.state[l]).sum::<u64>();
    }
    let places_in = |mode: Place| -> Vec<Place> {
        resident.iter().map(|&r| if r { Place::Gpu } else { mode }).collect()
    };
    let assign = |mode: Place| Assignment::from_places(embed, &places_in(mode), head);
    let placement = Placement {
        prefill: assign(prefill),
        decode: assign(decode),
        streamed: if streams { off.clone() } else { Vec::new() },
    };
    Ok(Some(OffloadPlan {
        embed,
        resident,
        head,
        prefill,
        decode,
        placement,
        gpu_bytes,
        reserve,
        rates,
        predicted,
    }))
}

/// Predicted time of the `n_off` non-resident layers (`bytes` of weights) per mode, for a
/// prefill batch of `batch` tokens and for one decode token.
fn predict(
    r: &Rates,
    model: &Model,
    bytes: u64,
    n_off: usize,
    batch: usize,
) -> (Prediction, Prediction) {
    let hp = &model.hp;
    // Multiply-adds per token of one layer's projections.
    let macs = (hp.dim * (hp.q_dim() + 2 * hp.kv_dim())
        + hp.q_dim() * hp.dim
        + 3 * hp.dim * hp.hidden_dim) as f64;
    let flops = 2.0 * macs * n_off as f64;
    let b = bytes as f64;
    let secs = |s: f64| Duration::from_secs_f64(s.max(0.0));
    let pre = Prediction {
        stream: secs(b / r.upload + flops * batch as f64 / r.gpu_matmul),
        cpu: secs(flops * batch as f64 / r.cpu_matmul),
    };
    let dec =
        Prediction { stream: secs(b / r.upload + b / r.gpu_matvec), cpu: secs(b / r.cpu_matvec) };
    (pre, dec)
}

/// Measures the rates the plan compares, on the model's largest layer matrix.
fn measure(model: &Model, opts: &EngineOptions, gpu: &mut dyn Backend) -> Result<Rates> {
    let l = &model.layers[0];
    let w = [l.gate, l.up, l.down, l.wq, l.wo]
        .into_iter()
        .map(|id| model.params.get(id))
        .max_by_key(|p| p.n_bytes())
        .expect("invariant: a layer has weights");
    let dtype = match w.ty {
        crate::graph::ElemType::Float(d) => d,
        crate::graph::ElemType::U32 => DType::F32,
    };
    let hp = &model.hp;
    let shape = ModelShape {
        name: "model",
        dim: hp.dim,
        hidden_dim: hp.hidden_dim,
        n_heads: hp.n_heads,
        n_kv_heads: hp.n_kv_heads,
        head_dim: hp.head_dim,
        vocab_size: hp.vocab_size,
    };
    let case = |kernel, tokens| Case {
        kernel,
        dtype,
        model: shape,
        part: "offload".into(),
        rows: w.shape.rows(),
        cols: w.shape.cols(),
        tokens,
        default: false,
    };
    let tokens = opts.n_batch.clamp(2, 512);
    let (mv, mm) = (case(Kernel::Matvec, 1), case(Kernel::Matmul, tokens));
    let budget = Duration::from_millis(150);
    let rate = |bench: &mut KernelBench, c: &Case, flops: bool| -> Result<f64> {
        let t = bench.measure(c, budget)?.median.as_secs_f64().max(1e-9);
        Ok(if flops { c.flops().unwrap_or(0) as f64 } else { c.bytes() as f64 } / t)
    };
    log::info!("measuring the devices for the offload plan ({dtype}, {} x {})", mv.rows, mv.cols);
    let gpu_choice = match &opts.device {
        DeviceChoice::Auto => DeviceChoice::Gpu,
        d => d.clone(),
    };
    let mut g = KernelBench::open(&gpu_choice, opts.threads, &opts.wgpu)?;
    let mut c = KernelBench::open(&DeviceChoice::Cpu, opts.threads, &opts.wgpu)?;
    Ok(Rates {
        upload: gpu.measure_upload_bandwidth()?.unwrap_or(f64::INFINITY),
        gpu_matvec: rate(&mut g, &mv, false)?,
        cpu_matvec: rate(&mut c, &mv, false)?,
        gpu_matmul: rate(&mut g, &mm, true)?,
        cpu_matmul: rate(&mut c, &mm, true)?,
    })
}
