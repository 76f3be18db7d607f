//! Embedding lookup with dequantization (`Op::GetRows`): `out[i] = table[ids[i]] · scale` for a
//! table of any kiln type, read in place.
//!
//! May use: `quant`, `graph`, the CPU tensors. Invariant: every id is checked against the
//! table's row count before anything is read, so a bad token id is an `Err` naming it, never
//! a panic or an out-of-bounds read.

use rayon::prelude::*;

use crate::backend::cpu::tensors::Io;
use crate::error::{Error, Result};
use crate::graph::{ElemType, TensorId};
use crate::quant;

/// Rows `ids` of `table` `(vocab, cols)`, dequantized and scaled, into contiguous `out`.
pub fn get_rows(
    io: &Io<'_>,
    table: TensorId,
    ids: TensorId,
    scale: f32,
    out: &mut [f32],
) -> Result<()> {
    let desc = io.graph.tensor(table);
    let ElemType::Float(dt) = desc.ty else {
        return Err(Error::Device(format!("table {} has type {}", desc.name, desc.ty)));
    };
    let (vocab, cols) = (desc.shape.rows(), desc.shape.cols());
    let bytes = io.param_of(table)?.1.bytes();
    let row_bytes = dt.row_bytes(cols as u64).and_then(|b| usize::try_from(b).ok());
    let Some(rb) = row_bytes.filter(|&rb| vocab.checked_mul(rb) == Some(bytes.len())) else {
        return Err(Error::Device(format!("table {} bytes do not match its shape", desc.name)));
    };
    // Token ids are U32 stored as f32 bits.
    let ids = io.rows(ids)?;
    let id_at = |i: usize| ids.row(i / ids.cols)[i % ids.cols].to_bits() as usize;
    let n = ids.rows * ids.cols;
    if out.len() != n * cols {
        return Err(Error::Device(format!("{n} ids of {cols} columns, out has {}", out.len())));
    }
    if let Some(bad) = (0..n).map(id_at).find(|&id| id >= vocab) {
        return Err(Error::InvalidArgument(format!(
            "token id {bad} is out of range: {} has {vocab} rows",
            desc.name
        )));
    }
    out.par_chunks_mut(cols.max(1)).enumerate().try_for_each(|(i, y)| {
        let id = id_at(i);
        quant::dequantize(dt, &bytes[id * rb..(id + 1) * rb], y)?;
        if scale != 1.0 {
            y.iter_mut().for_each(|v| *v *= scale);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{floats, random_blocks, run, weight};
    use crate::backend::HostData;
    use crate::graph::{ElemType, GraphBuilder, ParamTable};
    use crate::quant::DType;

    /// Rows of a 5-row table of every type, in order with a repeat, scaled: kiln decodes each
    /// weight to `f32(ref)` exactly (the products are exact, a `+ m` rounds once, like the
    /// f64 reference rounded), so the result must be `f32(ref)·scale` bit for bit.
    #[test]
    fn every_type_is_exact_against_reference() {
        let ids = [3u32, 0, 3, 4];
        for (i, dt) in DType::ALL.into_iter().enumerate() {
            let cols = 2 * dt.block_size().max(16);
            let table = random_blocks(dt, 5 * cols, 50 + i as u64);
            let want = kernels_ref::embed::get_rows(dt.name(), &table, cols, &ids);
            for scale in [1.0f32, 25.3] {
                let mut params = ParamTable::new();
                let tp = weight(&mut params, dt, 5, cols, table.clone());
                let mut g = GraphBuilder::new(&params);
                let it = g.input("ids", &[ids.len()], ElemType::U32);
                let tt = g.param(tp);
                let y = g.get_rows(tt, it, scale, "y");
                let got = run(&params, g.build(), &[(it, HostData::U32(&ids))], &[y]).unwrap();
                for (j, (g, r)) in floats(&got[0]).iter().zip(&want).enumerate() {
                    let r = *r as f32 * scale;
                    assert_eq!(g.to_bits(), r.to_bits(), "{dt} scale {scale} [{j}]: {g} vs {r}");
                }
            }
        }
    }

    #[test]
    fn out_of_range_id_is_an_error_naming_it() {
        let mut params = ParamTable::new();
        let tp = weight(&mut params, DType::Q8_0, 5, 32, random_blocks(DType::Q8_0, 160, 1));
        let mut g = GraphBuilder::new(&params);
        let it = g.input("ids", &[3], ElemType::U32);
        let tt = g.param(tp);
        let y = g.get_rows(tt, it, 1.0, "y");
        let ids = [1u32, 4_000_000_000, 2];
        let err = run(&params, g.build(), &[(it, HostData::U32(&ids))], &[y]).unwrap_err();
        assert!(err.to_string().contains("4000000000"), "{err}");
    }
}
