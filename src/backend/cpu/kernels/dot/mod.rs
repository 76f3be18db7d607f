//! Dot products of one weight row with one activation row, the inner loop of every CPU matmul,
//! and the table that picks one per weight type.
//!
//! ggml's CPU scheme (ggml-cpu/ggml-cpu.c `type_traits_cpu`): each weight type names a
//! `vec_dot_type` its activations are converted to once per op — F32/F16/BF16 weights keep
//! their own type; Q4_0, Q5_0, Q8_0 use Q8_0; Q4_1, Q5_1 use Q8_1 (its `s = d·Σq` carries the
//! min term); the K-quants use Q8_K (its `bsums` carry the min term). The dot products then
//! work on integer quants block by block and follow ggml's scalar references
//! (ggml-cpu/quants.c `ggml_vec_dot_*_generic`) operation for operation, so results match
//! llama.cpp's CPU backend up to its SIMD accumulation order.
//!
//! Files: float.rs (F32, F16, BF16), block32.rs (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), k_quants.rs
//! (Q2_K … Q6_K) hold the portable scalar versions, which are also the oracle of the SIMD
//! tests (simd_tests.rs); x86_avx2.rs (block formats, floats) and x86_avx2_k.rs (K-quants) the
//! AVX2 + FMA + F16C versions of all of them; x86_avx512.rs AVX-512 + VNNI versions of the
//! test models' hot types (Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q6_K), where they measured faster;
//! aarch64_neon.rs NEON versions (plain, and with the dot-product extension) of F32, the block
//! formats, Q4_K, Q5_K and Q6_K.
//!
//! Tiles (tile.rs): for prefill, a weight type may also have a tiled kernel that computes a
//! (weight rows × activation rows) block of dot products per call, decoding each weight block
//! once per token tile and loading each activation block once per row tile:
//! x86_avx512_tile.rs / x86_avx512_tile_k.rs (AVX-512 + VNNI: Q4_0, Q4_1, Q5_0, Q8_0, Q4_K,
//! Q6_K); at the AVX2 level x86_avx2_panel.rs (Q4_0, Q4_1, Q5_0, Q5_1) and
//! x86_avx2_panel_k.rs (Q4_K), a whole 16 × 16 block per call from panels with 8 rows in the
//! lanes, x86_avx2_tile.rs (Q8_0) and x86_avx2_tile_k.rs (Q6_K). Types without one use the
//! per-row dot for every pair.
//!
//! SIMD choice: [`select`] detects the CPU once per process and takes, per entry, the version
//! of the highest level it supports (x86-64: scalar < avx2 < avx512; aarch64: scalar < neon <
//! dotprod). The environment variable `KILN_CPU_SIMD` (one of those names) caps that level,
//! for debugging and benchmarking; it never raises it above what the CPU has, and an unknown
//! value is ignored with a warning. The chosen level is logged at info level.
//!
//! May use: `quant`. Invariant: a [`VecDot`] gets `n` elements as whole blocks of both types
//! (the caller checked the byte lengths); it reads bytes at any alignment and never allocates.
//! A SIMD version keeps the signature, is put in the table only after its CPU features were
//! detected, and equals the scalar one up to f32 rounding (its integer parts are exact).

#[cfg(target_arch = "aarch64")]
mod aarch64_neon;
mod block32;
mod float;
mod k_quants;
#[cfg(test)]
mod simd_tests;
mod tile;
#[cfg(test)]
mod tile_tests;
#[cfg(target_arch = "x86_64")]
mod x86_avx2;
#[cfg(target_arch = "x86_64")]
mod x86_avx2_k;
#[cfg(target_arch = "x86_64")]
mod x86_avx2_panel;
#[cfg(target_arch = "x86_64")]
mod x86_avx2_panel_k;
#[cfg(target_arch = "x86_64")]
mod x86_avx2_tile;
#[cfg(target_arch = "x86_64")]
mod x86_avx2_tile_k;
// AVX-512 intrinsics are stable since Rust 1.89 (the crate's rust-version is older; wgpu 30
// already needs 1.87).
#[cfg(target_arch = "x86_64")]
#[clippy::msrv = "1.89"]
mod x86_avx512;
#[cfg(target_arch = "x86_64")]
#[clippy::msrv = "1.89"]
mod x86_avx512_tile;
#[cfg(target_arch = "x86_64")]
#[clippy::msrv = "1.89"]
mod x86_avx512_tile_k;

