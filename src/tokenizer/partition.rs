//! Cutting input text at the special tokens it contains, before any model-specific
//! tokenization (llama.cpp's `tokenizer_st_partition`).
//!
//! May use: the sibling `vocab`. Invariant: the result equals llama.cpp's: special tokens
//! are taken longest text first, each splitting every remaining text fragment at its
//! leftmost non-overlapping occurrences; control and unknown tokens only when parsing special
//! text is on, user-defined tokens always. A trie finds which special texts occur at all, so a
//! vocabulary with thousands of special tokens (Gemma 3: 6 414) costs time only for those.

use super::vocab::{Vocab, attr};

/// A piece of the input: raw text `[start, end)` still to tokenize, or a token already known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Frag {
    Text(usize, usize),
    Token(u32),
}

/// The special tokens of a vocabulary, ready for matching.
pub(super) struct SpecialText {
    /// Special-token ids in the order they split text: longest text first, then lower id.
    /// (llama.cpp sorts by length with an unstable sort, so its order among equal lengths is
    /// unspecified; it only matters for two equal-length texts that overlap.)
    order: Vec<u32>,
    /// Position of each id in `order`, as (id, rank) sorted by id.
    rank: Vec<(u32, u32)>,
    /// Byte trie of the special texts: nodes hold (byte, child) edges and the id ending there.
    nodes: Vec<Node>,
}

#[derive(Default)]
struct Node {
    edges: Vec<(u8, u32)>,
    id: Option<u32>,
}

impl Node {
    fn child(&self, b: u8) -> Option<u32> {
        self.edges.iter().find(|e| e.0 == b).map(|e| e.1)
    }
}

impl SpecialText {
    /// Collects the control, user-defined and unknown tokens of `vocab` (attributes final).
    pub fn new(vocab: &Vocab) -> SpecialText {
        let special = attr::CONTROL | attr::USER_DEFINED | attr::UNKNOWN;
        let mut order: Vec<u32> = (0..vocab.len() as u32)
            .filter(|&id| vocab.has(id, special) && !vocab.text(id).is_empty())
            .collect();
        order.sort_by_key(|&id| (std::cmp::Reverse(vocab.text(id).len()), id));
        let mut rank: Vec<(u32, u32)> =
            order.iter().enumerate().map(|(r, &id)| (id, r as u32)).collect();
        rank.sort_unstable();
        let mut nodes = vec![Node::default()];
        for &id in &order {
            let mut at = 0usize;
            for &b in vocab.text(id) {
                at = match nodes[at].child(b) {
                    Some(c) => c as usize,
                    None => {
                        nodes.push(Node::default());
                        let c = nodes.len() - 1;
                        nodes[at].edges.push((b, c as u32));
                        c
                    }
                };
            }
            // Texts are unique in the lookup table, but two ids may share one: keep the first.
            nodes[at].id.get_or_insert(id);
        }
        SpecialText { order, rank, nodes }
    }

    /// Number of special tokens.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Splits `text` into fragments. With `parse_special` false, control and unknown tokens
    /// stay plain text (user input must not be able to forge them).
    pub fn split(&self, vocab: &Vocab, text: &[u8], parse_special: bool) -> Vec<Frag> {
        let mut frags = Vec::new();
        if text.is_empty() {
            return frags;
        }
        frags.push(Frag::Text(0, text.len()));
        let mut present = self.occurring(text);
        present.retain(|&(_, id)| parse_special || !vocab.has(id, attr::CONTROL | attr::UNKNOWN));
        for (_, id) in present {
            let needle = vocab.text(id);
            let a = vocab.attr(id);
            let mut next = Vec::with_capacity(frags.len() + 2);
            for f in frags {
                match f {
                    Frag::Token(_) => next.push(f),
                    Frag::Text(s, e) => cut(text, s, e, needle, id, a, &mut next),
                }
            }
            frags = next;
        }
        frags
    }

    /// The special tokens whose text occurs somewhere in `text`, as (rank, id) in split order.
    fn occurring(&self, text: &[u8]) -> Vec<(u32, u32)> {
        let mut found = Vec::new();
        for start in 0..text.len() {
            let mut at = 0usize;
            for &b in &text[start..] {
                match self.nodes[at].child(b) {
                    Some(c) => at = c as usize,
                    None => break,
                }
                if let Some(id) = self.nodes[at].id {
                    found.push(id);
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        let mut ranked: Vec<(u32, u32)> = found
            .into_iter()
            .filter_map(|id| {
                let i = self.rank.binary_search_by_key(&id, |&(i, _)| i).ok()?;
                Some((self.rank[i].1, id))
            })
            .collect();
        ranked.sort_unstable();
        ranked
    }
}

/// Splits `text[s..e]` at each leftmost non-overlapping occurrence of `needle`, honouring the
/// token's LSTRIP/RSTRIP (C `isspace` bytes next to it are dropped).
fn cut(text: &[u8], s: usize, e: usize, needle: &[u8], id: u32, a: u8, out: &mut Vec<Frag>) {
    let mut base = s;
    while let Some(m) = find(&text[base..e], needle) {
        let mut left_end = base + m;
        if a & attr::LSTRIP != 0 {
            while left_end > base && is_c_space(text[left_end - 1]) {
                left_end -= 1;
            }
        }
        if left_end > base {
            out.push(Frag::Text(base, left_end));
        }
        out.push(Frag::Token(id));
        base += m + needle.len();
        if a & attr::RSTRIP != 0 {
            while base < e && is_c_space(text[base]) {
                base += 1;
            }
        }
    }
    if base < e {
        out.push(Frag::Text(base, e));
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, _) = needle.split_first()?;
    let mut from = 0;
    while let Some(p) = hay[from..].iter().position(|&b| b == first) {
        let at = from + p;
        if hay[at..].starts_with(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// C's `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}
