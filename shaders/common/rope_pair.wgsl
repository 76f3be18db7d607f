// RoPE of one slot of one head, the arithmetic shared by common/rope_slot.wgsl (rope.wgsl,
// rope_cache.wgsl) and rope_qkv.wgsl. A head of head_dim values has ceil(head_dim / 2) slots:
// slot i < n_rot/2 is rotated pair i, (x[2i], x[2i+1]) (NORM) or (x[i], x[i + n_rot/2])
// (NEOX), by the angle whose (cos, sin) the host computed in f64 — no sin/cos is evaluated
// here, since WGSL bounds their error only inside [−π, π]; the remaining slots copy two
// pass-through values each. A position without a table row (pos ≥ max_pos) gives zeros, never
// an out-of-bounds read; the CPU backend reports that case as an error instead.
// Reference: kernels-ref/src/rope.rs (rope, rope_table).

@group(0) @binding(4) var<storage, read> table: array<f32>; // (max_pos, n_rot/2, 2) = (cos, sin)

// Head element indices (i0, i1) of slot `slot`; i1 < head_dim is not guaranteed (odd
// pass-through tails).
fn rope_pair_index(slot: u32, n_rot: u32, neox: bool) -> vec2<u32> {
    let half = n_rot / 2u;
    if slot < half {
        return select(vec2<u32>(2u * slot, 2u * slot + 1u), vec2<u32>(slot, slot + half), neox);
    }
    let i0 = n_rot + 2u * (slot - half);
    return vec2<u32>(i0, i0 + 1u);
}

// Values of slot `slot` at position pos: (a, b) rotated, passed through, or zeros past the
// table.
fn rope_pair(a: f32, b: f32, pos: u32, slot: u32, n_rot: u32, max_pos: u32) -> vec2<f32> {
    let half = n_rot / 2u;
    if pos >= max_pos {
        return vec2<f32>(0.0);
    }
    if slot >= half {
        return vec2<f32>(a, b);
    }
    let cs = (pos * half + slot) * 2u;
    let c = table[cs];
    let sn = table[cs + 1u];
    return vec2<f32>(a * c - b * sn, a * sn + b * c);
}
