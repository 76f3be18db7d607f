// softmax: y[r, c] = exp(x[r, c] − M_r) / Σ_c' exp(x[r, c'] − M_r), M_r = max_c x[r, c], in f32.
// x may be a view (row stride); y is contiguous (n_rows, n_cols). −∞ entries get weight 0; a row
// with no finite entry gives zeros (kernels-ref's convention).
// Layout: rows are cut into chunks of `chunk` columns, one workgroup per (row, chunk) over a 2-D
// grid. Several workgroups per row, because sampling runs one row of up to 262 144 logits: one
// workgroup would leave every other compute unit idle while it reads 1 MiB three times.
//   mode 0 (partials): each workgroup writes its chunk's (m, l) = (max x, Σ exp(x − m)) to scratch;
//   mode 1 (write):    each workgroup combines all of its row's partials into
//                      M = max m, L = Σ l·exp(m − M) (64 pairs at 262 144 columns: cheaper to
//                      redo per workgroup than a third dispatch) and writes its chunk;
//   mode 2 (fused):    rows of one chunk: (m, l) of the whole row, then the write, one dispatch.
// Reference: kernels-ref/src/softmax.rs (softmax). Rust: src/backend/wgpu/kernels/softmax.rs.

struct Params {
    n_rows: u32,
    n_cols: u32,
    n_chunks: u32,  // chunks per row, ceil(n_cols / chunk)
    chunk: u32,     // columns per workgroup
    x_off: u32,     // x: element offset into the arena and row stride
    x_stride: u32,
    y_off: u32,     // y: (n_rows, n_cols), contiguous
    // A runtime value rather than an override, so all modes share one pipeline and bind group
    // layout; uniform, since it comes from this buffer.
    mode: u32,      // 0 partials, 1 write, 2 fused
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> act: array<f32>;        // activation arena
@group(0) @binding(4) var<storage, read_write> part: array<vec2<f32>>; // scratch: (n_rows, n_chunks) of (m, l)

// Start of every max: the lowest finite f32, so no ∞ arises from the kernel itself
// (x = −∞ still works: exp(−∞ − m) = 0, and a −∞-only chunk has l = 0).
const LOWEST: f32 = -0x1.fffffep+127f;

@compute @workgroup_size(WG)
fn main(lane: Lane) {
    let wg = linear_wg(lane);
    if wg >= p.n_rows * p.n_chunks {
        return; // uniform per workgroup: no reduction is skipped by part of a workgroup
    }
    let row = wg / p.n_chunks;
    let c0 = (wg % p.n_chunks) * p.chunk;
    let c1 = min(c0 + p.chunk, p.n_cols);
    let x0 = p.x_off + row * p.x_stride;

    var m: f32;
    var l: f32;
    if p.mode == 1u {
        let base = row * p.n_chunks;
        var mm = LOWEST;
        for (var i = lane.lid; i < p.n_chunks; i += WG) {
            mm = max(mm, part[base + i].x);
        }
        m = reduce_max(lane, mm);
        var ll = 0.0;
        for (var i = lane.lid; i < p.n_chunks; i += WG) {
            let q = part[base + i];
            ll += q.y * exp(q.x - m); // q.x = LOWEST only with q.y = 0
        }
        l = reduce_sum(lane, ll);
    } else {
        var mm = LOWEST;
        for (var c = c0 + lane.lid; c < c1; c += WG) {
            mm = max(mm, act[x0 + c]);
        }
        m = reduce_max(lane, mm);
        var ll = 0.0;
        for (var c = c0 + lane.lid; c < c1; c += WG) {
            ll += exp(act[x0 + c] - m);
        }
        l = reduce_sum(lane, ll);
        if p.mode == 0u {
            if lane.lid == 0u {
                part[wg] = vec2<f32>(m, l);
            }
            return;
        }
    }

    // l ≥ 1 whenever the row has a finite entry (the max contributes exp(0)); l = 0 otherwise.
    let y0 = p.y_off + row * p.n_cols;
    for (var c = c0 + lane.lid; c < c1; c += WG) {
        let e = exp(act[x0 + c] - m);
        act[y0 + c] = select(0.0, e / l, l > 0.0);
    }
}
