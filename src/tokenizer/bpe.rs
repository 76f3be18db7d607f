//! Byte-level BPE (GPT-2 style): the merge table from `tokenizer.ggml.merges` and the merging
//! of one pre-tokenized word.
//!
//! May use: `gguf`, `error`, the siblings `vocab` and `unicode`. Invariant: merging follows
//! llama.cpp's `llm_tokenizer_bpe_session`: the adjacent pair with the lowest merge rank is
//! merged first, ties going to the leftmost pair; a priority queue keeps this O(n log n) per
//! word. A final symbol that is not a token falls back to its single-byte tokens, and a byte
//! without one is dropped, as in llama.cpp.

use std::collections::{BinaryHeap, HashMap};

use super::unicode::utf8_len;
use super::vocab::{Vocab, tok_err};
use crate::error::Result;
use crate::gguf::GgufFile;

const KEY_MERGES: &str = "tokenizer.ggml.merges";

/// The merge table. Merge halves are interned, so a pair lookup hashes two integers.
pub(super) struct Merges {
    /// Every distinct left or right half of a merge, numbered.
    halves: HashMap<Box<[u8]>, u32>,
    /// (left half, right half) to rank (the merge's index; the first of repeated pairs wins).
    ranks: HashMap<(u32, u32), u32>,
}

impl Merges {
    /// Reads `tokenizer.ggml.merges`: strings "left right", split at the first space after
    /// the first byte (so a half may start with a space, never contain one later).
    pub fn load(g: &GgufFile) -> Result<Merges> {
        if g.get(KEY_MERGES).is_none() {
            return Err(tok_err(format!("cannot find the BPE merges ({KEY_MERGES})")));
        }
        let merges = g.get_string_array(KEY_MERGES)?;
        if merges.len() > i32::MAX as usize {
            return Err(tok_err(format!("{KEY_MERGES} holds {} merges", merges.len())));
        }
        let mut halves: HashMap<Box<[u8]>, u32> = HashMap::new();
        let mut ranks = HashMap::with_capacity(merges.len());
        for (rank, m) in merges.iter().enumerate() {
            let Some(sp) = m.iter().skip(1).position(|&b| b == b' ').map(|p| p + 1) else {
                let shown = String::from_utf8_lossy(m);
                return Err(tok_err(format!("{KEY_MERGES}[{rank}] = {shown:?} has no space")));
            };
            let mut intern = |h: &[u8]| {
                let next = halves.len() as u32;
                *halves.entry(h.into()).or_insert(next)
            };
            let pair = (intern(&m[..sp]), intern(&m[sp + 1..]));
            ranks.entry(pair).or_insert(rank as u32);
        }
        Ok(Merges { halves, ranks })
    }

    pub fn len(&self) -> usize {
        self.ranks.len()
    }

    fn half(&self, text: &[u8]) -> Option<u32> {
        self.halves.get(text).copied()
    }
}

/// One symbol of a word being merged: `word[start..start + len]`, in a linked list.
#[derive(Clone, Copy)]
struct Sym {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
    half: Option<u32>,
}

/// A candidate merge; the heap pops the lowest rank, then the leftmost.
#[derive(PartialEq, Eq)]
struct Pair {
    rank: u32,
    left: usize,
    right: usize,
    size: usize,
}

impl Ord for Pair {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        o.rank.cmp(&self.rank).then(o.left.cmp(&self.left))
    }
}

impl PartialOrd for Pair {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

/// Tokenizes one GPT-2-byte-encoded word into `out`.
pub(super) fn encode_word(
    vocab: &Vocab,
    merges: &Merges,
    ignore_merges: bool,
    word: &[u8],
    out: &mut Vec<u32>,
) {
    if ignore_merges && let Some(id) = vocab.id(word) {
        out.push(id);
        return;
    }
    let mut syms: Vec<Sym> = Vec::new();
    let mut at = 0;
    while at < word.len() {
        let len = utf8_len(word[at]).min(word.len() - at);
        let i = syms.len();
        let next = (at + len < word.len()).then_some(i + 1);
        let half = merges.half(&word[at..at + len]);
        syms.push(Sym { start: at, len, prev: i.checked_sub(1), next, half });
        at += len;
    }
    let mut heap = BinaryHeap::new();
    let push = |heap: &mut BinaryHeap<Pair>, syms: &[Sym], l: Option<usize>, r: Option<usize>| {
        let (Some(l), Some(r)) = (l, r) else { return };
        let (Some(a), Some(b)) = (syms[l].half, syms[r].half) else { return };
        if let Some(&rank) = merges.ranks.get(&(a, b)) {
            heap.push(Pair { rank, left: l, right: r, size: syms[l].len + syms[r].len });
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
        let merged = Sym {
            len: p.size,
            next: r.next,
            half: merges.half(&word[l.start..l.start + p.size]),
            ..l
        };
        syms[p.left] = merged;
        syms[p.right].len = 0;
        if let Some(n) = r.next {
            syms[n].prev = Some(p.left);
        }
        push(&mut heap, &syms, merged.prev, Some(p.left));
        push(&mut heap, &syms, Some(p.left), merged.next);
    }
    for s in syms.iter().filter(|s| s.len > 0) {
        let text = &word[s.start..s.start + s.len];
        match vocab.id(text) {
            Some(id) => out.push(id),
            None => out.extend(text.iter().filter_map(|&b| vocab.id(&[b]))),
        }
    }
}
