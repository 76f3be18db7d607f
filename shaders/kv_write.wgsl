// kv_write: cache[h][pos + t][d] = src[t][h·head_dim + d], rounded to the cache's storage type
// (kv_t: f16 or f32 by tier).
// Layout: one invocation per element, consecutive invocations on consecutive d (coalesced
// reads and writes); a 2-D grid of workgroups when needed. Tokens at positions ≥ ctx are
// skipped, so nothing outside the cache is written.
// Reference: kernels-ref has no separate function (the caches feed attention's k and v).
// Rust: src/backend/wgpu/kernels/rope.rs.

struct Params {
    n_tokens: u32,
    n_heads: u32,    // KV heads
    head_dim: u32,
    ctx: u32,
    src_off: u32,    // src: (n_tokens, n_heads·head_dim), rows src_stride apart
    src_stride: u32,
    _pad0: u32,
    _pad1: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> act: array<f32>;     // activation arena
@group(0) @binding(5) var<storage, read_write> cache: array<kv_t>;  // (n_heads, ctx, head_dim)

@compute @workgroup_size(WG)
fn main(lane: Lane) {
    let idx = linear_wg(lane) * WG + lane.lid;
    let width = p.n_heads * p.head_dim;
    if idx >= p.n_tokens * width {
        return;
    }
    let t = idx / width;
    let c = idx % width;
    let pos = step.pos + t;
    if pos >= p.ctx {
        return;
    }
    let h = c / p.head_dim;
    let d = c % p.head_dim;
    cache[(h * p.ctx + pos) * p.head_dim + d] = kv_store(act[p.src_off + t * p.src_stride + c]);
}