use std::sync::OnceLock;

/// The exact, branch-free f16 decode (vectorises; `half`'s per-call feature check does not),
/// for the f16 KV cache too.
pub(super) use float::f16_to_f32;

pub use tile::Tile;

use crate::quant::{self, Block, DType};

/// `Σ_i w[i]·a[i]` over `n` elements: `w` is one weight row of the weight type, `a` one
/// activation row already converted to the entry's activation type, both as raw bytes.
pub type VecDot = fn(n: usize, w: &[u8], a: &[u8]) -> f32;

/// `[Σ_i w_r[i]·a[i]; 4]`: four weight rows against one activation row (decode), read once
/// for the four. Each result has the same bits as the same level's [`VecDot`] on that row.
pub type VecDot4 = fn(n: usize, w: [&[u8]; 4], a: &[u8]) -> [f32; 4];

/// How to multiply weights of one type: the activation type to convert x to, the dot, the
/// four-row dot and the tiled kernel for several activation rows at once, if this CPU has
/// them for the type.
#[derive(Clone, Copy)]
pub struct DotKernel {
    pub act: DType,
    pub dot: VecDot,
    pub dot4: Option<VecDot4>,
    pub tile: Option<Tile>,
}

/// `(weight type, activation type, dot)` for every weight type.
type Table = [(DType, DType, VecDot); 13];

/// The portable scalar versions.
const SCALAR: Table = [
    (DType::F32, DType::F32, float::dot_f32),
    (DType::F16, DType::F16, float::dot_f16),
    (DType::BF16, DType::BF16, float::dot_bf16),
    (DType::Q4_0, DType::Q8_0, block32::dot_q4_0_q8_0),
    (DType::Q4_1, DType::Q8_1, block32::dot_q4_1_q8_1),
    (DType::Q5_0, DType::Q8_0, block32::dot_q5_0_q8_0),
    (DType::Q5_1, DType::Q8_1, block32::dot_q5_1_q8_1),
    (DType::Q8_0, DType::Q8_0, block32::dot_q8_0_q8_0),
    (DType::Q2_K, DType::Q8_K, k_quants::dot_q2_k_q8_k),
    (DType::Q3_K, DType::Q8_K, k_quants::dot_q3_k_q8_k),
    (DType::Q4_K, DType::Q8_K, k_quants::dot_q4_k_q8_k),
    (DType::Q5_K, DType::Q8_K, k_quants::dot_q5_k_q8_k),
    (DType::Q6_K, DType::Q8_K, k_quants::dot_q6_k_q8_k),
];

/// The dot product for weights of type `w`, or `None` for types that are only ever activations
/// (Q8_1, Q8_K: ggml has no CPU dot with them as weights either).
pub fn kernel(w: DType) -> Option<DotKernel> {
    static CHOSEN: OnceLock<(Table, Dot4s, Tiles)> = OnceLock::new();
    let (table, dot4s, tiles) = CHOSEN.get_or_init(select);
    let i = table.iter().position(|e| e.0 == w)?;
    let (_, act, dot) = table[i];
    Some(DotKernel { act, dot, dot4: dot4s[i], tile: tiles[i] })
}

/// An instruction-set level of this architecture, lowest first; a table for a level takes
/// each entry's version from the highest level at or below it that has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Scalar,
    /// AVX2 + FMA + F16C (Haswell, Zen 1 and later).
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// AVX-512 F/BW/VL + VNNI (Ice Lake, Zen 4 and later), on top of AVX2.
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// NEON, part of every aarch64 CPU.
    #[cfg(target_arch = "aarch64")]
    Neon,
    /// NEON + the ARMv8.2 dot-product extension (`sdot`; Cortex-A55/A75, Apple M1, Neoverse
    /// and later).
    #[cfg(target_arch = "aarch64")]
    Dotprod,
}

