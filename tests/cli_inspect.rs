//! `kiln inspect` as a user runs it: the real binary on files written by `GgufWriter`.
//! Good files print text or JSON; bad files print one line on stderr and exit 1; a reader
//! that closes the pipe early ends the command quietly.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use kiln::gguf::GgufWriter;
use kiln::quant::DType;
use serde_json::Value as Json;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn kiln(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln")).args(args).output().expect("run kiln")
}

/// A tiny llama-like model: hyperparameters, a vocabulary, a two-line chat template, a
/// hostile string, and three tensors.
fn tiny_model(path: &Path) {
    let mut w = GgufWriter::new();
    w.add("general.architecture", "llama")
        .add("general.name", "tiny \u{1b}[2J test")
        .add("llama.block_count", 2u32)
        .add("llama.embedding_length", 64u32)
        .add("llama.attention.head_count", 4u32)
        .add("llama.attention.head_count_kv", 2u32)
        .add("llama.context_length", 128u32)
        .add("llama.feed_forward_length", 96u32)
        .add("llama.rope.freq_base", 10000f32)
        .add(
            "tokenizer.ggml.tokens",
            (0..20).map(|i| format!("tok{i}").into_bytes()).collect::<Vec<_>>(),
        )
        .add("tokenizer.chat_template", "{% for m in messages %}\n{{ m.content }}{% endfor %}");
    w.add_tensor("token_embd.weight", DType::Q8_0, &[64, 20], vec![0; 2 * 34 * 20]).unwrap();
    w.add_tensor("output_norm.weight", DType::F32, &[64], vec![0; 256]).unwrap();
    w.add_tensor("blk.0.attn_q.weight", DType::F16, &[64, 64], vec![0; 8192]).unwrap();
    w.write(path).expect("write tiny model");
}

fn assert_one_line_error(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "exactly one line: {stderr:?}");
    assert!(stderr.starts_with("kiln: error: "), "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout for a bad file");
    stderr
}

#[test]
fn inspect_prints_header_metadata_hparams_tensors_and_totals() {
    let dir = scratch("text");
    let path = dir.join("tiny.gguf");
    tiny_model(&path);
    let out = kiln(&["inspect", path.to_str().unwrap()]);
    let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty());
    for needle in [
        "version      3",
        "alignment    32",
        "tensors      3",
        "metadata     11 keys",
        "hyperparameters (llama)",
        "token_embd.weight",
        "[64, 20]",
        "totals by type",
        "[20] \"tok0\", \"tok1\"",
        "\"{% for m in messages %}\"… (51 bytes)",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
    let hp = |name: &str| {
        let line = stdout.lines().find(|l| l.trim_start().starts_with(name)).expect(name);
        line.split_whitespace().nth(1).unwrap_or("").to_owned()
    };
    assert_eq!(
        (hp("n_layers"), hp("head_dim"), hp("n_kv_heads"), hp("vocab_size")),
        ("2".into(), "16".into(), "2".into(), "20".into())
    );
    // The chat template shows its first line only, and the escape sequence is neutralised.
    assert!(!stdout.contains("{{ m.content }}"));
    assert!(!stdout.contains('\u{1b}') && stdout.contains("\\u{1b}[2J"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn inspect_json_parses_and_carries_the_same_content() {
    let dir = scratch("json");
    let path = dir.join("tiny.gguf");
    tiny_model(&path);
    let out = kiln(&["inspect", "--json", path.to_str().unwrap()]);
    assert!(out.status.success());
    let j: Json = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(
        (j["version"].as_u64(), j["n_tensors"].as_u64(), j["n_kv"].as_u64()),
        (Some(3), Some(3), Some(11))
    );
    assert_eq!(j["data_offset"].as_u64().unwrap() % 32, 0);
    let tokens = j["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "tokenizer.ggml.tokens")
        .unwrap();
    assert_eq!(
        (tokens["type"].as_str(), tokens["len"].as_u64()),
        (Some("array<string>"), Some(20))
    );
    assert_eq!(tokens["value"].as_array().unwrap().len(), 8, "arrays are summarised to their head");
    let h = &j["hyperparameters"];
    assert_eq!(
        (h["architecture"].as_str(), h["n_layers"].as_u64(), h["head_dim"].as_u64()),
        (Some("llama"), Some(2), Some(16))
    );
    assert_eq!(h["rope_freq_base"].as_f64(), Some(10000.0));
    let t0 = &j["tensors"][0];
    assert_eq!(
        (t0["name"].as_str(), t0["type"].as_str()),
        (Some("token_embd.weight"), Some("Q8_0"))
    );
    assert_eq!(t0["shape"], serde_json::json!([64, 20]));
    assert_eq!(t0["bytes"].as_u64(), Some(2 * 34 * 20));
    let totals = j["totals_by_type"].as_array().unwrap();
    let share: f64 = totals.iter().map(|t| t["share"].as_f64().unwrap()).sum();
    assert!((share - 1.0).abs() < 1e-9, "shares sum to 1: {share}");
    assert_eq!(totals[0]["type"].as_str(), Some("F16"), "sorted by bytes, largest first");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_files_give_one_line_and_exit_1() {
    let dir = scratch("bad");
    let good = dir.join("good.gguf");
    tiny_model(&good);
    let bytes = std::fs::read(&good).unwrap();

    let truncated = dir.join("truncated.gguf");
    std::fs::write(&truncated, &bytes[..bytes.len() - 100]).unwrap();
    let msg = assert_one_line_error(&kiln(&["inspect", truncated.to_str().unwrap()]));
    assert!(
        msg.contains("truncated.gguf")
            && msg.contains("byte offset")
            && msg.contains("outside the file"),
        "{msg}"
    );

    let mut corrupt = bytes.clone();
    corrupt[..4].copy_from_slice(b"GG\x00F");
    let bad_magic = dir.join("magic.gguf");
    std::fs::write(&bad_magic, corrupt).unwrap();
    let msg = assert_one_line_error(&kiln(&["inspect", "--json", bad_magic.to_str().unwrap()]));
    assert!(msg.contains("\"GG?F\"") && msg.contains("byte offset 0"), "{msg}");

    let msg =
        assert_one_line_error(&kiln(&["inspect", dir.join("missing.gguf").to_str().unwrap()]));
    assert!(msg.contains("missing.gguf"), "{msg}");
    let msg = assert_one_line_error(&kiln(&["inspect", dir.to_str().unwrap()]));
    assert!(msg.contains("directory"), "{msg}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn closed_pipe_ends_quietly() {
    // Enough tensors that the output far exceeds a pipe buffer (64 KiB on Linux).
    let dir = scratch("pipe");
    let path = dir.join("many.gguf");
    let mut w = GgufWriter::new();
    for i in 0..3000 {
        w.add_tensor(&format!("blk.{i}.attn_norm.weight"), DType::F32, &[1], vec![0; 4]).unwrap();
    }
    w.write(&path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["inspect", path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kiln");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.starts_with("file"));
    // The reader is dropped here, like `| head -1` exiting.
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "a closed pipe is not an error: {stderr}");
    assert_eq!(out.status.code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
