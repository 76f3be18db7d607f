// attention_combine: o = Σ_s e^(m_s − M)·O_s / Σ_s e^(m_s − M)·l_s with M = max_s m_s, merging
// the per-split partials (m_s, l_s, O_s) of attention.wgsl (flash decoding); a row whose l sum
// is 0 saw no key and outputs zeros. Splits with no visible key carry m = −3e38, l = 0, O = 0,
// so their weight is exp(−3e38 − M) = 0, or they add nothing when every split is empty.
// Layout: one workgroup per (row, KV head), invocations stride the head's D outputs; each
// recomputes M and the weights (at most max_splits of them). Runs only when there are ≥ 2
// splits; the split count is derived from step.pos exactly as in attention.wgsl.
// Reference: kernels-ref/src/attention.rs (attention). Rust: src/backend/wgpu/kernels/attention.rs.

struct Params {
    n_tokens: u32,
    n_kv_heads: u32,
    group: u32,
    head_dim: u32,
    rows: u32,        // R of attention.wgsl: n_tokens · group (a single row tile)
    ctx: u32,
    window: u32,
    o_off: u32,       // o: (n_tokens, n_heads·D), contiguous
    max_splits: u32,
    split_block: u32,
    _pad0: u32,
    _pad1: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> act: array<f32>;   // activation arena
@group(0) @binding(6) var<storage, read_write> part: array<f32>;  // partials, as in attention.wgsl

@compute @workgroup_size(WG)
fn main(lane: Lane) {
    let r = lane.wg.x;
    let kvh = lane.wg.y;
    let pos = step.pos;
    let lo = window_lo(pos, p.window);
    let hi = min(pos + p.n_tokens, p.ctx);
    if hi <= lo {
        return;
    }
    let n_split = attn_splits(hi - lo, p.split_block, p.max_splits).x;
    let base = kvh * p.max_splits * p.rows + r;    // partial index of split 0
    let mb = p.n_kv_heads * p.max_splits * p.rows * p.head_dim;
    var m = part[mb + 2u * base];
    for (var s = 1u; s < n_split; s++) {
        m = max(m, part[mb + 2u * (base + s * p.rows)]);
    }
    var l = 0.0;
    for (var s = 0u; s < n_split; s++) {
        let pi = base + s * p.rows;
        l += exp(part[mb + 2u * pi] - m) * part[mb + 2u * pi + 1u];
    }
    let inv = select(0.0, 1.0 / l, l > 0.0);
    let h = kvh * p.group + r % p.group;
    let ob = p.o_off + (r / p.group) * p.n_kv_heads * p.group * p.head_dim + h * p.head_dim;
    for (var d = lane.lid; d < p.head_dim; d += WG) {
        var acc = 0.0;
        for (var s = 0u; s < n_split; s++) {
            let pi = base + s * p.rows;
            acc += exp(part[mb + 2u * pi] - m) * part[pi * p.head_dim + d];
        }
        act[ob + d] = acc * inv;
    }
}
