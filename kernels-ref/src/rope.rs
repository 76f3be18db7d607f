//! Rotary position embedding (RoPE) in llama.cpp's two layouts, and the f64 cos/sin table the
//! kernels read: the oracle for `rope` kernels.
//!
//! Uses nothing. Invariant: every angle is `θ_i(pos) = pos · freq_scale · base^(−2i/n_rot)`
//! evaluated directly in f64 (never accumulated), and `rope` and `rope_table` share `theta`.
//!
//! Conventions (llama.cpp): `ggml_rope_ext` mode 0 is GGML_ROPE_TYPE_NORMAL (llama.cpp's
//! LLAMA_ROPE_TYPE_NORM) and rotates adjacent pairs `(x[2i], x[2i+1])`; mode 2 is
//! GGML_ROPE_TYPE_NEOX and rotates `(x[i], x[i + n_rot/2])` (ggml-cpu/ops.cpp `rotate_pairs`,
//! pair offset 1 vs n_dims/2). `llama_model_rope_type` (src/llama-model.cpp) gives NORM to
//! LLM_ARCH_LLAMA (so SmolLM2) and NEOX to QWEN2, QWEN3 and GEMMA3. Llama uses NORM because its
//! GGUF converter permutes the Q/K weight rows so that Hugging Face's `rotate_half` halves become
//! adjacent pairs; the NEOX models keep the halves. Pair `i` uses `θ_i` in both layouts.
//! Only plain RoPE is modelled: no YaRN (ext_factor = 0, attn_factor = 1), no rope_freqs.
//!
//! Note: ggml's CPU op builds angles by repeated f32 multiplication (`theta *= theta_scale`), so
//! its high-index angles carry f32 rounding that grows with `i` and `pos`; this reference is the
//! exact formula, and kiln's kernels read a table built from it (`rope_table`).

/// `θ_i(pos) = pos · freq_scale · base^(−2i/n_rot)`, the angle of rotated pair `i` (0..n_rot/2).
pub fn theta(pos: usize, i: usize, n_rot: usize, base: f64, freq_scale: f64) -> f64 {
    pos as f64 * freq_scale * base.powf(-2.0 * i as f64 / n_rot as f64)
}

/// RoPE on `x` = (n_tokens, n_heads, head_dim), token `t` at `positions[t]`. In each head, pair
/// `i < n_rot/2` is `(a, b) = (x[2i], x[2i+1])` (normal) or `(x[i], x[i + n_rot/2])` (`neox`),
/// rotated by `θ = theta(pos, i, …)`: `a' = a·cos θ − b·sin θ`, `b' = a·sin θ + b·cos θ`.
/// Dimensions `n_rot..head_dim` pass through unchanged (partial rotary).
#[allow(clippy::too_many_arguments, reason = "mirrors the kernel's parameter list one to one")]
pub fn rope(
    x: &[f64],
    n_heads: usize,
    head_dim: usize,
    positions: &[usize],
    n_rot: usize,
    base: f64,
    freq_scale: f64,
    neox: bool,
) -> Vec<f64> {
    assert!(
        n_rot.is_multiple_of(2) && n_rot <= head_dim,
        "kernels-ref: n_rot must be even and ≤ head_dim"
    );
    assert_eq!(
        x.len(),
        positions.len() * n_heads * head_dim,
        "kernels-ref: x is not tokens × heads × head_dim"
    );
    let half = n_rot / 2;
    let mut y = x.to_vec();
    for (t, &pos) in positions.iter().enumerate() {
        for h in 0..n_heads {
            let head = (t * n_heads + h) * head_dim;
            for i in 0..half {
                let (ia, ib) = if neox { (i, i + half) } else { (2 * i, 2 * i + 1) };
                let angle = theta(pos, i, n_rot, base, freq_scale);
                let (a, b) = (x[head + ia], x[head + ib]);
                y[head + ia] = a * angle.cos() - b * angle.sin();
                y[head + ib] = a * angle.sin() + b * angle.cos();
            }
        }
    }
    y
}

