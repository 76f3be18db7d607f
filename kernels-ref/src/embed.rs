//! Embedding row lookup with dequantization (`get_rows`): the oracle for the embedding kernel.
//!
//! Uses `quant`. Invariant: only the requested rows are decoded, each from exactly its own
//! `n_cols / block_elems` blocks, so a wrong row offset cannot be hidden by decoding everything.

use crate::quant;

/// Rows `ids` of a (vocab, n_cols) table of `type_name` stored in `table_bytes`, dequantized:
/// output (ids.len(), n_cols), row `t` = `dequantize(type_name, row_bytes(ids[t]))`. A row is
/// `n_cols / block_elems` consecutive blocks (ggml's `get_rows`, `ggml_get_rows(table, ids)`).
/// Panics if `n_cols` is not whole blocks, the table is not whole rows, or an id is out of range.
pub fn get_rows(type_name: &str, table_bytes: &[u8], n_cols: usize, ids: &[u32]) -> Vec<f64> {
    let (block_elems, block_bytes) = quant::block_shape(type_name);
    assert!(
        n_cols > 0 && n_cols.is_multiple_of(block_elems),
        "kernels-ref: n_cols {n_cols} is not whole {type_name} blocks of {block_elems}"
    );
    let row_bytes = n_cols / block_elems * block_bytes;
    assert_eq!(table_bytes.len() % row_bytes, 0, "kernels-ref: table is not whole rows");
    let n_rows = table_bytes.len() / row_bytes;
    let mut out = Vec::with_capacity(ids.len() * n_cols);
    for &id in ids {
        let id = id as usize;
        assert!(id < n_rows, "kernels-ref: row id {id} out of range (table has {n_rows} rows)");
        out.extend(quant::dequantize(
            type_name,
            &table_bytes[id * row_bytes..(id + 1) * row_bytes],
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Q8_0 table of 3 rows × 64 columns (2 blocks per row): row r has d = 1 and qs = r·10 + b
    /// in block b, so every weight names its row and block.
    fn q8_0_table() -> Vec<u8> {
        let mut bytes = Vec::new();
        for r in 0..3u8 {
            for b in 0..2u8 {
                bytes.extend([0x00, 0x3C]);
                bytes.extend([r * 10 + b; 32]);
            }
        }
        bytes
    }

    #[test]
    fn picks_the_requested_rows_in_order_with_repeats() {
        let out = get_rows("Q8_0", &q8_0_table(), 64, &[2, 0, 2]);
        assert_eq!(out.len(), 3 * 64);
        for (t, row) in [2.0, 0.0, 2.0].iter().enumerate() {
            assert_eq!(out[t * 64], row * 10.0);
            assert_eq!(out[t * 64 + 63], row * 10.0 + 1.0);
        }
    }

    #[test]
    fn f32_rows() {
        let table: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(get_rows("F32", &table, 2, &[1]), [3.0, 4.0]);
        assert_eq!(get_rows("F32", &table, 2, &[]), Vec::<f64>::new());
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn id_past_the_end_panics() {
        get_rows("Q8_0", &q8_0_table(), 64, &[3]);
    }

    #[test]
    #[should_panic(expected = "whole Q8_0 blocks")]
    fn row_length_must_be_whole_blocks() {
        get_rows("Q8_0", &q8_0_table(), 48, &[0]);
    }
}
