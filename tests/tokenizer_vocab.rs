//! Tokenizer metadata validation and behaviour on small vocabularies built with `GgufWriter`:
//! every malformed case is a clear error (never a panic), bad special ids are dropped, and
//! special-token parsing, EOG detection, merging order and streaming decode behave as
//! llama.cpp's do. No model files needed.

use kiln::gguf::{GgufFile, GgufWriter, Value};
use kiln::tokenizer::{StreamDecoder, Tokenizer};

/// Token types (gguf-py's `TokenType`).
const NORMAL: i32 = 1;
const UNKNOWN: i32 = 2;
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;
const BYTE: i32 = 6;

/// A SentencePiece vocabulary: <unk> <s> </s>, the 256 byte tokens, then `extra`.
fn spm(extra: &[(&str, f32, i32)]) -> GgufWriter {
    let mut tokens: Vec<String> = vec!["<unk>".into(), "<s>".into(), "</s>".into()];
    let mut scores = vec![0.0f32; 3];
    let mut types = vec![UNKNOWN, CONTROL, CONTROL];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        scores.push(0.0);
        types.push(BYTE);
    }
    for &(t, s, ty) in extra {
        tokens.push(t.into());
        scores.push(s);
        types.push(ty);
    }
    let mut w = GgufWriter::new();
    w.add("tokenizer.ggml.model", "llama");
    w.add(
        "tokenizer.ggml.tokens",
        tokens.iter().map(|t| t.as_bytes().to_vec()).collect::<Vec<_>>(),
    );
    w.add("tokenizer.ggml.scores", scores);
    w.add("tokenizer.ggml.token_type", types);
    w
}

const SPM_EXTRA: &[(&str, f32, i32)] = &[
    ("▁", -1.0, NORMAL),               // 259
    ("a", -2.0, NORMAL),               // 260
    ("b", -3.0, NORMAL),               // 261
    ("▁a", -1.5, NORMAL),              // 262
    ("ab", -1.0, NORMAL),              // 263
    ("<start_of_turn>", 0.0, CONTROL), // 264
    ("<|im_end|>", 0.0, NORMAL),       // 265: EOG by its text, so it becomes control
    ("\n\n", 0.0, USER_DEFINED),       // 266
];

fn build(w: &GgufWriter) -> kiln::Result<Tokenizer> {
    Tokenizer::from_gguf(&GgufFile::from_bytes(w.to_bytes())?)
}

#[track_caller]
fn err(w: &GgufWriter, needles: &[&str]) {
    match build(w) {
        Ok(_) => panic!("expected an error mentioning {needles:?}"),
        Err(e) => {
            let msg = e.to_string();
            for n in needles {
                assert!(msg.contains(n), "error {msg:?} does not mention {n:?}");
            }
        }
    }
}

#[test]
fn spm_merges_by_score_and_falls_back_to_bytes() {
    let tok = build(&spm(SPM_EXTRA)).unwrap();
    assert_eq!((tok.bos(), tok.eos(), tok.add_bos()), (Some(1), Some(2), true));
    // "▁ab▁a": "ab" (-1.0) outranks "▁a" (-1.5), so the first pair to merge is a+b.
    assert_eq!(tok.encode("ab a", true, true).unwrap(), [1, 259, 263, 262]);
    // 'z' is not a token: its byte token <0x7A> = 3 + 0x7A.
    assert_eq!(tok.encode("z", false, true).unwrap(), [259, 3 + 0x7A]);
    assert_eq!(tok.decode(&[259, 263, 262, 3 + 0x7A], false), b"ab az");
}

#[test]
fn special_text_is_parsed_only_on_request() {
    let tok = build(&spm(SPM_EXTRA)).unwrap();
    let ids = tok.encode("<start_of_turn>a", false, true).unwrap();
    assert_eq!(ids, [264, 262], "a space prefix after a special token");
    let plain = tok.encode("<start_of_turn>a", false, false).unwrap();
    assert!(!plain.contains(&264), "control text must stay text: {plain:?}");
    assert_eq!(tok.decode(&plain, false), b"<start_of_turn>a");
    // User-defined tokens split the text even with parsing off (llama.cpp, HF tokenizers).
    assert!(tok.encode("a\n\na", false, false).unwrap().contains(&266));
    // With special = false a control token decodes to nothing.
    assert_eq!(tok.decode(&[264], false), b"");
    assert_eq!(tok.decode(&[264], true), b"<start_of_turn>");
}

#[test]
fn eog_tokens_are_found_by_text() {
    let tok = build(&spm(SPM_EXTRA)).unwrap();
    assert!(tok.is_eog(2) && tok.is_eog(265) && !tok.is_eog(264));
    assert!(tok.is_control(265), "an EOG-looking token is made control, as in llama.cpp");
    assert_eq!(tok.eot(), Some(265));
}