/// `(cos, sin)` tables of shape (max_pos, n_rot/2): `cos[pos·n_rot/2 + i] = cos θ_i(pos)` for
/// `pos` in `0..max_pos`. Built in f64 on the CPU so no kernel evaluates sin/cos of a large
/// angle (WGSL guarantees them only inside [−π, π]; kernels-brief §2.6).
pub fn rope_table(
    max_pos: usize,
    n_rot: usize,
    base: f64,
    freq_scale: f64,
) -> (Vec<f64>, Vec<f64>) {
    assert!(n_rot.is_multiple_of(2), "kernels-ref: n_rot must be even");
    let half = n_rot / 2;
    let mut cos = Vec::with_capacity(max_pos * half);
    let mut sin = Vec::with_capacity(max_pos * half);
    for pos in 0..max_pos {
        for i in 0..half {
            let angle = theta(pos, i, n_rot, base, freq_scale);
            cos.push(angle.cos());
            sin.push(angle.sin());
        }
    }
    (cos, sin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-14)
    }

    #[test]
    fn two_dims_rotate_by_a_known_angle() {
        // head_dim = n_rot = 2: θ_0 = pos · freq_scale; pos 2 · (π/6) = π/3.
        let y = rope(&[1.0, 0.0], 1, 2, &[2], 2, 10000.0, std::f64::consts::PI / 6.0, false);
        assert!(close(&y, &[0.5, 3f64.sqrt() / 2.0]), "{y:?}");
        let y = rope(&[0.0, 2.0], 1, 2, &[2], 2, 10000.0, std::f64::consts::PI / 6.0, true);
        assert!(close(&y, &[-3f64.sqrt(), 1.0]), "{y:?}");
    }

    #[test]
    fn angle_of_pair_i_uses_base_to_the_minus_2i_over_n_rot() {
        // n_rot = 4, base = 10000: θ_1 = pos · 10000^(−1/2) = pos / 100; pos 100 → 1 rad.
        assert!((theta(100, 1, 4, 10000.0, 1.0) - 1.0).abs() < 1e-15);
        assert_eq!(theta(0, 1, 4, 10000.0, 1.0), 0.0);
        assert_eq!(theta(7, 0, 4, 10000.0, 0.25), 1.75);
    }

    #[test]
    fn normal_pairs_adjacent_neox_pairs_halves() {
        // pos 100, n_rot = head_dim = 4: θ_0 = 100 rad, θ_1 = 1 rad.
        let x = [1.0, 2.0, 3.0, 4.0];
        let (c0, s0, c1, s1) = (100f64.cos(), 100f64.sin(), 1f64.cos(), 1f64.sin());
        let normal = rope(&x, 1, 4, &[100], 4, 10000.0, 1.0, false);
        let want = [c0 - 2.0 * s0, s0 + 2.0 * c0, 3.0 * c1 - 4.0 * s1, 3.0 * s1 + 4.0 * c1];
        assert!(close(&normal, &want), "{normal:?}");
        let neox = rope(&x, 1, 4, &[100], 4, 10000.0, 1.0, true);
        let want = [c0 - 3.0 * s0, 2.0 * c1 - 4.0 * s1, s0 + 3.0 * c0, 2.0 * s1 + 4.0 * c1];
        assert!(close(&neox, &want), "{neox:?}");
    }

    #[test]
    fn partial_rotary_leaves_tail_and_position_zero_is_identity() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        for neox in [false, true] {
            let y = rope(&x, 1, 6, &[3], 4, 10000.0, 1.0, neox);
            assert_eq!(y[4..], [5.0, 6.0]);
            assert_ne!(y[..4], x[..4]);
            assert_eq!(rope(&x, 1, 6, &[0], 4, 10000.0, 1.0, neox), x);
        }
    }

    #[test]
    fn each_token_uses_its_own_position_for_every_head() {
        // 2 tokens × 2 heads × 2 dims, positions [0, 1], θ = pos rad.
        let x = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0];
        let y = rope(&x, 2, 2, &[0, 1], 2, 10000.0, 1.0, false);
        let (c, s) = (1f64.cos(), 1f64.sin());
        assert!(close(&y, &[1.0, 0.0, 0.0, 1.0, c, s, -s, c]), "{y:?}");
    }

    #[test]
    fn table_matches_rope() {
        let (n_rot, base, scale) = (8, 500000.0, 0.125);
        let (cos, sin) = rope_table(5, n_rot, base, scale);
        assert_eq!(cos.len(), 5 * 4);
        let x: Vec<f64> = (0..8).map(|v| v as f64 - 3.5).collect();
        let y = rope(&x, 1, 8, &[4], n_rot, base, scale, false);
        for i in 0..4 {
            let (c, s) = (cos[4 * 4 + i], sin[4 * 4 + i]);
            assert_eq!(y[2 * i], x[2 * i] * c - x[2 * i + 1] * s);
            assert_eq!(y[2 * i + 1], x[2 * i] * s + x[2 * i + 1] * c);
        }
    }
}
