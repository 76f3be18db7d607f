//! RoPE from the host-built (cos, sin) table, into a new tensor or straight into a KV cache, and
//! plain KV-cache writes (`Op::KvWrite`).
//!
//! Uses the CPU tensor views only. Invariant: a step writes cache rows `pos..pos+n` of every
//! head and nothing else; a position beyond the table or the cache is an error, never a clamp.

use rayon::prelude::*;

use super::kv::KvElem;
use crate::backend::cpu::Rows;
use crate::error::{Error, Result};
use crate::graph::RopeSpec;

/// Errors unless positions `pos..pos+n` fit a cache of `ctx` positions.
pub fn check_ctx(pos: u32, n: usize, ctx: usize) -> Result<()> {
    let needed = pos as usize + n;
    if needed > ctx {
        return Err(Error::ContextFull { needed, n_ctx: ctx });
    }
    Ok(())
}

/// Errors unless positions `pos..pos+n` have rows in a RoPE table of `max_pos` positions.
fn check_table(pos: u32, n: usize, max_pos: usize) -> Result<()> {
    if pos as usize + n > max_pos {
        return Err(Error::InvalidArgument(format!(
            "rope: positions {pos}..{} are beyond the {max_pos}-position cos/sin table",
            pos as usize + n
        )));
    }
    Ok(())
}

/// Rotates one head `x` (head_dim values) into `y`: pair i of the first n_rot dimensions by the
/// angle whose (cos, sin) is `cs[2i], cs[2i+1]`; the rest is copied.
fn rotate_head<E: KvElem>(x: &[f32], cs: &[f32], half: usize, neox: bool, y: &mut [E]) {
    for i in 0..half {
        let (ia, ib) = if neox { (i, i + half) } else { (2 * i, 2 * i + 1) };
        let (c, s) = (cs[2 * i], cs[2 * i + 1]);
        let (a, b) = (x[ia], x[ib]);
        y[ia] = E::store(a * c - b * s);
        y[ib] = E::store(a * s + b * c);
    }
    for d in 2 * half..x.len() {
        y[d] = E::store(x[d]);
    }
}

/// RoPE of x `(n, n_heads·head_dim)` into `out` (contiguous, same shape); token t at `pos + t`.
/// `table` is `(max_pos, n_rot/2, 2)`.
pub fn rope(
    x: Rows<'_>,
    table: &[f32],
    max_pos: usize,
    spec: RopeSpec,
    pos: u32,
    out: &mut [f32],
) -> Result<()> {
    check_table(pos, x.rows, max_pos)?;
    let (hd, half) = (spec.head_dim as usize, spec.n_rot as usize / 2);
    out.par_chunks_mut(x.cols.max(1)).enumerate().for_each(|(t, y)| {
        let p = pos as usize + t;
        let cs = &table[p * 2 * half..(p + 1) * 2 * half];
        for (yh, xh) in y.chunks_mut(hd).zip(x.row(t).chunks(hd)) {
            rotate_head(xh, cs, half, spec.neox, yh);
        }
    });
    Ok(())
}

/// RoPE of x `(n, n_kv_heads·head_dim)` written into `cache` `(n_kv_heads, ctx, head_dim)` at
/// rows `pos..pos+n`, rounded to the cache's element type.
pub fn rope_into_cache<E: KvElem>(
    x: Rows<'_>,
    table: &[f32],
    max_pos: usize,
    spec: RopeSpec,
    pos: u32,
    cache: &mut [E],
    ctx: usize,
) -> Result<()> {
    check_table(pos, x.rows, max_pos)?;
    check_ctx(pos, x.rows, ctx)?;
    let (hd, half) = (spec.head_dim as usize, spec.n_rot as usize / 2);
    cache.par_chunks_mut((ctx * hd).max(1)).enumerate().for_each(|(h, head)| {
        for t in 0..x.rows {
            let p = pos as usize + t;
            let cs = &table[p * 2 * half..(p + 1) * 2 * half];
            let src = &x.row(t)[h * hd..(h + 1) * hd];
            rotate_head(src, cs, half, spec.neox, &mut head[p * hd..(p + 1) * hd]);
        }
    });
    Ok(())
}

/// Writes src `(n, n_kv_heads·head_dim)` into `cache` `(n_kv_heads, ctx, head_dim)` at rows
/// `pos..pos+n`.
pub fn kv_write<E: KvElem>(
    src: Rows<'_>,
    head_dim: usize,
    pos: u32,
    cache: &mut [E],
    ctx: usize,
) -> Result<()> {
    check_ctx(pos, src.rows, ctx)?;
    cache.par_chunks_mut((ctx * head_dim).max(1)).enumerate().for_each(|(h, head)| {
        for t in 0..src.rows {
            let p = pos as usize + t;
            let row = &src.row(t)[h * head_dim..(h + 1) * head_dim];
            for (d, &v) in head[p * head_dim..(p + 1) * head_dim].iter_mut().zip(row) {
                *d = E::store(v);
            }
        }
    });
    Ok(())
}
