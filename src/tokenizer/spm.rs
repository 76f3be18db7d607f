//! SentencePiece BPE (the `llama` tokenizer model): merging by token score with byte fallback.
//!
//! May use: `error`, the siblings `vocab` and `unicode`. Invariant: merging follows llama.cpp's
//! `llm_tokenizer_spm_session`: spaces become U+2581 (▁), the text starts as one symbol per
//! UTF-8 character, and the adjacent pair whose concatenation is the highest-scoring token is
//! merged first (ties: leftmost), through a priority queue (O(n log n)). A final symbol that
//! is not a token becomes its `<0xHH>` byte tokens; a missing byte token is an error.

use std::collections::BinaryHeap;

use super::unicode::utf8_len;
use super::vocab::{Vocab, tok_err};
use crate::error::Result;

/// The SentencePiece space marker, U+2581, in UTF-8.
pub(super) const SPACE_MARK: &[u8] = "\u{2581}".as_bytes();

#[derive(Clone, Copy)]
struct Sym {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A candidate merge; the heap pops the highest score, then the leftmost. Scores are never
/// NaN (checked at load), so `partial_cmp` is total; -0.0 and 0.0 tie, as with C++'s `<`.
struct Pair {
    score: f32,
    left: usize,
    right: usize,
    size: usize,
}

impl PartialEq for Pair {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o).is_eq()
    }
}

impl Eq for Pair {}

impl Ord for Pair {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        let by_score = self.score.partial_cmp(&o.score).unwrap_or(std::cmp::Ordering::Equal);
        by_score.then(o.left.cmp(&self.left))
    }
}

impl PartialOrd for Pair {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

/// Replaces every ASCII space with ▁ (llama.cpp's `llama_escape_whitespace`).
pub(super) fn escape_spaces(text: &[u8], out: &mut Vec<u8>) {
    for &b in text {
        if b == b' ' {
            out.extend_from_slice(SPACE_MARK);
        } else {
            out.push(b);
        }
    }
}

/// Tokenizes `text` (already escaped) into `out`.
pub(super) fn encode(vocab: &Vocab, text: &[u8], out: &mut Vec<u32>) -> Result<()> {
    let mut syms: Vec<Sym> = Vec::new();
    let mut at = 0;
    while at < text.len() {
        let len = utf8_len(text[at]).min(text.len() - at);
        let i = syms.len();
        let next = (at + len < text.len()).then_some(i + 1);
        syms.push(Sym { start: at, len, prev: i.checked_sub(1), next });
        at += len;
    }
    let mut heap = BinaryHeap::new();
    let push = |heap: &mut BinaryHeap<Pair>, syms: &[Sym], l: Option<usize>, r: Option<usize>| {
        let (Some(l), Some(r)) = (l, r) else { return };
        let size = syms[l].len + syms[r].len;
        if let Some(id) = vocab.id(&text[syms[l].start..syms[l].start + size]) {
            heap.push(Pair { score: vocab.scores[id as usize], left: l, right: r, size });
        }
    };
    for i in 1..syms.len() {
        push(&mut heap, &syms, Some(i - 1), Some(i));
    }
    while let Some(p) = heap.pop() {
        let (l, r) = (syms[p.left], syms[p.right]);
        // Stale: one side was merged away or grew since this pair was queued.
        if l.len == 0 || r.len == 0 || l.len + r.len != p.size {
            continue;
        }
        syms[p.left].len = p.size;
        syms[p.left].next = r.next;
        syms[p.right].len = 0;
        if let Some(n) = r.next {
            syms[n].prev = Some(p.left);
        }
        push(&mut heap, &syms, l.prev, Some(p.left));
        push(&mut heap, &syms, Some(p.left), r.next);
    }
    for s in syms.iter().filter(|s| s.len > 0) {
        let piece = &text[s.start..s.start + s.len];
        if let Some(id) = vocab.id(piece) {
            out.push(id);
            continue;
        }
        for &b in piece {
            let id = vocab.byte_token(b).ok_or_else(|| {
                tok_err(format!("byte token <0x{b:02X}> is not in the vocabulary"))
            })?;
            out.push(id);
        }
    }
    Ok(())
}
