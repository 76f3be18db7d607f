// Invocation facts and workgroup reductions, shared-memory tier (no subgroup operations).
// Same interface as lane_subgroups.wgsl: `Lane` (take it as the entry point's parameter) and
// reduce_sum / reduce_sum4 / reduce_max / reduce_min_u32, called by every invocation of the
// workgroup together, returning the workgroup-wide result to all. A binary tree over shared
// memory: kernels' `override WG: u32` must be a power of two.

struct Lane {
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) n_wg: vec3<u32>,
}

var<workgroup> red_f32: array<f32, WG>;
var<workgroup> red_v4: array<vec4<f32>, WG>;
var<workgroup> red_u32: array<u32, WG>;

fn reduce_sum(lane: Lane, v: f32) -> f32 {
    red_f32[lane.lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if lane.lid < s {
            red_f32[lane.lid] += red_f32[lane.lid + s];
        }
        workgroupBarrier();
    }
    let t = red_f32[0];
    workgroupBarrier();
    return t;
}

fn reduce_sum4(lane: Lane, v: vec4<f32>) -> vec4<f32> {
    red_v4[lane.lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if lane.lid < s {
            red_v4[lane.lid] += red_v4[lane.lid + s];
        }
        workgroupBarrier();
    }
    let t = red_v4[0];
    workgroupBarrier();
    return t;
}

fn reduce_max(lane: Lane, v: f32) -> f32 {
    red_f32[lane.lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if lane.lid < s {
            red_f32[lane.lid] = max(red_f32[lane.lid], red_f32[lane.lid + s]);
        }
        workgroupBarrier();
    }
    let t = red_f32[0];
    workgroupBarrier();
    return t;
}

fn reduce_min_u32(lane: Lane, v: u32) -> u32 {
    red_u32[lane.lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if lane.lid < s {
            red_u32[lane.lid] = min(red_u32[lane.lid], red_u32[lane.lid + s]);
        }
        workgroupBarrier();
    }
    let t = red_u32[0];
    workgroupBarrier();
    return t;
}
