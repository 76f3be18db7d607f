//! The prefill (n > 1 tokens) path of `MatMul` and `MatMulGlu`: products in blocks of
//! [`RB`] weight rows × [`TB`] tokens, each block covered by the weight type's register tile
//! (dot/tile.rs) or, for types without one, by the per-row dot; and [`Columns`], the writer
//! that lets rayon tasks owning disjoint row ranges write straight into `out (n, rows)`.
//!
//! Cache blocking: a rayon task owns RB weight rows (at most ~16·1.7 KB for the test models'
//! widest rows, kept in L1) and walks the tokens TB at a time; inside a block, each token tile
//! (a few activation rows, ≤ 10 KB) stays in L1 while every row tile of the block meets it.
//! So weights are read from memory once per op and activations once per row block, from L2.
//!
//! May use: the dot kernels, `quant`. Invariant: a block holds exactly the values the tile (or
//! the per-row dot) computes, whatever the edges; no allocation (blocks live on the stack).

use std::marker::PhantomData;
use std::ops::Range;

use super::dot::DotKernel;

/// Weight rows per block (and per rayon task): a multiple of every tile's rows, so only the
/// last block of a weight has a partial row tile.
pub const RB: usize = 16;
/// Tokens per block: a multiple of every tile's tokens.
pub const TB: usize = 16;

/// Most rows × tokens of any register tile (whole-block tiles aside).
const MAX_TILE: usize = 16;

/// One block of products: `block[(r − rows.start)·TB + (t − toks.start)] = W_r·A_t` for
/// `rows` (≤ RB) and `toks` (≤ TB); `w_row(r)` and `a_row(t)` give a weight row and an
/// activation row (of `kernel.act`) as bytes. Partial tiles at the edges repeat their last
/// row or token and drop its copies.
pub fn fill_block<'a>(
    kernel: &DotKernel,
    k: usize,
    w_row: impl Fn(usize) -> &'a [u8],
    a_row: impl Fn(usize) -> &'a [u8],
    rows: Range<usize>,
    toks: Range<usize>,
    block: &mut [f32; RB * TB],
) {
    debug_assert!(rows.len() <= RB && toks.len() <= TB);
    let Some(tile) = kernel.tile else {
        for (i, r) in rows.clone().enumerate() {
            let w = w_row(r);
            for (j, t) in toks.clone().enumerate() {
                block[i * TB + j] = (kernel.dot)(k, w, a_row(t));
            }
        }
        return;
    };
    if tile.partial && (tile.rows, tile.tokens) == (RB, TB) {
        // A whole-block tile takes the block's own rows and tokens and writes its layout.
        let w: [&[u8]; RB] = std::array::from_fn(|i| w_row(rows.start + i.min(rows.len() - 1)));
        let a: [&[u8]; TB] = std::array::from_fn(|j| a_row(toks.start + j.min(toks.len() - 1)));
        (tile.run)(k, &w[..rows.len()], &a[..toks.len()], block);
        return;
    }
    let (mr, nt) = (tile.rows, tile.tokens);
    debug_assert!(mr * nt <= MAX_TILE && RB.is_multiple_of(mr) && TB.is_multiple_of(nt));
    let mut out = [0f32; MAX_TILE];
    for t0 in toks.clone().step_by(nt) {
        let nt_here = nt.min(toks.end - t0);
        let a: [&[u8]; MAX_TILE] = std::array::from_fn(|j| a_row(t0 + j.min(nt_here - 1)));
        for r0 in rows.clone().step_by(mr) {
            let mr_here = mr.min(rows.end - r0);
            let w: [&[u8]; MAX_TILE] =
                std::array::from_fn(|i| if i < mr { w_row(r0 + i.min(mr_here - 1)) } else { &[] });
            (tile.run)(k, &w[..mr], &a[..nt], &mut out);
            for i in 0..mr_here {
                let dst = (r0 - rows.start + i) * TB + (t0 - toks.start);
                block[dst..dst + nt_here].copy_from_slice(&out[i * nt..i * nt + nt_here]);
            }
        }
    }
}

/// `out (n, m)` row-major, shared by rayon tasks that each write a disjoint range of columns.
pub struct Columns<'a> {
    ptr: *mut f32,
    n: usize,
    m: usize,
    _out: PhantomData<&'a mut [f32]>,
}

// SAFETY: a `Columns` only hands out `ColumnBlock`s through `par_blocks`, one per disjoint
// column range, so no two threads ever write the same element and nothing reads through it.
unsafe impl Send for Columns<'_> {}
unsafe impl Sync for Columns<'_> {}

impl<'a> Columns<'a> {
    /// Borrows `out` (`n·m` values) for the tasks' writes.
    pub fn new(out: &'a mut [f32], n: usize, m: usize) -> Columns<'a> {
        assert_eq!(out.len(), n * m, "Columns: out is not (n, m)");
        Columns { ptr: out.as_mut_ptr(), n, m, _out: PhantomData }
    }

    /// Runs `f` on columns `cols` split into blocks of [`RB`], in parallel.
    pub fn par_blocks(&self, cols: Range<usize>, f: impl Fn(ColumnBlock<'_>) + Sync) {
        use rayon::prelude::*;
        assert!(cols.end <= self.m, "Columns: {cols:?} beyond {} columns", self.m);
        let blocks = cols.len().div_ceil(RB);
        (0..blocks).into_par_iter().for_each(|b| {
            let c0 = cols.start + b * RB;
            let width = RB.min(cols.end - c0);
            f(ColumnBlock { cols: self, c0, width });
        });
    }
}

/// Columns `c0..c0 + width` of every row of a [`Columns`], owned by one task.
pub struct ColumnBlock<'c> {
    cols: &'c Columns<'c>,
    /// First column.
    pub c0: usize,
    pub width: usize,
}

impl ColumnBlock<'_> {
    /// This block's columns of output row `t`: `out[t][c0..c0 + width]`.
    #[inline]
    pub fn row(&mut self, t: usize) -> &mut [f32] {
        assert!(t < self.cols.n, "ColumnBlock: row {t} of {}", self.cols.n);
        // SAFETY: in bounds (t < n, c0 + width ≤ m), and this block's columns belong to no
        // other block (`par_blocks`), so the slice aliases nothing another task touches;
        // `&mut self` keeps two of this task's slices from coexisting.
        unsafe {
            std::slice::from_raw_parts_mut(self.cols.ptr.add(t * self.cols.m + self.c0), self.width)
        }
    }

    /// Writes column `j` of a fill_block `block` (one token's results for this block's rows)
    /// into output row `t`, as `f(i, block value)` for each row `i` of the block.
    #[inline]
    pub fn store(
        &mut self,
        t: usize,
        block: &[f32; RB * TB],
        j: usize,
        f: impl Fn(usize, f32) -> f32,
    ) {
        for (i, o) in self.row(t).iter_mut().enumerate() {
            *o = f(i, block[i * TB + j]);
        }
    }
}
