//! Ids back to text: the bytes each token stands for, whole-sequence detokenization, and a
//! streaming decoder that only ever emits complete UTF-8.
//!
//! May use: the siblings `vocab`, `spm`, `unicode`. Invariant: a token's bytes are llama.cpp's
//! `token_to_piece(id, special = true)`; `StreamDecoder` emits every byte it is given exactly
//! once, holding back only a UTF-8 sequence that may still complete.

use super::spm::SPACE_MARK;
use super::unicode::char_to_byte;
use super::vocab::{Vocab, attr, parse_byte_token};
use super::{Model, Tokenizer};

/// The bytes token `id` decodes to, computed once per token at load:
/// control, unknown and user-defined tokens: their text as is; byte tokens: the byte;
/// normal tokens: SentencePiece text with ▁ read as a space, or GPT-2 text mapped back through
/// the byte-to-character table; anything else (unused, undefined types): nothing.
pub(super) fn piece(vocab: &Vocab, spm: bool, id: u32) -> Vec<u8> {
    let a = vocab.attr(id);
    let text = vocab.text(id);
    if a & (attr::CONTROL | attr::UNKNOWN | attr::USER_DEFINED) != 0 {
        text.to_vec()
    } else if a & attr::NORMAL != 0 {
        if spm { unescape_spaces(text) } else { gpt2_bytes(text) }
    } else if a & attr::BYTE != 0 {
        parse_byte_token(text).map(|b| vec![b]).unwrap_or_default()
    } else {
        Vec::new()
    }
}

fn unescape_spaces(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix(SPACE_MARK) {
            out.push(b' ');
            rest = after;
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out
}

/// GPT-2 characters back to bytes. A token with a character outside the 256 (possible only
/// in a hand-made vocabulary) decodes to its raw text, as Hugging Face's byte-level decoder
/// does; llama.cpp writes an `[UNK_BYTE_0x…]` marker instead.
fn gpt2_bytes(text: &[u8]) -> Vec<u8> {
    let Ok(s) = std::str::from_utf8(text) else { return text.to_vec() };
    s.chars().map(char_to_byte).collect::<Option<Vec<u8>>>().unwrap_or_else(|| text.to_vec())
}

impl Tokenizer {
    /// The bytes of a whole sequence, as llama.cpp's `llama_detokenize(…, remove_special =
    /// false, unparse_special = special)`: control and unknown tokens only when `special`; one
    /// leading space dropped when the vocabulary adds a space prefix (SentencePiece); and,
    /// for the BPE vocabularies that ask for it, tokenization spaces cleaned (" ," → ",").
    pub fn decode(&self, ids: &[u32], special: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut strip_space = self.add_space_prefix;
        for &id in ids {
            let p = self.piece_for(id, special);
            let p = if strip_space { p.strip_prefix(b" ").unwrap_or(p) } else { p };
            strip_space = false;
            out.extend_from_slice(p);
        }
        let clean = matches!(&self.model, Model::Bpe { pre, .. } if pre.clean_spaces);
        if clean { clean_spaces(&out) } else { out }
    }

    /// [`decode`](Self::decode) as a `String`, invalid UTF-8 replaced by U+FFFD.
    pub fn decode_lossy(&self, ids: &[u32], special: bool) -> String {
        String::from_utf8_lossy(&self.decode(ids, special)).into_owned()
    }

    pub(super) fn piece_for(&self, id: u32, special: bool) -> &[u8] {
        if !special && self.vocab.has(id, attr::CONTROL | attr::UNKNOWN) {
            return &[];
        }
        self.token_bytes(id)
    }
}

/// llama.cpp's three clean-up passes over decoded bytes: drop the space before `?!.,`, drop
/// the spaces around a lone `'`, and drop the space before `'s`, `'m`, `'re` and `'ve`.
fn clean_spaces(b: &[u8]) -> Vec<u8> {
    let mut a: Vec<u8> = Vec::with_capacity(b.len());
    for (i, &x) in b.iter().enumerate() {
        if i > 0 && b[i - 1] == b' ' && matches!(x, b'?' | b'!' | b'.' | b',') {
            a.pop();
        }
        a.push(x);
    }
    let mut c: Vec<u8> = Vec::with_capacity(a.len());
    let mut i = 0;
    while i < a.len() {
        let x = a[i];
        if i > 0 && x == b'\'' && i + 1 < a.len() && a[i - 1] == b' ' && a[i + 1] == b' ' {
            c.pop();
            c.push(x);
            // The space after goes too; llama.cpp overwrites it with NUL in place, so the
            // next character no longer sees a space before it.
            a[i + 1] = 0;
            i += 2;
            continue;
        }
        c.push(x);
        i += 1;
    }
    let mut d: Vec<u8> = Vec::with_capacity(c.len());
    for (i, &x) in c.iter().enumerate() {
        if i > 0 && c[i - 1] == b' ' && x == b'\'' {
            let (x1, x2) = (c.get(i + 1).copied(), c.get(i + 2).copied());
            let drop = matches!(x1, Some(b's' | b'm'))
                || matches!((x1, x2), (Some(b'r'), Some(b'e')) | (Some(b'v'), Some(b'e')));
            if drop {
                d.pop();
            }
        }
        d.push(x);
    }
    d
}

/// Turns a stream of token ids into text chunks that are always whole UTF-8: a character
/// split across tokens is emitted once, complete; bytes that can no longer form a character
/// become U+FFFD. Pieces are per-token `token_to_piece` bytes (no leading-space stripping,
/// as llama.cpp does when streaming).
pub struct StreamDecoder<'a> {
    tok: &'a Tokenizer,
    special: bool,
    pending: Vec<u8>,
}

impl<'a> StreamDecoder<'a> {
    /// With `special` false, control and unknown tokens print nothing (llama-server's default).
    pub fn new(tok: &'a Tokenizer, special: bool) -> Self {
        StreamDecoder { tok, special, pending: Vec::new() }
    }

    /// Adds token `id` and returns the text that is now complete (possibly empty).
    pub fn push(&mut self, id: u32) -> String {
        self.pending.extend_from_slice(self.tok.piece_for(id, self.special));
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let good = e.valid_up_to();
                    // The prefix up to `valid_up_to` is valid UTF-8 by definition.
                    out.push_str(std::str::from_utf8(&self.pending[..good]).unwrap_or_default());
                    match e.error_len() {
                        // An incomplete sequence at the end: wait for the next token.
                        None => {
                            self.pending.drain(..good);
                            return out;
                        }
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..good + bad);
                        }
                    }
                }
            }
        }
    }

    /// Ends the stream: whatever is held back, with U+FFFD for an unfinished character.
    pub fn flush(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }
}