/// The `KILN_CPU_SIMD` name of each level of this architecture.
#[cfg(target_arch = "x86_64")]
const LEVEL_NAMES: [(&str, Level); 3] =
    [("scalar", Level::Scalar), ("avx2", Level::Avx2), ("avx512", Level::Avx512)];
#[cfg(target_arch = "aarch64")]
const LEVEL_NAMES: [(&str, Level); 3] =
    [("scalar", Level::Scalar), ("neon", Level::Neon), ("dotprod", Level::Dotprod)];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const LEVEL_NAMES: [(&str, Level); 1] = [("scalar", Level::Scalar)];

/// `(weight type, dot)` replacing the scalar entries on AVX2 + FMA + F16C CPUs.
#[cfg(target_arch = "x86_64")]
const AVX2: [(DType, VecDot); 13] = [
    (DType::F32, x86_avx2::dot_f32),
    (DType::F16, x86_avx2::dot_f16),
    (DType::BF16, x86_avx2::dot_bf16),
    (DType::Q4_0, x86_avx2::dot_q4_0_q8_0),
    (DType::Q4_1, x86_avx2::dot_q4_1_q8_1),
    (DType::Q5_0, x86_avx2::dot_q5_0_q8_0),
    (DType::Q5_1, x86_avx2::dot_q5_1_q8_1),
    (DType::Q8_0, x86_avx2::dot_q8_0_q8_0),
    (DType::Q2_K, x86_avx2_k::dot_q2_k_q8_k),
    (DType::Q3_K, x86_avx2_k::dot_q3_k_q8_k),
    (DType::Q4_K, x86_avx2_k::dot_q4_k_q8_k),
    (DType::Q5_K, x86_avx2_k::dot_q5_k_q8_k),
    (DType::Q6_K, x86_avx2_k::dot_q6_k_q8_k),
];

/// `(weight type, dot)` replacing the AVX2 entries on AVX-512 + VNNI CPUs (the types where
/// they measured faster).
#[cfg(target_arch = "x86_64")]
const AVX512: [(DType, VecDot); 6] = [
    (DType::Q4_0, x86_avx512::dot_q4_0_q8_0),
    (DType::Q4_1, x86_avx512::dot_q4_1_q8_1),
    (DType::Q5_0, x86_avx512::dot_q5_0_q8_0),
    (DType::Q8_0, x86_avx512::dot_q8_0_q8_0),
    (DType::Q4_K, x86_avx512::dot_q4_k_q8_k),
    (DType::Q6_K, x86_avx512::dot_q6_k_q8_k),
];

/// `(weight type, tile)` of the AVX2 level (whole-block panels for the unsigned 32-element
/// formats, register tiles for the rest) and the AVX-512 level (which replaces them).
#[cfg(target_arch = "x86_64")]
const AVX2_TILES: [(DType, Tile); 7] = [
    (DType::Q4_0, x86_avx2_panel::Q4_0),
    (DType::Q4_1, x86_avx2_panel::Q4_1),
    (DType::Q5_0, x86_avx2_panel::Q5_0),
    (DType::Q5_1, x86_avx2_panel::Q5_1),
    (DType::Q4_K, x86_avx2_panel_k::Q4_K),
    x86_avx2_tile::TILES[0],
    x86_avx2_tile::TILES[1],
];
#[cfg(target_arch = "x86_64")]
const AVX512_TILES: [(DType, Tile); 6] = x86_avx512_tile::TILES;

/// `(weight type, dot)` replacing the scalar entries on every aarch64 CPU (plain NEON).
#[cfg(target_arch = "aarch64")]
const NEON: [(DType, VecDot); 9] = [
    (DType::F32, aarch64_neon::dot_f32),
    (DType::Q4_0, aarch64_neon::dot_q4_0_q8_0),
    (DType::Q4_1, aarch64_neon::dot_q4_1_q8_1),
    (DType::Q5_0, aarch64_neon::dot_q5_0_q8_0),
    (DType::Q5_1, aarch64_neon::dot_q5_1_q8_1),
    (DType::Q8_0, aarch64_neon::dot_q8_0_q8_0),
    (DType::Q4_K, aarch64_neon::dot_q4_k_q8_k),
    (DType::Q5_K, aarch64_neon::dot_q5_k_q8_k),
    (DType::Q6_K, aarch64_neon::dot_q6_k_q8_k),
];

