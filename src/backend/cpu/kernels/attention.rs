//! Causal grouped-query attention over a KV cache, with optional sliding window and soft-capping.
//!
//! Prefill (n > 1 tokens) goes to attention_tiled.rs, which shares each converted key and
//! value among a tile of queries. Decode (one token) stays here, parallel over query heads:
//! each task streams the visible keys once with an online softmax over chunks of [`CHUNK`]
//! keys (scores of a chunk, then running max m, sum l and output O rescaled once if the chunk
//! raised m), accumulating in f32 directly in its output row, so nothing is allocated per
//! step. The q·k dots and the weighted V sums are the cache element's own ([`KvElem::dot`],
//! [`KvElem::axpy`]: F16C for f16 caches). Invariant: only cache rows `0..pos+n` are read,
//! and of those only the keys the query sees (`j ≤ p`, `p − j < W`).

use rayon::prelude::*;

use super::attention_tiled;
use super::kv::KvElem;
use super::rope::check_ctx;
use crate::backend::cpu::Rows;
use crate::error::Result;
use crate::graph::AttentionSpec;

/// Lower bound of the running max: finite, so `m − s` never becomes `inf − inf`.
pub(super) const SENTINEL: f32 = f32::MIN;

/// Keys scored per online-softmax update: the running max and sum are rescaled at most once per
/// chunk instead of once per key, and the scores live on the stack.
const CHUNK: usize = 64;

/// `out (n, n_heads·head_dim) = attention(q, k, v)` for queries at positions `pos..pos+n` over
/// caches `(n_kv_heads, ctx, head_dim)`.
pub fn attention<E: KvElem>(
    q: Rows<'_>,
    k: &[E],
    v: &[E],
    spec: AttentionSpec,
    pos: u32,
    ctx: usize,
    out: &mut [f32],
) -> Result<()> {
    check_ctx(pos, q.rows, ctx)?;
    let (n_heads, d) = (spec.n_heads as usize, spec.head_dim as usize);
    if q.rows > 1 && attention_tiled::fits(d) {
        return attention_tiled::prefill(q, k, v, spec, pos, ctx, out);
    }
    let group = n_heads / spec.n_kv_heads as usize;
    out.par_chunks_mut(d.max(1)).enumerate().for_each(|(i, o)| {
        let (t, h) = (i / n_heads, i % n_heads);
        let p = pos as usize + t;
        let lo = spec.window.map_or(0, |w| (p + 1).saturating_sub(w as usize));
        let qh = &q.row(t)[h * d..(h + 1) * d];
        let head = (h / group) * ctx * d;
        let (mut m, mut l) = (SENTINEL, 0f32);
        let mut scores = [0f32; CHUNK];
        o.fill(0.0);
        for start in (lo..=p).step_by(CHUNK) {
            let keys = start..(start + CHUNK).min(p + 1);
            let s = &mut scores[..keys.len()];
            for (s, j) in s.iter_mut().zip(keys.clone()) {
                let row = head + j * d;
                *s = spec.scale * E::dot(qh, &k[row..row + d]);
                if let Some(c) = spec.softcap {
                    *s = c * (*s / c).tanh();
                }
            }
            let chunk_max = s.iter().fold(SENTINEL, |a, &b| a.max(b));
            if chunk_max > m {
                // New maximum: rescale what was accumulated under the old one.
                let c = (m - chunk_max).exp();
                l *= c;
                o.iter_mut().for_each(|x| *x *= c);
                m = chunk_max;
            }
            for (&s, j) in s.iter().zip(keys) {
                let w = (s - m).exp();
                l += w;
                let row = head + j * d;
                E::axpy(o, w, &v[row..row + d]);
            }
        }
        // A row with no visible key (l = 0) outputs zeros.
        let inv = if l > 0.0 { 1.0 / l } else { 0.0 };
        o.iter_mut().for_each(|x| *x *= inv);
    });
    Ok(())
}
