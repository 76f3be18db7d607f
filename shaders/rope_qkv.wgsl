// rope_qkv: for every token t (position pos + t) and head of one attention layer's Q, K, V:
//   q_out[t][h] = RoPE(N_q(q[t][h]), pos + t)           (n_heads Q heads)
//   cache_k[h][pos + t] = RoPE(N_k(k[t][h]), pos + t)    (n_kv_heads K heads)
//   cache_v[h][pos + t] = v[t][h]
// where N is the optional per-head RMSNorm × weight, x / sqrt(mean(x²) + eps) · w (Gemma 3,
// Qwen 3 QK-norm), and caches store kv_t (f16 or f32 by tier). One dispatch instead of up to
// five (two rms_norm, rope, rope_cache, kv_write): the wgpu backend fuses those graph nodes
// when it prepares a graph (src/backend/wgpu/fuse.rs); the graph keeps its simple ops.
// Layout: one workgroup per (token, unit), units = the Q heads then the KV heads (a KV
// workgroup writes K and V of its head). Lanes stride the head's elements for the norm (the
// same lanes, order and reduce_sum as rms_norm.wgsl at the same WG, so the sums match it
// bit for bit) and its slots for RoPE (common/rope_pair.wgsl). Tokens at positions ≥ ctx
// write no cache rows.
// Reference: kernels-ref norm::rms_norm then rope::rope. Rust: src/backend/wgpu/kernels/rope_qkv.rs.

struct Params {
    n_tokens: u32,
    n_heads: u32,     // Q heads
    n_kv_heads: u32,  // K and V heads
    head_dim: u32,
    n_rot: u32,
    neox: u32,        // 1: NEOX pairing
    max_pos: u32,     // rows of the table
    ctx: u32,         // positions per cache head
    q_off: u32,       // q, k, v: (n_tokens, heads·head_dim) in the arena, rows *_stride apart
    q_stride: u32,
    k_off: u32,
    k_stride: u32,
    v_off: u32,
    v_stride: u32,
    y_off: u32,       // q_out: (n_tokens, n_heads·head_dim), rows y_stride apart
    y_stride: u32,
    norm: u32,        // bit 0: Q heads are RMS-normed by qn, bit 1: K heads by kn
    q_eps: f32,
    k_eps: f32,
    _pad0: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> act: array<f32>;      // activation arena
@group(0) @binding(5) var<storage, read_write> cache_k: array<kv_t>; // (n_kv_heads, ctx, head_dim)
@group(0) @binding(6) var<storage, read_write> cache_v: array<kv_t>; // (n_kv_heads, ctx, head_dim)
@group(0) @binding(7) var<storage, read> qn: array<f32>;             // (head_dim) when norm & 1
@group(0) @binding(8) var<storage, read> kn: array<f32>;             // (head_dim) when norm & 2

// Element i of the head at x0, normed when `on` (scale = 1/rms) by the Q or K weight:
// x·scale·w in rms_norm.wgsl's order.
fn head_value(x0: u32, i: u32, is_q: bool, on: bool, scale: f32) -> f32 {
    let v = act[x0 + i];
    if !on {
        return v;
    }
    if is_q {
        return v * scale * qn[i];
    }
    return v * scale * kn[i];
}

@compute @workgroup_size(WG)
fn main(lane: Lane) {
    let units = p.n_heads + p.n_kv_heads;
    let wg = linear_wg(lane);
    if wg >= p.n_tokens * units {
        return; // uniform per workgroup: no reduction is skipped by part of a workgroup
    }
    let t = wg / units;
    let u = wg % units;
    let is_q = u < p.n_heads;
    let h = select(u - p.n_heads, u, is_q);
    let hd = p.head_dim;
    let x0 = select(p.k_off + t * p.k_stride, p.q_off + t * p.q_stride, is_q) + h * hd;
    let on = (p.norm & select(2u, 1u, is_q)) != 0u;
    var scale = 1.0;
    if on {
        var ss = 0.0;
        for (var c = lane.lid; c < hd; c += WG) {
            let v = act[x0 + c];
            ss += v * v;
        }
        let total = reduce_sum(lane, ss);
        scale = inverseSqrt(total / f32(hd) + select(p.k_eps, p.q_eps, is_q));
    }
    let pos = step.pos + t;
    let in_cache = pos < p.ctx;
    let y0 = p.y_off + t * p.y_stride + h * hd;
    let row = (h * p.ctx + pos) * hd; // cache row of a KV unit (used only when in_cache)
    for (var slot = lane.lid; slot < (hd + 1u) / 2u; slot += WG) {
        let ii = rope_pair_index(slot, p.n_rot, p.neox == 1u);
        let has1 = ii.y < hd;
        let a = head_value(x0, ii.x, is_q, on, scale);
        var b = 0.0;
        if has1 {
            b = head_value(x0, ii.y, is_q, on, scale);
        }
        let v = rope_pair(a, b, pos, slot, p.n_rot, p.max_pos);
        if is_q {
            act[y0 + ii.x] = v.x;
            if has1 {
                act[y0 + ii.y] = v.y;
            }
        } else if in_cache {
            cache_k[row + ii.x] = kv_store(v.x);
            if has1 {
                cache_k[row + ii.y] = kv_store(v.y);
            }
        }
    }
    if !is_q && in_cache {
        let v0 = p.v_off + t * p.v_stride + h * hd;
        for (var c = lane.lid; c < hd; c += WG) {
            cache_v[row + c] = kv_store(act[v0 + c]);
        }
    }
}
