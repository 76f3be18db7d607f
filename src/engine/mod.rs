//! The generation engine: loads a model onto a device, evaluates token batches (prefill in
//! chunks, then one token per decode step), and keeps the position in the KV cache.
//!
//! May use: everything below it (model, exec, tokenizer, sample, gguf, graph, backend, quant,
//! error). Invariant: `pos` is the number of tokens in the KV cache; evaluating past `n_ctx` is
//! an `Error::ContextFull`, never a silent wrap.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::cpu::CpuBackend;
use crate::backend::{Backend, HostData};
use crate::error::{Error, Result};
use crate::exec::{Device, DeviceChoice, Executor, OffloadMode, Placement, open_backend};
use crate::gguf::GgufFile;
use crate::graph::{Step, TensorId};
use crate::model::{LoadOptions, Model, Outputs};

mod bench;
mod chat;
mod generate;
pub mod kernel_bench;
mod offload;
mod perplexity;

pub use crate::backend::DispatchCount;
pub use crate::backend::wgpu::{Tier, WgpuOptions};
pub use crate::sample::{Sampler, SamplerParams};
pub use crate::tokenizer::Tokenizer;
pub use crate::tokenizer::chat::{ChatTemplate, Message, strftime_now};
pub use bench::{BenchSamples, BenchTest};
pub use generate::{Generated, StopReason};
pub use offload::{OffloadPlan, Prediction, Rates};
pub use perplexity::Perplexity;

/// How to load a model.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub device: DeviceChoice,
    /// CPU threads (0: all cores).
    pub threads: usize,
    /// KV cache size in tokens (0: the model's context, capped).
    pub n_ctx: usize,
    /// Most tokens per prefill step.
    pub n_batch: usize,
    pub wgpu: WgpuOptions,
    /// GPU memory kiln may use, in bytes (`None`: what the adapter allows, see `offload.rs`).
    pub gpu_memory: Option<u64>,
    /// How layers that do not fit on the GPU run.
    pub offload: OffloadMode,
    /// llama.cpp's `-ngl`: exactly this many layers (the last ones) on the GPU.
    pub n_gpu_layers: Option<usize>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            device: DeviceChoice::Auto,
            threads: 0,
            n_ctx: 0,
            n_batch: 256,
            wgpu: WgpuOptions::default(),
            gpu_memory: None,
            offload: OffloadMode::Auto,
            n_gpu_layers: None,
        }
    }
}

/// The shape of an offload plan, for reports and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffloadSummary {
    pub resident_layers: usize,
    pub layers: usize,
    pub head_on_gpu: bool,
    /// How non-resident layers run: `Place::Stream` or `Place::Cpu`.
    pub prefill: crate::exec::Place,
    pub decode: crate::exec::Place,
}

/// The offload plan `opts` gives the model at `path` on GPU backend `gpu`, without loading
/// anything (`None`: everything resident). With `--offload auto` this measures the devices.
pub fn plan_offload(
    path: &Path,
    opts: &EngineOptions,
    gpu: &mut dyn Backend,
) -> Result<Option<OffloadPlan>> {
    let file = Arc::new(GgufFile::open(path)?);
    let model = Model::load(file, LoadOptions { n_ctx: opts.n_ctx, kv_type: gpu.kv_type() })?;
    offload::place(&model, opts, gpu)
}

/// Wall-clock time spent in each phase.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    pub load: Duration,
    pub prompt: Duration,
    pub prompt_tokens: usize,
    pub decode: Duration,
    pub decode_tokens: usize,
}

/// A model on a device, with its KV cache position.
pub struct Engine {
    pub file: Arc<GgufFile>,
    pub model: Model,
    pub tokenizer: Arc<Tokenizer>,
    exec: Executor,
    pos: usize,
    n_batch: usize,
    logits: Vec<f32>,
    /// Input and output tensors of each graph the executor has prepared, by key: tokens,
    /// logits, argmax id.
    graph_io: HashMap<u64, (TensorId, Option<TensorId>, Option<TensorId>)>,
    /// The argmax id of the last `eval` with `Outputs::Argmax`.
    argmax: Option<u32>,
    device_name: String,
    /// The offload plan, when the model is split across devices or streamed: its description,
    /// and how many layers are resident and how the others run in each phase.
    pub offload_plan: Option<String>,
    pub offload: Option<OffloadSummary>,
    pub timings: Timings,
}