#[test]
fn array_lengths_must_match_the_token_list() {
    let n = 3 + 256 + SPM_EXTRA.len();
    let mut w = spm(SPM_EXTRA);
    w.add("tokenizer.ggml.scores", vec![0.0f32; 3]);
    err(&w, &["tokenizer.ggml.scores", &format!("3 entries for {n} tokens")]);
    w.add("tokenizer.ggml.scores", vec![0.0f32; n + 1]);
    err(&w, &["tokenizer.ggml.scores", &format!("{} entries", n + 1)]);
    let mut w = spm(SPM_EXTRA);
    w.add("tokenizer.ggml.token_type", vec![NORMAL; n - 1]);
    err(&w, &["tokenizer.ggml.token_type", &format!("{} entries", n - 1)]);
    w.add("tokenizer.ggml.token_type", vec![NORMAL; n + 5]);
    err(&w, &["tokenizer.ggml.token_type"]);
}

#[test]
fn wrong_types_and_values_are_errors() {
    let mut w = spm(SPM_EXTRA);
    w.add("tokenizer.ggml.scores", vec!["x"; 3 + 256 + SPM_EXTRA.len()]);
    err(&w, &["tokenizer.ggml.scores", "array<string>"]);
    let mut w = spm(SPM_EXTRA);
    let mut scores = vec![0.0f32; 3 + 256 + SPM_EXTRA.len()];
    scores[7] = f32::NAN;
    w.add("tokenizer.ggml.scores", scores);
    err(&w, &["scores[7] is NaN"]);
    let mut w = spm(SPM_EXTRA);
    w.add("tokenizer.ggml.tokens", vec![1i32, 2, 3]);
    err(&w, &["tokenizer.ggml.tokens", "array<i32>"]);
    let mut w = spm(SPM_EXTRA);
    w.add("tokenizer.ggml.token_type", vec![1.0f32; 3 + 256 + SPM_EXTRA.len()]);
    err(&w, &["tokenizer.ggml.token_type", "array<f32>"]);
    let mut w = spm(SPM_EXTRA);
    w.add("tokenizer.ggml.eos_token_id", -1i32);
    err(&w, &["eos_token_id", "i32"]);
}

#[test]
fn malformed_byte_tokens_are_rejected() {
    for bad in ["<0xZZ>", "<0x-1>", "<0x1>", "0x41"] {
        let mut w = spm(&[(bad, 0.0, BYTE)]);
        w.add("tokenizer.ggml.add_bos_token", false);
        err(&w, &["byte token 259", bad]);
    }
}

#[test]
fn missing_or_unknown_models_are_errors() {
    let mut w = GgufWriter::new();
    w.add("general.architecture", "llama");
    err(&w, &["no tokenizer", "tokenizer.ggml.model"]);
    w.add("tokenizer.ggml.model", "llama");
    err(&w, &["cannot find the vocabulary"]);
    let mut w = spm(SPM_EXTRA);
    w.add("tokenizer.ggml.model", "t5");
    err(&w, &["unknown tokenizer model 't5'", "llama", "gpt2"]);
}

#[test]
fn special_ids_out_of_range_are_dropped() {
    let mut w = spm(SPM_EXTRA);
    w.add("tokenizer.ggml.bos_token_id", 100_000u32);
    w.add("tokenizer.ggml.eos_token_id", 264u32);
    w.add("tokenizer.ggml.eot_token_id", u32::MAX);
    let tok = build(&w).unwrap();
    assert_eq!(tok.bos(), Some(1), "a bad explicit id keeps the default");
    assert_eq!(tok.eos(), Some(264));
    assert_eq!(tok.eot(), Some(265), "a bad EOT id falls back to detection by text");
    // A one-token vocabulary: the defaults (BOS 1, EOS 2) are out of range as well.
    let mut w = GgufWriter::new();
    w.add("tokenizer.ggml.model", "llama");
    w.add("tokenizer.ggml.tokens", vec!["a"]);
    w.add("tokenizer.ggml.add_space_prefix", false);
    err(&w, &["add_bos_token", "BOS"]);
    w.add("tokenizer.ggml.add_bos_token", false);
    let tok = build(&w).unwrap();
    assert_eq!((tok.bos(), tok.eos(), tok.eog_ids()), (None, None, &[][..]));
    assert_eq!(tok.encode("a", true, true).unwrap(), [0]);
    assert!(tok.encode("b", true, true).is_err(), "no byte token for 'b': an error, not a panic");
}

#[test]
fn empty_and_duplicate_texts_are_defined() {
    let mut w = spm(&[("a", -1.0, NORMAL), ("", 0.0, NORMAL), ("a", 5.0, NORMAL)]);
    w.add("tokenizer.ggml.add_space_prefix", false);
    let tok = build(&w).unwrap();
    assert_eq!(tok.encode("a", false, true).unwrap(), [259], "the first of two equal texts");
    assert_eq!(tok.token_bytes(260), b"");
    assert_eq!(tok.token_bytes(261), b"a", "the duplicate still decodes");
}

