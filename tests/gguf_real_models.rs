//! kiln's GGUF reader agrees with an independent one (ggml-org's gguf-py `GGUFReader`) on the
//! two real test models: header counts, layout, selected metadata, and every tensor's name,
//! type, shape, byte size and offset, through the library and through `kiln inspect --json`.
//! Fixtures: tests/fixtures/gguf_directory_*.json, made by
//! tools/gguf_directory.py (command and gguf version recorded inside).
//!
//! Models are found in $KILN_MODELS or <repo>/models; a missing model skips the test with a
//! message, unless KILN_REQUIRE_MODELS=1, which makes it fail.

use std::path::PathBuf;

use kiln::gguf::{GgufFile, Value};
use serde_json::Value as Json;

fn model_path(file: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("KILN_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"));
    let path = dir.join(file);
    if path.is_file() {
        return Some(path);
    }
    let why =
        format!("{} not found (run tools/fetch-models.sh or set KILN_MODELS)", path.display());
    if std::env::var("KILN_REQUIRE_MODELS").as_deref() == Ok("1") {
        panic!("KILN_REQUIRE_MODELS=1 but {why}");
    }
    eprintln!("skipping: {why}");
    None
}

fn fixture(name: &str) -> Json {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("gguf_directory_{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn u(j: &Json) -> u64 {
    j.as_u64().unwrap_or_else(|| panic!("fixture: expected an unsigned integer, got {j}"))
}

/// gguf-py's `GGUFValueType` names → kiln's value type names.
fn elem_type_name(py: &str) -> &'static str {
    match py {
        "UINT8" => "u8",
        "INT8" => "i8",
        "UINT16" => "u16",
        "INT16" => "i16",
        "UINT32" => "u32",
        "INT32" => "i32",
        "FLOAT32" => "f32",
        "BOOL" => "bool",
        "STRING" => "string",
        "UINT64" => "u64",
        "INT64" => "i64",
        "FLOAT64" => "f64",
        other => panic!("fixture: unknown gguf-py value type {other}"),
    }
}

/// One metadata value (or array element) compared with the fixture's JSON.
fn assert_value_eq(key: &str, got: &Value, want: &Json) {
    let ok = match (got, want) {
        (Value::String(s), Json::String(w)) => String::from_utf8_lossy(s) == w.as_str(),
        (Value::Bool(b), Json::Bool(w)) => b == w,
        // gguf-py widens f32 to a Python float (f64) exactly, so equality is exact.
        (Value::F32(x), Json::Number(w)) => Some(f64::from(*x)) == w.as_f64(),
        (Value::F64(x), Json::Number(w)) => Some(*x) == w.as_f64(),
        (v, Json::Number(w)) if v.to_u64().is_some() => v.to_u64() == w.as_u64(),
        (v, Json::Number(w)) if v.to_i64().is_some() => v.to_i64() == w.as_i64(),
        _ => false,
    };
    assert!(ok, "{key}: kiln read {got:?}, gguf-py read {want}");
}

fn check_model(file: &str, name: &str) {
    let Some(path) = model_path(file) else { return };
    let want = fixture(name);
    let f = GgufFile::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));

    assert_eq!(u64::from(f.version()), u(&want["version"]), "version");
    assert_eq!(
        f.file_len(),
        u(&want["file_size"]),
        "file size (is the model the one the fixture was made from? sha256 {})",
        want["sha256"]
    );
    assert_eq!(f.metadata().len() as u64, u(&want["kv_count"]), "kv count");
    assert_eq!(f.alignment(), u(&want["alignment"]), "alignment");
    assert_eq!(f.data_offset(), u(&want["data_offset"]), "data offset");

    let meta = want["metadata"].as_object().expect("fixture: metadata is an object");
    assert!(meta.contains_key("general.architecture"));
    for (key, w) in meta {
        let got = f.get(key).unwrap_or_else(|| panic!("kiln lacks key {key}"));
        assert_value_eq(key, got, w);
    }
    for (key, w) in want["arrays"].as_object().expect("fixture: arrays is an object") {
        let a = f.get_array(key).unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(
            a.elem_type().name(),
            elem_type_name(w["elem_type"].as_str().unwrap_or("")),
            "{key}"
        );
        assert_eq!(a.len() as u64, u(&w["len"]), "{key} length");
        for (i, item) in w["head"].as_array().expect("fixture: head").iter().enumerate() {
            assert_value_eq(&format!("{key}[{i}]"), &a.get(i).expect("element"), item);
        }
    }

    let tensors = want["tensors"].as_array().expect("fixture: tensors is an array");
    assert_eq!(tensors.len() as u64, u(&want["tensor_count"]));
    assert_eq!(f.tensors().len(), tensors.len(), "tensor count");
    for (got, w) in f.tensors().iter().zip(tensors) {
        assert_eq!(got.name, w["name"].as_str().expect("fixture: name"), "tensor order");
        assert_eq!(got.dtype.name(), w["type"].as_str().expect("fixture: type"), "{}", got.name);
        let shape: Vec<u64> =
            w["shape"].as_array().expect("fixture: shape").iter().map(u).collect();
        assert_eq!(got.shape(), shape.as_slice(), "{} shape", got.name);
        assert_eq!(got.n_bytes, u(&w["n_bytes"]), "{} bytes", got.name);
        assert_eq!(got.offset, u(&w["offset"]), "{} offset", got.name);
        assert_eq!(f.tensor_data(got).len() as u64, got.n_bytes, "{} data view", got.name);
        assert_eq!(f.tensor(&got.name), Some(got));
    }
}

