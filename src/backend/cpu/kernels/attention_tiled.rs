//! Prefill attention (several query tokens per step) in tiles that share each key and value.
//!
//! A tile is the query heads of one KV group × a block of consecutive tokens, at most
//! [`MAX_ROWS`] (token, head) rows. It walks its visible keys in blocks: each block of K rows
//! is converted to f32 once (kv.rs `as_f32`; an f32 cache is read in place) and dotted with
//! every row of the tile, each row's online softmax (running max m, sum l, output O rescaled
//! when m rises) takes the block's scores, then the block of V rows, converted once, is
//! added into every row's O with its weights. The old per-(token, head) loop read and
//! converted every K and V row once per query row instead of once per tile. Rayon tasks are
//! (token block, KV group) pairs: token blocks in parallel, then the groups of a block split
//! recursively with `rayon::join`, so even Gemma's single KV head or a short prompt keeps
//! every thread busy. Inner loops: attention_simd.rs.
//!
//! May use: kv.rs, attention_simd.rs, rayon. Invariant: only cache rows `0..pos+n` are read,
//! and a query at position p weighs only the keys j it sees (`j ≤ p`, `p − j < W`); its
//! output is accumulated in place in `out` and a row that sees no key outputs zeros. Nothing
//! is allocated per step: the block buffers are per thread, grown once ([`with_bufs`]).

use std::cell::RefCell;
use std::ops::Range;

use rayon::prelude::*;

use super::attention::SENTINEL;
use super::attention_simd as simd;
use super::kv::KvElem;
use crate::backend::cpu::Rows;
use crate::error::{Error, Result};
use crate::graph::AttentionSpec;

/// (token, head) rows per tile: with Gemma 3's 4-head groups 12 tokens, SmolLM2's 3 heads 16.
/// Measured (1 thread, 512 tokens): 48 rows ran 4-7% faster than 32, 64 no faster than 48.
const MAX_ROWS: usize = 48;
/// Floats of one converted K or V block (32 KiB): 64 keys of 64, 32 of 256. 16 keys of 256
/// measured 4% slower on Gemma 3 (the output tile is loaded and stored once per block).
const KV_BUF: usize = 8192;
/// Keys per block at most, which bounds the score tile `(MAX_ROWS, MAX_KEYS)`.
const MAX_KEYS: usize = 64;

/// Floats of a thread's tile buffers: converted K block, converted V block, score tile.
const BUF_LEN: usize = 2 * KV_BUF + MAX_ROWS * MAX_KEYS;

thread_local! {
    /// Allocated by the thread's first tile and kept: 76 KiB, which zeroed per tile on the
    /// stack cost 2-3% at 512 tokens and would sit on every rayon stack.
    static BUFS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's (K block, V block, scores) buffers, allocating them on first use.
/// `f` must not start another tile on this thread (no rayon calls inside), since the
/// buffers are borrowed for its duration.
fn with_bufs(f: impl FnOnce(&mut [f32], &mut [f32], &mut [f32])) -> Result<()> {
    BUFS.with_borrow_mut(|b| {
        if b.len() < BUF_LEN {
            b.try_reserve_exact(BUF_LEN - b.len())
                .map_err(|_| Error::OutOfMemory(format!("{BUF_LEN} floats of attention tiles")))?;
            b.resize(BUF_LEN, 0.0);
        }
        let (k, rest) = b.split_at_mut(KV_BUF);
        let (v, s) = rest.split_at_mut(KV_BUF);
        f(k, v, s);
        Ok(())
    })
}

/// Whether [`prefill`] takes heads of `head_dim` floats (a block holds at least one key).
pub fn fits(head_dim: usize) -> bool {
    (1..=KV_BUF).contains(&head_dim)
}

/// One attention op's operands, shared by its tiles.
struct Job<'a, E> {
    q: Rows<'a>,
    k: &'a [E],
    v: &'a [E],
    spec: AttentionSpec,
    pos: usize,
    ctx: usize,
}

/// `out (n, n_heads·head_dim) = attention(q, k, v)` as attention.rs's `attention`, for
/// `fits(head_dim)`; the caller checked `pos + n ≤ ctx`.
pub fn prefill<E: KvElem>(
    q: Rows<'_>,
    k: &[E],
    v: &[E],
    spec: AttentionSpec,
    pos: u32,
    ctx: usize,
    out: &mut [f32],
) -> Result<()> {
    let (n_heads, d) = (spec.n_heads as usize, spec.head_dim as usize);
    let n_kv = spec.n_kv_heads as usize;
    if n_heads == 0 {
        return Ok(()); // `out` is empty; the graph builder checked n_kv_heads > 0
    }
    let group = n_heads / n_kv;
    let job = Job { q, k, v, spec, pos: pos as usize, ctx };
    // Enough token blocks that every thread gets several tasks (later tokens see more keys,
    // so tasks differ in cost), and no more tokens than fill a tile.
    let blocks = (4 * rayon::current_num_threads()).div_ceil(n_kv);
    let tb = q.rows.div_ceil(blocks).clamp(1, (MAX_ROWS / group).max(1));
    let width = n_heads * d;
    out.par_chunks_mut(tb * width).enumerate().try_for_each(|(b, chunk)| {
        let n_tok = chunk.len() / width;
        let mut it = chunk.chunks_exact_mut(width);
        let rows: [&mut [f32]; MAX_ROWS] = std::array::from_fn(|_| it.next().unwrap_or_default());
        job.split(b * tb, n_tok, rows, 0..n_heads)
    })
}

