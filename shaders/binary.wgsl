// binary: elementwise y = a + b | a * b | a * s | a (copy), over (n_rows, n_cols) with strided
// inputs; b has a's shape (b_stride = its row stride) or is one broadcast row (b_stride = 0).
// Layout: one invocation per element, workgroups over a 2-D grid (common/grid.wgsl).
// Reference: kernels-ref/src/elementwise.rs (add, mul, scale). Rust: src/backend/wgpu/kernels/elementwise.rs.

struct Params {
    n_rows: u32,
    n_cols: u32,
    op: u32,        // 0 add, 1 mul, 2 scale, 3 copy
    a_off: u32,     // element offsets into the arena, and row strides
    a_stride: u32,
    b_off: u32,
    b_stride: u32,
    y_off: u32,
    s: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
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
    let a = act[p.a_off + r * p.a_stride + c];
    var y = a;
    switch p.op {
        case 0u: {
            y = a + act[p.b_off + r * p.b_stride + c];
        }
        case 1u: {
            y = a * act[p.b_off + r * p.b_stride + c];
        }
        case 2u: {
            y = a * p.s;
        }
        default: {}
    }
    act[p.y_off + i] = y;
}
