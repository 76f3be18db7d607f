// Per-step runtime values, one small uniform written once per execution
// (src/backend/wgpu/mod.rs, execute). The graph's n tokens sit at positions pos .. pos + n.
struct StepValues {
    pos: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(1) var<uniform> step: StepValues;
