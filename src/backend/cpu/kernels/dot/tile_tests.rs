//! Every register tile this CPU can run, and the prefill blocks built from them
//! (matmul_tiled.rs `fill_block`), against the scalar per-row dot, their oracle.
//!
//! Inputs as simd_tests.rs (random raw weight blocks with d = 0 and extreme-quant blocks, rows
//! of random, zero, constant and alternating activations). Tile shapes: exactly the tile's
//! rows × tokens, over row lengths of one block, odd block counts and the test models' widths.
//! Block shapes: every edge the matmul meets — rows and tokens that are not multiples of the
//! tile (1, tile ± 1, a full block of 16 and partial ones), 1 token, row ranges not starting at
//! 0 — for K of an odd number of blocks.
//!
//! Bound: [`bound`], from the f32 summation orders of both sides, never from observed
//! differences. May use: the parent, simd_tests.rs's inputs, matmul_tiled.rs.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::simd_tests::{U, activations, magnitude, simd_tables, weights};
use super::*;
use crate::backend::cpu::kernels::matmul_tiled::{RB, TB, fill_block};

/// `|tile − scalar| ≤ 2·γ_k·E`, `k = D + R + 3`, `γ_k = k·u/(1 − k·u)`, u = 2^-24, E as in
/// simd_tests.rs [`magnitude`] (Higham, Accuracy and Stability of Numerical Algorithms, §3.1,
/// §4.2). Both sides add the same exact integer-times-scale terms (block or lane sums are
/// exact integers, their conversions exact) in different orders; R ≤ 4 roundings form a term
/// (a scale product, its product with the sum, a min product, a subtraction) and 3 cover E's
/// own f32 decodes, as in simd_tests.rs. D is the longest chain of f32 additions a term passes
/// through, the longer of the two sides, over nb = n / block blocks: the scalar dot's running
/// sum takes nb terms plus its 8-lane fold (nb + 8); a tile lane takes at most one FMA per
/// block for the scaled sums and one for Q4_1's min term (2·nb), then a reduction of ≤ 16
/// lanes (4 adds), the min lanes' 2 adds and 1 subtraction. So D = 2·nb + 8.
fn bound(dt: DType, n: usize, e: f64) -> f64 {
    let d = 2 * (n / dt.block_size()) + 8;
    let k = (d + 4 + 3) as f64;
    2.0 * (k * U / (1.0 - k * U)) * e
}

/// Weight rows and activation rows of `dt` (activations converted as the matmul does).
fn inputs(
    dt: DType,
    n: usize,
    rows: usize,
    tokens: usize,
    seed: u64,
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let act = kernel(dt).expect("weight type").act;
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let w = (0..rows).map(|_| weights(dt, n, &mut r)).collect();
    let a = (0..tokens)
        .map(|_| {
            let x = activations(n, &mut r);
            let mut a = vec![0u8; act.type_size() * n / act.block_size()];
            quant::quantize_into(act, &x, &mut a).expect("whole blocks");
            a
        })
        .collect();
    (w, a)
}

/// `got` for the pair (w, a) of `dt` against the scalar dot.
#[track_caller]
fn assert_pair(what: &str, dt: DType, n: usize, w: &[u8], a: &[u8], got: f32) {
    let &(_, act, scalar) = SCALAR.iter().find(|e| e.0 == dt).expect("weight type");
    let want = scalar(n, w, a);
    let tol = bound(dt, n, magnitude(dt, w, act, a, n));
    let diff = (f64::from(got) - f64::from(want)).abs();
    assert!(diff <= tol, "{what}: tile {got:e}, scalar {want:e}, |diff| {diff:e} > {tol:e}");
}

/// The weight types with a tile at some level.
const TILED: [DType; 6] =
    [DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q8_0, DType::Q4_K, DType::Q6_K];

/// The TILED types and Q5_1, which only some levels tile.
fn with_q5_1() -> impl Iterator<Item = DType> {
    TILED.into_iter().chain([DType::Q5_1])
}

/// Row lengths: one block, odd block counts, the test models' widths.
fn lens(dt: DType) -> &'static [usize] {
    match dt.block_size() {
        32 => &[32, 64, 96, 160, 576, 640, 1536, 2048],
        _ => &[256, 512, 768, 1280, 2048],
    }
}