#[test]
fn smollm2_directory_matches_gguf_py() {
    check_model("SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2");
}

#[test]
fn gemma3_directory_matches_gguf_py() {
    check_model("gemma-3-270m-q4_k_m.gguf", "gemma3");
}

#[test]
fn real_model_typed_getters() {
    let Some(path) = model_path("SmolLM2-135M-Instruct.Q4_1.gguf") else { return };
    let f = GgufFile::open(&path).expect("open");
    assert_eq!(f.get_u32("llama.block_count").unwrap(), 30);
    assert_eq!(f.get_f32("llama.rope.freq_base").unwrap(), 100000.0);
    assert_eq!(f.get_str("tokenizer.ggml.model").unwrap(), b"gpt2");
    assert_eq!(f.get_string_array("tokenizer.ggml.tokens").unwrap().len(), 49152);
    assert_eq!(f.get_i32_array("tokenizer.ggml.token_type").unwrap().len(), 49152);
    assert!(f.get_string_lossy("tokenizer.chat_template").unwrap().contains("im_start"));
    let emb = f.tensor("token_embd.weight").expect("embedding");
    assert_eq!((emb.cols(), emb.rows()), (576, 49152));
}

/// `kiln inspect --json` as a user runs it agrees with gguf-py on the real model: header
/// counts, layout, and every tensor's name, type, shape, byte size and offset.
fn check_inspect(file: &str, name: &str) {
    let Some(path) = model_path(file) else { return };
    let want = fixture(name);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg("inspect")
        .arg(&path)
        .arg("--json")
        .output()
        .expect("run kiln inspect");
    assert!(out.status.success(), "kiln inspect: {}", String::from_utf8_lossy(&out.stderr));
    let got: Json = serde_json::from_slice(&out.stdout).expect("kiln inspect --json is JSON");
    for (k, w) in [
        ("version", "version"),
        ("file_size", "file_size"),
        ("n_kv", "kv_count"),
        ("n_tensors", "tensor_count"),
        ("alignment", "alignment"),
        ("data_offset", "data_offset"),
    ] {
        assert_eq!(u(&got[k]), u(&want[w]), "{k}");
    }
    let (gt, wt) =
        (got["tensors"].as_array().expect("tensors"), want["tensors"].as_array().unwrap());
    assert_eq!(gt.len(), wt.len(), "tensor count");
    for (g, w) in gt.iter().zip(wt) {
        let name = w["name"].as_str().expect("fixture: name");
        assert_eq!(g["name"], w["name"], "tensor order");
        assert_eq!(g["type"], w["type"], "{name} type");
        assert_eq!(g["shape"], w["shape"], "{name} shape");
        assert_eq!(u(&g["bytes"]), u(&w["n_bytes"]), "{name} bytes");
        assert_eq!(u(&g["offset"]), u(&w["offset"]), "{name} offset");
    }
    let total: u64 = wt.iter().map(|w| u(&w["n_bytes"])).sum();
    assert_eq!(u(&got["tensor_bytes"]), total, "tensor bytes");
    let by_type: u64 =
        got["totals_by_type"].as_array().expect("totals").iter().map(|t| u(&t["bytes"])).sum();
    assert_eq!(by_type, total, "totals by type add up");
}

#[test]
fn smollm2_inspect_json_matches_gguf_py() {
    check_inspect("SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2");
}

#[test]
fn gemma3_inspect_json_matches_gguf_py() {
    check_inspect("gemma-3-270m-q4_k_m.gguf", "gemma3");
}
