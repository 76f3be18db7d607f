//! The contract of the register-tiled dot products that prefill matmuls use: one call computes
//! every dot product of a few weight rows with a few activation rows, so each weight block is
//! decoded once per token tile and each activation block loaded once per row tile (the inner
//! kernel of ggml's repacked GEMMs and llamafile's tinyBLAS, ggml-cpu/llamafile/sgemm.cpp,
//! learned from, not copied). tile_tests.rs checks every tile against the per-row dot.
//!
//! May use: the parent. Invariant: a tile computes exactly the integer block sums the per-row
//! dot of its type computes; only the order of the f32 additions (and where the scale products
//! are rounded) differs, so the two agree within the f32 summation bound of tile_tests.rs.

/// `out[r·tokens + t] = Σ_i W_r[i]·A_t[i]` over `n` elements, for exactly `rows` weight rows `w`
/// and `tokens` activation rows `a` (whole blocks of the weight and the activation type; any
/// alignment), or fewer of each for a [`Tile::partial`] one. A caller with fewer rows or tokens
/// for a tile that is not partial repeats one and ignores its results.
pub type TileFn = fn(n: usize, w: &[&[u8]], a: &[&[u8]], out: &mut [f32]);

/// A tiled kernel and its shape.
#[derive(Clone, Copy)]
pub struct Tile {
    /// Weight rows per call.
    pub rows: usize,
    /// Activation rows per call.
    pub tokens: usize,
    /// Whether a call may also pass fewer rows (1..=rows) and tokens (1..=tokens), writing
    /// `out[r·tokens + t]` for those only; otherwise it takes exactly `rows` × `tokens`.
    pub partial: bool,
    pub run: TileFn,
}

/// `w.len() == rows`, `a.len() == tokens`, `out.len() >= rows·tokens` and every row holds the
/// same whole number of `block`-element blocks of `w_size`/`a_size` bytes: what every tile
/// checks before its unchecked-free but index-heavy loops.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(super) fn check(
    n: usize,
    w: &[&[u8]],
    a: &[&[u8]],
    out: &[f32],
    (rows, tokens): (usize, usize),
    (block, w_size, a_size): (usize, usize, usize),
) {
    assert!(w.len() == rows && a.len() == tokens && out.len() >= rows * tokens, "tile shape");
    assert!(n.is_multiple_of(block), "tile: {n} elements are not whole blocks");
    let nb = n / block;
    assert!(w.iter().all(|r| r.len() == nb * w_size), "tile: weight row length");
    assert!(a.iter().all(|r| r.len() == nb * a_size), "tile: activation row length");
}

/// Safe [`TileFn`] entry points over `#[target_feature]` tiles: `safe_tiles! { "features";
/// entry => tile, … }`. Each entry is only sound on a CPU with those features, and is
/// reachable only through the table `select` builds after detecting them.
#[cfg(target_arch = "x86_64")]
macro_rules! safe_tiles {
    ($features:literal; $($name:ident => $inner:ident),* $(,)?) => {$(
        #[doc = concat!("Only sound on a CPU with ", $features, " (see `safe_tiles!`).")]
        fn $name(n: usize, w: &[&[u8]], a: &[&[u8]], out: &mut [f32]) {
            // SAFETY: `select` puts this entry in the table only if the CPU has `$features`.
            unsafe { $inner(n, w, a, out) }
        }
    )*};
}
#[cfg(target_arch = "x86_64")]
pub(super) use safe_tiles;