/// GPT-2's byte-to-character map, written out independently of kiln's.
fn gpt2_char(b: u8) -> char {
    let printable = |x: u32| (33..=126).contains(&x) || (161..=172).contains(&x) || x >= 174;
    if printable(b.into()) {
        return char::from(b);
    }
    let rank = (0..u32::from(b)).filter(|&x| !printable(x)).count() as u32;
    char::from_u32(256 + rank).unwrap()
}

/// A byte-level BPE vocabulary: the 256 byte characters (ids 0..=255), then `extra`.
fn bpe(extra: &[&str], merges: &[&str], pre: &str) -> GgufWriter {
    let mut tokens: Vec<String> = (0..=255u8).map(|b| gpt2_char(b).to_string()).collect();
    tokens.extend(extra.iter().map(|t| t.to_string()));
    let mut w = GgufWriter::new();
    w.add("tokenizer.ggml.model", "gpt2");
    w.add("tokenizer.ggml.pre", pre);
    w.add(
        "tokenizer.ggml.tokens",
        tokens.iter().map(|t| t.as_bytes().to_vec()).collect::<Vec<_>>(),
    );
    w.add("tokenizer.ggml.merges", Value::from(merges.to_vec()));
    w
}

#[test]
fn bpe_needs_well_formed_merges_and_a_known_pre_tokenizer() {
    let mut w = bpe(&["Ġa"], &["Ġ a"], "gpt-2");
    assert!(build(&w).is_ok());
    w.add("tokenizer.ggml.pre", "no-such-pre");
    err(&w, &["unknown pre-tokenizer 'no-such-pre'", "smollm", "llama-bpe", "qwen2", "default"]);
    err(&bpe(&["Ġa"], &["Ġa"], "gpt-2"), &["tokenizer.ggml.merges[0]", "no space"]);
    let mut w = GgufWriter::new();
    w.add("tokenizer.ggml.model", "gpt2");
    w.add("tokenizer.ggml.tokens", vec!["a", "b"]);
    err(&w, &["cannot find the BPE merges"]);
}

#[test]
fn bpe_merges_by_rank_and_decodes_bytes() {
    // Ranks: "a b" (0) before "Ġ a" (1): " ab" becomes Ġ + ab, never Ġa + b.
    let tok = build(&bpe(&["ab", "Ġa", "Ġab"], &["a b", "Ġ a", "Ġ ab"], "gpt-2")).unwrap();
    assert_eq!((tok.bos(), tok.eos(), tok.add_bos()), (Some(11), Some(11), false));
    assert_eq!(tok.encode(" ab", true, true).unwrap(), [258]);
    assert_eq!(tok.encode(" a", true, true).unwrap(), [257]);
    let ids = tok.encode("é😀", false, true).unwrap();
    assert_eq!(ids.len(), 6, "two characters, six bytes, six byte tokens");
    assert_eq!(tok.decode(&ids, false), "é😀".as_bytes());
    // gpt-2 cleans tokenization spaces when decoding: " ," becomes ",".
    assert_eq!(tok.decode(&tok.encode("a , b", false, true).unwrap(), false), b"a, b");
}

#[test]
fn stream_decoder_holds_back_incomplete_characters() {
    let tok = build(&bpe(&[], &["a b"], "gpt-2")).unwrap();
    let mut d = StreamDecoder::new(&tok, false);
    let emoji = "😀".as_bytes();
    let got: Vec<String> = emoji.iter().map(|&b| d.push(u32::from(b))).collect();
    assert_eq!(got, ["", "", "", "😀"]);
    // A sequence that can no longer complete becomes one U+FFFD, then the text goes on.
    assert_eq!(d.push(0xF0), "");
    assert_eq!(d.push(0x9F), "");
    assert_eq!(d.push(u32::from(b'a')), "\u{FFFD}a");
    assert_eq!(d.push(0xE4), "");
    assert_eq!(d.flush(), "\u{FFFD}", "an unfinished character at the end");
    assert_eq!(d.flush(), "");
}

#[test]
fn phi3_special_tokens_swallow_the_spaces_after_them() {
    let extra =
        [("▁", -1.0, NORMAL), ("x", -1.0, NORMAL), ("▁x", -0.5, NORMAL), ("<|end|>", 0.0, CONTROL)];
    let mut w = spm(&extra);
    let other = build(&w).unwrap();
    assert_eq!(other.encode("<|end|>  x", false, true).unwrap(), [262, 259, 259, 261]);
    // llama.cpp gives every special token of a model named Phi-3 the RSTRIP attribute.
    w.add("general.name", "Phi-3 mini");
    let phi3 = build(&w).unwrap();
    assert_eq!(phi3.encode("<|end|>  x", false, true).unwrap(), [262, 261]);
    assert!(phi3.is_eog(262));
}
