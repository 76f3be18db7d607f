//! `kiln bench kernels`: single kernels at real model shapes, without a model file. For each
//! device, first the peak read bandwidth kiln measures there, then one row per case: median
//! time, achieved GB/s (10^9 bytes/s), GFLOP/s and percent of that peak. Markdown by default;
//! `-o csv|json` with the stable field names of [`Row`]; `--plot` adds an SVG bar chart
//! (bench_plot.rs). The cases, bytes and FLOPs are the engine's (`engine::kernel_bench`), the
//! same the criterion benches in benches/kernels.rs time.
//!
//! May use: `engine`, `exec`. Invariant: stdout holds only the report; progress and skipped
//! cases go to stderr, and any failed case makes the command fail after the report is written.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;

use super::bench::{Format, write_csv};
use crate::engine::kernel_bench::{Case, KernelBench, Measurement};
use crate::engine::{Tier, WgpuOptions};
use crate::error::Error;
use crate::exec::DeviceChoice;

const CASES_HELP: &str = "\
Default cases (about 100; --all runs every case, --filter picks from every case):
  matvec      every weight type (F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K..Q6_K) at each
              model's ffn_down
  matmul      512 tokens: every type at smollm2-135m/ffn_down
  matmul_glu  1 token: Q4_0, Q8_0 at each model's ffn_gate_up; Q4_K at llama-7b's
  get_rows    512 ids: every type smollm2-135m's embedding can hold; K-quants at llama-7b's
  rms_norm, rope (1 and 512 tokens), attention (decode at kv 256, 1024, 4096; prefill of 512
              but not llama-7b's), softmax and argmax over the vocabulary: every model
--all adds attn_q, attn_kv, attn_output, ffn_up and output matrices, 512-token matmul at
every matrix (llama-7b's take ~15 s each on lavapipe), 512-token matmul_glu, 1-id get_rows,
every type everywhere and decode at kv 8192. K-quants need cols divisible by 256, so they
skip matrices whose input is SmolLM2's or Gemma's dim. A case that does not fit the device
(out of memory, or over a storage binding) is skipped with a note, not failed.

Shapes: smollm2-135m (dim 576, hidden 1536, 9/3 heads of 64, vocab 49152), gemma3-270m (640,
2048, 4/1 heads of 256, 262144), llama-7b (4096, 11008, 32/32 heads of 128, 32000).

Bytes: every tensor read or written, once: weights (or table rows, or the KV cache entries
attended) plus f32 activations in and out. FLOPs: 2*rows*cols*tokens for matmuls (twice for
matmul_glu), 4*n_heads*head_dim per query-key pair for attention; none for the rest.
Peak: measured in the same run on the same device: on the CPU a streaming read-reduce by all
-t threads over a buffer 8x the last-level cache (at least 256 MiB); on wgpu the probe shader
shaders/read_bandwidth.wgsl over one storage binding (at most 512 MiB). Kernel times: GPU
timestamp queries on wgpu, the monotonic clock on the CPU; median after a warm-up.

Filters: comma-separated alternatives, each a list of words that must all occur in a case's
label, any case: --filter 'matvec q4_k, attention llama-7b'. Labels: --list.";

/// Time single kernels at the shapes of SmolLM2-135M, Gemma 3 270M and Llama 7B.
#[derive(Debug, Args)]
#[command(after_long_help = CASES_HELP)]
pub struct KernelsArgs {
    /// Devices, comma-separated: auto, cpu, gpu, an adapter index or part of an adapter's name
    /// from `kiln devices`; each gets its own peak and rows
    #[arg(long, value_delimiter = ',', default_value = "auto", value_name = "cpu|gpu|N|NAME")]
    pub device: Vec<DeviceChoice>,
    /// CPU threads (0 = all cores); the CPU peak is measured with as many
    #[arg(short = 't', long = "threads", default_value_t = 0)]
    pub threads: usize,
    /// Capability tier for the GPU: f16+subgroups, f16, subgroups or f32
    #[arg(long)]
    pub tier: Option<String>,
    /// Output format
    #[arg(short = 'o', long = "output", value_enum, default_value = "md")]
    pub output: Format,
    /// Also write an SVG bar chart of % of peak per case, grouped by device and model
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Only the cases whose label has these words (see --help), chosen from every case
    #[arg(long, value_name = "WORDS")]
    pub filter: Option<String>,
    /// Every case instead of the default subset (long on slow devices)
    #[arg(long)]
    pub all: bool,
    /// Timed repetitions per case continue for this many milliseconds (at least 3)
    #[arg(long = "time-ms", default_value_t = 300)]
    pub time_ms: u64,
    /// Print the labels of the selected cases and exit
    #[arg(long)]
    pub list: bool,
}

/// One report row; the field names are the csv/json columns.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub kernel: &'static str,
    pub dtype: &'static str,
    pub shape: String,
    pub model: &'static str,
    pub rows: usize,
    pub cols: usize,
    pub tokens: usize,
    pub bytes: u64,
    pub flops: Option<u64>,
    pub reps: usize,
    pub median_ns: u64,
    pub gbps: f64,
    pub gflops: Option<f64>,
    pub peak_gbps: f64,
    pub pct_peak: f64,
    pub backend: &'static str,
    pub device: String,
}

impl Row {
    fn new(case: &Case, m: &Measurement, peak_gbps: f64, kb: &KernelBench) -> Row {
        let secs = m.median.as_secs_f64().max(1e-12);
        let gbps = case.bytes() as f64 / secs / 1e9;
        Row {
            kernel: case.kernel.name(),
            dtype: case.dtype.name(),
            shape: case.shape(),
            model: case.model.name,
            rows: case.rows,
            cols: case.cols,
            tokens: case.tokens,
            bytes: case.bytes(),
            flops: case.flops(),
            reps: m.reps,
            median_ns: m.median.as_nanos() as u64,
            gbps,
            gflops: case.flops().map(|f| f as f64 / secs / 1e9),
            peak_gbps,
            pct_peak: 100.0 * gbps / peak_gbps,
            backend: kb.backend_kind(),
            device: kb.device(),
        }
    }

    /// The case's label without the model (the plot groups by model).
    pub fn bar_label(&self) -> String {
        let part = self.shape.rsplit('/').next().unwrap_or(&self.shape);
        format!("{} {} {part} n={}", self.kernel, self.dtype, self.tokens)
    }
}

/// `1.23 ms`-style time with three significant digits.
fn time_text(ns: u64) -> String {
    let (v, unit) = match ns {
        0..1_000_000 => (ns as f64 / 1e3, "µs"),
        1_000_000..1_000_000_000 => (ns as f64 / 1e6, "ms"),
        _ => (ns as f64 / 1e9, "s"),
    };
    let digits = if v >= 100.0 { 1 } else { 2 };
    format!("{v:.digits$} {unit}")
}

const MD_HEADER: &str = "\
| kernel     | dtype | shape                    |  rows × cols | tokens |     median |    GB/s | GFLOP/s | % peak |
| ---------- | ----- | ------------------------ | -----------: | -----: | ---------: | ------: | ------: | -----: |";

fn md_row(r: &Row) -> String {
    let gflops = r.gflops.map_or_else(|| "-".into(), |g| format!("{g:.1}"));
    format!(
        "| {:<10} | {:<5} | {:<24} | {:>12} | {:>6} | {:>10} | {:>7.2} | {:>7} | {:>6.1} |",
        r.kernel,
        r.dtype,
        r.shape,
        format!("{} × {}", r.rows, r.cols),
        r.tokens,
        time_text(r.median_ns),
        r.gbps,
        gflops,
        r.pct_peak
    )
}

pub fn run(args: &KernelsArgs) -> Result<()> {
    let tier =
        match &args.tier {
            None => None,
            Some(t) => Some(Tier::parse(t).with_context(|| {
                format!("unknown tier {t:?} (f16+subgroups, f16, subgroups, f32)")
            })?),
        };
    let wgpu = WgpuOptions { tier, ..WgpuOptions::default() };
    let budget = Duration::from_millis(args.time_ms);
    let md = matches!(args.output, Format::Md);
    let mut out = std::io::stdout().lock();
    let (mut rows, mut failed) = (Vec::new(), 0usize);
    for choice in &args.device {
        let mut kb = KernelBench::open(choice, args.threads, &wgpu)
            .with_context(|| format!("opening device {choice:?}"))?;
        let cases = kb.cases(args.filter.as_deref(), args.all);
        if cases.is_empty() {
            bail!("no kernel case matches --filter {:?} (--list shows them)", args.filter);
        }
        if args.list {
            for c in &cases {
                writeln!(out, "{}", c.label())?;
            }
            continue;
        }
        let device = kb.device();
        eprintln!("kiln bench kernels: {} cases on {device}", cases.len());
        let peak = kb.peak_read_bandwidth().context("measuring the peak read bandwidth")? / 1e9;
        if md {
            writeln!(out, "\n{device}: measured peak read bandwidth {peak:.2} GB/s\n")?;
            writeln!(out, "{MD_HEADER}")?;
        }
        for case in &cases {
            match kb.measure(case, budget) {
                Ok(m) => {
                    let row = Row::new(case, &m, peak, &kb);
                    if md {
                        writeln!(out, "{}", md_row(&row))?;
                        out.flush()?;
                    }
                    rows.push(row);
                }
                Err(e @ Error::OutOfMemory(_)) => {
                    eprintln!("kiln: skipping {} (does not fit: {e})", case.label());
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("kiln: {} failed: {e}", case.label());
                }
            }
        }
    }
    if args.list {
        return Ok(());
    }
    match args.output {
        Format::Md => writeln!(out, "\nkiln {}", env!("CARGO_PKG_VERSION"))?,
        Format::Csv => write_csv(
            &mut out,
            &serde_json::to_value(&rows)?.as_array().cloned().unwrap_or_default(),
        )?,
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?,
    }
    if let Some(path) = &args.plot {
        std::fs::write(path, super::bench_plot::svg(&rows))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("kiln bench kernels: wrote {}", path.display());
    }
    if failed > 0 {
        bail!("{failed} kernel cases failed (see above)");
    }
    Ok(())
}
