//! The text rendering of an inspect [`Report`]: aligned sections for a terminal.
//!
//! May use: its parent's report types. Invariant: every string from the file is escaped
//! (control characters shown as `\n`, `\u{1b}` …) and cut short, so a hostile file cannot
//! move the cursor or flood the terminal.

use std::io::{self, Write};

use serde_json::Value as Json;

use super::{Hparams, MetaEntry, Report};

/// Characters of a string value shown before it is cut.
const STRING_SHOWN: usize = 64;
/// Characters of each string inside an array shown before it is cut.
const ITEM_SHOWN: usize = 24;
/// Widest the key column grows.
const KEY_COLUMN_MAX: usize = 44;

pub(super) fn write(out: &mut impl Write, r: &Report) -> io::Result<()> {
    writeln!(out, "file         {}", escape(&r.file, usize::MAX))?;
    writeln!(out, "version      {}", r.version)?;
    writeln!(out, "alignment    {}", r.alignment)?;
    writeln!(out, "data offset  {}", r.data_offset)?;
    writeln!(out, "file size    {} ({} bytes)", human(r.file_size), r.file_size)?;
    writeln!(out, "tensors      {}", r.n_tensors)?;
    writeln!(out, "metadata     {} keys", r.n_kv)?;

    writeln!(out, "\nmetadata")?;
    let width = r.metadata.iter().map(|m| m.key.len()).max().unwrap_or(0).min(KEY_COLUMN_MAX);
    for m in &r.metadata {
        writeln!(out, "  {:width$}  {:13}  {}", escape(&m.key, usize::MAX), m.ty, summary(m))?;
    }

    if let Some(h) = &r.hyperparameters {
        write_hparams(out, h)?;
    }

    writeln!(out, "\ntensors")?;
    let width = r.tensors.iter().map(|t| t.name.len()).max().unwrap_or(4).max(4);
    writeln!(
        out,
        "  {:width$}  {:6}  {:24}  {:>12}  {:>12}",
        "name", "type", "shape", "bytes", "offset"
    )?;
    for t in &r.tensors {
        let shape = format!("{:?}", t.shape);
        writeln!(
            out,
            "  {:width$}  {:6}  {:24}  {:>12}  {:>12}",
            t.name, t.ty, shape, t.bytes, t.offset
        )?;
    }

    writeln!(out, "\ntotals by type")?;
    writeln!(out, "  {:6}  {:>6}  {:>12}  {:>10}  {:>6}", "type", "count", "bytes", "", "share")?;
    for t in &r.totals_by_type {
        let share = 100.0 * t.share;
        writeln!(
            out,
            "  {:6}  {:>6}  {:>12}  {:>10}  {share:>5.1}%",
            t.ty,
            t.count,
            t.bytes,
            human(t.bytes)
        )?;
    }
    let all = human(r.tensor_bytes);
    writeln!(out, "  {:6}  {:>6}  {:>12}  {all:>10}", "all", r.n_tensors, r.tensor_bytes)
}

fn write_hparams(out: &mut impl Write, h: &Hparams) -> io::Result<()> {
    writeln!(out, "\nhyperparameters ({})", escape(&h.architecture, STRING_SHOWN))?;
    let rows: [(&str, &str, Option<u64>); 9] = [
        ("n_layers", "block_count", h.n_layers),
        ("dim", "embedding_length", h.dim),
        ("n_heads", "attention.head_count", h.n_heads),
        ("n_kv_heads", "attention.head_count_kv", h.n_kv_heads),
        ("head_dim", "attention.key_length or dim / n_heads", h.head_dim),
        ("seq_len", "context_length", h.seq_len),
        ("hidden_dim", "feed_forward_length", h.hidden_dim),
        ("vocab_size", "vocab_size or tokenizer.ggml.tokens", h.vocab_size),
        ("rope_freq_base", "rope.freq_base", None),
    ];
    for (name, key, value) in rows {
        let shown = match (name, value, h.rope_freq_base) {
            ("rope_freq_base", _, Some(base)) => base.to_string(),
            (_, Some(v), _) => v.to_string(),
            _ => continue,
        };
        writeln!(out, "  {name:14}  {shown:>10}   ({key})")?;
    }
    Ok(())
}

/// One-line summary of a value: strings quoted and cut to their first line, arrays as their
/// length and first elements.
fn summary(m: &MetaEntry) -> String {
    match (&m.value, m.len) {
        (Json::String(s), Some(len)) => {
            let first = s.lines().next().unwrap_or("");
            let shown = escape(first, STRING_SHOWN);
            if first.len() < s.len() || first.chars().count() > STRING_SHOWN {
                format!("\"{shown}\"… ({len} bytes)")
            } else {
                format!("\"{shown}\"")
            }
        }
        (Json::Array(items), Some(len)) => {
            let mut parts: Vec<String> = items.iter().map(item).collect();
            if len > items.len() {
                parts.push("…".into());
            }
            format!("[{len}] {}", parts.join(", "))
        }
        (v, _) => item(v),
    }
}

fn item(v: &Json) -> String {
    match v {
        Json::String(s) => {
            let shown = escape(s, ITEM_SHOWN);
            if s.chars().count() > ITEM_SHOWN {
                format!("\"{shown}\"…")
            } else {
                format!("\"{shown}\"")
            }
        }
        Json::Null => "NaN/inf".into(),
        other => other.to_string(),
    }
}

/// `s` with control and other non-printing characters escaped, cut after `max` characters.
fn escape(s: &str, max: usize) -> String {
    s.chars()
        .take(max)
        .flat_map(char::escape_debug)
        .collect::<String>()
        .replace("\\\"", "\"")
        .replace("\\'", "'")
}

/// A byte count in binary units (`92.1 MiB`).
fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_control_characters_and_cuts() {
        assert_eq!(escape("a\nb\u{1b}[2J", 100), "a\\nb\\u{1b}[2J");
        assert_eq!(escape("abcdef", 3), "abc");
        assert_eq!(escape("say \"hi\"", 100), "say \"hi\"");
    }

    #[test]
    fn summaries_cut_strings_and_arrays() {
        let entry = |ty, len, value| MetaEntry { key: "k".into(), ty, len: Some(len), value };
        let long = Json::from("x".repeat(100));
        assert_eq!(
            summary(&entry("string", 100, long)),
            format!("\"{}\"… (100 bytes)", "x".repeat(64))
        );
        assert_eq!(summary(&entry("string", 3, Json::from("a\nb"))), "\"a\"… (3 bytes)");
        assert_eq!(summary(&entry("string", 1, Json::from("\u{1b}"))), "\"\\u{1b}\"");
        let head = serde_json::json!([1, 2]);
        assert_eq!(summary(&entry("array<u32>", 10, head.clone())), "[10] 1, 2, …");
        assert_eq!(summary(&entry("array<u32>", 2, head)), "[2] 1, 2");
        let item = MetaEntry { key: "k".into(), ty: "f32", len: None, value: Json::Null };
        assert_eq!(summary(&item), "NaN/inf");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(12), "12 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(96_551_040), "92.1 MiB");
    }
}
