//! Causal grouped-query attention over the KV caches (shaders/attention.wgsl) and, for split
//! decode, the merge of per-split partials (shaders/attention_combine.wgsl).
//!
//! Tiling: a tile holds R rows (a row is one (token, query head) of a KV head), R·D ≤ 4·WG
//! so Q fits 4 KiB of shared memory at WG = 256; keys go in tiles of T = WG / next_pow2(R).
//! When all n·G rows fit one tile (decode), the key range is split into blocks of
//! `SPLIT_BLOCK` keys, at most `MAX_SPLITS` splits: the grid, the shader and the combine all
//! derive that layout from the step position (`split_layout` mirrors
//! shaders/common/attn_split.wgsl). Otherwise (prefill) one workgroup per row tile walks its
//! whole causal/window key range.

use std::sync::Arc;

use bytemuck::{Pod, Zeroable};

use super::params;
use super::rope::kv_cache;
use crate::backend::wgpu::pipelines::Constants;
use crate::backend::wgpu::prepare::{DispatchSpec, Groups, KernelCtx, Res};
use crate::backend::wgpu::shaders::ShaderSource;
use crate::error::{Error, Result};
use crate::graph::{AttentionSpec, Node, Step, TensorId};

const WG: u32 = 256;
const COMBINE_WG: u32 = 64;
/// Keys per split block, and the most splits one (KV head, row tile) is cut into.
const SPLIT_BLOCK: u32 = 256;
const MAX_SPLITS: u32 = 32;
/// Rows per tile at most (`MAX_ROWS` in the shader): keeps T = WG / next_pow2(R) ≥ 4.
const MAX_ROWS: u32 = 64;

/// Mirrors `Params` in shaders/attention.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct AttnParams {
    n_tokens: u32,
    n_kv_heads: u32,
    group: u32,
    head_dim: u32,
    rows: u32,
    tile: u32,
    slices: u32,
    ctx: u32,
    window: u32,
    q_off: u32,
    q_stride: u32,
    o_off: u32,
    scale: f32,
    softcap: f32,
    split: u32,
    max_splits: u32,
    split_block: u32,
    _pad: [u32; 3],
}

/// Mirrors `Params` in shaders/attention_combine.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct CombineParams {
    n_tokens: u32,
    n_kv_heads: u32,
    group: u32,
    head_dim: u32,
    rows: u32,
    ctx: u32,
    window: u32,
    o_off: u32,
    max_splits: u32,
    split_block: u32,
    _pad: [u32; 2],
}

fn attn_source() -> ShaderSource {
    ShaderSource::new(&[
        "common/step.wgsl",
        "common/attn_split.wgsl",
        "common/tanh.wgsl",
        "attention.wgsl",
    ])
}

fn combine_source() -> ShaderSource {
    ShaderSource::new(&["common/step.wgsl", "common/attn_split.wgsl", "attention_combine.wgsl"])
}

pub fn catalog() -> Vec<(ShaderSource, Constants)> {
    vec![(attn_source(), vec![("WG", WG)]), (combine_source(), vec![("WG", COMBINE_WG)])]
}

/// Whether the wgpu kernel handles this shape: vec4 loads need D % 4 = 0, and one row of Q
/// must fit the tile (D ≤ 4·WG).
pub fn supports(spec: &AttentionSpec) -> bool {
    spec.head_dim.is_multiple_of(4) && spec.head_dim > 0 && spec.head_dim <= 4 * WG
}

/// `(splits, keys per split)` for a key range of `range` keys (≥ 1 split, none empty).
fn split_layout(range: u32) -> (u32, u32) {
    let blocks = range.div_ceil(SPLIT_BLOCK);
    let s0 = blocks.clamp(1, MAX_SPLITS);
    let per = blocks.div_ceil(s0).max(1);
    (blocks.div_ceil(per).max(1), per * SPLIT_BLOCK)
}

/// Lowest key a query at position `q` sees (`window_lo` in the shader).
fn window_lo(q: u32, window: u32) -> u32 {
    if window == 0 || q < window { 0 } else { q + 1 - window }
}

/// Splits of a decode step at `pos`: the tile's keys are `window_lo(pos)..min(pos + n, ctx)`.
fn decode_splits(pos: u32, n: u32, ctx: u32, window: u32) -> u32 {
    let (lo, hi) = (window_lo(pos, window), pos.saturating_add(n).min(ctx));
    if hi > lo { split_layout(hi - lo).0 } else { 1 }
}

