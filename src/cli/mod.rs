//! The `kiln` command line: clap definitions, dispatch to one file per subcommand, and the one
//! place errors become a message and an exit code.
//!
//! May use: `engine`, `exec`, `gguf`, `server` (DESIGN.md §2). Invariant: a failure prints ONE
//! line on stderr and exits with code 1; a closed stdout (`kiln inspect x | head -1`) ends the
//! command quietly; nothing here panics on user input.

mod bench;
mod bench_kernels;
mod bench_plot;
mod chat;
mod common;
mod devices;
mod generate;
mod inspect;
mod perplexity;
mod tokenize;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run GGUF language models on any GPU through wgpu compute shaders, with a CPU fallback.
#[derive(Debug, Parser)]
#[command(name = "kiln", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show a GGUF file: header, metadata, hyperparameters, tensors and totals by type.
    Inspect(inspect::InspectArgs),
    /// List the GPU adapters kiln can use, their limits and the capability tier kiln picks.
    Devices(devices::DevicesArgs),
    /// Continue a prompt, streaming the continuation to stdout.
    Generate(generate::GenerateArgs),
    /// Chat interactively with the model's chat template (/clear, /exit; Ctrl-C stops an answer).
    Chat(chat::ChatArgs),
    /// Measure perplexity on a text file, with llama-perplexity's chunking and scoring.
    Perplexity(perplexity::PerplexityArgs),
    /// Print the token ids of a text (`--ids` for a list like llama-tokenize's).
    Tokenize(tokenize::TokenizeArgs),
    /// Measure prompt processing and generation speed, in llama-bench's table and fields
    /// (`kiln bench kernels`: single kernels at real model shapes, no model file needed).
    Bench(bench::BenchArgs),
}

/// Parses the process arguments, runs the command, and turns its outcome into an exit code.
pub fn run() -> ExitCode {
    quiet_wayland_probe();
    // RUST_LOG controls logging (e.g. RUST_LOG=kiln=debug); warnings show by default.
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format_timestamp(None)
        .try_init();
    // llama.cpp spells -ngl with one dash; clap's short flags are one letter, so map it.
    let args = std::env::args_os().map(|a| if a == "-ngl" { "--ngl".into() } else { a });
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // clap formats usage errors (exit 2) and --help/--version (exit 0) itself.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let result = match &cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Devices(args) => devices::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Tokenize(args) => tokenize::run(args),
        Command::Chat(args) => chat::run(args),
        Command::Perplexity(args) => perplexity::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = one_line(&e);
            let _ = writeln!(io::stderr(), "kiln: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Mesa's Vulkan drivers probe Wayland while wgpu enumerates adapters, and libwayland prints
/// "XDG_RUNTIME_DIR is invalid or not set" to stderr on headless machines. Pointing the variable
/// at the temp dir (only when it is unset) makes that probe fail quietly. Runs first in `main`,
/// before any thread exists.
fn quiet_wayland_probe() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // SAFETY: called at the start of the program, before any other thread is spawned.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
}

/// The error and its causes joined by ": ", skipping a cause whose text the message already
/// holds (kiln's `Error::Io` prints its source itself), with any newline flattened.
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !msg.contains(&text) {
            if !msg.is_empty() {
                msg.push_str(": ");
            }
            msg.push_str(&text);
        }
    }
    msg.replace(['\n', '\r'], " ")
}

/// True when the error is a write to a closed pipe (the reader went away, e.g. `| head`).
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
