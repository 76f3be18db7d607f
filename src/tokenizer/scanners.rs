//! The two hand-written word scanners behind the BPE pre-tokenizers: GPT-2's pattern and
//! Llama 3's (Qwen 2's is Llama 3's with single digits).
//!
//! May use: the siblings `pretokenize` and `unicode`. Invariant: each scanner cuts a piece into
//! the words llama.cpp's `unicode_regex_split_custom_gpt2` / `_llama3` / `_qwen2` produce,
//! quirks included (a run of spaces before text gives up its last space to it; the one-space
//! prefix of a punctuation run; newline handling).

use super::pretokenize::{Cuts, run_len};
use super::unicode::{Class, class};

/// Length of an English contraction (`'s`, `'re` …) starting at `i`, 0 if none.
fn contraction(c: &[char], i: usize, any_case: bool) -> usize {
    let at = |k: usize| {
        let ch = c.get(i + k).copied().unwrap_or('\0');
        if any_case { ch.to_ascii_lowercase() } else { ch }
    };
    if c[i] != '\'' || i + 1 >= c.len() {
        return 0;
    }
    match (at(1), at(2)) {
        ('s' | 't' | 'm' | 'd', _) => 2,
        ('r', 'e') | ('v', 'e') | ('l', 'l') if i + 2 < c.len() => 3,
        _ => 0,
    }
}

/// Not whitespace, letter or number (`[^\s\p{L}\p{N}]`); false past the end of the piece.
fn other(k: Option<Class>) -> bool {
    k.is_some_and(|k| !(k.space || k.letter() || k.number()))
}

/// GPT-2's pattern, scanned as llama.cpp's `unicode_regex_split_custom_gpt2` does.
pub(super) fn gpt2(c: &[char], out: &mut Vec<usize>) {
    let cls = |i: usize| c.get(i).map(|&ch| class(ch));
    let mut cuts = Cuts { out, last: 0 };
    let mut pos = 0;
    while pos < c.len() {
        let ch = c[pos];
        let n = contraction(c, pos, false);
        if n > 0 {
            pos += n;
            cuts.to(pos);
            continue;
        }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional space, then a run.
        let lead = usize::from(ch == ' ');
        let next = cls(pos + lead);
        let run: Option<fn(Option<Class>) -> bool> = if next.is_some_and(|k| k.letter()) {
            Some(|k| k.is_some_and(|k| k.letter()))
        } else if next.is_some_and(|k| k.number()) {
            Some(|k| k.is_some_and(|k| k.number()))
        } else if other(next) {
            Some(other)
        } else {
            None
        };
        if let Some(run) = run {
            pos += lead;
            while run(cls(pos)) {
                pos += 1;
            }
            cuts.to(pos);
            continue;
        }
        let spaces = run_len(c, pos, |ch| ch.is_whitespace());
        // `\s+(?!\S)`: a run followed by more text gives up its last space to that text.
        pos += match spaces {
            0 => 1,
            s if s > 1 && pos + s < c.len() => s - 1,
            s => s,
        };
        cuts.to(pos);
    }
}

/// Llama 3's pattern (`max_digits` 3) and Qwen 2's (1), scanned as llama.cpp's
/// `unicode_regex_split_custom_llama3`/`_qwen2` do.
pub(super) fn llama3(c: &[char], max_digits: usize, out: &mut Vec<usize>) {
    let cls = |i: usize| c.get(i).map(|&ch| class(ch));
    let is_nl = |i: usize| matches!(c.get(i), Some('\r' | '\n'));
    let mut cuts = Cuts { out, last: 0 };
    let mut pos = 0;
    while pos < c.len() {
        let ch = c[pos];
        let k = class(ch);
        let n = contraction(c, pos, true);
        if n > 0 {
            pos += n;
            cuts.to(pos);
            continue;
        }
        // `[^\r\n\p{L}\p{N}]?\p{L}+`
        if !(is_nl(pos) || k.number()) && (k.letter() || cls(pos + 1).is_some_and(|k| k.letter())) {
            pos += 1;
            while cls(pos).is_some_and(|k| k.letter()) {
                pos += 1;
            }
            cuts.to(pos);
            continue;
        }
        // `\p{N}{1,max_digits}`, repeated over a run of numbers.
        if k.number() {
            let mut group = pos;
            while cls(pos).is_some_and(|k| k.number()) {
                pos += 1;
                if pos - group >= max_digits {
                    cuts.to(pos);
                    group = pos;
                }
            }
            cuts.to(pos);
            continue;
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        let lead = usize::from(ch == ' ');
        let next = if lead == 1 { cls(pos + 1) } else { Some(k) };
        if next.is_none() || other(next) {
            pos += lead;
            while other(cls(pos)) {
                pos += 1;
            }
            while is_nl(pos) {
                pos += 1;
            }
            cuts.to(pos);
            continue;
        }
        // `\s*[\r\n]+`, `\s+(?!\S)`, `\s+`
        let spaces = run_len(c, pos, |ch| ch.is_whitespace());
        if let Some(last_nl) = (pos..pos + spaces).rev().find(|&i| is_nl(i)) {
            pos = last_nl + 1;
        } else {
            pos += match spaces {
                0 => 1,
                s if s > 1 && pos + s < c.len() => s - 1,
                s => s,
            };
        }
        cuts.to(pos);
    }
}
