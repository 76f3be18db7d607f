// Invocation facts and workgroup reductions, subgroup tier (Features::SUBGROUP).
// Same interface as lane_shared.wgsl: `Lane` (take it as the entry point's parameter) and
// reduce_sum / reduce_sum4 / reduce_max / reduce_min_u32, which every invocation of the
// workgroup must call together (uniform control flow) and which return the workgroup-wide
// result to all of them. Kernels declare `override WG: u32` = invocations per workgroup.
// Subgroup sizes vary (lavapipe 8, NVIDIA 32, AMD 32/64): nothing here assumes one.

struct Lane {
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) n_wg: vec3<u32>,
    @builtin(subgroup_invocation_id) sg_lane: u32,
    @builtin(subgroup_id) sg_id: u32,
    @builtin(num_subgroups) n_sg: u32,
}

var<workgroup> red_f32: array<f32, WG>;
var<workgroup> red_v4: array<vec4<f32>, WG>;
var<workgroup> red_u32: array<u32, WG>;

fn reduce_sum(lane: Lane, v: f32) -> f32 {
    let s = subgroupAdd(v);
    if lane.sg_lane == 0u {
        red_f32[lane.sg_id] = s;
    }
    workgroupBarrier();
    var t = 0.0;
    for (var i = 0u; i < lane.n_sg; i++) {
        t += red_f32[i];
    }
    workgroupBarrier();
    return t;
}

fn reduce_sum4(lane: Lane, v: vec4<f32>) -> vec4<f32> {
    let s = subgroupAdd(v);
    if lane.sg_lane == 0u {
        red_v4[lane.sg_id] = s;
    }
    workgroupBarrier();
    var t = vec4<f32>(0.0);
    for (var i = 0u; i < lane.n_sg; i++) {
        t += red_v4[i];
    }
    workgroupBarrier();
    return t;
}

fn reduce_max(lane: Lane, v: f32) -> f32 {
    let s = subgroupMax(v);
    if lane.sg_lane == 0u {
        red_f32[lane.sg_id] = s;
    }
    workgroupBarrier();
    var t = red_f32[0];
    for (var i = 1u; i < lane.n_sg; i++) {
        t = max(t, red_f32[i]);
    }
    workgroupBarrier();
    return t;
}

fn reduce_min_u32(lane: Lane, v: u32) -> u32 {
    let s = subgroupMin(v);
    if lane.sg_lane == 0u {
        red_u32[lane.sg_id] = s;
    }
    workgroupBarrier();
    var t = red_u32[0];
    for (var i = 1u; i < lane.n_sg; i++) {
        t = min(t, red_u32[i]);
    }
    workgroupBarrier();
    return t;
}
