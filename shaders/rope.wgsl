// rope: y[t][h] = RoPE(x[t][h], pos + t) for every token t and head h, into a new tensor.
// Layout: one invocation per slot (a rotated pair or two pass-through values) of each head
// (common/rope_slot.wgsl); a 2-D grid of workgroups when needed (common/grid.wgsl).
// Reference: kernels-ref/src/rope.rs (rope). Rust: src/backend/wgpu/kernels/rope.rs.

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(lane: Lane) {
    let idx = linear_wg(lane) * WG + lane.lid;
    if idx >= p.n_tokens * p.n_heads * slots_per_head() {
        return;
    }
    let s = rope_slot(idx);
    // y: (n_tokens, n_heads·head_dim), contiguous
    let y = p.y_off + (s.t * p.n_heads + s.h) * p.head_dim;
    act[y + s.i0] = s.v0;
    if s.has1 {
        act[y + s.i1] = s.v1;
    }
}
