// matvec: y[t, col] = Σ_k W[row, k]·x[t, k] for N_TOK ≤ 4 tokens (decode) on GPUs, over raw GGUF
// rows decoded by the dtype's common/quant_*.wgsl snippet, with the epilogues of matmul_io.wgsl
// (CPU-type adapters run matvec_rows.wgsl instead).
// Layout: one workgroup per group of 4 weight rows (slots); invocations stride the rows' runs
// of 16 weights, load x once per run and reuse it for the 4 rows; reduce_sum4 adds the lanes'
// partial sums per token. With Q_MIN a run adds a·Σ q·x + b·Σ x (the K-quant min trick).
// Each lane sums ⌈K/16/WG⌉ runs serially before the tree, far under tol::MATMUL's K/256.
// WG = 64: small models' rows (K = 576: 36 runs) still keep most lanes busy, and at K = 4096 a
// lane walks 4 runs; four rows per workgroup amortise the x loads (kernels-brief §2.1).
// Reference: kernels-ref matvec::matmul over quant::dequantize. Rust: src/backend/wgpu/kernels/matmul.rs.

override WG: u32 = 64u;
override N_TOK: u32 = 1u; // tokens (1 ..= 4), fixed per pipeline: no per-token tests at run time

@compute @workgroup_size(WG)
fn main(lane: Lane) {
    let wg = linear_wg(lane);
    if wg >= p.n_wg {
        return; // uniform per workgroup: no reduction is skipped by part of a workgroup
    }
    let s = seg_of(wg);
    let g = wg - p.seg[s].z;
    var bufs: vec4<u32>;
    var rows: vec4<u32>;
    var ok: vec4<bool>;
    for (var i = 0u; i < 4u; i++) {
        bufs[i] = slot_buf(s, i);
        rows[i] = slot_row(g, i);
        ok[i] = rows[i] < p.seg[bufs[i]].x;
    }
    let runs = (p.k + 15u) / 16u;
    let per_blk = QK / 16u;
    let kmax = p.k - 1u;
    var acc: array<vec4<f32>, 4>; // [token] → slots
    for (var t = 0u; t < 4u; t++) {
        acc[t] = vec4<f32>(0.0);
    }
    for (var r = lane.lid; r < runs; r += WG) {
        let k0 = 16u * r;
        // x of the run for every token; indices clamped to the row (a partial float block
        // multiplies the clamped values by zero weights).
        var xs: array<mat4x4<f32>, 4>;
        var xsum = vec4<f32>(0.0);
        for (var t = 0u; t < N_TOK; t++) {
            let xb = p.x_off + t * p.x_stride;
            for (var i = 0u; i < 4u; i++) {
                let k = k0 + 4u * i;
                xs[t][i] = vec4<f32>(
                    act[xb + min(k, kmax)],
                    act[xb + min(k + 1u, kmax)],
                    act[xb + min(k + 2u, kmax)],
                    act[xb + min(k + 3u, kmax)]
                );
            }
            if Q_MIN {
                xsum[t] = dot(xs[t][0] + xs[t][1] + xs[t][2] + xs[t][3], vec4<f32>(1.0));
            }
        }
        let blk = (r / per_blk) * QB;
        for (var i = 0u; i < 4u; i++) {
            if ok[i] {
                let w = dq_run(bufs[i], rows[i] * p.row_bytes + blk, r % per_blk, p.k - k0);
                for (var t = 0u; t < N_TOK; t++) {
                    let m = xs[t];
                    let qx = dot(w.q[0], m[0]) + dot(w.q[1], m[1]) + dot(w.q[2], m[2])
                        + dot(w.q[3], m[3]);
                    var v = w.a * qx;
                    if Q_MIN {
                        v += w.b * xsum[t];
                    }
                    acc[t][i] += v;
                }
            }
        }
    }
    for (var t = 0u; t < N_TOK; t++) {
        let v = reduce_sum4(lane, acc[t]);
        if lane.lid == 0u {
            store_group(s, g, t, v);
        }
    }
}
