//! Flags shared by the commands that load a model (llama.cpp's names where one exists), model
//! path resolution, the loading progress bar, the device line, and timings on stderr.
//!
//! May use: `engine`, `exec`. Invariant: everything printed here goes to stderr, so stdout
//! carries only a command's output (the generated text).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::engine::{Engine, EngineOptions, Tier, Timings, WgpuOptions};
use crate::exec::{DeviceChoice, OffloadMode};

/// The default model: the smaller test model fetched by tools/fetch-models.sh.
pub const DEFAULT_MODEL: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Model, context and device flags.
#[derive(Debug, Args, Clone)]
pub struct ModelArgs {
    /// GGUF model file [default: models/SmolLM2-135M-Instruct.Q4_1.gguf, or $KILN_MODELS/…]
    #[arg(short = 'm', long = "model")]
    pub model: Option<PathBuf>,
    /// Context size in tokens (0 = the model's own, capped at 4096)
    #[arg(short = 'c', long = "ctx-size", default_value_t = 0)]
    pub ctx: usize,
    /// CPU threads (0 = all cores)
    #[arg(short = 't', long = "threads", default_value_t = 0)]
    pub threads: usize,
    /// Most tokens evaluated per prefill step
    #[arg(short = 'b', long = "batch-size", default_value_t = 256)]
    pub batch: usize,
    /// Device: auto (the best hardware GPU, else the CPU backend; CPU-type adapters such as
    /// llvmpipe only when asked for), cpu, gpu (the best adapter, CPU-type included), an adapter
    /// index from `kiln devices`, or part of an adapter's name from `kiln devices`, any case
    /// (e.g. --device llvmpipe; the first match wins)
    #[arg(long, default_value = "auto", value_name = "auto|cpu|gpu|N|NAME")]
    pub device: DeviceChoice,
    /// Capability tier for the GPU: f16+subgroups, f16, subgroups or f32 (default: the best the
    /// adapter offers)
    #[arg(long)]
    pub tier: Option<String>,
    /// GPU memory kiln may use, e.g. 512MiB or 2GiB; what does not fit runs per --offload
    /// (kiln bench takes a comma-separated list and measures each)
    #[arg(long = "gpu-memory", value_parser = parse_size, value_delimiter = ',')]
    pub gpu_memory: Vec<u64>,
    /// How layers that do not fit on the GPU run: auto (measured, per phase), stream, cpu, or
    /// PREFILL,DECODE (e.g. stream,cpu)
    #[arg(long, default_value = "auto")]
    pub offload: OffloadMode,
    /// Layers on the GPU, as llama.cpp's -ngl: the last N layers (N above the layer count also
    /// puts the output head there); the others run on the CPU
    #[arg(long = "n-gpu-layers", visible_alias = "ngl")]
    pub n_gpu_layers: Option<usize>,
    /// Print model details and the offload plan while loading (the device and tier are always
    /// printed, in one line on stderr)
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

impl ModelArgs {
    /// The model file: `-m`, else the default test model under $KILN_MODELS or ./models.
    pub fn model_path(&self) -> Result<PathBuf> {
        Self::path_or_default(&self.model)
    }

    /// `given`, else the default test model under $KILN_MODELS or ./models.
    pub fn path_or_default(given: &Option<PathBuf>) -> Result<PathBuf> {
        if let Some(p) = given {
            return Ok(p.clone());
        }
        let mut tried = Vec::new();
        if let Some(dir) = std::env::var_os("KILN_MODELS") {
            tried.push(PathBuf::from(dir).join(DEFAULT_MODEL));
        }
        tried.push(PathBuf::from("models").join(DEFAULT_MODEL));
        if let Some(p) = tried.iter().find(|p| p.is_file()) {
            return Ok(p.clone());
        }
        bail!(
            "no model given (-m FILE) and the default test model is not at {}; run tools/fetch-models.sh \
             in the kiln repository (or set KILN_MODELS to the folder holding {DEFAULT_MODEL})",
            tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" or ")
        )
    }

