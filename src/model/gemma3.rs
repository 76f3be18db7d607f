//! The Gemma 3 forward pass: embeddings scaled by √dim; per layer Q/K RMSNorm, RoPE with the
//! local (sliding-window) or global base, attention, a post-attention norm before the residual
//! add, a GeGLU FFN with its own post-norm. Norm weights in Gemma GGUFs already include the
//! `+1` of Gemma's RMSNorm (llama.cpp's converter adds it), so they are used as stored.

use super::Model;
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
        let present = "invariant: gemma3 layers load every norm";

        // attention: x + post_norm(Wo · attn(rope(q_norm(Wq h)), rope(k_norm(Wk h)), Wv h))
        let norm = p(g, l.attn_norm);
        let h = g.rms_norm(x, norm, hp.rms_eps, None, &format!("blk.{il}.attn_in"));
        let (wq, wk, wv) = (p(g, l.wq), p(g, l.wk), p(g, l.wv));
        let qkv = g.matmul(&[wq, wk, wv], h, None, None, &format!("blk.{il}.qkv"));
        let q = g.view(qkv, 0..n, 0..q_dim);
        let k = g.view(qkv, 0..n, q_dim..q_dim + kv_dim);
        let v = g.view(qkv, 0..n, q_dim + kv_dim..q_dim + 2 * kv_dim);
        let (qn, kn) = (p(g, l.q_norm.expect(present)), p(g, l.k_norm.expect(present)));
        let q = g.rms_norm(q, qn, hp.rms_eps, None, &format!("blk.{il}.q_norm"));
        let k = g.rms_norm(k, kn, hp.rms_eps, None, &format!("blk.{il}.k_norm"));
        let table = p(g, l.rope_table);
        let spec = |heads: usize| RopeSpec {
            n_heads: heads as u32,
            head_dim: hp.head_dim as u32,
            n_rot: hp.n_rot as u32,
            neox: true,
        };
        let q = g.rope(q, table, spec(hp.n_heads), &format!("blk.{il}.q_rope"));
        let (kc, vc) = (p(g, l.k_cache), p(g, l.v_cache));
        let kc = g.rope_into_cache(k, table, spec(hp.n_kv_heads), kc);
        let vc = g.kv_write(vc, v);
        let attn = AttentionSpec {
            n_heads: hp.n_heads as u32,
            n_kv_heads: hp.n_kv_heads as u32,
            head_dim: hp.head_dim as u32,
            scale: hp.attn_scale,
            window: if hp.swa_layers[il] { hp.sliding_window.map(|w| w as u32) } else { None },
            softcap: None,
        };
        let a = g.attention(q, kc, vc, attn, &format!("blk.{il}.attn"));
        let wo = p(g, l.wo);
        let o = g.matmul(&[wo], a, None, None, &format!("blk.{il}.attn_out"));
        let post = p(g, l.post_attn_norm.expect(present));
        x = g.rms_norm(o, post, hp.rms_eps, Some(x), &format!("blk.{il}.attn_post"));

        // feed-forward: x + post_norm(W_down · (gelu(W_gate h) ⊙ W_up h)), h = rms_norm(x)
        let norm = p(g, l.ffn_norm);
        let h = g.rms_norm(x, norm, hp.rms_eps, None, &format!("blk.{il}.ffn_in"));
        let (gate, up, down) = (p(g, l.gate), p(g, l.up), p(g, l.down));
        let f = g.matmul_glu(gate, up, h, hp.act, &format!("blk.{il}.ffn_glu"));
        let d = g.matmul(&[down], f, None, None, &format!("blk.{il}.ffn_out"));
        let post = p(g, l.post_ffn_norm.expect(present));
        x = g.rms_norm(d, post, hp.rms_eps, Some(x), &format!("blk.{il}.ffn_post"));
    }
    x
}
