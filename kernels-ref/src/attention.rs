//! Scaled dot-product attention over a KV cache, with grouped-query heads, causal and
//! sliding-window masks and tanh soft-capping: the oracle for every attention kernel (prefill,
//! decode, split-KV + combine). It materialises all scores; there is no online softmax here.
//!
//! Uses `softmax`. Invariant: for each (token, head) the probabilities are an exact-max-shifted
//! softmax over the visible keys, computed in f64, and a row with no visible key outputs zeros.

use crate::softmax::softmax;

/// Shapes and options. `q`: (n_tokens, n_heads, head_dim); `k`, `v`: (kv_len, n_kv_heads,
/// head_dim), key `j` at position `j` (the KV cache as filled so far).
#[derive(Clone, Debug, PartialEq)]
pub struct AttentionParams {
    pub n_tokens: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub kv_len: usize,
    /// Position of each query token (length n_tokens).
    pub q_positions: Vec<usize>,
    /// Multiplies `q·k`; usually `1/sqrt(head_dim)`.
    pub scale: f64,
    /// Key `j` visible only if `j ≤ pos`.
    pub causal: bool,
    /// Window W: key `j` visible only if `pos − j < W` (LLAMA_SWA_TYPE_STANDARD).
    pub sliding_window: Option<usize>,
    /// Cap c: `s = c·tanh(s/c)` on the scaled scores, before masking.
    pub softcap: Option<f64>,
}

impl AttentionParams {
    /// The usual causal case: query `t` at position `first_pos + t`, `scale = 1/sqrt(head_dim)`,
    /// no window, no softcap.
    pub fn causal(
        n_tokens: usize,
        n_heads: usize,
        n_kv_heads: usize,
        head_dim: usize,
        kv_len: usize,
        first_pos: usize,
    ) -> Self {
        AttentionParams {
            n_tokens,
            n_heads,
            n_kv_heads,
            head_dim,
            kv_len,
            q_positions: (first_pos..first_pos + n_tokens).collect(),
            scale: 1.0 / (head_dim as f64).sqrt(),
            causal: true,
            sliding_window: None,
            softcap: None,
        }
    }
}

/// Whether a query at position `pos` sees key `j`: `j ≤ pos` if causal, and `pos − j < W` for a
/// sliding window W. The window rule is llama.cpp's `is_masked_swa` for LLAMA_SWA_TYPE_STANDARD
/// (src/llama-hparams.h: masked iff `p1 − p0 ≥ n_swa`), so with W = 512 a query sees itself and
/// the 511 keys before it.
pub fn is_visible(pos: usize, j: usize, causal: bool, sliding_window: Option<usize>) -> bool {
    let in_order = !causal || j <= pos;
    let in_window = match sliding_window {
        Some(w) => (pos as i64 - j as i64) < w as i64,
        None => true,
    };
    in_order && in_window
}

/// `out[t][h] = Σ_j p_j · v[j][kvh]` with `p = softmax_j(s_j)` over visible keys, where
/// `s_j = scale · (q[t][h] · k[j][kvh])`, then `s_j = c·tanh(s_j/c)` if softcapped, then −∞ if
/// masked; `kvh = h / (n_heads / n_kv_heads)` (grouped-query attention: consecutive query heads
/// share a KV head, as ggml broadcasts `ne[2]` in `mul_mat` / `flash_attn_ext`).
/// Output: (n_tokens, n_heads, head_dim). A query with no visible key outputs zeros.
///
/// Softcap order follows `ggml_flash_attn_ext` (ggml-cpu/ops.cpp: the scale is applied first,
/// then `c·tanh(s/c)`, then the mask). llama.cpp's non-flash path caps the unscaled `q·k` and
/// scales inside `soft_max_ext`; the two agree whenever scale = 1, which is how Gemma 2 sets it
/// (it pre-scales q).
pub fn attention(q: &[f64], k: &[f64], v: &[f64], p: AttentionParams) -> Vec<f64> {
    weighted_sum(q, k, v, &p, false)
}

/// The natural scale of each attention output: `Σ_j p_j · |v[j][kvh][d]|`, with the same `p_j`
/// as `attention`. Per-element tolerances are `rtol ×` this (kernels-brief §6.3).
pub fn attention_abs_scale(q: &[f64], k: &[f64], v: &[f64], p: AttentionParams) -> Vec<f64> {
    weighted_sum(q, k, v, &p, true)
}

