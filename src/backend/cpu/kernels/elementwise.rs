//! Elementwise add, mul (with row broadcast), scale and copy over strided rows.

use rayon::prelude::*;

use crate::backend::cpu::Rows;
use crate::error::Result;

#[derive(Clone, Copy)]
pub enum Kind {
    Add,
    Mul,
    Scale(f32),
    Copy,
}

/// `out[r] = a[r] (op) b[r or 0]`; out is contiguous `(a.rows, a.cols)`.
pub fn binary(a: Rows<'_>, b: Option<Rows<'_>>, kind: Kind, out: &mut [f32]) -> Result<()> {
    out.par_chunks_mut(a.cols.max(1)).enumerate().for_each(|(r, y)| {
        let x = a.row(r);
        let other = b.map(|b| b.row(if b.rows == 1 { 0 } else { r }));
        match (kind, other) {
            (Kind::Add, Some(o)) => y.iter_mut().zip(x).zip(o).for_each(|((y, x), o)| *y = x + o),
            (Kind::Mul, Some(o)) => y.iter_mut().zip(x).zip(o).for_each(|((y, x), o)| *y = x * o),
            (Kind::Scale(s), _) => y.iter_mut().zip(x).for_each(|(y, x)| *y = x * s),
            (Kind::Copy, _) | (Kind::Add | Kind::Mul, None) => y.copy_from_slice(x),
        }
    });
    Ok(())
}
