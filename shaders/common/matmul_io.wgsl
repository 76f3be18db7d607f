// Shared by matvec.wgsl and matmul.wgsl: parameters, bindings, the mapping of workgroups to
// weight rows, and the fused epilogue of MatMul / MatMulGlu. Rust mirror: MatParams in
// src/backend/wgpu/kernels/matmul.rs.
//
// A dispatch covers up to three SEGMENTS, row chunks of weights of one dtype (Q, K and V of one
// op, or the chunks of a large matrix): workgroups [seg[s].z, seg[s+1].z) work on segment s,
// whose rows are binding 4 + s and land in output columns seg[s].y + row. Rows go in groups of
// four SLOTS. Plain: slot i of group g is row 4g + i of the segment. Fused GLU (epi = 1):
// segment 0 is a gate chunk and segment 1 the matching up chunk; slots 0, 1 are gate rows
// 2g, 2g + 1 and slots 2, 3 the up rows 2g, 2g + 1, so one invocation holds both g and u.

struct Params {
    k: u32,          // cols of x and of every weight row
    n_tok: u32,      // rows of x and of y
    row_bytes: u32,  // bytes of one weight row
    n_wg: u32,       // workgroups of the dispatch
    x_off: u32,      // arena element offsets and row strides (x and the residual may be views)
    x_stride: u32,
    y_off: u32,
    y_stride: u32,
    r_off: u32,
    r_stride: u32,
    flags: u32,      // bit 0: + bias[col]; bit 1: + residual[t, col]
    epi: u32,        // 0 plain; 1 fused GLU; 2 y = act(y)·acc (second pass of an unfused GLU)
    glu_fn: u32,     // 0 silu, 1 gelu_tanh
    n_seg: u32,
    _pad0: u32,
    _pad1: u32,
    seg: array<vec4<u32>, 3>, // (rows, first output column, first workgroup, 0)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> act: array<f32>; // activation arena
@group(0) @binding(4) var<storage, read> w0: array<u32>;        // segment weights: raw GGUF
@group(0) @binding(5) var<storage, read> w1: array<u32>;        // rows (rows, row_bytes),
@group(0) @binding(6) var<storage, read> w2: array<u32>;        // word-padded
@group(0) @binding(7) var<storage, read> bias: array<f32>;      // (Σ rows) when flags & 1

// Word i of segment buf's weights. The branch is uniform per slot (and per workgroup outside
// a fused GLU); it lets one module read several weights, which WGSL cannot pass to functions.
fn wload(buf: u32, i: u32) -> u32 {
    switch buf {
        case 0u: {
            return w0[i];
        }
        case 1u: {
            return w1[i];
        }
        default: {
            return w2[i];
        }
    }
}

// The segment workgroup wg works on.
fn seg_of(wg: u32) -> u32 {
    var s = 0u;
    if p.epi != 1u {
        for (var t = 1u; t < p.n_seg; t++) {
            if wg >= p.seg[t].z {
                s = t;
            }
        }
    }
    return s;
}

// Weight binding of slot i in segment s.
fn slot_buf(s: u32, i: u32) -> u32 {
    return select(s, i / 2u, p.epi == 1u);
}

// Row (within its binding) of slot i of row group g.
fn slot_row(g: u32, i: u32) -> u32 {
    return select(4u * g + i, 2u * g + i % 2u, p.epi == 1u);
}

// silu(g) = g / (1 + e^−g); gelu_tanh(g) = g / (1 + e^(−2v)), v = √(2/π)·(g + 0.044715·g³):
// the cancellation-free form of 0.5·g·(1 + tanh v) (kernels-brief §2.8). Overflow of exp
// gives g / inf = −0, the right limit.
fn glu_act(g: f32) -> f32 {
    if p.glu_fn == 0u {
        return g / (1.0 + exp(-g));
    }
    let v = 0.7978845608028654 * (g + 0.044715 * g * g * g);
    return g / (1.0 + exp(-2.0 * v));
}

// Writes the sums v (one per slot) of row group g of segment s for token t.
fn store_group(s: u32, g: u32, t: u32, v: vec4<f32>) {
    let y = p.y_off + t * p.y_stride;
    if p.epi == 1u {
        for (var i = 0u; i < 2u; i++) {
            let row = 2u * g + i;
            if row < p.seg[0].x {
                act[y + p.seg[0].y + row] = glu_act(v[i]) * v[i + 2u];
            }
        }
        return;
    }
    for (var i = 0u; i < 4u; i++) {
        let row = 4u * g + i;
        if row < p.seg[s].x {
            let col = p.seg[s].y + row;
            var o = v[i];
            if (p.flags & 1u) != 0u {
                o += bias[col];
            }
            if (p.flags & 2u) != 0u {
                o += act[p.r_off + t * p.r_stride + col];
            }
            if p.epi == 2u {
                o = glu_act(act[y + col]) * o;
            }
            act[y + col] = o;
        }
    }
}
