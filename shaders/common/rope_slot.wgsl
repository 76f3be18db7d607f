// One slot of one head of x for rope.wgsl (into a tensor) and rope_cache.wgsl (into a KV
// cache): the slot's head element indices and its values (common/rope_pair.wgsl has the
// arithmetic and the slot layout).
// Reference: kernels-ref/src/rope.rs (rope, rope_table). Rust: src/backend/wgpu/kernels/rope.rs.

struct Params {
    n_tokens: u32,
    n_heads: u32,
    head_dim: u32,
    n_rot: u32,
    neox: u32,      // 1: NEOX pairing
    max_pos: u32,   // rows of the table
    x_off: u32,     // x: (n_tokens, n_heads·head_dim), rows x_stride apart
    x_stride: u32,
    y_off: u32,     // rope.wgsl: output offset, rows n_heads·head_dim apart
    ctx: u32,       // rope_cache.wgsl: positions per cache head
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> act: array<f32>;   // activation arena

// Output of one slot: head element indices i0, i1 (i1 valid when has1) and their values.
struct Slot {
    t: u32,
    h: u32,
    i0: u32,
    i1: u32,
    has1: bool,
    v0: f32,
    v1: f32,
}

fn slots_per_head() -> u32 {
    return (p.head_dim + 1u) / 2u;
}

// Slot number `idx` of the n_tokens · n_heads · slots_per_head() slots (caller bounds-checks).
fn rope_slot(idx: u32) -> Slot {
    let sph = slots_per_head();
    var s: Slot;
    let slot = idx % sph;
    s.h = (idx / sph) % p.n_heads;
    s.t = idx / (sph * p.n_heads);
    let ii = rope_pair_index(slot, p.n_rot, p.neox == 1u);
    s.i0 = ii.x;
    s.i1 = ii.y;
    s.has1 = s.i1 < p.head_dim;
    let x = p.x_off + s.t * p.x_stride + s.h * p.head_dim;
    let a = act[x + s.i0];
    var b = 0.0;
    if s.has1 {
        b = act[x + s.i1];
    }
    let v = rope_pair(a, b, step.pos + s.t, slot, p.n_rot, p.max_pos);
    s.v0 = v.x;
    s.v1 = v.y;
    return s;
}
