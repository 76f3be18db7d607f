// attention: o[t][h] = Σ_j softmax_j(s_j)·v[kvh][j], s_j = softcap(scale·q[t][h]·k[kvh][j]) over
// the keys j ≤ pos_t = pos + t with pos_t − j < W; kvh = h / G (grouped-query attention).
// Layout: one workgroup per (row tile or split, KV head). A row is one (token, query head of
// this KV head); a tile holds R rows, so the G heads sharing K/V read each key once. Keys go
// in tiles of T = WG / next_pow2(R): one score per invocation, a segmented max tree per row,
// online softmax (running m, l; O rescaled by exp(m_old − m_new)), then P·V where invocation
// (slice, row, d/4) owns one vec4 of one row's output over a slice of the tile's keys. Only
// keys from the first row's window start to the last row's position are visited, so fully
// masked tiles (causal future, outside the window) are never loaded. Decode (a single row
// tile) splits the key range (common/attn_split.wgsl): partial (m, l, O) go to scratch and
// attention_combine.wgsl merges them. Keys at or beyond ctx are never read.
// Shared memory at WG = 256: 4 KiB Q + 1 KiB scores + 5 KiB slice sums + 0.5 KiB row stats.
// Reference: kernels-ref/src/attention.rs (attention). Rust: src/backend/wgpu/kernels/attention.rs.

