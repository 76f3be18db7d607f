// Key ranges and the split layout of attention (flash decoding), shared by attention.wgsl and
// attention_combine.wgsl and mirrored by `split_layout` in src/backend/wgpu/kernels/attention.rs,
// which sizes the grid from the same step position: the three must agree exactly.
// A query at position q sees keys j with j ≤ q and, with a window W > 0, q − j < W.

// Lowest key visible to a query at position q (window 0: no window).
fn window_lo(q: u32, window: u32) -> u32 {
    if window == 0u || q + 1u <= window {
        return 0u;
    }
    return q + 1u - window;
}

// Splits `range` keys into blocks of `block`, at most `max_splits` splits of whole blocks, none
// empty. Returns (number of splits ≥ 1, keys per split).
fn attn_splits(range: u32, block: u32, max_splits: u32) -> vec2<u32> {
    let blocks = (range + block - 1u) / block;
    let s0 = clamp(blocks, 1u, max_splits);
    let per = max((blocks + s0 - 1u) / s0, 1u);
    let count = max((blocks + per - 1u) / per, 1u);
    return vec2<u32>(count, per * block);
}