/// Σ_j p_j·v_j (or p_j·|v_j| when `abs`) for every (token, head).
fn weighted_sum(q: &[f64], k: &[f64], v: &[f64], p: &AttentionParams, abs: bool) -> Vec<f64> {
    check(q, k, v, p);
    let d = p.head_dim;
    let mut out = vec![0.0; p.n_tokens * p.n_heads * d];
    for t in 0..p.n_tokens {
        for h in 0..p.n_heads {
            let kvh = h / (p.n_heads / p.n_kv_heads);
            let probs = probabilities(q, k, p, t, h, kvh);
            let o = (t * p.n_heads + h) * d;
            for (j, &pj) in probs.iter().enumerate() {
                let vj = (j * p.n_kv_heads + kvh) * d;
                for i in 0..d {
                    let value = if abs { v[vj + i].abs() } else { v[vj + i] };
                    out[o + i] += pj * value;
                }
            }
        }
    }
    out
}

/// Softmax weights of query (t, h) over the kv_len keys of KV head `kvh`; all zeros if every
/// key is masked (or the cache is empty).
fn probabilities(
    q: &[f64],
    k: &[f64],
    p: &AttentionParams,
    t: usize,
    h: usize,
    kvh: usize,
) -> Vec<f64> {
    let d = p.head_dim;
    let pos = p.q_positions[t];
    let qi = (t * p.n_heads + h) * d;
    let mut scores = vec![f64::NEG_INFINITY; p.kv_len];
    for (j, s) in scores.iter_mut().enumerate() {
        let kj = (j * p.n_kv_heads + kvh) * d;
        let mut dot = 0.0;
        for i in 0..d {
            dot += q[qi + i] * k[kj + i];
        }
        let mut score = p.scale * dot;
        if let Some(c) = p.softcap {
            score = c * (score / c).tanh();
        }
        if is_visible(pos, j, p.causal, p.sliding_window) {
            *s = score;
        }
    }
    if p.kv_len == 0 { scores } else { softmax(&scores, p.kv_len) }
}

fn check(q: &[f64], k: &[f64], v: &[f64], p: &AttentionParams) {
    assert!(
        p.n_kv_heads > 0 && p.n_heads.is_multiple_of(p.n_kv_heads),
        "kernels-ref: n_heads must be a multiple of n_kv_heads"
    );
    assert_eq!(p.q_positions.len(), p.n_tokens, "kernels-ref: one q position per token");
    assert_eq!(
        q.len(),
        p.n_tokens * p.n_heads * p.head_dim,
        "kernels-ref: q is not n_tokens × n_heads × head_dim"
    );
    let kv = p.kv_len * p.n_kv_heads * p.head_dim;
    assert_eq!(k.len(), kv, "kernels-ref: k is not kv_len × n_kv_heads × head_dim");
    assert_eq!(v.len(), kv, "kernels-ref: v is not kv_len × n_kv_heads × head_dim");
    if let Some(c) = p.softcap {
        assert!(c > 0.0, "kernels-ref: softcap needs c > 0");
    }
}

