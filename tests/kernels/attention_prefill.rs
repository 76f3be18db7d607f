//! attention prefill vs kernels-ref at the edges of the CPU backend's tiles
//! (src/backend/cpu/kernels/attention_tiled.rs), on every backend and cache type.
//!
//! The CPU test backend has 2 threads, so a tile holds `min(⌈n / ⌈8 / n_kv_heads⌉⌉,
//! 48 / group)` tokens × one KV group's heads, and key blocks hold `min(8192 / head_dim, 64)`
//! keys (32 at head_dim 256, 64 below). The cases below put token counts and key ranges off
//! those multiples, start after earlier steps (pos > 0), use windows narrower than a tile and a
//! key block, soft-cap grouped heads, split a group too large for one tile, and take a
//! head_dim that is no multiple of 8 (the portable loops instead of AVX2).

use crate::attention::{Case, GEMMA3, MHA, SMOLLM2, check};

#[test]
fn prefill_tiles_of_every_gqa_group() {
    // Gemma 3 (group 4, d 256): 9 tiles of 12 tokens and one of 4; 100 keys = 3 blocks of
    // 32 and 4. SmolLM2 (group 3, d 64): tiles of 16 tokens and a last of 2, split across its
    // 3 KV heads; 120 keys = 64 + 56. One head per KV head (d 128): tiles of 16 and 13.
    check("gemma3 prefill n=100 pos=0", Case { n: 100, ..GEMMA3 }, 1900);
    check("gemma3 prefill n=100 pos=37", Case { n: 100, pos: 37, ..GEMMA3 }, 1901);
    check("smollm2 prefill n=50 pos=70", Case { n: 50, pos: 70, ..SMOLLM2 }, 1902);
    check("mha prefill n=61 pos=3", Case { n: 61, pos: 3, ..MHA }, 1903);
}

#[test]
fn prefill_windows_narrower_than_a_tile() {
    // Each tile's rows see different key ranges; W = 1 leaves each query only its own key.
    for (i, w) in [1u32, 5, 33].into_iter().enumerate() {
        let c = Case { n: 100, pos: 37, window: Some(w), ..GEMMA3 };
        check(&format!("gemma3 prefill n=100 pos=37 W={w}"), c, 1910 + i as u64);
        let c = Case { n: 50, pos: 70, window: Some(w), ..SMOLLM2 };
        check(&format!("smollm2 prefill n=50 pos=70 W={w}"), c, 1920 + i as u64);
    }
}

#[test]
fn prefill_softcap_over_grouped_heads() {
    // Scaled scores of about ±1 against caps of 1 and 0.5: tanh is far from linear there.
    let c = Case { n: 50, pos: 10, softcap: Some(1.0), ..SMOLLM2 };
    check("smollm2 prefill softcap n=50 pos=10", c, 1930);
    let c = Case { n: 30, pos: 40, softcap: Some(0.5), window: Some(20), ..GEMMA3 };
    check("gemma3 prefill softcap W=20 n=30 pos=40", c, 1931);
}

#[test]
fn prefill_group_larger_than_a_tile() {
    // 50 query heads on one KV head: one token per tile, the group split into 25 + 25 heads.
    let c = Case { n_heads: 50, n_kv_heads: 1, head_dim: 64, n: 5, pos: 9, ..SMOLLM2 };
    check("50 heads on 1 kv head prefill n=5 pos=9", c, 1940);
}

#[test]
fn prefill_head_dim_not_a_multiple_of_8() {
    // d = 20: the tiles' portable score and P·V loops.
    let c = Case { n_heads: 6, n_kv_heads: 2, head_dim: 20, n: 30, pos: 11, ..SMOLLM2 };
    check("d=20 prefill n=30 pos=11", c, 1950);
    check("d=20 prefill W=4 n=30 pos=11", Case { window: Some(4), ..c }, 1951);
}
