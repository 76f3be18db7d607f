// glu: y = act(gate) ⊙ up, elementwise over (n_rows, n_cols); gate and up may be views (their
// own offsets and row strides), y is contiguous. act is SiLU or GELU-tanh (common/glu_act.wgsl).
// Layout: one invocation per element over a 2-D grid (common/grid.wgsl). This scalar kernel
// serves views whose columns are not 4-aligned; glu_vec4.wgsl does the aligned case.
// Reference: kernels-ref/src/elementwise.rs (swiglu, geglu). Rust: src/backend/wgpu/kernels/glu.rs.

struct Params {
    n_rows: u32,
    n_cols: u32,
    g_off: u32,     // gate: element offset into the arena and row stride
    g_stride: u32,
    u_off: u32,     // up
    u_stride: u32,
    y_off: u32,     // y: (n_rows, n_cols), contiguous
    _pad0: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> act: array<f32>; // activation arena

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
    act[p.y_off + i] = glu4(vec4<f32>(g), vec4<f32>(u)).x;
}
