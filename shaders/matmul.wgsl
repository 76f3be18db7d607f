// matmul: y[t, col] = Σ_k W[row, k]·x[t, k] for n_tok > 4 tokens (prefill), over raw GGUF rows
// decoded by the dtype's common/quant_*.wgsl snippet, with the epilogues of matmul_io.wgsl.
// Layout: 256 invocations compute a tile of 16 row groups (64 weight rows) × 64 tokens, each a
// 4 × 4 register tile. Per K step of 32, invocations 0..127 dequantize one run of 16 weights
// each into shared memory as f32 (w = a·q + b), all stage x, then every invocation runs 32
// outer-product FMAs. Rows, tokens and k past the ends are zero-filled (kernels-brief §2.2).
// Sums: a step's 32 products add serially, 16 steps gather before joining the total, so a dot
// product of K terms goes through ≤ 32 + 16 + K/512 roundings (tol::MATMUL). Shared memory:
// 16 KiB, WebGPU's guaranteed minimum.
// Reference: kernels-ref matvec::matmul over quant::dequantize. Rust: src/backend/wgpu/kernels/matmul.rs.

const BK: u32 = 32u;     // k per step: two runs
const BN: u32 = 64u;     // tokens per tile
override WG: u32 = 256u; // must be 256 = 16 row groups × 16 token quads

var<workgroup> w_tile: array<vec4<f32>, 512>; // [k][row / 4]: BK × 16
var<workgroup> x_tile: array<vec4<f32>, 512>; // [k][token / 4]: BK × 16

@compute @workgroup_size(WG)
fn main(lane: Lane) {
    let wg = linear_wg(lane);
    if wg >= p.n_wg {
        return;
    }
    let s = seg_of(wg);
    let local = wg - p.seg[s].z;
    let n_tt = (p.n_tok + BN - 1u) / BN;
    let g0 = 16u * (local / n_tt); // first row group of the tile
    let t0 = BN * (local % n_tt);  // first token of the tile
    let tx = lane.lid % 16u;       // row group g0 + tx = tile rows 4tx .. 4tx + 3
    let ty = lane.lid / 16u;       // tokens t0 + 4ty .. t0 + 4ty + 3

    // Decoding job of invocations 0..127: tile row m (slot m % 4 of group g0 + m/4), run h of
    // each step.
    let m = lane.lid % 64u;
    let h = lane.lid / 64u;
    let dbuf = slot_buf(s, m % 4u);
    let drow = slot_row(g0 + m / 4u, m % 4u);
    let dok = drow < p.seg[dbuf].x;
    let runs = (p.k + 15u) / 16u;
    let per_blk = QK / 16u;

    var part: array<vec4<f32>, 4>; // [row of the 4] → tokens; this step
    var grp: array<vec4<f32>, 4>;  // up to 16 steps
    var tot: array<vec4<f32>, 4>;
    for (var i = 0u; i < 4u; i++) {
        grp[i] = vec4<f32>(0.0);
        tot[i] = vec4<f32>(0.0);
    }
    let steps = (runs + 1u) / 2u;
    for (var st = 0u; st < steps; st++) {
        if lane.lid < 128u {
            let r = 2u * st + h;
            var w = mat4x4<f32>();
            if dok && r < runs {
                let run = dq_run(dbuf, drow * p.row_bytes + (r / per_blk) * QB, r % per_blk,
                    p.k - 16u * r);
                for (var i = 0u; i < 4u; i++) {
                    w[i] = run.a * run.q[i] + run.b;
                }
            }
            for (var e = 0u; e < 16u; e++) {
                w_tile[(16u * h + e) * 16u + m / 4u][m % 4u] = w[e / 4u][e % 4u];
            }
        }
        for (var i = 0u; i < 8u; i++) {
            let idx = lane.lid + 256u * i;
            let kk = idx % BK;
            let tt = idx / BK;
            let k = BK * st + kk;
            let tok = t0 + tt;
            var v = 0.0;
            if k < p.k && tok < p.n_tok {
                v = act[p.x_off + tok * p.x_stride + k];
            }
            x_tile[kk * 16u + tt / 4u][tt % 4u] = v;
        }
        workgroupBarrier();
        for (var i = 0u; i < 4u; i++) {
            part[i] = vec4<f32>(0.0);
        }
        for (var kk = 0u; kk < BK; kk++) {
            let wv = w_tile[kk * 16u + tx];
            let xv = x_tile[kk * 16u + ty];
            part[0] += wv.x * xv;
            part[1] += wv.y * xv;
            part[2] += wv.z * xv;
            part[3] += wv.w * xv;
        }
        workgroupBarrier();
        for (var i = 0u; i < 4u; i++) {
            grp[i] += part[i];
        }
        if st % 16u == 15u {
            for (var i = 0u; i < 4u; i++) {
                tot[i] += grp[i];
                grp[i] = vec4<f32>(0.0);
            }
        }
    }
    for (var c = 0u; c < 4u; c++) {
        let tok = t0 + 4u * ty + c;
        if tok < p.n_tok {
            let v = vec4<f32>(tot[0][c], tot[1][c], tot[2][c], tot[3][c])
                + vec4<f32>(grp[0][c], grp[1][c], grp[2][c], grp[3][c]);
            store_group(s, g0 + tx, tok, v);
        }
    }
}
