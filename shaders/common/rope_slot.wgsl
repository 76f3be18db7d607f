// RoPE of one slot of one head, shared by rope.wgsl (into a tensor) and rope_cache.wgsl (into a
// KV cache). A head of head_dim values has ceil(head_dim / 2) slots: slot i < n_rot/2 is
// rotated pair i, (x[2i], x[2i+1]) (NORM) or (x[i], x[i + n_rot/2]) (NEOX), by the angle whose
// (cos, sin) the host computed in f64 — no sin/cos is evaluated here, since WGSL bounds their
// error only inside [−π, π]; the remaining slots copy two pass-through values each.
// A token whose position has no table row (pos ≥ max_pos) gets zeros, never an out-of-bounds
// read; the CPU backend reports that case as an error instead.
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
@group(0) @binding(4) var<storage, read> table: array<f32>;       // (max_pos, n_rot/2, 2) = (cos, sin)

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
    let half = p.n_rot / 2u;
    var s: Slot;
    let slot = idx % sph;
    s.h = (idx / sph) % p.n_heads;
    s.t = idx / (sph * p.n_heads);
    if slot < half {
        s.i0 = select(2u * slot, slot, p.neox == 1u);
        s.i1 = select(2u * slot + 1u, slot + half, p.neox == 1u);
    } else {
        s.i0 = p.n_rot + 2u * (slot - half);
        s.i1 = s.i0 + 1u;
    }
    s.has1 = s.i1 < p.head_dim;
    let x = p.x_off + s.t * p.x_stride + s.h * p.head_dim;
    let a = act[x + s.i0];
    var b = 0.0;
    if s.has1 {
        b = act[x + s.i1];
    }
    let pos = step.pos + s.t;
    if pos >= p.max_pos {
        s.v0 = 0.0;
        s.v1 = 0.0;
    } else if slot < half {
        let cs = (pos * half + slot) * 2u;
        let c = table[cs];
        let sn = table[cs + 1u];
        s.v0 = a * c - b * sn;
        s.v1 = a * sn + b * c;
    } else {
        s.v0 = a;
        s.v1 = b;
    }
    return s;
}