struct Params {
    n_tokens: u32,
    n_kv_heads: u32,
    group: u32,        // G = n_heads / n_kv_heads
    head_dim: u32,     // D, a multiple of 4
    rows: u32,         // R rows per tile: R·D/4 ≤ WG, R ≤ MAX_ROWS
    tile: u32,         // T = WG / next_pow2(R) keys per tile (a power of two)
    slices: u32,       // WG / (R·D/4) key slices in P·V
    ctx: u32,          // positions per cache head
    window: u32,       // sliding window W, 0: none
    q_off: u32,        // q: (n_tokens, n_heads·D), rows q_stride apart
    q_stride: u32,
    o_off: u32,        // o: (n_tokens, n_heads·D), contiguous
    scale: f32,
    softcap: f32,      // cap c, 0: none
    split: u32,        // 1: one row tile whose keys are split; 0: one workgroup per row tile
    max_splits: u32,
    split_block: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

override WG: u32 = 256u;
const MAX_ROWS: u32 = 64u;
// Finite "minus infinity": differences of scores and this stay finite (never inf − inf).
const SENTINEL: f32 = -3.0e38;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> act: array<f32>;        // activation arena
@group(0) @binding(4) var<storage, read_write> kc: array<vec4<kv_t>>;  // (n_kv_heads, ctx, D/4)
@group(0) @binding(5) var<storage, read_write> vc: array<vec4<kv_t>>;  // (n_kv_heads, ctx, D/4)
// Scratch: partial O (n_kv_heads, max_splits, R, D), then (m, l) per (n_kv_heads, max_splits, R).
@group(0) @binding(6) var<storage, read_write> part: array<f32>;

var<workgroup> qs: array<vec4<f32>, WG>;    // R rows × D/4 of q·scale
var<workgroup> sc: array<f32, WG>;          // R × T scores, then probabilities
var<workgroup> row_m: array<f32, MAX_ROWS>; // running max per row
var<workgroup> row_c: array<f32, MAX_ROWS>; // this tile's rescale factor per row
var<workgroup> osum: array<vec4<f32>, WG>;  // P·V partials of the key slices
var<workgroup> lsum: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(lane: Lane) {
    let lid = lane.lid;
    let kvh = lane.wg.y;
    let d4 = p.head_dim / 4u;
    let n_rows = p.n_tokens * p.group;
    let tile_i = select(lane.wg.x, 0u, p.split == 1u);
    let r0 = tile_i * p.rows;
    let r_end = min(r0 + p.rows, n_rows);
    let pos = step.pos;

    // Keys of this workgroup: the tile's visible range, or one split of it.
    let lo = window_lo(pos + r0 / p.group, p.window);
    let hi = min(pos + (r_end - 1u) / p.group + 1u, p.ctx);
    var k_begin = lo;
    var k_end = hi;
    var n_split = 1u;
    var split = 0u;
    if p.split == 1u && hi > lo {
        let sl = attn_splits(hi - lo, p.split_block, p.max_splits);
        n_split = sl.x;
        split = lane.wg.x;
        k_begin = lo + split * sl.y;
        k_end = min(k_begin + sl.y, hi);
    }

    for (var e = lid; e < p.rows * d4; e += WG) {
        let r = r0 + e / d4;
        var v = vec4<f32>(0.0);
        if r < r_end {
            let h = kvh * p.group + r % p.group;
            let b = p.q_off + (r / p.group) * p.q_stride + h * p.head_dim + (e % d4) * 4u;
            v = vec4<f32>(act[b], act[b + 1u], act[b + 2u], act[b + 3u]) * p.scale;
        }
        qs[e] = v;
    }
    if lid < p.rows {
        row_m[lid] = SENTINEL;
    }
    workgroupBarrier();

    // Score slot of this invocation: row r_s, key t_s of the tile.
    let r_s = lid / p.tile;
    let t_s = lid % p.tile;
    let s_ok = r_s < p.rows && r0 + r_s < r_end;
    let s_pos = pos + (r0 + r_s) / p.group;
    let s_lo = window_lo(s_pos, p.window);
    // P·V slot: key slice ks, row r_o, output vec4 c4.
    let rd4 = p.rows * d4;
    let ks = lid / rd4;
    let r_o = (lid % rd4) / d4;
    let c4 = lid % d4;
    let pv = ks < p.slices;
    var o = vec4<f32>(0.0);
    var l = 0.0;

    for (var j0 = k_begin; j0 < k_end; j0 += p.tile) {
        let j = j0 + t_s;
        var s = SENTINEL;
        if s_ok && j < k_end && j <= s_pos && j >= s_lo {
            var acc = vec4<f32>(0.0);
            let kb = (kvh * p.ctx + j) * d4;
            for (var c = 0u; c < d4; c++) {
                acc += qs[r_s * d4 + c] * vec4<f32>(kc[kb + c]);
            }
            s = (acc.x + acc.y) + (acc.z + acc.w);
            if p.softcap > 0.0 {
                s = p.softcap * tanh_robust(s / p.softcap);
            }
        }
        sc[lid] = s;
        workgroupBarrier();
        for (var w = p.tile / 2u; w > 0u; w >>= 1u) {
            if t_s < w {
                sc[lid] = max(sc[lid], sc[lid + w]);
            }
            workgroupBarrier();
        }
        if lid < p.rows {
            let m_old = row_m[lid];
            let m_new = max(m_old, sc[lid * p.tile]);
            row_c[lid] = exp(m_old - m_new);
            row_m[lid] = m_new;
        }
        workgroupBarrier();
        // Masked keys weigh exactly 0 (exp(−3e38 − m) would too, but not for a row still at −3e38).
        sc[lid] = select(exp(s - row_m[min(r_s, MAX_ROWS - 1u)]), 0.0, s == SENTINEL);
        workgroupBarrier();
        if pv {
            let c = row_c[r_o];
            o *= c;
            l *= c;
            let n_keys = min(p.tile, k_end - j0);
            for (var t = ks; t < n_keys; t += p.slices) {
                let pj = sc[r_o * p.tile + t];
                if pj != 0.0 {
                    o += pj * vec4<f32>(vc[(kvh * p.ctx + j0 + t) * d4 + c4]);
                    l += pj;
                }
            }
        }
        workgroupBarrier();
    }

    if p.slices > 1u {
        osum[lid] = o;
        lsum[lid] = l;
        workgroupBarrier();
        if pv && ks == 0u {
            for (var q = 1u; q < p.slices; q++) {
                o += osum[q * rd4 + lid];
                l += lsum[q * rd4 + lid];
            }
        }
    }
    let r = r0 + r_o;
    if !pv || ks != 0u || r >= r_end {
        return;
    }
    let h = kvh * p.group + r % p.group;
    if n_split == 1u {
        let res = select(vec4<f32>(0.0), o / l, l > 0.0);
        let b = p.o_off + (r / p.group) * p.n_kv_heads * p.group * p.head_dim + h * p.head_dim
            + c4 * 4u;
        for (var i = 0u; i < 4u; i++) {
            act[b + i] = res[i];
        }
        return;
    }
    let pi = (kvh * p.max_splits + split) * p.rows + r_o;
    for (var i = 0u; i < 4u; i++) {
        part[pi * p.head_dim + c4 * 4u + i] = o[i];
    }
    if c4 == 0u {
        let mb = p.n_kv_heads * p.max_splits * p.rows * p.head_dim + 2u * pi;
        part[mb] = row_m[r_o];
        part[mb + 1u] = l;
    }
}
