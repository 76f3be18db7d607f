//! The llama-family forward pass (llama, mistral, qwen2, qwen3), read top to bottom like
//! llama2.c's `forward()`: embedding, then per layer attention and a gated FFN with residuals.

use super::{Model, hparams::Arch};
use crate::graph::{AttentionSpec, GraphBuilder, RopeSpec, TensorId};

/// Embeds `tokens` and runs every layer; returns the residual stream `(n, dim)`.
pub fn layers(m: &Model, g: &mut GraphBuilder<'_>, tokens: TensorId) -> TensorId {
    let hp = &m.hp;
    let n = g.shape(tokens).n_elements();
    let (q_dim, kv_dim) = (hp.q_dim(), hp.kv_dim());
    let embd = g.param(m.tok_embd);
    let mut x = g.get_rows(embd, tokens, hp.embed_scale, "embd");
    for (il, l) in m.layers.iter().enumerate() {
        g.set_layer(Some(il as u32));
        let p = |g: &mut GraphBuilder<'_>, id| g.param(id);

        // attention: x + Wo · attn(rope(Wq h), rope(Wk h), Wv h), h = rms_norm(x)
        let norm = p(g, l.attn_norm);
        let h = g.rms_norm(x, norm, hp.rms_eps, None, &format!("blk.{il}.attn_in"));
        let (wq, wk, wv) = (p(g, l.wq), p(g, l.wk), p(g, l.wv));
        let bias = l.qkv_bias.map(|b| p(g, b));
        let qkv = g.matmul(&[wq, wk, wv], h, bias, None, &format!("blk.{il}.qkv"));
        let mut q = g.view(qkv, 0..n, 0..q_dim);
        let mut k = g.view(qkv, 0..n, q_dim..q_dim + kv_dim);
        let v = g.view(qkv, 0..n, q_dim + kv_dim..q_dim + 2 * kv_dim);
        if hp.arch == Arch::Qwen3 {
            let (qn, kn) = (
                p(g, l.q_norm.expect("qwen3 has q_norm")),
                p(g, l.k_norm.expect("qwen3 has k_norm")),
            );
            q = g.rms_norm(q, qn, hp.rms_eps, None, &format!("blk.{il}.q_norm"));
            k = g.rms_norm(k, kn, hp.rms_eps, None, &format!("blk.{il}.k_norm"));
        }
        let table = p(g, l.rope_table);
        let spec = |heads: usize| RopeSpec {
            n_heads: heads as u32,
            head_dim: hp.head_dim as u32,
            n_rot: hp.n_rot as u32,
            neox: hp.rope_neox,
        };
        let q = g.rope(q, table, spec(hp.n_heads), &format!("blk.{il}.q_rope"));
        let kc = p(g, l.k_cache);
        let vc = p(g, l.v_cache);
        let kc = g.rope_into_cache(k, table, spec(hp.n_kv_heads), kc);
        let vc = g.kv_write(vc, v);
        let attn = AttentionSpec {
            n_heads: hp.n_heads as u32,
            n_kv_heads: hp.n_kv_heads as u32,
            head_dim: hp.head_dim as u32,
            scale: hp.attn_scale,
            window: None,
            softcap: None,
        };
        let a = g.attention(q, kc, vc, attn, &format!("blk.{il}.attn"));
        let wo = p(g, l.wo);
        x = g.matmul(&[wo], a, None, Some(x), &format!("blk.{il}.attn_out"));

        // feed-forward: x + W_down · (silu(W_gate h) ⊙ W_up h), h = rms_norm(x)
        let norm = p(g, l.ffn_norm);
        let h = g.rms_norm(x, norm, hp.rms_eps, None, &format!("blk.{il}.ffn_in"));
        let (gate, up, down) = (p(g, l.gate), p(g, l.up), p(g, l.down));
        let f = g.matmul_glu(gate, up, h, hp.act, &format!("blk.{il}.ffn_glu"));
        x = g.matmul(&[down], f, None, Some(x), &format!("blk.{il}.ffn_out"));
    }
    x
}