impl<E: KvElem> Job<'_, E> {
    fn group(&self) -> usize {
        (self.spec.n_heads / self.spec.n_kv_heads) as usize
    }

    /// Tokens `t0..t0+n_tok` × `heads`, whose output rows are `rows[t]` (`heads.len()·d`
    /// floats each): split at a group boundary, or within a group too large for one tile,
    /// until each part is a tile.
    fn split(
        &self,
        t0: usize,
        n_tok: usize,
        rows: [&mut [f32]; MAX_ROWS],
        heads: Range<usize>,
    ) -> Result<()> {
        let g = self.group();
        let (first, last) = (heads.start / g, (heads.end - 1) / g);
        let mid = if first != last {
            (first + last).div_ceil(2) * g
        } else if heads.len() * n_tok > MAX_ROWS {
            heads.start + heads.len() / 2
        } else {
            return with_bufs(|kbuf, vbuf, s| self.tile(t0, n_tok, rows, heads, [kbuf, vbuf, s]));
        };
        let at = (mid - heads.start) * self.spec.head_dim as usize;
        let mut left: [&mut [f32]; MAX_ROWS] = std::array::from_fn(|_| Default::default());
        let mut right: [&mut [f32]; MAX_ROWS] = std::array::from_fn(|_| Default::default());
        for (i, row) in rows.into_iter().take(n_tok).enumerate() {
            (left[i], right[i]) = row.split_at_mut(at);
        }
        let (a, b) = rayon::join(
            || self.split(t0, n_tok, left, heads.start..mid),
            || self.split(t0, n_tok, right, mid..heads.end),
        );
        a.and(b)
    }

    /// Index of the first key the query at position `p` sees.
    fn first_key(&self, p: usize) -> usize {
        self.spec.window.map_or(0, |w| (p + 1).saturating_sub(w as usize))
    }

    /// One tile: row `r = t·heads.len() + h` is token `t0 + t`, head `heads.start + h`;
    /// `bufs` are [`with_bufs`]' three.
    fn tile(
        &self,
        t0: usize,
        n_tok: usize,
        rows: [&mut [f32]; MAX_ROWS],
        heads: Range<usize>,
        [kbuf, vbuf, s]: [&mut [f32]; 3],
    ) {
        let (d, hl) = (self.spec.head_dim as usize, heads.len());
        let nr = n_tok * hl;
        let mut o: [&mut [f32]; MAX_ROWS] = std::array::from_fn(|_| Default::default());
        let mut q: [&[f32]; MAX_ROWS] = [&[]; MAX_ROWS];
        for (t, row) in rows.into_iter().take(n_tok).enumerate() {
            let qt = &self.q.row(t0 + t)[heads.start * d..heads.end * d];
            for (h, (oh, qh)) in row.chunks_exact_mut(d).zip(qt.chunks_exact(d)).enumerate() {
                oh.fill(0.0);
                (o[t * hl + h], q[t * hl + h]) = (oh, qh);
            }
        }
        let (o, q) = (&mut o[..nr], &q[..nr]);
        // Score rows: nr rounded up to whole vectors.
        let rs = nr.next_multiple_of(8);
        let (mut m, mut l, mut alpha) = ([SENTINEL; MAX_ROWS], [0f32; MAX_ROWS], [0f32; MAX_ROWS]);
        let (m, l, alpha) = (&mut m[..rs], &mut l[..rs], &mut alpha[..rs]);
        // Positions of the tile's first and last query.
        let (p0, p1) = (self.pos + t0, self.pos + t0 + n_tok - 1);
        let head = heads.start / self.group() * self.ctx * d;
        let kb = (KV_BUF / d).min(MAX_KEYS);
        for start in (self.first_key(p0)..=p1).step_by(kb) {
            let keys = start..(start + kb).min(p1 + 1);
            let span = head + keys.start * d..head + keys.end * d;
            let s = &mut s[..keys.len() * rs];
            simd::scores(q, E::as_f32(&self.k[span.clone()], kbuf), d, self.spec.scale, s, rs);
            if let Some(c) = self.spec.softcap {
                s.iter_mut().for_each(|x| *x = c * (*x / c).tanh());
            }
            // Some query of the tile does not see some key of the block.
            if keys.end - 1 > p0 || self.first_key(p1) > keys.start {
                for (sj, j) in s.chunks_exact_mut(rs).zip(keys.clone()) {
                    // A token's `hl` rows share its position.
                    for (x, p) in sj[..nr].chunks_exact_mut(hl).zip(p0..) {
                        if j > p || j < self.first_key(p) {
                            x.fill(f32::NEG_INFINITY);
                        }
                    }
                }
            }
            simd::softmax(s, rs, m, l, alpha);
            for (o, &a) in o.iter_mut().zip(alpha.iter()) {
                // The row's max rose: rescale what was accumulated under the old one.
                if a != 1.0 {
                    o.iter_mut().for_each(|x| *x *= a);
                }
            }
            simd::pv(o, s, rs, E::as_f32(&self.v[span], vbuf), d);
        }
        for (o, &l) in o.iter_mut().zip(l.iter()) {
            // A row with no visible key (l = 0) outputs zeros.
            let inv = if l > 0.0 { 1.0 / l } else { 0.0 };
            o.iter_mut().for_each(|x| *x *= inv);
        }
    }
}
