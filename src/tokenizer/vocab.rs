//! The vocabulary: token texts, scores and attributes read from GGUF metadata and validated,
//! plus the text-to-id lookup table built once.
//!
//! May use: `gguf`, `error`. Invariant: a [`Vocab`] has between 1 and `i32::MAX` tokens, a
//! score (finite or infinite, never NaN) and an attribute set per token, every `BYTE` token's
//! text is `<0xHH>`, and `ids` maps each non-empty text to the first id that carries it.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::gguf::{Array, GgufFile, Value};

/// Token attribute bits (llama.cpp's `llama_token_attr`, narrowed to what kiln uses).
pub(super) mod attr {
    pub const NORMAL: u8 = 1;
    pub const UNKNOWN: u8 = 2;
    pub const CONTROL: u8 = 4;
    pub const USER_DEFINED: u8 = 8;
    pub const UNUSED: u8 = 16;
    pub const BYTE: u8 = 32;
    /// Whitespace before this special token's text is dropped when it is parsed (Phi-3 style).
    pub const LSTRIP: u8 = 64;
    /// Whitespace after this special token's text is dropped when it is parsed.
    pub const RSTRIP: u8 = 128;
}

/// The GGUF keys this file reads.
pub(super) const KEY_TOKENS: &str = "tokenizer.ggml.tokens";
const KEY_SCORES: &str = "tokenizer.ggml.scores";
const KEY_TYPES: &str = "tokenizer.ggml.token_type";

/// Token types as written by the converters (gguf-py's `TokenType`).
fn attr_of_type(t: i32) -> u8 {
    match t {
        1 => attr::NORMAL,
        2 => attr::UNKNOWN,
        3 => attr::CONTROL,
        4 => attr::USER_DEFINED,
        5 => attr::UNUSED,
        6 => attr::BYTE,
        // 0 (undefined) and anything else: no attribute, like llama.cpp's UNDEFINED.
        _ => 0,
    }
}

/// Token texts, scores, attributes and the reverse lookup.
pub(super) struct Vocab {
    pub texts: Vec<Box<[u8]>>,
    pub scores: Vec<f32>,
    pub attrs: Vec<u8>,
    /// Text to id; the first id wins when texts repeat, empty texts are absent.
    pub ids: HashMap<Box<[u8]>, u32>,
}

impl Vocab {
    /// Reads and validates `tokenizer.ggml.{tokens,scores,token_type}`.
    pub fn load(g: &GgufFile) -> Result<Vocab> {
        let tokens = match g.get(KEY_TOKENS) {
            None => return Err(tok_err(format!("cannot find the vocabulary ({KEY_TOKENS})"))),
            Some(_) => g.get_string_array(KEY_TOKENS)?,
        };
        let n = tokens.len();
        if n == 0 || n > i32::MAX as usize {
            return Err(tok_err(format!("{KEY_TOKENS} holds {n} tokens (need 1 to 2^31-1)")));
        }
        let scores = read_scores(g, n)?;
        let types = match g.get(KEY_TYPES) {
            None => None,
            Some(_) => Some(g.get_i32_array(KEY_TYPES)?),
        };
        if let Some(t) = types
            && t.len() != n
        {
            return Err(tok_err(format!("{KEY_TYPES} has {} entries for {n} tokens", t.len())));
        }
        let mut texts = Vec::with_capacity(n);
        let mut attrs = Vec::with_capacity(n);
        let mut ids = HashMap::with_capacity(n);
        let (mut n_empty, mut n_dup) = (0usize, 0usize);
        for (i, text) in tokens.iter().enumerate() {
            let a = types.map_or(attr::NORMAL, |t| attr_of_type(t[i]));
            if a & attr::BYTE != 0 && parse_byte_token(text).is_none() {
                let shown = String::from_utf8_lossy(text);
                return Err(tok_err(format!("byte token {i} is {shown:?}, expected <0xHH>")));
            }
            let text: Box<[u8]> = text.as_slice().into();
            if text.is_empty() {
                // llama.cpp renames these `[EMPTY_i]`; kiln keeps them unreachable by text.
                n_empty += 1;
            } else if ids.contains_key(&text) {
                n_dup += 1;
            } else {
                ids.insert(text.clone(), i as u32);
            }
            texts.push(text);
            attrs.push(a);
        }
        if n_empty > 0 {
            log::warn!("tokenizer: {n_empty} empty token texts (never produced by encoding)");
        }
        if n_dup > 0 {
            log::warn!("tokenizer: {n_dup} duplicate token texts (the first id wins)");
        }
        Ok(Vocab { texts, scores, attrs, ids })
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// The id whose text is exactly `text`.
    pub fn id(&self, text: &[u8]) -> Option<u32> {
        self.ids.get(text).copied()
    }

    pub fn attr(&self, id: u32) -> u8 {
        self.attrs.get(id as usize).copied().unwrap_or(0)
    }

    pub fn has(&self, id: u32, bits: u8) -> bool {
        self.attr(id) & bits != 0
    }

    pub fn text(&self, id: u32) -> &[u8] {
        self.texts.get(id as usize).map_or(&[], |t| t)
    }

    /// The token SentencePiece falls back to for a byte: the one named `<0xHH>` (upper-case
    /// hex), else the one whose text is that single byte (llama.cpp's `byte_to_token`).
    pub fn byte_token(&self, b: u8) -> Option<u32> {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let name = [b'<', b'0', b'x', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)], b'>'];
        self.id(&name).or_else(|| self.id(&[b]))
    }
}

/// Scores are optional; present, they are f32 (or i32, which llama.cpp also accepts), one per
/// token, and never NaN (SentencePiece merging orders by score).
fn read_scores(g: &GgufFile, n: usize) -> Result<Vec<f32>> {
    let scores: Vec<f32> = match g.get(KEY_SCORES) {
        None => return Ok(vec![0.0; n]),
        Some(Value::Array(Array::F32(v))) => v.clone(),
        Some(Value::Array(Array::I32(v))) => v.iter().map(|&s| s as f32).collect(),
        Some(other) => {
            let found = other.type_name();
            return Err(tok_err(format!("{KEY_SCORES} is {found}, expected array<f32>")));
        }
    };
    if scores.len() != n {
        return Err(tok_err(format!("{KEY_SCORES} has {} entries for {n} tokens", scores.len())));
    }
    if let Some(i) = scores.iter().position(|s| s.is_nan()) {
        return Err(tok_err(format!("{KEY_SCORES}[{i}] is NaN")));
    }
    Ok(scores)
}

/// The byte a `<0xHH>` token stands for (either case of hex digit).
pub(super) fn parse_byte_token(text: &[u8]) -> Option<u8> {
    let hex = text.strip_prefix(b"<0x")?.strip_suffix(b">")?;
    let digits = std::str::from_utf8(hex).ok().filter(|h| h.len() == 2)?;
    if !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u8::from_str_radix(digits, 16).ok()
}

pub(super) fn tok_err(msg: String) -> Error {
    Error::Tokenizer(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_tokens_parse_strictly() {
        assert_eq!(parse_byte_token(b"<0x0A>"), Some(10));
        assert_eq!(parse_byte_token(b"<0xff>"), Some(255));
        for bad in [&b"<0xZZ>"[..], b"<0x-1>", b"<0x1>", b"<0x100>", b"0x41", b"<0x+1>", b""] {
            assert_eq!(parse_byte_token(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
