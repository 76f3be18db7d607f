//! `kiln perplexity`: llama-perplexity's measurement (same chunking and scoring), printing the
//! running value per chunk and `Final estimate: PPL = X +/- Y`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::common::ModelArgs;

/// Measure perplexity on a text file, the way llama-perplexity does.
#[derive(Debug, Args)]
pub struct PerplexityArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Text file to score
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
}

pub fn run(args: &PerplexityArgs) -> Result<()> {
    let mut text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    // llama.cpp drops one trailing newline of a -f file.
    if text.ends_with('\n') {
        text.pop();
    }
    let mut model = args.model.clone();
    if model.ctx == 0 {
        model.ctx = 512; // llama-perplexity's default chunk size
    }
    let n_ctx = model.ctx;
    let mut engine = model.load()?;
    let tokens = engine.tokenizer.encode(&text, true, false)?;
    eprintln!(
        "kiln perplexity: {} tokens, {} chunks of {n_ctx}",
        tokens.len(),
        tokens.len() / n_ctx
    );
    let mut err = std::io::stderr();
    let p = engine.perplexity(&tokens, n_ctx, |p| {
        let _ = write!(err, "[{}]{:.4},", p.chunks, p.ppl());
        let _ = err.flush();
    })?;
    eprintln!();
    let mut out = std::io::stdout().lock();
    writeln!(out, "Final estimate: PPL = {:.4} +/- {:.5}", p.ppl(), p.ppl_stderr())?;
    Ok(())
}
