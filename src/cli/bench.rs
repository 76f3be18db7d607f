//! `kiln bench`: prompt processing and generation throughput in llama-bench's shape, so the
//! two tables read side by side: the same markdown columns, and with `-o csv|json` the same
//! field names (`n_prompt`, `n_gen`, `n_threads`, `avg_ns`, `stddev_ns`, `avg_ts`,
//! `stddev_ts`, `samples_ns`, `samples_ts` …). kiln adds `bytes_per_token` (weight bytes one
//! decode step reads) and `gbps` (that times the tg rate: the achieved read bandwidth).
//! `kiln bench kernels` (bench_kernels.rs) times single kernels instead, without a model.

use std::io::Write;

use anyhow::{Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use super::common::{ModelArgs, decode_dispatch_line};
use crate::engine::{BenchSamples, BenchTest, Engine, strftime_now};
use crate::exec::Place;

/// Output format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Md,
    Csv,
    Json,
}

/// Measure prompt processing (pp) and text generation (tg) speed like llama-bench.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: Option<BenchCommand>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Prompt lengths to test, comma-separated (0 to skip)
    #[arg(short = 'p', long = "n-prompt", value_delimiter = ',', default_value = "512")]
    pub n_prompt: Vec<usize>,
    /// Generation lengths to test, comma-separated (0 to skip)
    #[arg(short = 'n', long = "n-gen", value_delimiter = ',', default_value = "128")]
    pub n_gen: Vec<usize>,
    /// Timed repetitions of each test (after one warm-up run)
    #[arg(short = 'r', long = "repetitions", default_value_t = 5)]
    pub reps: usize,
    /// Output format
    #[arg(short = 'o', long = "output", value_enum, default_value = "md")]
    pub output: Format,
}

/// What `kiln bench` measures instead of a model's pp/tg.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Time each kernel (matvec, matmul, attention …) per weight type at real model shapes,
    /// as GB/s, GFLOP/s and % of the device's measured peak read bandwidth (no model needed).
    Kernels(super::bench_kernels::KernelsArgs),
}

/// One finished test with what the report needs.
struct Row {
    samples: BenchSamples,
    bytes_per_token: u64,
    /// The `--gpu-memory` point, and the plan it gave (resident layers, summary).
    budget: Option<u64>,
    plan: Option<(usize, String)>,
    /// Weight bytes streamed per second of the test (streamed layers only).
    stream_gbps: Option<f64>,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if let Some(BenchCommand::Kernels(k)) = &args.command {
        return super::bench_kernels::run(k);
    }
    if args.reps == 0 {
        bail!("-r must be at least 1");
    }
    let tests: Vec<BenchTest> = args
        .n_prompt
        .iter()
        .filter(|&&n| n > 0)
        .map(|&n| BenchTest { n_prompt: n, n_gen: 0 })
        .chain(args.n_gen.iter().filter(|&&n| n > 0).map(|&n| BenchTest { n_prompt: 0, n_gen: n }))
        .collect();
    if tests.is_empty() {
        bail!("nothing to measure: every -p and -n is 0");
    }
    let longest = tests.iter().map(BenchTest::tokens).max().unwrap_or(1);
    let budgets: Vec<Option<u64>> = if args.model.gpu_memory.is_empty() {
        vec![None]
    } else {
        args.model.gpu_memory.iter().map(|&b| Some(b)).collect()
    };
    let mut out = std::io::stdout().lock();
    let sweep = !args.model.gpu_memory.is_empty();
    if let Format::Md = args.output {
        writeln!(out, "{}", md_header(sweep))?;
    }
    let mut rows = Vec::new();
    let mut info = None;
    for &budget in &budgets {
        let mut margs = args.model.clone();
        margs.gpu_memory = budget.into_iter().collect();
        if margs.ctx == 0 {
            margs.ctx = longest;
        }
        let mut engine = margs.load()?;
        let path = margs.model_path()?;
        let model_info = ModelInfo::new(&engine, &path.display().to_string(), margs.threads);
        let plan = engine.offload.map(|o| {
            let mode = |p: Place| if p == Place::Stream { "stream" } else { "cpu" };
            let text = format!(
                "{}/{} resident, {}/{}",
                o.resident_layers,
                o.layers,
                mode(o.prefill),
                mode(o.decode)
            );
            (o.resident_layers, text)
        });
        if let Some(text) = &engine.offload_plan {
            let at = budget.map_or(String::new(), |b| format!(" at {} MiB", b >> 20));
            eprintln!("kiln bench{at}: {text}");
        }
        let mut dispatches_shown = false;
        for (i, &test) in tests.iter().enumerate() {
            let _ = engine.stream_stats();
            let samples = engine.bench(test, args.reps, i as u64)?;
            if !dispatches_shown && let Some(line) = decode_dispatch_line(&engine) {
                let at = budget.map_or(String::new(), |b| format!(" at {} MiB", b >> 20));
                eprintln!("kiln bench{at}: {line}");
                dispatches_shown = true;
            }
            let stream_gbps = engine.stream_stats().filter(|s| s.uploaded > 0).map(|s| {
                let runs = samples.samples.len() as f64 + 1.0; // the warm-up uploaded too
                let secs: f64 = samples.samples.iter().map(|d| d.as_secs_f64()).sum::<f64>()
                    / samples.samples.len().max(1) as f64;
                s.uploaded as f64 / runs / secs.max(1e-12) / 1e9
            });
            let row = Row {
                samples,
                bytes_per_token: engine.model.weight_bytes_per_token(),
                budget,
                plan: plan.clone(),
                stream_gbps,
            };
            match args.output {
                Format::Md => {
                    writeln!(out, "{}", md_row(&model_info, &row, sweep))?;
                    out.flush()?;
                }
                Format::Csv | Format::Json => rows.push(row),
            }
        }
        info = Some(model_info);
    }
    let Some(info) = info else { return Ok(()) };
    match args.output {
        Format::Md => writeln!(out, "\nkiln {} on {}", env!("CARGO_PKG_VERSION"), info.device)?,
        Format::Csv => {
            let records: Vec<Value> = rows.iter().map(|r| record(&info, r)).collect();
            write_csv(&mut out, &records)?;
        }
        Format::Json => {
            let records: Vec<Value> = rows.iter().map(|r| record(&info, r)).collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&records)?)?;
        }
    }
    Ok(())
}

