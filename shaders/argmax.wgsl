// argmax: y[r] = the lowest c with x[r, c] = max_c' x[r, c'] (U32), NaN counting as −∞ (so an
// all-NaN or all-−∞ row gives 0) and −0 equal to +0. x may be a view (row stride).
// Comparisons use an order-preserving u32 key of the float's bits, so they are exact integer
// operations that no fast-math float rule can change; ties resolve by a min over indices.
// Layout: rows are cut into chunks of `chunk` columns (two stages for large vocabularies,
// research/kernels-brief.md §2.11):
//   mode 0 (chunks): one workgroup per (row, chunk), 2-D grid, writes its (key, index) to scratch;
//   mode 1 (rows):   one workgroup per row reduces the row's pairs and writes y;
//   mode 2 (fused):  rows of one chunk: one workgroup per row scans it and writes y.
// Every lane scans its columns in increasing order and keeps only a strictly larger key, so each
// partial (lane, chunk) holds its own lowest index; the reductions keep the lowest among equals.
// Reference: kernels-ref/src/argmax.rs (argmax). Rust: src/backend/wgpu/kernels/argmax.rs.

struct Params {
    n_rows: u32,
    n_cols: u32,
    n_chunks: u32,  // chunks per row, ceil(n_cols / chunk)
    chunk: u32,     // columns per stage-1 workgroup
    x_off: u32,     // x: element offset into the arena and row stride
    x_stride: u32,
    y_off: u32,     // y: (n_rows,) u32
    // A runtime value rather than an override, so all modes share one pipeline and bind group
    // layout; uniform, since it comes from this buffer.
    mode: u32,      // 0 chunks, 1 rows, 2 fused
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read_write> bits: array<u32>;        // arena: x as f32 bits, y
@group(0) @binding(4) var<storage, read_write> pairs: array<vec2<u32>>; // scratch: (n_rows, n_chunks) of (key, index)

// Larger float ⇒ larger key: positive floats get the sign bit set, negative ones are inverted.
// Every key is ≥ key(−∞) = 0x007FFFFF > 0, so 0 is below every element.
fn key(x: u32) -> u32 {
    var b = x;
    if (b & 0x7FFFFFFFu) > 0x7F800000u {
        b = 0xFF800000u; // NaN → −∞
    }
    if b == 0x80000000u {
        b = 0u; // −0 → +0
    }
    return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

// The lowest index among lanes holding the workgroup's largest key (all lanes call it).
fn best_index(lane: Lane, k: u32, i: u32) -> vec2<u32> {
    let kmax = ~reduce_min_u32(lane, ~k);
    let imin = reduce_min_u32(lane, select(0xFFFFFFFFu, i, k == kmax));
    return vec2<u32>(kmax, imin);
}

@compute @workgroup_size(WG)
fn main(lane: Lane) {
    let wg = linear_wg(lane);
    let per_row = select(p.n_chunks, 1u, p.mode == 1u);
    if wg >= p.n_rows * per_row {
        return; // uniform per workgroup: no reduction is skipped by part of a workgroup
    }
    let row = wg / per_row;

    var k = 0u;            // below every element's key
    var i = 0xFFFFFFFFu;
    if p.mode == 1u {
        let base = row * p.n_chunks;
        for (var j = lane.lid; j < p.n_chunks; j += WG) {
            let q = pairs[base + j];
            if q.x > k {
                k = q.x;
                i = q.y;
            }
        }
    } else {
        let c0 = (wg % p.n_chunks) * p.chunk;
        let c1 = min(c0 + p.chunk, p.n_cols);
        let x0 = p.x_off + row * p.x_stride;
        for (var c = c0 + lane.lid; c < c1; c += WG) {
            let kc = key(bits[x0 + c]);
            if kc > k {
                k = kc;
                i = c;
            }
        }
    }
    let best = best_index(lane, k, i);
    if lane.lid == 0u {
        if p.mode == 0u {
            pairs[wg] = best;
        } else {
            bits[p.y_off + row] = best.y;
        }
    }
}