#[cfg(test)]
mod tests {
    // Hand-computed cases for `attention`: a single key, uniform scores, masks (causal, sliding
    // window edge, fully masked), grouped-query head mapping, soft-capping and huge scores.
    use super::*;

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-14)
    }

    /// One head, head_dim 2, kv_len keys, one query at `pos`.
    fn one_head(kv_len: usize, pos: usize) -> AttentionParams {
        AttentionParams { q_positions: vec![pos], ..AttentionParams::causal(1, 1, 1, 2, kv_len, 0) }
    }

    /// v_j = [j, 10·j] for keys 0..n (one KV head, head_dim 2).
    fn ramp_v(n: usize) -> Vec<f64> {
        (0..n).flat_map(|j| [j as f64, 10.0 * j as f64]).collect()
    }

    #[test]
    fn single_key_returns_its_value() {
        let out = attention(&[0.3, -2.0], &[5.0, 7.0], &[1.5, -4.0], one_head(1, 0));
        assert_eq!(out, [1.5, -4.0]);
    }

    #[test]
    fn uniform_scores_average_the_visible_values() {
        // q = 0 → every score 0; pos 2 sees keys 0..=2 of 4: mean of v0, v1, v2 = [1, 10].
        let out = attention(&[0.0, 0.0], &[1.0; 8], &ramp_v(4), one_head(4, 2));
        assert!(close(&out, &[1.0, 10.0]), "{out:?}");
        // Non-causal: all four keys, mean [1.5, 15].
        let p = AttentionParams { causal: false, ..one_head(4, 2) };
        assert!(close(&attention(&[0.0, 0.0], &[1.0; 8], &ramp_v(4), p), &[1.5, 15.0]));
    }

    #[test]
    fn scores_by_hand() {
        // q = [1, 1], k0 = [1, 0], k1 = [0, 2], scale 0.5 → s = [0.5, 1.0]; v0 = e0, v1 = e1.
        let p = AttentionParams { scale: 0.5, ..one_head(2, 1) };
        let out = attention(&[1.0, 1.0], &[1.0, 0.0, 0.0, 2.0], &[1.0, 0.0, 0.0, 1.0], p);
        let p0 = 1.0 / (1.0 + 0.5f64.exp());
        assert!(close(&out, &[p0, 1.0 - p0]), "{out:?}");
    }

    #[test]
    fn causal_query_at_position_zero_sees_only_key_zero() {
        let out = attention(&[3.0, 3.0], &[0.0, 0.0, 9.0, 9.0], &ramp_v(2), one_head(2, 0));
        assert_eq!(out, [0.0, 0.0]);
        let out = attention(&[3.0, 3.0], &[0.0, 0.0, 9.0, 9.0], &ramp_v(2), one_head(2, 1));
        assert!(out[0] > 0.99, "{out:?}"); // key 1 wins by score 54/√2
    }

    #[test]
    fn sliding_window_edge() {
        // W = 3, pos 5: pos − j = 2 = W − 1 is visible (j = 3), pos − j = 3 = W is masked (j = 2).
        assert!(is_visible(5, 3, true, Some(3)));
        assert!(!is_visible(5, 2, true, Some(3)));
        assert!(is_visible(5, 5, true, Some(3)) && !is_visible(5, 6, true, Some(3)));
        // Non-causal: keys after the query pass the window (pos − j < 0 < W).
        assert!(is_visible(5, 6, false, Some(3)));
        let p = AttentionParams { sliding_window: Some(3), ..one_head(6, 5) };
        let out = attention(&[0.0, 0.0], &[1.0; 12], &ramp_v(6), p);
        assert!(close(&out, &[4.0, 40.0]), "{out:?}"); // mean of v3, v4, v5
    }

    #[test]
    fn fully_masked_row_gives_zeros() {
        // W = 2, pos 5, keys 0 and 1 only: 5 − 1 = 4 ≥ 2, nothing visible.
        let p = AttentionParams { sliding_window: Some(2), ..one_head(2, 5) };
        assert_eq!(attention(&[1.0, 1.0], &[1.0; 4], &[7.0; 4], p.clone()), [0.0, 0.0]);
        assert_eq!(attention_abs_scale(&[1.0, 1.0], &[1.0; 4], &[7.0; 4], p), [0.0, 0.0]);
        // An empty cache is fully masked too.
        assert_eq!(attention(&[1.0, 1.0], &[], &[], one_head(0, 0)), [0.0, 0.0]);
    }

    #[test]
    fn grouped_query_heads_share_kv_heads_in_runs() {
        // 4 query heads, 2 KV heads, one key: heads 0, 1 read KV head 0; heads 2, 3 read KV head 1.
        let p = AttentionParams::causal(1, 4, 2, 2, 1, 0);
        let q = [1.0; 8];
        let (k, v) = ([1.0; 4], [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(attention(&q, &k, &v, p), [1.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 4.0]);
    }

    #[test]
    fn tokens_use_their_own_positions() {
        // Two tokens at positions 0 and 1 (first_pos 0), q = 0: token 0 sees v0, token 1 averages.
        let p = AttentionParams::causal(2, 1, 1, 2, 2, 0);
        let out = attention(&[0.0; 4], &[1.0; 4], &ramp_v(2), p);
        assert!(close(&out, &[0.0, 0.0, 0.5, 5.0]), "{out:?}");
    }

    #[test]
    fn softcap_bounds_the_scores() {
        // head_dim 1, q = 1, k = [100, 0], scale 1: uncapped p0 = 1/(1+e^−100) ≈ 1; with c = 10,
        // s0 = 10·tanh(10) and p0 = 1/(1 + e^−s0).
        let base = AttentionParams { scale: 1.0, ..AttentionParams::causal(1, 1, 1, 1, 2, 1) };
        let (q, k, v) = ([1.0], [100.0, 0.0], [1.0, 0.0]);
        assert_eq!(attention(&q, &k, &v, base.clone()), [1.0]);
        let capped = attention(&q, &k, &v, AttentionParams { softcap: Some(10.0), ..base });
        let want = 1.0 / (1.0 + (-10.0 * 10f64.tanh()).exp());
        assert!((capped[0] - want).abs() < 1e-15, "{capped:?} vs {want}");
    }

    #[test]
    fn huge_scores_do_not_overflow() {
        // Scores ±1e4: max-subtraction keeps exp finite; the larger key takes all the weight.
        let p = AttentionParams { scale: 1.0, ..AttentionParams::causal(1, 1, 1, 1, 2, 1) };
        let out = attention(&[1e2], &[1e2, -1e2], &[3.0, -5.0], p.clone());
        assert_eq!(out, [3.0]);
        assert_eq!(attention_abs_scale(&[1e2], &[-1e2, 1e2], &[3.0, -5.0], p), [5.0]);
    }
}
