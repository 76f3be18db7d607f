//! `kiln inspect FILE [--json]`: what a GGUF file holds, for people and for machines.
//!
//! May use: `gguf`, `error`. Invariant: the text and the JSON output render the same
//! [`Report`], built once from the parsed file; long strings and arrays are summarised in both
//! (arrays: type, length, first items; text also cuts strings to their first line).

mod text;

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;
use serde_json::Value as Json;

use crate::error::Error;
use crate::gguf::{Array, GgufFile, TensorInfo, Value};

/// Arguments of `kiln inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The GGUF file to inspect.
    pub file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Array elements shown before the rest is summarised.
const ARRAY_HEAD: usize = 8;

/// Everything `inspect` prints.
#[derive(Debug, Serialize)]
struct Report {
    file: String,
    version: u32,
    alignment: u64,
    data_offset: u64,
    file_size: u64,
    n_tensors: usize,
    n_kv: usize,
    metadata: Vec<MetaEntry>,
    hyperparameters: Option<Hparams>,
    tensors: Vec<TensorRow>,
    totals_by_type: Vec<TypeTotal>,
    tensor_bytes: u64,
}

/// One key-value pair; arrays carry their length and first elements only.
#[derive(Debug, Serialize)]
struct MetaEntry {
    key: String,
    #[serde(rename = "type")]
    ty: &'static str,
    /// Element count for arrays, byte length for strings.
    #[serde(skip_serializing_if = "Option::is_none")]
    len: Option<usize>,
    /// The value; for arrays, the first [`ARRAY_HEAD`] elements.
    value: Json,
}

/// Hyperparameters derived from the `{arch}.*` keys, named in llama2.c's vocabulary.
#[derive(Debug, Default, Serialize)]
struct Hparams {
    architecture: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    n_layers: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dim: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n_heads: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n_kv_heads: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    head_dim: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq_len: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hidden_dim: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vocab_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rope_freq_base: Option<f64>,
}

/// One tensor: shape in ggml order (`ne[0]` first), offset relative to the data section.
#[derive(Debug, Serialize)]
struct TensorRow {
    name: String,
    #[serde(rename = "type")]
    ty: &'static str,
    shape: Vec<u64>,
    bytes: u64,
    offset: u64,
}

/// Count and bytes of the tensors of one type; `share` is the fraction of all tensor bytes.
#[derive(Debug, Serialize)]
struct TypeTotal {
    #[serde(rename = "type")]
    ty: &'static str,
    count: usize,
    bytes: u64,
    share: f64,
}

/// Runs `kiln inspect`.
pub fn run(args: &InspectArgs) -> anyhow::Result<()> {
    let file = GgufFile::open(&args.file).map_err(|e| match e {
        // Io errors already name the path; GGUF errors get it here.
        Error::Io { .. } => anyhow::Error::new(e),
        e => anyhow::Error::new(e).context(args.file.display().to_string()),
    })?;
    let report = build(&args.file.display().to_string(), &file);
    let mut out = BufWriter::new(io::stdout().lock());
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report).map_err(io::Error::from)?;
        writeln!(out)?;
    } else {
        text::write(&mut out, &report)?;
    }
    out.flush().context("writing to stdout")?;
    Ok(())
}

fn build(path: &str, f: &GgufFile) -> Report {
    let tensors: Vec<TensorRow> = f.tensors().iter().map(tensor_row).collect();
    let tensor_bytes = tensors.iter().map(|t| t.bytes).sum();
    Report {
        file: path.to_owned(),
        version: f.version(),
        alignment: f.alignment(),
        data_offset: f.data_offset(),
        file_size: f.file_len(),
        n_tensors: f.tensors().len(),
        n_kv: f.metadata().len(),
        metadata: f.metadata().iter().map(|(k, v)| meta_entry(k, v)).collect(),
        hyperparameters: hparams(f),
        totals_by_type: totals(&tensors, tensor_bytes),
        tensors,
        tensor_bytes,
    }
}