/// `(weight type, dot)` replacing the NEON entries on CPUs with the dot-product extension.
#[cfg(target_arch = "aarch64")]
const DOTPROD: [(DType, VecDot); 8] = [
    (DType::Q4_0, aarch64_neon::dot_q4_0_q8_0_dotprod),
    (DType::Q4_1, aarch64_neon::dot_q4_1_q8_1_dotprod),
    (DType::Q5_0, aarch64_neon::dot_q5_0_q8_0_dotprod),
    (DType::Q5_1, aarch64_neon::dot_q5_1_q8_1_dotprod),
    (DType::Q8_0, aarch64_neon::dot_q8_0_q8_0_dotprod),
    (DType::Q4_K, aarch64_neon::dot_q4_k_q8_k_dotprod),
    (DType::Q5_K, aarch64_neon::dot_q5_k_q8_k_dotprod),
    (DType::Q6_K, aarch64_neon::dot_q6_k_q8_k_dotprod),
];

/// The tiled kernel of each entry of a [`Table`] (same order), if any.
type Tiles = [Option<Tile>; 13];

/// The four-row dot of each entry of a [`Table`] (same order), if any.
type Dot4s = [Option<VecDot4>; 13];

/// `(weight type, four-row dot)` of the AVX2 level: the 32-element formats whose unpacking
/// makes them compute-bound, where sharing the activation loads and the per-row reduction
/// across four rows measured faster. Not Q8_0: it streams at the bandwidth limit with one row,
/// and reading four rows at once measured up to 2x slower on the 49152- and 262144-row output
/// heads (`kiln bench kernels --filter 'matvec q8_0'`).
#[cfg(target_arch = "x86_64")]
const AVX2_DOT4: [(DType, VecDot4); 3] = [
    (DType::Q4_0, x86_avx2::dot4_q4_0_q8_0),
    (DType::Q4_1, x86_avx2::dot4_q4_1_q8_1),
    (DType::Q5_0, x86_avx2::dot4_q5_0_q8_0),
];

/// Each SIMD level's four-row dots, lowest level first.
#[cfg(target_arch = "x86_64")]
const DOT4_LEVELS: [(Level, &[(DType, VecDot4)]); 1] = [(Level::Avx2, &AVX2_DOT4)];
#[cfg(not(target_arch = "x86_64"))]
const DOT4_LEVELS: [(Level, &[(DType, VecDot4)]); 0] = [];

/// The highest level this CPU supports.
fn detected() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c");
        let avx512 = is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512vnni");
        if avx2 && avx512 {
            return Level::Avx512;
        }
        if avx2 {
            return Level::Avx2;
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("dotprod") {
            return Level::Dotprod;
        }
        return Level::Neon;
    }
    #[allow(unreachable_code)]
    Level::Scalar
}

/// Each SIMD level's replacement entries, lowest level first.
#[cfg(target_arch = "x86_64")]
const LEVELS: [(Level, &[(DType, VecDot)]); 2] = [(Level::Avx2, &AVX2), (Level::Avx512, &AVX512)];
#[cfg(target_arch = "aarch64")]
const LEVELS: [(Level, &[(DType, VecDot)]); 2] = [(Level::Neon, &NEON), (Level::Dotprod, &DOTPROD)];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const LEVELS: [(Level, &[(DType, VecDot)]); 0] = [];

/// Each SIMD level's tiles, lowest level first.
#[cfg(target_arch = "x86_64")]
const TILE_LEVELS: [(Level, &[(DType, Tile)]); 2] =
    [(Level::Avx2, &AVX2_TILES), (Level::Avx512, &AVX512_TILES)];
#[cfg(not(target_arch = "x86_64"))]
const TILE_LEVELS: [(Level, &[(DType, Tile)]); 0] = [];

/// The cap `KILN_CPU_SIMD` sets, if any.
fn env_cap() -> Option<Level> {
    parse_cap(&std::env::var("KILN_CPU_SIMD").ok()?)
}

