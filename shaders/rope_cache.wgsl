// rope_cache: cache[h][pos + t] = RoPE(x[t][h], pos + t), K rotated straight into its cache
// (f16 or f32 storage by tier: kv_t), so no separate copy kernel runs.
// Layout: one invocation per slot of each head (common/rope_slot.wgsl); tokens whose position
// is ≥ ctx are skipped, so nothing outside the cache is written.
// Reference: kernels-ref/src/rope.rs (rope). Rust: src/backend/wgpu/kernels/rope.rs.

override WG: u32 = 256u;

@group(0) @binding(5) var<storage, read_write> cache: array<kv_t>;  // (n_heads, ctx, head_dim)

@compute @workgroup_size(WG)
fn main(lane: Lane) {
    let idx = linear_wg(lane) * WG + lane.lid;
    if idx >= p.n_tokens * p.n_heads * slots_per_head() {
        return;
    }
    let s = rope_slot(idx);
    let pos = step.pos + s.t;
    if pos >= p.ctx {
        return;
    }
    let row = (s.h * p.ctx + pos) * p.head_dim;
    cache[row + s.i0] = kv_store(s.v0);
    if s.has1 {
        cache[row + s.i1] = kv_store(s.v1);
    }
}