pub fn attention(
    k: &mut KernelCtx<'_>,
    node: &Node,
    q: TensorId,
    kt: TensorId,
    vt: TensorId,
    spec: AttentionSpec,
) -> Result<Vec<DispatchSpec>> {
    if !supports(&spec) {
        return Err(Error::Device(format!("attention with head_dim {}", spec.head_dim)));
    }
    let (kid, ctx) = kv_cache(k, kt)?;
    let (vid, _) = kv_cache(k, vt)?;
    let n = k.graph.tensor(q).shape.rows() as u32;
    let (d, n_kv) = (spec.head_dim, spec.n_kv_heads);
    let group = spec.n_heads / n_kv;
    let n_rows = n * group;
    let rows = n_rows.min(4 * WG / d).clamp(1, MAX_ROWS);
    let tile = WG / rows.next_power_of_two();
    let slices = WG / (rows * d / 4);
    let n_tiles = n_rows.div_ceil(rows);
    let split = n_tiles == 1;
    if n_tiles > k.cx.limits.max_compute_workgroups_per_dimension {
        return Err(Error::InvalidArgument(format!("attention over {n} tokens in one step")));
    }
    let (q_off, q_stride) = k.arena(q)?;
    let (o_off, _) = k.arena(node.out)?;
    let window = spec.window.unwrap_or(0);
    let p = AttnParams {
        n_tokens: n,
        n_kv_heads: n_kv,
        group,
        head_dim: d,
        rows,
        tile,
        slices,
        ctx,
        window,
        q_off,
        q_stride,
        o_off,
        scale: spec.scale,
        softcap: spec.softcap.unwrap_or(0.0),
        split: split as u32,
        max_splits: MAX_SPLITS,
        split_block: SPLIT_BLOCK,
        _pad: [0; 3],
    };
    // Partials of every (KV head, split, row): O then (m, l); a word when nothing is split,
    // since the binding exists either way.
    let scratch = if split {
        n_kv as usize * MAX_SPLITS as usize * rows as usize * (d as usize + 2) * 4
    } else {
        4
    };
    k.scratch_bytes = k.scratch_bytes.max(scratch);
    let bindings = |p: Res| {
        vec![
            (0, p),
            (1, Res::Step),
            (2, Res::Arena),
            (4, Res::Param(kid, 0)),
            (5, Res::Param(vid, 0)),
            (6, Res::Scratch),
        ]
    };
    let groups = if split {
        Groups::PerStep(Arc::new(move |s: Step| [decode_splits(s.pos, n, ctx, window), n_kv, 1]))
    } else {
        Groups::Fixed([n_tiles, n_kv, 1])
    };
    let mut out = vec![DispatchSpec {
        src: attn_source(),
        constants: vec![("WG", WG)],
        bindings: bindings(params(&p)),
        groups,
    }];
    if split {
        let c = CombineParams {
            n_tokens: n,
            n_kv_heads: n_kv,
            group,
            head_dim: d,
            rows,
            ctx,
            window,
            o_off,
            max_splits: MAX_SPLITS,
            split_block: SPLIT_BLOCK,
            _pad: [0; 2],
        };
        let mut b = bindings(params(&c));
        b.retain(|(i, _)| !matches!(i, 4 | 5));
        out.push(DispatchSpec {
            src: combine_source(),
            constants: vec![("WG", COMBINE_WG)],
            bindings: b,
            groups: Groups::PerStep(Arc::new(move |s: Step| {
                if decode_splits(s.pos, n, ctx, window) > 1 { [rows, n_kv, 1] } else { [0, 0, 0] }
            })),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_layout_covers_the_range_with_whole_blocks() {
        assert_eq!(split_layout(1), (1, 256));
        assert_eq!(split_layout(256), (1, 256));
        assert_eq!(split_layout(257), (2, 256));
        assert_eq!(split_layout(700), (3, 256));
        // 40 blocks over at most 32 splits: 2 blocks each, 20 splits.
        assert_eq!(split_layout(40 * 256), (20, 512));
        for range in [1u32, 255, 256, 257, 8191, 8192, 8193, 100_000] {
            let (s, per) = split_layout(range);
            assert!((1..=MAX_SPLITS).contains(&s) && per % SPLIT_BLOCK == 0);
            assert!(s * per >= range && (s - 1) * per < range, "range {range}: {s} × {per}");
        }
    }

    #[test]
    fn window_lo_matches_the_visibility_rule() {
        // A query at q sees j iff q − j < W: the lowest such j is q + 1 − W.
        assert_eq!(window_lo(5, 3), 3);
        assert_eq!(window_lo(2, 3), 0);
        assert_eq!(window_lo(3, 3), 1);
        assert_eq!(window_lo(9, 0), 0);
    }
}
