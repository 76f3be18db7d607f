// Linear workgroup index over a 2-D dispatch grid. Counts above 65 535 workgroups per
// dimension are split as (x, y) by src/backend/wgpu/prepare.rs (grid_1d); the kernel returns
// early when the index is past its work.
fn linear_wg(lane: Lane) -> u32 {
    return lane.wg.y * lane.n_wg.x + lane.wg.x;
}
