//! kiln's tokenizer against llama.cpp on the two real test models: the ids of every corpus
//! piece (tests/fixtures/tokenizer/corpus/) with special-token parsing on and off, each
//! token's bytes, round trips, the special ids, and streaming decode of split characters.
//!
//! Goldens: tests/fixtures/tokenizer/<model>.json, made by tools/make_tokenizer_goldens.py
//! with llama-tokenize (command, version and date inside). llama-tokenize reads `-f` files
//! verbatim and adds BOS/EOS exactly when the model's add_bos flag says so, so each piece is
//! encoded here as `encode(file text, add_special = add_bos(), parse_special)`.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use kiln::gguf::{GgufFile, GgufWriter};
use kiln::tokenizer::{StreamDecoder, Tokenizer};
use serde_json::Value as Json;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer")
}

fn load(model: &str) -> Option<(Tokenizer, Json)> {
    let path = common::model_path(model)?;
    let gguf = GgufFile::open(&path).expect("open model");
    let t0 = Instant::now();
    let tok = Tokenizer::from_gguf(&gguf).expect("tokenizer");
    eprintln!("{model}: tokenizer built in {:.0} ms", t0.elapsed().as_secs_f64() * 1e3);
    let stem = model.trim_end_matches(".gguf");
    let text = std::fs::read_to_string(fixtures().join(format!("{stem}.json"))).expect("golden");
    Some((tok, serde_json::from_str(&text).expect("golden JSON")))
}