    pub fn engine_options(&self) -> Result<EngineOptions> {
        let tier = match &self.tier {
            None => None,
            Some(t) => Some(Tier::parse(t).with_context(|| {
                format!("unknown tier {t:?} (f16+subgroups, f16, subgroups, f32)")
            })?),
        };
        Ok(EngineOptions {
            device: self.device.clone(),
            threads: self.threads,
            n_ctx: self.ctx,
            n_batch: self.batch.max(1),
            wgpu: WgpuOptions { tier, ..WgpuOptions::default() },
            gpu_memory: match self.gpu_memory.as_slice() {
                [] => None,
                [b] => Some(*b),
                _ => bail!("--gpu-memory takes one size here (a list is for kiln bench)"),
            },
            offload: self.offload,
            n_gpu_layers: self.n_gpu_layers,
        })
    }

    /// Loads the model, with a progress bar on a terminal when loading takes more than a moment.
    pub fn load(&self) -> Result<Engine> {
        let path = self.model_path()?;
        let opts = self.engine_options()?;
        let start = Instant::now();
        let bar = indicatif::ProgressBar::hidden();
        let show = std::io::stderr().is_terminal();
        let engine = Engine::load(&path, &opts, |done, total| {
            if show && bar.is_hidden() && start.elapsed() > Duration::from_millis(300) {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                bar.set_length(total as u64);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "loading {bar:30} {bytes}/{total_bytes} {elapsed}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
            }
            bar.set_position(done as u64);
        })
        .with_context(|| format!("loading {}", path.display()))?;
        bar.finish_and_clear();
        // Always one line, so a user sees which device (and GPU tier) ran; stdout stays the
        // command's output alone.
        eprintln!("kiln: running on {}", engine.device_name());
        if self.verbose {
            let hp = &engine.model.hp;
            eprintln!(
                "kiln: {}: {} layers, dim {}, {} heads ({} KV), vocab {}, context {}, KV cache {}",
                path.display(),
                hp.n_layers,
                hp.dim,
                hp.n_heads,
                hp.n_kv_heads,
                hp.vocab_size,
                engine.n_ctx(),
                engine.model.kv_type
            );
            if let Some(plan) = &engine.offload_plan {
                eprintln!("kiln: {plan}");
            }
        }
        Ok(engine)
    }
}

/// One line on the kernel dispatches of a decode step, e.g. "wgpu decode: 9 dispatches per
/// layer (275 per token)" (`None` until a decode step ran on the GPU).
pub fn decode_dispatch_line(engine: &Engine) -> Option<String> {
    let d = engine.decode_dispatches()?;
    Some(match d.layer_range() {
        Some((lo, hi)) if lo == hi => {
            format!("wgpu decode: {lo} dispatches per layer ({} per token)", d.total)
        }
        Some((lo, hi)) => {
            format!("wgpu decode: {lo}–{hi} dispatches per layer ({} per token)", d.total)
        }
        None => format!("wgpu decode: {} dispatches per token", d.total),
    })
}

/// Prints llama.cpp-style timings to stderr.
pub fn print_timings(t: &Timings) {
    let rate = |n: usize, d: Duration| if d.is_zero() { 0.0 } else { n as f64 / d.as_secs_f64() };
    eprintln!();
    eprintln!("kiln: load time     = {:10.2} ms", t.load.as_secs_f64() * 1e3);
    eprintln!(
        "kiln: prompt eval   = {:10.2} ms / {:5} tokens ({:8.2} tokens per second)",
        t.prompt.as_secs_f64() * 1e3,
        t.prompt_tokens,
        rate(t.prompt_tokens, t.prompt)
    );
    eprintln!(
        "kiln: generation    = {:10.2} ms / {:5} tokens ({:8.2} tokens per second)",
        t.decode.as_secs_f64() * 1e3,
        t.decode_tokens,
        rate(t.decode_tokens, t.decode)
    );
}

/// Parses a byte size: `123`, `512MiB`, `2GiB`, `1.5G`, `300M`, `64KiB` (K/M/G are binary).
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num.parse().map_err(|_| format!("{s:?} is not a size (e.g. 512MiB, 2GiB)"))?;
    let mul: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        u => return Err(format!("unknown size unit {u:?} in {s:?}")),
    };
    let bytes = v * mul as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(bytes as u64)
}