/// What every row repeats about the model and the device.
struct ModelInfo {
    filename: String,
    model_type: String,
    size: u64,
    n_params: u64,
    backend: &'static str,
    device: String,
    n_threads: usize,
    n_batch: usize,
}

impl ModelInfo {
    fn new(e: &Engine, filename: &str, threads: usize) -> ModelInfo {
        let hp = &e.model.hp;
        let n_params = e.model.n_weights();
        let dominant = e
            .file
            .tensors()
            .iter()
            .fold(std::collections::BTreeMap::<&str, u64>::new(), |mut m, t| {
                *m.entry(t.dtype.name()).or_default() += t.n_bytes;
                m
            })
            .into_iter()
            .max_by_key(|&(_, b)| b)
            .map_or("?", |(n, _)| n);
        let device = e.device_name().to_string();
        let backend = if device.starts_with("cpu") { "CPU" } else { "wgpu" };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let n_threads = if threads == 0 { cores } else { threads };
        ModelInfo {
            filename: filename.to_string(),
            model_type: format!("{} {} {dominant}", hp.arch_name, params_label(n_params)),
            size: e.file.tensors().iter().map(|t| t.n_bytes).sum(),
            n_params,
            backend,
            device,
            n_threads,
            n_batch: e.n_batch(),
        }
    }
}

/// `135M`, `1.2B`: llama.cpp's size label style.
fn params_label(n: u64) -> String {
    let n = n as f64;
    if n >= 1e9 { format!("{:.1}B", n / 1e9) } else { format!("{:.0}M", n / 1e6) }
}

/// llama-bench's columns, then kiln's GB/s; with a `--gpu-memory` sweep also the budget,
/// the plan (resident layers, prefill/decode mode) and the streamed GB/s.
fn md_header(sweep: bool) -> String {
    let mut names = vec![
        format!("{:<30}", "model"),
        format!("{:>10}", "size"),
        format!("{:>10}", "params"),
        format!("{:<10}", "backend"),
        format!("{:>7}", "threads"),
        format!("{:>15}", "test"),
        format!("{:>20}", "t/s"),
        format!("{:>8}", "GB/s"),
    ];
    let mut rule = vec![
        "-".repeat(30),
        format!("{}:", "-".repeat(9)),
        format!("{}:", "-".repeat(9)),
        "-".repeat(10),
        format!("{}:", "-".repeat(6)),
        format!("{}:", "-".repeat(14)),
        format!("{}:", "-".repeat(19)),
        format!("{}:", "-".repeat(7)),
    ];
    if sweep {
        names.extend([
            format!("{:>9}", "gpu mem"),
            format!("{:<26}", "plan"),
            format!("{:>9}", "stream GB/s"),
        ]);
        rule.extend([
            format!("{}:", "-".repeat(8)),
            "-".repeat(26),
            format!("{}:", "-".repeat(10)),
        ]);
    }
    format!("| {} |\n| {} |", names.join(" | "), rule.join(" | "))
}

