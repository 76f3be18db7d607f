//! `kiln generate`: continue a prompt and stream only the continuation to stdout.

use std::io::{IsTerminal, Read, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::common::{ModelArgs, decode_dispatch_line, print_timings};
use crate::engine::{Sampler, SamplerParams, StopReason};

/// Sampling flags (llama.cpp's names and defaults).
#[derive(Debug, Args, Clone)]
pub struct SamplingArgs {
    /// Temperature; 0 = greedy
    #[arg(long = "temp", default_value_t = 0.8)]
    pub temp: f32,
    /// Keep the k most likely tokens (0 = all)
    #[arg(long = "top-k", default_value_t = 40)]
    pub top_k: i32,
    /// Keep the most likely tokens up to this total probability (1.0 = all)
    #[arg(long = "top-p", default_value_t = 0.95)]
    pub top_p: f32,
    /// Drop tokens below this fraction of the top token's probability (0 = off)
    #[arg(long = "min-p", default_value_t = 0.05)]
    pub min_p: f32,
    /// Penalty for repeating recent tokens (1.0 = off)
    #[arg(long = "repeat-penalty", default_value_t = 1.0)]
    pub repeat_penalty: f32,
    /// How many recent tokens the repeat penalty looks at (-1 = the whole context)
    #[arg(long = "repeat-last-n", default_value_t = 64, allow_negative_numbers = true)]
    pub repeat_last_n: i64,
    /// Random seed (default: from the clock; printed with -v)
    #[arg(long = "seed")]
    pub seed: Option<u64>,
}

impl SamplingArgs {
    pub fn params(&self, n_ctx: usize) -> Result<SamplerParams> {
        let repeat_last_n = match self.repeat_last_n {
            -1 => n_ctx,
            n if n >= 0 => n as usize,
            n => bail!("--repeat-last-n {n}: must be -1 or ≥ 0"),
        };
        let p = SamplerParams {
            temperature: self.temp,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repeat_penalty: self.repeat_penalty,
            repeat_last_n,
            seed: self.seed,
        };
        p.validate()?;
        Ok(p)
    }
}

/// Continue a prompt: streams the continuation (only the continuation) to stdout, timings to stderr.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Prompt text
    #[arg(short = 'p', long = "prompt", conflicts_with = "file")]
    pub prompt: Option<String>,
    /// Read the prompt from a file
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Tokens to generate (-1 = until the end of text or the context is full)
    #[arg(short = 'n', long = "n-predict", default_value_t = 128, allow_negative_numbers = true)]
    pub n_predict: i64,
    /// Do not print timings
    #[arg(long)]
    pub no_timings: bool,
    /// Time every kernel and print a table at the end (GPU: one pass per dispatch, slower)
    #[arg(long)]
    pub profile: bool,
}

/// The prompt from -p, -f, or stdin when it is not a terminal.
pub fn read_prompt(prompt: &Option<String>, file: &Option<PathBuf>) -> Result<String> {
    if let Some(p) = prompt {
        return Ok(p.clone());
    }
    if let Some(f) = file {
        return std::fs::read_to_string(f)
            .with_context(|| format!("reading prompt from {}", f.display()));
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        bail!("no prompt: pass -p TEXT, -f FILE, or pipe the prompt on stdin");
    }
    let mut s = String::new();
    stdin.lock().read_to_string(&mut s).context("reading the prompt from stdin")?;
    Ok(s)
}

pub fn run(args: &GenerateArgs) -> Result<()> {
    let prompt = read_prompt(&args.prompt, &args.file)?;
    let max = match args.n_predict {
        -1 => None,
        n if n >= 0 => Some(n as usize),
        n => bail!("-n {n}: must be -1 or ≥ 0"),
    };
    let mut engine = args.model.load()?;
    let params = args.sampling.params(engine.n_ctx())?;
    let mut sampler = Sampler::new(params)?;
    if args.model.verbose {
        eprintln!("kiln: seed {}", sampler.seed());
    }
    let tokens = engine.tokenizer.encode(&prompt, true, true)?;
    if args.profile {
        engine.set_profiling(true)?;
    }
    let mut stdout = std::io::stdout().lock();
    let mut write_err = None;
    let result = engine.generate(&tokens, max, &mut sampler, |text| {
        match stdout.write_all(text.as_bytes()).and_then(|_| stdout.flush()) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                write_err = Some(e);
                ControlFlow::Break(())
            }
        }
    })?;
    if let Some(e) = write_err {
        return Err(e.into());
    }
    if stdout.is_terminal() {
        let _ = writeln!(stdout);
    }
    if result.stop == StopReason::ContextFull {
        eprintln!(
            "kiln: stopped after {} tokens: the context of {} tokens is full (-c sets its size)",
            result.tokens.len(),
            engine.n_ctx()
        );
    } else if args.model.verbose {
        eprintln!("kiln: stopped: {:?} after {} tokens", result.stop, result.tokens.len());
    }
    if !args.no_timings {
        print_timings(&engine.timings);
    }
    if args.model.verbose
        && let Some(line) = decode_dispatch_line(&engine)
    {
        eprintln!("kiln: {line}");
    }
    if args.model.verbose
        && let Some(st) = engine.stream_stats().filter(|s| s.uploaded > 0)
    {
        let t = engine.timings;
        let secs = (t.prompt + t.decode).as_secs_f64().max(1e-9);
        eprintln!(
            "kiln: streamed {:.1} MiB of weights: {:.2} GB/s over the run, staged at {:.2} GB/s \
             (host copies), {:.1} MiB of GPU slots",
            st.uploaded as f64 / (1 << 20) as f64,
            st.uploaded as f64 / secs / 1e9,
            st.uploaded as f64 / st.staging.as_secs_f64().max(1e-9) / 1e9,
            st.slot_bytes as f64 / (1 << 20) as f64
        );
    }
    if args.profile {
        let prof = engine.profile();
        let total: f64 = prof.iter().map(|k| k.total.as_secs_f64()).sum();
        eprintln!(
            "kiln: {:<20} {:>8} {:>12} {:>10} {:>6}",
            "kernel", "calls", "total ms", "µs/call", "share"
        );
        for k in prof {
            let t = k.total.as_secs_f64();
            eprintln!(
                "kiln: {:<20} {:>8} {:>12.2} {:>10.1} {:>5.1}%",
                k.label,
                k.calls,
                t * 1e3,
                t * 1e6 / k.calls.max(1) as f64,
                100.0 * t / total.max(1e-12)
            );
        }
    }
    Ok(())
}
