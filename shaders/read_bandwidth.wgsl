// read_bandwidth: partial[wg] = Σ of the vec4<f32> elements of src that workgroup wg reads: the
// probe behind `kiln bench kernels`' measured peak read bandwidth, not a model kernel. Each
// dispatch reads every element of src exactly once; the sums are written so that no load can be
// optimised away, and partial is tiny (4 bytes per workgroup), so the traffic is reads.
// Layout: a grid-stride loop: invocation t of the n_threads = n_wg · WG invocations reads
// src[t], src[t + n_threads], … (neighbouring invocations read neighbouring 16-byte elements),
// then reduce_sum4 over the workgroup and one write by lane 0.
// Reference: none (a probe; the host reads only its timestamps). Rust:
// src/backend/wgpu/bandwidth.rs.

struct Params {
    n_vec4: u32,    // elements of src
    n_threads: u32, // invocations in the dispatch, n_wg · WG
    _pad0: u32,
    _pad1: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;     // (n_vec4,) probe buffer
@group(0) @binding(2) var<storage, read_write> partial: array<f32>; // (n_wg,) one sum each

@compute @workgroup_size(WG)
fn main(lane: Lane) {
    let wg = linear_wg(lane);
    // Two accumulators, so consecutive loads of one invocation do not wait on one add chain.
    var a = vec4<f32>(0.0);
    var b = vec4<f32>(0.0);
    var i = wg * WG + lane.lid;
    for (; i + p.n_threads < p.n_vec4; i += 2u * p.n_threads) {
        a += src[i];
        b += src[i + p.n_threads];
    }
    if i < p.n_vec4 {
        a += src[i];
    }
    let s = reduce_sum4(lane, a + b);
    if lane.lid == 0u {
        partial[wg] = s.x + s.y + s.z + s.w;
    }
}