fn graph_key(n: usize, o: Outputs) -> u64 {
    (n as u64) << 2
        | match o {
            Outputs::None => 0,
            Outputs::Last => 1,
            Outputs::All => 2,
            Outputs::Argmax => 3,
        }
}

impl Engine {
    /// Opens `path`, picks the device, registers and uploads the weights. `progress(done, total)`
    /// reports upload bytes.
    pub fn load(
        path: &Path,
        opts: &EngineOptions,
        progress: impl FnMut(usize, usize),
    ) -> Result<Engine> {
        let start = Instant::now();
        let file = Arc::new(GgufFile::open(path)?);
        let tokenizer = Arc::new(Tokenizer::from_gguf(&file)?);
        let (main_is_gpu, main) = match open_backend(&opts.device, opts.threads, &opts.wgpu)? {
            Device::Gpu(b) => (true, b),
            Device::Cpu(b) => (false, b),
        };
        let mut model =
            Model::load(file.clone(), LoadOptions { n_ctx: opts.n_ctx, kv_type: main.kv_type() })?;
        let mut main = main;
        let plan = if main_is_gpu { offload::place(&model, opts, main.as_mut())? } else { None };
        let mut device_name = main.name();
        let mut plan_text = None;
        let mut summary = None;
        let mut devices = vec![main];
        let placement = match plan {
            Some(p) if p.placement.max_device() > 0 || !p.placement.streamed.is_empty() => {
                if p.placement.max_device() > 0 {
                    let cpu = CpuBackend::new(opts.threads)?;
                    // A layer the GPU never runs keeps the CPU's cache type; one the GPU runs
                    // in some phase keeps the GPU's (the CPU reads both).
                    for il in 0..model.hp.n_layers {
                        if p.placement.prefill.layer(il) == 1 && p.placement.decode.layer(il) == 1 {
                            model.set_kv_type(il, cpu.kv_type());
                        }
                    }
                    device_name = format!("{device_name} + {}", cpu.name());
                    devices.push(Box::new(cpu));
                }
                device_name = format!("{device_name} ({})", p.summary());
                plan_text = Some(p.describe());
                summary = Some(OffloadSummary {
                    resident_layers: p.resident.iter().filter(|&&r| r).count(),
                    layers: p.resident.len(),
                    head_on_gpu: p.head == crate::exec::Place::Gpu,
                    prefill: p.prefill,
                    decode: p.decode,
                });
                p.placement
            }
            _ => Placement::all(0),
        };
        let mut exec = Executor::with_devices(devices, placement)?;
        exec.load(&model.params, &model.build(1, Outputs::Last).graph, progress)?;
        let n_batch = opts.n_batch.clamp(1, model.n_ctx);
        let timings = Timings { load: start.elapsed(), ..Timings::default() };
        if tokenizer.vocab_size() != model.hp.vocab_size {
            return Err(Error::Model(format!(
                "the tokenizer has {} tokens but the model's embedding has {} rows",
                tokenizer.vocab_size(),
                model.hp.vocab_size
            )));
        }
        Ok(Engine {
            file,
            model,
            tokenizer,
            exec,
            pos: 0,
            n_batch,
            logits: Vec::new(),
            graph_io: HashMap::new(),
            argmax: None,
            device_name,
            offload_plan: plan_text,
            offload: summary,
            timings,
        })
    }

    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    /// Times every kernel from now on (see `Backend::set_profiling`).
    pub fn set_profiling(&mut self, on: bool) -> Result<()> {
        self.exec.set_profiling(on)
    }

    /// Weight bytes uploaded for streamed layers, and host time spent staging them, since the
    /// last call (`None` when nothing is streamed).
    pub fn stream_stats(&mut self) -> Option<crate::backend::StreamStats> {
        self.exec.devices_mut().next().and_then(|d| d.stream_stats())
    }

