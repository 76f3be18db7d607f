// get_rows: y[t, :] = dequant(table[ids[t], :]) · scale, for the table rows of one chunk
// [row_start, row_start + rows) (every chunk's dispatch sees all ids, so ids may stay on the
// GPU). Ids past the table (≥ vocab) read nothing: the dispatch of the last chunk writes a row
// of zeros for them. Dequantization is exact or rounds once (a·q + b, quant_bytes.wgsl), so
// with scale = 1 the row equals ggml's f32 dequantization, bit for bit where there is no b.
// Layout: one workgroup per token; invocations stride the row's runs of 16 weights.
// Reference: kernels-ref embed::get_rows. Rust: src/backend/wgpu/kernels/embed.rs.

struct Params {
    n_ids: u32,
    ids_off: u32,    // arena offset of the U32 ids
    y_off: u32,
    y_stride: u32,
    cols: u32,
    row_bytes: u32,
    row_start: u32,  // table rows of this chunk
    rows: u32,
    last: u32,       // 1 for the last chunk: also writes zero rows for ids ≥ vocab
    scale: f32,
    _pad0: u32,
    _pad1: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> act: array<f32>;     // activation arena
@group(0) @binding(3) var<storage, read_write> act_u32: array<u32>; // the same, for the ids
@group(0) @binding(4) var<storage, read> w0: array<u32>;            // chunk rows (rows, row_bytes)

fn wload(buf: u32, i: u32) -> u32 {
    return w0[i];
}

@compute @workgroup_size(WG)
fn main(lane: Lane) {
    let t = linear_wg(lane);
    if t >= p.n_ids {
        return;
    }
    let id = act_u32[p.ids_off + t];
    if id < p.row_start {
        return; // an earlier chunk's row
    }
    let local = id - p.row_start;
    let inside = local < p.rows;
    if !inside && p.last == 0u {
        return; // a later chunk's row
    }
    let y = p.y_off + t * p.y_stride;
    let runs = (p.cols + 15u) / 16u;
    let per_blk = QK / 16u;
    for (var r = lane.lid; r < runs; r += WG) {
        let k0 = 16u * r;
        let lim = p.cols - k0;
        var v = mat4x4<f32>();
        if inside {
            let run = dq_run(0u, local * p.row_bytes + (r / per_blk) * QB, r % per_blk, lim);
            for (var i = 0u; i < 4u; i++) {
                // Without an offset, a·q alone keeps ggml's signed zeros (d < 0, q = 0 → −0).
                var w = run.a * run.q[i];
                if Q_MIN {
                    w += run.b;
                }
                v[i] = w * p.scale;
            }
        }
        for (var e = 0u; e < min(lim, 16u); e++) {
            act[y + k0 + e] = v[e / 4u][e % 4u];
        }
    }
}
