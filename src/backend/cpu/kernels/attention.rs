//! Causal grouped-query attention over a KV cache, with optional sliding window and soft-capping.
//!
//! Parallel over (token, query head); each task streams the visible keys once with an online
//! softmax (running max m, sum l, output O rescaled when m grows), accumulating in f32 directly
//! in its output row, so nothing is allocated per step. Invariant: only cache rows `0..pos+n`
//! are read, and of those only the keys the query sees (`j ≤ p`, `p − j < W`).

use rayon::prelude::*;

use super::kv::KvElem;
use super::rope::check_ctx;
use crate::backend::cpu::Rows;
use crate::error::Result;
use crate::graph::AttentionSpec;

/// Lower bound of the running max: finite, so `m − s` never becomes `inf − inf`.
const SENTINEL: f32 = f32::MIN;

/// `Σ a_i·b_i` in f32 with eight independent partial sums (vectorisable; error ≈ (d/8 + 3)·u).
#[inline]
fn dot<E: KvElem>(a: &[f32], b: &[E]) -> f32 {
    let mut acc = [0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ac.remainder().iter().zip(bc.remainder()).map(|(x, y)| x * y.load()).sum();
    for (x, y) in ac.zip(bc) {
        for l in 0..8 {
            acc[l] += x[l] * y[l].load();
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

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
    let group = n_heads / spec.n_kv_heads as usize;
    out.par_chunks_mut(d.max(1)).enumerate().for_each(|(i, o)| {
        let (t, h) = (i / n_heads, i % n_heads);
        let p = pos as usize + t;
        let lo = spec.window.map_or(0, |w| (p + 1).saturating_sub(w as usize));
        let qh = &q.row(t)[h * d..(h + 1) * d];
        let head = (h / group) * ctx * d;
        let (mut m, mut l) = (SENTINEL, 0f32);
        o.fill(0.0);
        for j in lo..=p {
            let row = head + j * d;
            let mut s = spec.scale * dot(qh, &k[row..row + d]);
            if let Some(c) = spec.softcap {
                s = c * (s / c).tanh();
            }
            let vj = &v[row..row + d];
            if s > m {
                // New maximum: rescale what was accumulated under the old one.
                let c = (m - s).exp();
                l = l * c + 1.0;
                o.iter_mut().zip(vj).for_each(|(x, y)| *x = *x * c + y.load());
                m = s;
            } else {
                let w = (s - m).exp();
                l += w;
                o.iter_mut().zip(vj).for_each(|(x, y)| *x += w * y.load());
            }
        }
        // A row with no visible key (l = 0) outputs zeros.
        let inv = if l > 0.0 { 1.0 / l } else { 0.0 };
        o.iter_mut().for_each(|x| *x *= inv);
    });
    Ok(())
}
