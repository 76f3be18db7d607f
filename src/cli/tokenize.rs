//! `kiln tokenize`: the token ids of a text, as llama-tokenize prints them.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::common::ModelArgs;
use super::generate::read_prompt;
use crate::engine::Tokenizer;
use crate::gguf::GgufFile;

/// Tokenize a text with a model's vocabulary (only the vocabulary is loaded).
#[derive(Debug, Args)]
pub struct TokenizeArgs {
    /// GGUF model file [default: models/SmolLM2-135M-Instruct.Q4_1.gguf]
    #[arg(short = 'm', long = "model")]
    pub model: Option<PathBuf>,
    /// Text to tokenize
    #[arg(short = 'p', long = "prompt", conflicts_with = "file")]
    pub prompt: Option<String>,
    /// Read the text from a file (verbatim, trailing newline included)
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Print only the ids, as a list like [1, 2, 3]
    #[arg(long)]
    pub ids: bool,
    /// Treat special-token text (e.g. <|im_start|>) as plain text
    #[arg(long)]
    pub no_parse_special: bool,
    /// Never add BOS/EOS, whatever the model's metadata says
    #[arg(long)]
    pub no_bos: bool,
}

pub fn run(args: &TokenizeArgs) -> Result<()> {
    let model = ModelArgs::path_or_default(&args.model)?;
    let file = GgufFile::open(&model).with_context(|| format!("opening {}", model.display()))?;
    let tok = Tokenizer::from_gguf(&file)?;
    let text = read_prompt(&args.prompt, &args.file)?;
    let ids = tok.encode(&text, !args.no_bos, !args.no_parse_special)?;
    let mut out = std::io::stdout().lock();
    if args.ids {
        let list: Vec<String> = ids.iter().map(u32::to_string).collect();
        writeln!(out, "[{}]", list.join(", "))?;
    } else {
        for id in ids {
            writeln!(out, "{id:6} -> '{}'", String::from_utf8_lossy(tok.token_bytes(id)))?;
        }
    }
    Ok(())
}
