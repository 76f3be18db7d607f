// rms_norm: y = g / sqrt(mean(g²) + eps) · w (+ r) for every group g of `group` consecutive
// elements of each row of x (per-row norm: group = n_cols; per-head Q/K norm: group = head_dim).
// With pair = 1 it then also writes z = y_g / sqrt(mean(y_g²) + eps2) · w2 for the same groups
// of y: two consecutive RmsNorm nodes, the second reading the first's output, in one dispatch
// (src/backend/wgpu/fuse.rs NormPair: Gemma 3's post-norm + residual, then the next input norm).
// Each lane squares the very y values it wrote, in the order the second norm alone would read
// them, so z is bit for bit what two dispatches give. z may reuse the bytes of x or r (the
// planner frees them after the first norm): the storageBarrier orders every lane's reads of
// them before any write of z, which suffices when one workgroup runs (decode: one row);
// fuse.rs fuses several groups only when z overlaps neither.
// Layout: one workgroup per group; invocations stride the group, reduce_sum combines.
// Reference: kernels-ref/src/norm.rs (rms_norm). Rust: src/backend/wgpu/kernels/norm.rs.

struct Params {
    n_groups: u32,   // n_rows · (n_cols / group)
    n_cols: u32,
    group: u32,
    x_off: u32,
    x_stride: u32,
    r_off: u32,      // residual, when has_res = 1
    r_stride: u32,
    has_res: u32,
    y_off: u32,
    eps: f32,
    pair: u32,       // 1: also write z
    z_off: u32,      // z: (n_rows, n_cols), contiguous like y
    eps2: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> act: array<f32>; // activation arena
@group(0) @binding(3) var<storage, read> w: array<f32>;         // (group,) norm weight
@group(0) @binding(4) var<storage, read> w2: array<f32>;        // (group,) second weight (pair)

@compute @workgroup_size(WG)
fn main(lane: Lane) {
    let g = linear_wg(lane);
    if g >= p.n_groups {
        return; // uniform per workgroup: no reduction is skipped by part of a workgroup
    }
    let per_row = p.n_cols / p.group;
    let row = g / per_row;
    let col0 = (g % per_row) * p.group;
    let x0 = p.x_off + row * p.x_stride + col0;

    var ss = 0.0;
    for (var c = lane.lid; c < p.group; c += WG) {
        let v = act[x0 + c];
        ss += v * v;
    }
    let total = reduce_sum(lane, ss);
    let scale = inverseSqrt(total / f32(p.group) + p.eps);

    let y0 = p.y_off + row * p.n_cols + col0;
    let r0 = p.r_off + row * p.r_stride + col0;
    var ss2 = 0.0;
    for (var c = lane.lid; c < p.group; c += WG) {
        var y = act[x0 + c] * scale * w[c];
        if p.has_res == 1u {
            y += act[r0 + c];
        }
        act[y0 + c] = y;
        ss2 += y * y;
    }
    if p.pair == 1u {
        let total2 = reduce_sum(lane, ss2);
        let scale2 = inverseSqrt(total2 / f32(p.group) + p.eps2);
        let z0 = p.z_off + row * p.n_cols + col0;
        storageBarrier();
        for (var c = lane.lid; c < p.group; c += WG) {
            act[z0 + c] = act[y0 + c] * scale2 * w2[c]; // y0 + c: this lane's own write
        }
    }
}