fn tensor_row(t: &TensorInfo) -> TensorRow {
    TensorRow {
        name: t.name.clone(),
        ty: t.dtype.name(),
        shape: t.shape().to_vec(),
        bytes: t.n_bytes,
        offset: t.offset,
    }
}

fn totals(tensors: &[TensorRow], all: u64) -> Vec<TypeTotal> {
    let mut by_type: BTreeMap<&'static str, (usize, u64)> = BTreeMap::new();
    for t in tensors {
        let e = by_type.entry(t.ty).or_default();
        e.0 += 1;
        e.1 += t.bytes;
    }
    let mut out: Vec<TypeTotal> = by_type
        .into_iter()
        .map(|(ty, (count, bytes))| {
            let share = if all == 0 { 0.0 } else { bytes as f64 / all as f64 };
            TypeTotal { ty, count, bytes, share }
        })
        .collect();
    out.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.ty.cmp(b.ty)));
    out
}

fn meta_entry(key: &str, v: &Value) -> MetaEntry {
    let (len, value) = match v {
        Value::String(s) => (Some(s.len()), Json::from(String::from_utf8_lossy(s))),
        Value::Array(a) => (Some(a.len()), array_head(a)),
        scalar => (None, scalar_json(scalar)),
    };
    MetaEntry { key: key.to_owned(), ty: v.type_name(), len, value }
}

fn array_head(a: &Array) -> Json {
    Json::Array(
        (0..a.len().min(ARRAY_HEAD)).filter_map(|i| a.get(i)).map(|v| scalar_json(&v)).collect(),
    )
}

/// A scalar as JSON (NaN and infinities become null, as JSON has no such numbers).
fn scalar_json(v: &Value) -> Json {
    match *v {
        Value::U8(x) => x.into(),
        Value::I8(x) => x.into(),
        Value::U16(x) => x.into(),
        Value::I16(x) => x.into(),
        Value::U32(x) => x.into(),
        Value::I32(x) => x.into(),
        Value::F32(x) => f32_decimal(x).into(),
        Value::Bool(x) => x.into(),
        Value::String(ref s) => String::from_utf8_lossy(s).into(),
        Value::U64(x) => x.into(),
        Value::I64(x) => x.into(),
        Value::F64(x) => x.into(),
        Value::Array(ref a) => array_head(a),
    }
}

/// The f64 nearest to the shortest decimal that round-trips `x`, so 1e-5f32 prints as `1e-5`
/// rather than as its exact binary value 9.999999747378752e-6.
fn f32_decimal(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

/// Reads the `{arch}.*` keys that exist; a missing or odd-typed key is just left out.
fn hparams(f: &GgufFile) -> Option<Hparams> {
    let arch = f.get_string_lossy("general.architecture").ok()?.into_owned();
    let u = |k: &str| f.get_u64(&format!("{arch}.{k}")).ok();
    let dim = u("embedding_length");
    let n_heads = u("attention.head_count");
    let head_dim =
        u("attention.key_length").or_else(|| dim.zip(n_heads).and_then(|(d, h)| d.checked_div(h)));
    let vocab_size = u("vocab_size")
        .or_else(|| f.get_array("tokenizer.ggml.tokens").ok().map(|a| a.len() as u64));
    Some(Hparams {
        n_layers: u("block_count"),
        dim,
        n_heads,
        n_kv_heads: u("attention.head_count_kv"),
        head_dim,
        seq_len: u("context_length"),
        hidden_dim: u("feed_forward_length"),
        vocab_size,
        rope_freq_base: f.get(&format!("{arch}.rope.freq_base")).and_then(|v| match *v {
            Value::F32(x) => Some(f32_decimal(x)),
            Value::F64(x) => Some(x),
            _ => None,
        }),
        architecture: arch,
    })
}
