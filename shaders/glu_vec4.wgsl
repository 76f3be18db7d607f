// glu_vec4: y = act(gate) ⊙ up, four columns per invocation, for tensors whose offsets, row
// strides and column count are all multiples of 4 (every planned tensor; views only when
// their column window is aligned). Same math as glu.wgsl (common/glu_act.wgsl).
// Layout: one invocation per vec4 over a 2-D grid (common/grid.wgsl); all Params below count
// vec4s, not floats.
// Reference: kernels-ref/src/elementwise.rs (swiglu, geglu). Rust: src/backend/wgpu/kernels/glu.rs.

struct Params {
    n_rows: u32,
    n_cols: u32,    // columns / 4
    g_off: u32,     // gate: offset and row stride, in vec4s
    g_stride: u32,
    u_off: u32,     // up
    u_stride: u32,
    y_off: u32,     // y: (n_rows, n_cols) vec4s, contiguous
    _pad0: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> act: array<vec4<f32>>; // activation arena

@compute @workgroup_size(WG)
fn main(lane: Lane) {
    let i = linear_wg(lane) * WG + lane.lid;
    if i >= p.n_rows * p.n_cols {
        return;
    }
    let r = i / p.n_cols;
    let c = i % p.n_cols;
    let g = act[p.g_off + r * p.g_stride + c];
    let u = act[p.u_off + r * p.u_stride + c];
    act[p.y_off + i] = glu4(g, u);
}