/// A `KILN_CPU_SIMD` value as a level of this architecture; empty means no cap, anything
/// else unknown (including another architecture's level) warns.
fn parse_cap(v: &str) -> Option<Level> {
    let v = v.trim().to_ascii_lowercase();
    if v.is_empty() {
        return None;
    }
    let found = LEVEL_NAMES.iter().find(|(name, _)| *name == v).map(|&(_, l)| l);
    if found.is_none() {
        let names: Vec<&str> = LEVEL_NAMES.iter().map(|l| l.0).collect();
        log::warn!("KILN_CPU_SIMD={v:?} is not one of {names:?} on this CPU architecture; ignored");
    }
    found
}

/// The table for `level`, lowered to what this CPU has, so it only ever holds versions the CPU
/// can run.
fn table(level: Level) -> Table {
    let level = level.min(detected());
    let mut t = SCALAR;
    for (_, entries) in LEVELS.iter().filter(|l| l.0 <= level) {
        for &(w, dot) in *entries {
            if let Some(e) = t.iter_mut().find(|e| e.0 == w) {
                e.2 = dot;
            }
        }
    }
    t
}

/// The four-row dots for `level`, lowered to what this CPU has: a type has one only if the
/// level that supplies its dot has one too (a higher level's dot drops a lower one's dot4, so
/// the two always agree bit for bit).
fn dot4s(level: Level) -> Dot4s {
    let level = level.min(detected());
    let mut t = [None; 13];
    let index = |w: DType| SCALAR.iter().position(|e| e.0 == w);
    for &(l, entries) in LEVELS.iter().filter(|l| l.0 <= level) {
        for i in entries.iter().filter_map(|e| index(e.0)) {
            t[i] = None;
        }
        for &(w, d4) in DOT4_LEVELS.iter().filter(|d| d.0 == l).flat_map(|d| d.1.iter()) {
            if let Some(i) = index(w) {
                t[i] = Some(d4);
            }
        }
    }
    t
}

/// The tiles for `level` (none at the scalar level), lowered to what this CPU has.
fn tiles(level: Level) -> Tiles {
    let level = level.min(detected());
    let mut t = [None; 13];
    for (_, entries) in TILE_LEVELS.iter().filter(|l| l.0 <= level) {
        for &(w, tile) in *entries {
            if let Some(i) = SCALAR.iter().position(|e| e.0 == w) {
                t[i] = Some(tile);
            }
        }
    }
    t
}

/// The SIMD level in use: the CPU's, capped by `KILN_CPU_SIMD` (logged once).
fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let (cpu, cap) = (detected(), env_cap());
        let level = cap.map_or(cpu, |c| c.min(cpu));
        log::info!("CPU SIMD level: {level:?} (CPU supports {cpu:?}, KILN_CPU_SIMD cap {cap:?})");
        level
    })
}

/// Whether the CPU kernels may use AVX2 + FMA + F16C (the level in use is at least AVX2).
#[cfg(target_arch = "x86_64")]
pub(super) fn avx2() -> bool {
    level() >= Level::Avx2
}

/// Picks the best implementation of each entry for this CPU, capped by `KILN_CPU_SIMD`.
fn select() -> (Table, Dot4s, Tiles) {
    let level = level();
    (table(level), dot4s(level), tiles(level))
}

/// Views whole blocks of `bytes` (alignment 1, so any offset works).
fn blocks<B: Block>(bytes: &[u8]) -> &[B] {
    quant::as_blocks(bytes).expect("invariant: matmul passes whole blocks to dot products")
}

/// Decodes an f16 scale field.
#[inline]
fn f16(bits: [u8; 2]) -> f32 {
    float::f16_to_f32(u16::from_le_bytes(bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every weight type kiln runs has a dot product whose activation type has the same block
    /// size, so one activation row serves a whole weight row.
    #[test]
    fn every_weight_type_has_a_dot_with_matching_blocks() {
        for dt in DType::ALL {
            match kernel(dt) {
                Some(k) => assert_eq!(k.act.block_size(), dt.block_size(), "{dt}"),
                None => assert!(matches!(dt, DType::Q8_1 | DType::Q8_K), "{dt} has no dot"),
            }
        }
    }
}