fn md_row(info: &ModelInfo, row: &Row, sweep: bool) -> String {
    let (avg, sd) = BenchSamples::mean_sd(&row.samples.rates());
    let gbps = gbps(row).map_or_else(|| "-".to_string(), |g| format!("{g:.2}"));
    let mut cells = vec![
        format!("{:<30}", info.model_type),
        format!("{:>6.2} MiB", info.size as f64 / (1u64 << 20) as f64),
        format!("{:>8.2} M", info.n_params as f64 / 1e6),
        format!("{:<10}", info.backend),
        format!("{:>7}", info.n_threads),
        format!("{:>15}", row.samples.test.name()),
        format!("{:>20}", format!("{avg:.2} ± {sd:.2}")),
        format!("{gbps:>8}"),
    ];
    if sweep {
        cells.extend([
            format!("{:>5} MiB", row.budget.map_or(0, |b| b >> 20)),
            format!("{:<26}", row.plan.as_ref().map_or("all resident", |p| p.1.as_str())),
            format!("{:>11}", row.stream_gbps.map_or_else(|| "-".into(), |g| format!("{g:.2}"))),
        ]);
    }
    format!("| {} |", cells.join(" | "))
}

/// Achieved weight-read bandwidth of a generation test, in GB/s (10^9 bytes).
fn gbps(row: &Row) -> Option<f64> {
    (row.samples.test.n_gen > 0).then(|| {
        let (avg, _) = BenchSamples::mean_sd(&row.samples.rates());
        avg * row.bytes_per_token as f64 / 1e9
    })
}

/// One row with llama-bench's field names (and kiln's additions at the end).
fn record(info: &ModelInfo, row: &Row) -> Value {
    let ns: Vec<u64> = row.samples.samples.iter().map(|d| d.as_nanos() as u64).collect();
    let nsf: Vec<f64> = ns.iter().map(|&x| x as f64).collect();
    let (avg_ns, sd_ns) = BenchSamples::mean_sd(&nsf);
    let rates = row.samples.rates();
    let (avg_ts, sd_ts) = BenchSamples::mean_sd(&rates);
    json!({
        "build_commit": option_env!("KILN_GIT_COMMIT").unwrap_or("unknown"),
        "build_number": 0,
        "cpu_info": cpu_info(),
        "gpu_info": if info.backend == "CPU" { String::new() } else { info.device.clone() },
        "backends": info.backend,
        "model_filename": info.filename,
        "model_type": info.model_type,
        "model_size": info.size,
        "model_n_params": info.n_params,
        "n_batch": info.n_batch,
        "n_threads": info.n_threads,
        "devices": info.device,
        "n_prompt": row.samples.test.n_prompt,
        "n_gen": row.samples.test.n_gen,
        "n_depth": 0,
        "test_time": strftime_now("%Y-%m-%dT%H:%M:%SZ").unwrap_or_default(),
        "avg_ns": avg_ns.round() as u64,
        "stddev_ns": sd_ns.round() as u64,
        "avg_ts": avg_ts,
        "stddev_ts": sd_ts,
        "samples_ns": ns,
        "samples_ts": rates,
        "bytes_per_token": row.bytes_per_token,
        "gpu_memory": row.budget,
        "n_resident_layers": row.plan.as_ref().map(|p| p.0),
        "offload": row.plan.as_ref().map(|p| p.1.clone()),
        "stream_gbps": row.stream_gbps,
        "gbps": gbps(row),
    })
}

/// CSV with a header of the record's keys; arrays are left out, as llama-bench does.
pub(super) fn write_csv(out: &mut impl Write, records: &[Value]) -> Result<()> {
    let Some(Value::Object(first)) = records.first() else { return Ok(()) };
    let keys: Vec<&String> = first.keys().filter(|k| !first[*k].is_array()).collect();
    writeln!(out, "{}", keys.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(","))?;
    for r in records {
        let cells: Vec<String> = keys
            .iter()
            .map(|k| match &r[k.as_str()] {
                Value::String(s) => format!("\"{}\"", s.replace('"', "\"\"")),
                Value::Null => "\"\"".into(),
                v => format!("\"{v}\""),
            })
            .collect();
        writeln!(out, "{}", cells.join(","))?;
    }
    Ok(())
}

/// The CPU's model name (Linux /proc/cpuinfo), as llama-bench's `cpu_info`.
fn cpu_info() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default()
}