fn ids(v: &Json) -> Vec<u32> {
    v.as_array().expect("id list").iter().map(|x| x.as_u64().expect("id") as u32).collect()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

fn corpus(piece: &str) -> String {
    let path = fixtures().join("corpus").join(format!("{piece}.txt"));
    String::from_utf8(std::fs::read(&path).expect("corpus piece")).expect("corpus is UTF-8")
}

/// Every case of the golden file: ids, round trip, and the token bytes llama.cpp printed.
fn check_model(model: &str) {
    let Some((tok, golden)) = load(model) else { return };
    let ll = &golden["llama_cpp"];
    assert_eq!(tok.bos(), ll["bos"].as_u64().map(|v| v as u32), "{model}: BOS");
    assert_eq!(tok.eos(), ll["eos"].as_u64().map(|v| v as u32), "{model}: EOS");
    assert_eq!(tok.eot(), ll["eot"].as_u64().map(|v| v as u32), "{model}: EOT");
    assert_eq!(tok.eog_ids(), ids(&ll["eog"]), "{model}: end-of-generation set");
    assert_eq!(tok.add_bos(), ll["add_bos"].as_bool().expect("add_bos"), "{model}: add_bos");

    let mut failures = Vec::new();
    for case in golden["cases"].as_array().expect("cases") {
        let piece = case["piece"].as_str().expect("piece name");
        let parse_special = case["parse_special"].as_bool().expect("mode");
        let want = ids(&case["ids"]);
        let text = corpus(piece);
        let got = tok.encode(&text, tok.add_bos(), parse_special).expect("encode");
        let mode = if parse_special { "special" } else { "plain" };
        if got != want {
            let at = got.iter().zip(&want).take_while(|(a, b)| a == b).count();
            let show = |v: &[u32]| format!("{:?}", &v[at..v.len().min(at + 8)]);
            failures.push(format!(
                "{piece} [{mode}]: first difference at token {at} of {}: kiln {} llama.cpp {}",
                want.len(),
                show(&got),
                show(&want)
            ));
            continue;
        }
        // Round trip: the bytes of the ids (after the BOS llama.cpp added) give the input back
        // exactly when they do for llama.cpp.
        let body = if tok.add_bos() { &got[1..] } else { &got[..] };
        let back = tok.decode(body, true);
        // null: llama-tokenize cannot show it (the input holds NUL, see the tool's notes).
        if let Some(roundtrip) = case["roundtrip"].as_bool()
            && (back == text.as_bytes()) != roundtrip
        {
            failures.push(format!("{piece} [{mode}]: round trip differs (llama.cpp: {roundtrip})"));
        }
        eprintln!("PASS {model} {piece} [{mode}] ({} tokens)", got.len());
    }
    for (id, bytes) in golden["token_bytes"].as_object().expect("token_bytes") {
        let id: u32 = id.parse().expect("id");
        let want = hex(bytes.as_str().expect("hex"));
        // llama-tokenize printed the piece with printf: compare up to the first NUL.
        let ours = tok.token_bytes(id).split(|&b| b == 0).next().unwrap_or_default();
        if ours != want {
            failures.push(format!(
                "token {id} ({:?}): bytes {:?}, llama.cpp {:?}",
                tok.token_text_lossy(id),
                tok.token_bytes(id),
                want
            ));
        }
    }
    assert!(failures.is_empty(), "{model}: {} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn smollm2_matches_llama_cpp() {
    check_model(common::SMOLLM2);
}

#[test]
fn gemma3_matches_llama_cpp() {
    check_model(common::GEMMA3);
}

/// llama.cpp's other word splitters, on SmolLM2's vocabulary with `tokenizer.ggml.pre`
/// replaced (the goldens were made from the same substitution).
#[test]
fn other_pre_tokenizers_match_llama_cpp() {
    let Some(path) = common::model_path(common::SMOLLM2) else { return };
    let gguf = GgufFile::open(&path).expect("open model");
    let mut failures = Vec::new();
    for pre in ["llama-bpe", "qwen2", "default", "gpt-2"] {
        let mut w = GgufWriter::new();
        for (key, value) in gguf.metadata() {
            w.add(key, value.clone());
        }
        w.add("tokenizer.ggml.pre", pre);
        let variant = GgufFile::from_bytes(w.to_bytes()).expect("variant GGUF");
        let tok = Tokenizer::from_gguf(&variant).expect("variant tokenizer");
        let file = fixtures().join(format!("smollm2-pre-{pre}.json"));
        let golden: Json =
            serde_json::from_str(&std::fs::read_to_string(file).expect("golden")).expect("JSON");
        for case in golden["cases"].as_array().expect("cases") {
            let piece = case["piece"].as_str().expect("piece name");
            let want = ids(&case["ids"]);
            let got = tok.encode(&corpus(piece), tok.add_bos(), true).expect("encode");
            if got == want {
                eprintln!("PASS pre={pre} {piece} ({} tokens)", got.len());
            } else {
                let at = got.iter().zip(&want).take_while(|(a, b)| a == b).count();
                failures.push(format!(
                    "pre={pre} {piece}: first difference at token {at}: kiln {:?} llama.cpp {:?}",
                    &got[at..got.len().min(at + 8)],
                    &want[at..want.len().min(at + 8)]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// A character split across tokens is printed once, whole, at the token that completes it.
fn check_streaming(model: &str, text: &str) {
    let Some((tok, _)) = load(model) else { return };
    let ids = tok.encode(text, false, false).expect("encode");
    let split = ids.iter().any(|&id| std::str::from_utf8(tok.token_bytes(id)).is_err());
    assert!(split, "{model}: no token splits a character here; the test would prove nothing");
    let mut dec = StreamDecoder::new(&tok, false);
    let mut chunks: Vec<String> = ids.iter().map(|&id| dec.push(id)).collect();
    chunks.push(dec.flush());
    assert_eq!(chunks.concat(), text, "{model}: streamed text");
    assert!(!chunks.concat().contains('\u{FFFD}'));
    // Each chunk ends on a character boundary of the text, so no character is cut or repeated.
    let mut at = 0;
    for c in &chunks {
        at += c.len();
        assert!(text.is_char_boundary(at), "{model}: chunk ends inside a character");
    }
}

#[test]
fn streaming_prints_split_characters_once() {
    // Gemma 3 spells 𓀀, ꙮ and 𝕏 with byte tokens; SmolLM2 spells most non-ASCII that way.
    let text = "Emoji 👨‍👩‍👧‍👦 and 🧑🏿‍💻, CJK 漢字テキスト, Hebrew עִברִית, rare 𓀀ꙮ𝕏 🫠!";
    check_streaming(common::SMOLLM2, text);
    check_streaming(common::GEMMA3, text);
}

#[test]
fn corpus_text_matches_the_goldens() {
    // A golden made from other text would test nothing: every corpus file must hold the text
    // llama.cpp tokenized, and every file must have goldens (else rerun the tool).
    let dir = fixtures().join("corpus");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().trim_end_matches(".txt").into())
        .collect();
    names.sort();
    let variants = ["llama-bpe", "qwen2", "default", "gpt-2"].map(|p| format!("smollm2-pre-{p}"));
    let models = [common::SMOLLM2, common::GEMMA3].map(|m| m.trim_end_matches(".gguf").to_owned());
    for stem in models.iter().chain(&variants) {
        let text =
            std::fs::read_to_string(fixtures().join(format!("{stem}.json"))).expect("golden");
        let golden: Json = serde_json::from_str(&text).expect("golden JSON");
        let mut seen = Vec::new();
        for case in golden["cases"].as_array().expect("cases") {
            let piece = case["piece"].as_str().expect("piece");
            assert_eq!(case["text"].as_str(), Some(corpus(piece).as_str()), "{stem}: {piece}");
            if seen.last() != Some(&piece) {
                seen.push(piece);
            }
        }
        assert_eq!(seen, names, "{stem}: golden pieces vs corpus files");
    }
}
