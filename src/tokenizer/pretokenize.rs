//! BPE pre-tokenizers: cutting text into words before merging, chosen by `tokenizer.ggml.pre`,
//! then mapping each word's bytes to GPT-2's printable characters.
//!
//! May use: the siblings `scanners`, `unicode` and `vocab`. Invariant: the words are exactly llama.cpp's
//! (`unicode_regex_split`): the same splitters in the same order, with the same character
//! classes. llama.cpp runs its GPT-2, Llama 3 and Qwen 2 patterns as hand-written scanners
//! whose corner cases differ slightly from a regex engine; these scanners follow the same
//! rules, so no regex engine is needed (the scanners are in `scanners.rs`). Splitters work on
//! characters and produce piece lengths; each splitter refines the pieces of the one before.

use super::scanners::{gpt2, llama3};
use super::unicode::{BYTE_TO_CHAR, class, decode_lax};
use super::vocab::tok_err;
use crate::error::Result;

/// Word splitting schemes (llama.cpp's `llama_vocab_pre_type`, the ones kiln implements).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreKind {
    /// `[\p{P}$+<=>^~|]+`, GPT-2's pattern, `\p{N}+`, `[0-9][0-9][0-9]`.
    Default,
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`.
    Gpt2,
    /// Llama 3's pattern: case-insensitive contractions, numbers in groups of up to three.
    Llama3,
    /// Qwen 2's pattern: Llama 3's with single digits.
    Qwen2,
    /// StarCoder and SmolLM: every digit alone, then GPT-2's pattern.
    StarCoder,
}

/// Settings that come with a pre-tokenizer name in llama.cpp.
#[derive(Debug, Clone, Copy)]
pub struct PreConfig {
    pub kind: PreKind,
    /// Undo tokenization spaces (" ," → ",") when decoding.
    pub clean_spaces: bool,
    /// A word that is itself a token is emitted whole, without merging (Llama 3).
    pub ignore_merges: bool,
    /// Default of `tokenizer.ggml.add_bos_token`.
    pub add_bos: bool,
}

/// (name, kind, clean_spaces, ignore_merges, add_bos), as llama.cpp's `load` sets them.
const NAMES: [(&str, PreKind, bool, bool, bool); 22] = [
    ("default", PreKind::Default, true, false, false),
    ("llama3", PreKind::Llama3, true, true, true),
    ("llama-bpe", PreKind::Llama3, true, true, true),
    ("falcon3", PreKind::Llama3, true, true, true),
    ("pixtral", PreKind::Llama3, true, true, true),
    ("dbrx", PreKind::Llama3, true, false, false),
    ("smaug-bpe", PreKind::Llama3, true, false, false),
    ("qwen2", PreKind::Qwen2, false, false, false),
    ("deepseek-r1-qwen", PreKind::Qwen2, false, false, false),
    ("stablelm2", PreKind::Qwen2, true, false, false),
    ("megrez", PreKind::Qwen2, true, false, false),
    ("gpt-2", PreKind::Gpt2, true, false, false),
    ("phi-2", PreKind::Gpt2, true, false, false),
    ("mpt", PreKind::Gpt2, true, false, false),
    ("olmo", PreKind::Gpt2, true, false, false),
    ("smollm", PreKind::StarCoder, false, false, false),
    ("starcoder", PreKind::StarCoder, true, false, false),
    ("refact", PreKind::StarCoder, true, false, false),
    ("codeshell", PreKind::StarCoder, true, false, false),
    ("command-r", PreKind::StarCoder, false, false, false),
    ("exaone", PreKind::StarCoder, true, false, false),
    ("minerva-7b", PreKind::StarCoder, true, false, false),
];

impl PreConfig {
    /// The configuration for `tokenizer.ggml.pre` (absent: "default", as in llama.cpp).
    pub fn from_name(name: Option<&str>) -> Result<PreConfig> {
        let name = name.unwrap_or("default");
        let Some(&(_, kind, clean_spaces, ignore_merges, add_bos)) =
            NAMES.iter().find(|n| n.0 == name)
        else {
            let known: Vec<&str> = NAMES.iter().map(|n| n.0).collect();
            let msg = format!(
                "unknown pre-tokenizer '{name}' (tokenizer.ggml.pre); kiln supports: {}",
                known.join(", ")
            );
            return Err(tok_err(msg));
        };
        Ok(PreConfig { kind, clean_spaces, ignore_merges, add_bos })
    }
}

/// One splitting stage: pushes the lengths of the pieces it cuts a piece into.
type Splitter = fn(&[char], &mut Vec<usize>);

/// Cuts `text` into words and calls `word` with each, GPT-2 byte-encoded.
pub(super) fn words(kind: PreKind, text: &[u8], mut word: impl FnMut(&[u8])) {
    let mut cpts = Vec::with_capacity(text.len());
    decode_lax(text, &mut cpts);
    let mut pieces = vec![cpts.len()];
    let stages: &[Splitter] = match kind {
        PreKind::Default => &[punct_runs, gpt2, number_runs, ascii_digit_triples],
        PreKind::Gpt2 => &[gpt2],
        PreKind::Llama3 => &[|c, o| llama3(c, 3, o)],
        PreKind::Qwen2 => &[|c, o| llama3(c, 1, o)],
        PreKind::StarCoder => &[single_numbers, gpt2],
    };
    for stage in stages {
        let mut next = Vec::with_capacity(pieces.len());
        let mut start = 0;
        for &len in &pieces {
            stage(&cpts[start..start + len], &mut next);
            start += len;
        }
        pieces = next;
    }
    let mut buf = Vec::new();
    let mut utf8 = [0u8; 4];
    let mut start = 0;
    for len in pieces {
        buf.clear();
        for &c in &cpts[start..start + len] {
            for &b in c.encode_utf8(&mut utf8).as_bytes() {
                buf.extend_from_slice(
                    BYTE_TO_CHAR[usize::from(b)].encode_utf8(&mut [0; 4]).as_bytes(),
                );
            }
        }
        start += len;
        word(&buf);
    }
}

/// Emits piece lengths as a scanner advances: `to(end)` closes the piece ending at `end`.
pub(super) struct Cuts<'a> {
    pub out: &'a mut Vec<usize>,
    pub last: usize,
}

impl Cuts<'_> {
    pub fn to(&mut self, end: usize) {
        if end > self.last {
            self.out.push(end - self.last);
        }
        self.last = end;
    }
}

/// Splits `c` around the matches that `at(c, i)` reports (match length at `i`, 0 for none),
/// scanning left to right like a regex iterator: matches and the gaps between them are pieces.
fn isolate(c: &[char], out: &mut Vec<usize>, at: impl Fn(&[char], usize) -> usize) {
    let mut cuts = Cuts { out, last: 0 };
    let mut i = 0;
    while i < c.len() {
        match at(c, i) {
            0 => i += 1,
            m => {
                cuts.to(i);
                i += m;
                cuts.to(i);
            }
        }
    }
    cuts.to(c.len());
}

pub(super) fn run_len(c: &[char], i: usize, f: impl Fn(char) -> bool) -> usize {
    c[i..].iter().take_while(|&&ch| f(ch)).count()
}

/// `[\p{P}$+<=>^~|]+`
fn punct_runs(c: &[char], out: &mut Vec<usize>) {
    isolate(c, out, |c, i| run_len(c, i, |ch| class(ch).punct() || "$+<=>^~|".contains(ch)));
}

/// `\p{N}+`
fn number_runs(c: &[char], out: &mut Vec<usize>) {
    isolate(c, out, |c, i| run_len(c, i, |ch| class(ch).number()));
}

/// `\p{N}`
fn single_numbers(c: &[char], out: &mut Vec<usize>) {
    isolate(c, out, |c, i| usize::from(class(c[i]).number()));
}

/// `[0-9][0-9][0-9]`
fn ascii_digit_triples(c: &[char], out: &mut Vec<usize>) {
    isolate(c, out, |c, i| if run_len(c, i, |ch| ch.is_ascii_digit()) >= 3 { 3 } else { 0 });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::unicode::char_to_byte;

    /// The words of `text`, GPT-2 encoding undone.
    fn split(kind: PreKind, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        words(kind, text.as_bytes(), |w| {
            let s = std::str::from_utf8(w).unwrap();
            let bytes: Vec<u8> = s.chars().map(|c| char_to_byte(c).unwrap()).collect();
            out.push(String::from_utf8(bytes).unwrap());
        });
        out
    }

    #[test]
    fn gpt2_words() {
        let k = PreKind::Gpt2;
        assert_eq!(split(k, "Hello  world"), ["Hello", " ", " world"]);
        assert_eq!(split(k, "a\n\nb"), ["a", "\n", "\n", "b"]);
        assert_eq!(split(k, "I'M it's"), ["I", "'", "M", " it", "'s"]);
        assert_eq!(split(k, " 12ab!? "), [" 12", "ab", "!?", " "]);
    }

    #[test]
    fn llama3_and_qwen2_words() {
        let k = PreKind::Llama3;
        assert_eq!(split(k, "12345 abc"), ["123", "45", " abc"]);
        assert_eq!(split(k, "a\n\nb"), ["a", "\n\n", "b"]);
        assert_eq!(split(k, "I'M x\t y"), ["I", "'M", " x", "\t", " y"]);
        assert_eq!(split(k, "(x)!\n\n"), ["(x", ")!\n\n"]);
        assert_eq!(split(PreKind::Qwen2, "123"), ["1", "2", "3"]);
    }

    #[test]
    fn default_and_starcoder_words() {
        assert_eq!(
            split(PreKind::Default, "a+b==c 1234"),
            ["a", "+", "b", "==", "c", " ", "123", "4"]
        );
        assert_eq!(split(PreKind::StarCoder, "a12 b"), ["a", "1", "2", " b"]);
    }

    #[test]
    fn names_map_to_their_kind() {
        assert_eq!(PreConfig::from_name(Some("smollm")).unwrap().kind, PreKind::StarCoder);
        assert_eq!(PreConfig::from_name(None).unwrap().kind, PreKind::Default);
        assert!(PreConfig::from_name(Some("llama-bpe")).unwrap().ignore_merges);
        assert!(PreConfig::from_name(Some("gpt2")).is_err(), "llama.cpp's name is gpt-2");
    }
}