/// Each level's tile of `dt` on exactly its shape, against the scalar dot for every pair;
/// the same bytes one byte off any alignment give the same bits, and a pair's result does not
/// depend on the other rows and tokens of its tile (so repeating edge rows is harmless).
fn check_tile(dt: DType) {
    let i = SCALAR.iter().position(|e| e.0 == dt).expect("weight type");
    for (level, _) in simd_tables() {
        let Some(tile) = tiles(level)[i] else { continue };
        let (mr, nt) = (tile.rows, tile.tokens);
        for (li, &n) in lens(dt).iter().enumerate() {
            let seed = 0x711e_0000 + 1000 * dt.ggml_id() as u64 + 10 * li as u64 + level as u64;
            let (w, a) = inputs(dt, n, 2 * mr, 2 * nt, seed);
            let (wr, ar): (Vec<&[u8]>, Vec<&[u8]>) = (
                w[..mr].iter().map(|v| &v[..]).collect(),
                a[..nt].iter().map(|v| &v[..]).collect(),
            );
            let mut out = vec![0f32; mr * nt];
            (tile.run)(n, &wr, &ar, &mut out);
            for r in 0..mr {
                for t in 0..nt {
                    let what = format!("{dt} {level:?} n={n} ({r}, {t})");
                    assert_pair(&what, dt, n, &w[r], &a[t], out[r * nt + t]);
                }
            }
            let shift = |v: &[u8], by: usize| [vec![0u8; by], v.to_vec()].concat();
            let (ws, as_): (Vec<Vec<u8>>, Vec<Vec<u8>>) = (
                wr.iter().map(|v| shift(v, 1)).collect(),
                ar.iter().map(|v| shift(v, 3)).collect(),
            );
            let (wsr, asr): (Vec<&[u8]>, Vec<&[u8]>) =
                (ws.iter().map(|v| &v[1..]).collect(), as_.iter().map(|v| &v[3..]).collect());
            let mut moved = vec![0f32; mr * nt];
            (tile.run)(n, &wsr, &asr, &mut moved);
            assert_eq!(bits(&moved), bits(&out), "{dt} {level:?} n={n}: misaligned copies");
            // Row 0 and token 0 kept, every other row and token replaced (or repeated).
            let mut wr2: Vec<&[u8]> = w[mr..].iter().map(|v| &v[..]).collect();
            let mut ar2: Vec<&[u8]> = vec![&a[0][..]; nt];
            (wr2[0], ar2[nt - 1]) = (&w[0][..], &a[nt][..]);
            let mut other = vec![0f32; mr * nt];
            (tile.run)(n, &wr2, &ar2, &mut other);
            assert_eq!(other[0].to_bits(), out[0].to_bits(), "{dt} {level:?} n={n}: neighbours");
        }
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn every_tile_matches_scalar() {
    for dt in with_q5_1() {
        check_tile(dt);
    }
}

/// The tiles exist where they should: on a CPU with the level, every TILED type has one, and
/// the scalar level has none.
#[test]
fn tiles_are_selected_per_level() {
    assert!(tiles(Level::Scalar).iter().all(Option::is_none));
    // Levels with tiles of their own (aarch64 has none yet: its prefill uses the per-row dot).
    let tiled = simd_tables().into_iter().filter(|l| TILE_LEVELS.iter().any(|t| t.0 <= l.0));
    for (level, _) in tiled {
        let t = tiles(level);
        for dt in TILED {
            let i = SCALAR.iter().position(|e| e.0 == dt).expect("weight type");
            let tile = t[i].unwrap_or_else(|| panic!("{dt} {level:?}: no tile"));
            if tile.partial {
                assert_eq!((tile.rows, tile.tokens), (RB, TB), "{dt}: a partial tile is a block");
            } else {
                assert!(RB.is_multiple_of(tile.rows) && TB.is_multiple_of(tile.tokens), "{dt}");
                assert!(tile.rows * tile.tokens <= 16, "{dt}: tile larger than matmul_tiled's");
            }
        }
    }
}

/// `fill_block` with each level's kernel (tile or per-row dot) on every edge shape, against
/// the scalar dot pair by pair.
#[test]
fn blocks_match_scalar_at_every_edge() {
    let shapes: [(usize, usize, usize, usize); 8] = [
        // (first row, rows, first token, tokens)
        (0, 1, 0, 1),
        (0, 3, 0, 1),
        (5, 5, 0, 2),
        (0, 16, 0, 3),
        (2, 7, 1, 5),
        (0, 16, 0, 16),
        (16, 9, 3, 13),
        (1, 15, 0, 15),
    ];
    let levels = [Level::Scalar].into_iter().chain(simd_tables().into_iter().map(|l| l.0));
    for level in levels {
        let (table, tiles) = (table(level), tiles(level));
        for dt in with_q5_1().chain([DType::F16]) {
            let i = SCALAR.iter().position(|e| e.0 == dt).expect("weight type");
            let kern = DotKernel { act: table[i].1, dot: table[i].2, dot4: None, tile: tiles[i] };
            let n = if dt.block_size() == 32 {
                7 * 32
            } else if dt.block_size() == 1 {
                96
            } else {
                3 * 256
            };
            let (w, a) = inputs(dt, n, 32, 19, 0xb10c + dt.ggml_id() as u64 + 100 * level as u64);
            for &(r0, nr, t0, ntok) in &shapes {
                let mut block = [f32::NAN; RB * TB];
                let (rows, toks) = (r0..r0 + nr, t0..t0 + ntok);
                fill_block(
                    &kern,
                    n,
                    |r| &w[r][..],
                    |t| &a[t][..],
                    rows.clone(),
                    toks.clone(),
                    &mut block,
                );
                for (bi, r) in rows.clone().enumerate() {
                    for (bj, t) in toks.clone().enumerate() {
                        let what = format!("{dt} {level:?} block {rows:?}x{toks:?} ({r}, {t})");
                        let got = block[bi * TB + bj];
                        if dt.is_float() {
                            // Float weights have no tile: the block is the per-row dot itself.
                            assert_eq!(
                                got.to_bits(),
                                (kern.dot)(n, &w[r], &a[t]).to_bits(),
                                "{what}"
                            );
                        } else {
                            assert_pair(&what, dt, n, &w[r], &a[t], got);
                        }
                    }
                }
            }
        }
    }
}
