// matvec_rows: y[t, col] = Σ_k W[row, k]·x[t, k] for N_TOK ≤ 4 tokens (decode) on CPU-type
// adapters (lavapipe, SwiftShader, WARP), over raw GGUF rows decoded a unit at a time by the
// dtype's common/quant_*.wgsl snippet (dq_unit), with the epilogues of matmul_io.wgsl.
// Layout: one INVOCATION per group of 4 slots (matmul_io's rows of group g); it walks its rows
// unit by unit, loads the unit's x once and reuses it for the 4 rows, and needs no reduction.
// group_sums takes constant bindings: slots 0, 1 read binding `ba` and slots 2, 3 binding `bb`
// (the segment's, bound at 4 and 5, for a plain matmul; gate and up for a fused GLU), so after
// inlining every load names its binding and no switch runs per load. A pipeline with MULTI
// covers up to three segments (Q, K and V rows of one dtype): segments start on workgroup
// boundaries, so main picks one copy of group_sums per workgroup. It is a separate pipeline
// because the copies not taken still cost time on a CPU device (measured on Mesa 22.3's
// llvmpipe: 5–15% at K = 576–640, as if each ran one masked pass of its loops), which
// one-segment dispatches should not pay.
// Why not matvec.wgsl's lanes-split-K layout: a CPU device runs invocations as SIMD lanes and
// turns every non-uniform load into a scalar loop over the lanes, so the fewest load
// instructions per weight win: a unit's words loaded once, x as vec4 shared by four rows, and
// no shared memory or barriers (which make the driver switch coroutines).
// Sums: per run a·(Σ16 q·x) (+ b·Σx), runs and units in chunks of 256 weights, 16 chunks per
// group, groups into the total: serial depth ≈ 16 + 16 + K/4096 after a 16-term dot, under
// tol::MATMUL's (K/256 + 8).
// Reference: kernels-ref matvec::matmul over quant::dequantize. Rust: src/backend/wgpu/kernels/matmul.rs.

override WG: u32 = 16u;
override N_TOK: u32 = 1u; // tokens (1 ..= 4), fixed per pipeline
override XV: bool = true; // x_off, x_stride and K are multiples of 4: read x as vec4
override MULTI: bool = false; // plain matmul over p.n_seg ≤ 3 segments at bindings 4, 5, 6

@group(0) @binding(3) var<storage, read_write> act4: array<vec4<f32>>; // the arena, as vec4

// Quad v (elements 4v .. 4v + 3) of x for token t; quads past K repeat in-row values, which
// only meet zero weights (float rows ending in a partial unit).
fn x_quad(t: u32, v: u32) -> vec4<f32> {
    let xb = p.x_off + t * p.x_stride;
    if XV {
        return act4[(xb >> 2u) + min(v, (p.k >> 2u) - 1u)];
    }
    let k = 4u * v;
    let kmax = p.k - 1u;
    return vec4<f32>(
        act[xb + min(k, kmax)],
        act[xb + min(k + 1u, kmax)],
        act[xb + min(k + 2u, kmax)],
        act[xb + min(k + 3u, kmax)]
    );
}

// Σ over unit w of w·x for x quads xq (Σx per run in xs): a·Σq·x (+ b·Σx) per run.
fn unit_dot(w: Unit, xq: array<vec4<f32>, UV>, xs: array<f32, UR>) -> f32 {
    var s = 0.0;
    for (var r = 0u; r < UR; r++) {
        let v = 4u * r;
        let qx = (dot(w.q[v], xq[v]) + dot(w.q[v + 1u], xq[v + 1u]))
            + (dot(w.q[v + 2u], xq[v + 2u]) + dot(w.q[v + 3u], xq[v + 3u]));
        s += w.a[r] * qx;
        if Q_MIN {
            s += w.b[r] * xs[r];
        }
    }
    return s;
}

// Sums of row group g (rows past `last` repeat the last row: their results are never
// stored, and every load stays inside the binding) for every token: [token] → slots. Slots
// 0, 1 read weight binding ba and slots 2, 3 binding bb; callers pass constants.
fn group_sums(g: u32, last: u32, ba: u32, bb: u32) -> array<vec4<f32>, 4> {
    var ro: vec4<u32>;
    for (var i = 0u; i < 4u; i++) {
        ro[i] = min(slot_row(g, i), last) * p.row_bytes;
    }
    let n_units = (p.k + UW - 1u) / UW;
    let upb = QK / UW;
    let ch = max(256u / UW, 1u);
    var acc: array<vec4<f32>, 4>; // [token] → slots
    for (var c0 = 0u; c0 < n_units; c0 += 16u * ch) {
        var grp: array<vec4<f32>, 4>;
        for (var c = c0; c < min(c0 + 16u * ch, n_units); c += ch) {
            var part: array<vec4<f32>, 4>;
            for (var u = c; u < min(c + ch, n_units); u++) {
                let blk = (u / upb) * QB;
                let j = u % upb;
                let lim = p.k - u * UW;
                var xq: array<array<vec4<f32>, UV>, 4>;
                var xs: array<array<f32, UR>, 4>;
                for (var t = 0u; t < N_TOK; t++) {
                    for (var r = 0u; r < UR; r++) {
                        var q = vec4<f32>(0.0);
                        for (var e = 0u; e < 4u; e++) {
                            let v = 4u * r + e;
                            xq[t][v] = x_quad(t, u * UV + v);
                            q += xq[t][v];
                        }
                        xs[t][r] = dot(q, vec4<f32>(1.0));
                    }
                }
                for (var i = 0u; i < 2u; i++) {
                    let w = dq_unit(ba, ro[i] + blk, j, lim);
                    for (var t = 0u; t < N_TOK; t++) {
                        part[t][i] += unit_dot(w, xq[t], xs[t]);
                    }
                }
                for (var i = 2u; i < 4u; i++) {
                    let w = dq_unit(bb, ro[i] + blk, j, lim);
                    for (var t = 0u; t < N_TOK; t++) {
                        part[t][i] += unit_dot(w, xq[t], xs[t]);
                    }
                }
            }
            for (var t = 0u; t < N_TOK; t++) {
                grp[t] += part[t];
            }
        }
        for (var t = 0u; t < N_TOK; t++) {
            acc[t] += grp[t];
        }
    }
    return acc;
}

@compute @workgroup_size(WG)
fn main(lane: Lane) {
    let wg = linear_wg(lane);
    if wg >= p.n_wg {
        return;
    }
    // Row group g of segment s (a fused GLU has one segment of groups: gate and up ride along).
    let s = seg_of(wg);
    let g = (wg - p.seg[s].z) * WG + lane.lid;
    let last = p.seg[s].x - 1u;
    var acc: array<vec4<f32>, 4>;
    if !MULTI {
        acc = group_sums(g, last, 0u, 1u);
    } else if s == 0u {
        acc = group_sums(g, last, 0u, 0u);
    } else if s == 1u {
        acc = group_sums(g, last, 1u, 1u);
    } else {
        acc = group_sums(g, last, 2u, 2u);
    }
    for (var t = 0u; t < N_TOK; t++) {
        store_group(s, g, t, acc[t]);
    }
}