    /// Kernel dispatches of one decode step (the one-token graph, greedy or sampling), once
    /// a decode step has run on a device that dispatches kernels.
    pub fn decode_dispatches(&self) -> Option<DispatchCount> {
        [Outputs::Argmax, Outputs::Last]
            .iter()
            .find_map(|&o| self.exec.dispatch_count(graph_key(1, o)))
    }

    /// Time per kernel since profiling was turned on, slowest first.
    pub fn profile(&self) -> Vec<crate::backend::KernelTime> {
        let mut v = self.exec.profile();
        v.sort_by_key(|k| std::cmp::Reverse(k.total));
        v
    }

    /// Most tokens evaluated per step (prompts are split into batches of this size).
    pub fn n_batch(&self) -> usize {
        self.n_batch
    }

    /// Tokens currently in the KV cache.
    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn n_ctx(&self) -> usize {
        self.model.n_ctx
    }

    /// Forgets the sequence (the KV cache is overwritten from position 0).
    pub fn reset(&mut self) {
        self.pos = 0;
    }

    /// Moves the position back to `pos` (≤ the current one), e.g. to reuse a shared prefix.
    pub fn truncate(&mut self, pos: usize) {
        self.pos = self.pos.min(pos);
    }

    /// Appends `tokens` to the sequence. With `Outputs::Last` the last token's logits are
    /// available from [`logits`](Self::logits) afterwards; with `Outputs::All`, every token's,
    /// row by row; with `Outputs::Argmax`, only the greedy token, from [`argmax`](Self::argmax).
    pub fn eval(&mut self, tokens: &[u32], outputs: Outputs) -> Result<()> {
        if tokens.is_empty() {
            return Ok(());
        }
        let needed = self.pos + tokens.len();
        if needed > self.model.n_ctx {
            return Err(Error::ContextFull { needed, n_ctx: self.model.n_ctx });
        }
        let vocab = self.model.hp.vocab_size;
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= vocab) {
            return Err(Error::InvalidArgument(format!(
                "token id {bad} is outside the vocabulary (size {vocab})"
            )));
        }
        self.logits.clear();
        self.argmax = None;
        let n_chunks = tokens.len().div_ceil(self.n_batch);
        for (i, chunk) in tokens.chunks(self.n_batch).enumerate() {
            let last = i + 1 == n_chunks;
            let out = match outputs {
                Outputs::All => Outputs::All,
                Outputs::Last if last => Outputs::Last,
                Outputs::Argmax if last => Outputs::Argmax,
                _ => Outputs::None,
            };
            let n = chunk.len();
            let key = graph_key(n, out);
            let model = &self.model;
            let ids = &mut self.graph_io;
            self.exec.prepare(key, n, || {
                let sg = model.build(n, out);
                ids.insert(key, (sg.tokens, sg.logits, sg.argmax));
                sg.graph
            })?;
            let (tokens_t, logits_t, argmax_t) = self.graph_io[&key];
            self.exec.execute(
                key,
                Step { pos: self.pos as u32 },
                &[(tokens_t, HostData::U32(chunk))],
            )?;
            self.pos += n;
            if let Some(l) = logits_t {
                let rows = if out == Outputs::All { n } else { 1 };
                let start = self.logits.len();
                self.logits.resize(start + rows * vocab, 0.0);
                self.exec.read_f32(key, l, &mut self.logits[start..])?;
            }
            if let Some(a) = argmax_t {
                let mut id = [0u32];
                self.exec.read_u32(key, a, &mut id)?;
                self.argmax = Some(id[0]);
            }
        }
        Ok(())
    }

    /// The greedy token of the last [`eval`](Self::eval) with `Outputs::Argmax`: the lowest id
    /// among the last token's largest logits.
    pub fn argmax(&self) -> Option<u32> {
        self.argmax
    }

    /// Logits of the last [`eval`](Self::eval): one row of `vocab_size`, or one per token.
    pub fn logits(&self) -> &[f32] {
        &self.logits
    }
}
