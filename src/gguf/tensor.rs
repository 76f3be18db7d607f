//! The tensor directory: one `TensorInfo` per tensor, read and validated field by field.
//!
//! May use: `quant` (the `DType` table), `error`, the sibling `cursor`. Invariant: a parsed
//! `TensorInfo` has at most 4 dimensions, each ≤ i64::MAX, an element count ≤ i64::MAX, a row
//! length that is a whole number of blocks, and a byte size that stays below u64::MAX even
//! after padding to the alignment; its offset is a multiple of the alignment.
//!
//! Shapes are in ggml order: `ne[0]` is the contiguous dimension (a matrix row), unused trailing
//! dimensions are 1. A weight matrix `W` of `y = W·x` has `cols() = ne[0]` (inputs) and
//! `rows() = ne[1]·ne[2]·ne[3]` (outputs); this is the one place that translation is made.

use super::cursor::Cursor;
use crate::error::{Error, GgufError, Result};
use crate::quant::DType;

/// Longest tensor name plus one: ggml's `GGML_MAX_NAME` (names are stored NUL-terminated in 64
/// bytes there).
pub const MAX_NAME: u64 = 64;

/// Most dimensions a tensor may have (`GGML_MAX_DIMS`).
pub const MAX_DIMS: usize = 4;

/// One entry of the tensor directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Name, 1..=63 bytes of UTF-8 (`blk.0.attn_q.weight`).
    pub name: String,
    /// Storage type of the data.
    pub dtype: DType,
    /// Extent of each dimension in ggml order (`ne[0]` contiguous); entries past `n_dims` are 1.
    pub ne: [u64; MAX_DIMS],
    /// Number of dimensions stored in the file (0..=4).
    pub n_dims: u32,
    /// Start of the data, in bytes, relative to the data section.
    pub offset: u64,
    /// Size of the data in bytes (without the padding that follows it).
    pub n_bytes: u64,
}

impl TensorInfo {
    /// The dimensions stored in the file, in ggml order.
    pub fn shape(&self) -> &[u64] {
        &self.ne[..(self.n_dims as usize).min(MAX_DIMS)]
    }

    /// Total number of elements (saturating; a parsed tensor never reaches i64::MAX).
    pub fn n_elements(&self) -> u64 {
        self.ne.iter().fold(1u64, |acc, &d| acc.saturating_mul(d))
    }

    /// Row length of the tensor seen as a matrix: `ne[0]`, the input dimension of `y = W·x`.
    pub fn cols(&self) -> u64 {
        self.ne[0]
    }

    /// Number of rows of the tensor seen as a matrix: the product of `ne[1..]`.
    pub fn rows(&self) -> u64 {
        self.ne[1..].iter().fold(1u64, |acc, &d| acc.saturating_mul(d))
    }
}

/// A tensor info together with where its fields sit in the file, for later error messages.
pub(crate) struct ParsedTensor {
    pub(crate) info: TensorInfo,
    /// Offset of the name's length field.
    pub(crate) name_at: u64,
    /// Offset of the data-offset field.
    pub(crate) offset_at: u64,
}

/// Reads one tensor info: name, n_dims (u32), ne[n_dims] (u64 each), ggml type (u32), offset
/// (u64). `alignment` is the file's (already validated) alignment.
pub(crate) fn read_tensor_info(c: &mut Cursor, alignment: u64) -> Result<ParsedTensor> {
    let name_at = c.pos();
    let name = read_name(c)?;
    let err = |at: u64, kind: GgufError| Err(Error::gguf(at, kind));

    let dims_at = c.pos();
    let n_dims = c.u32("tensor n_dims")?;
    if n_dims as usize > MAX_DIMS {
        return err(dims_at, GgufError::TooManyDims { name, n_dims });
    }
    let mut ne = [1u64; MAX_DIMS];
    for (index, slot) in ne.iter_mut().take(n_dims as usize).enumerate() {
        let at = c.pos();
        let value = c.u64("tensor dimension")?;
        if value > i64::MAX as u64 {
            return err(at, GgufError::BadDim { name, index, value });
        }
        *slot = value;
    }
    let n_elements = ne.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    if n_elements.is_none_or(|n| n > i64::MAX as u64) {
        return err(dims_at, GgufError::SizeOverflow { name });
    }

    let type_at = c.pos();
    let id = c.u32("tensor type")?;
    let dtype = match DType::from_ggml_id(id) {
        Ok(dt) => dt,
        Err(Error::UnsupportedType { name: type_name, id }) => {
            let kind = GgufError::UnsupportedTensorType { name, type_name, id };
            return err(type_at, kind);
        }
        Err(_) => return err(type_at, GgufError::UnknownTensorType { name, id }),
    };

    let block = dtype.block_size() as u64;
    if ne[0] % block != 0 {
        return err(dims_at, GgufError::RowNotBlockMultiple { name, ne0: ne[0], block });
    }
    // Row bytes × rows, then the padding step: all checked (a wrapped pad is CVE-2026-27940).
    let n_bytes = dtype
        .row_bytes(ne[0])
        .and_then(|row| ne[1..].iter().try_fold(row, |acc, &d| acc.checked_mul(d)))
        .filter(|&b| b.checked_add(alignment - 1).is_some());
    let Some(n_bytes) = n_bytes else {
        return err(dims_at, GgufError::SizeOverflow { name });
    };

    let offset_at = c.pos();
    let offset = c.u64("tensor data offset")?;
    if offset % alignment != 0 {
        return err(offset_at, GgufError::MisalignedOffset { name, offset, alignment });
    }
    let info = TensorInfo { name, dtype, ne, n_dims, offset, n_bytes };
    Ok(ParsedTensor { info, name_at, offset_at })
}

/// A tensor name: 1..=63 bytes of UTF-8. The length is checked before the bytes are read.
fn read_name(c: &mut Cursor) -> Result<String> {
    let at = c.pos();
    let len = c.u64("tensor name length")?;
    if len >= MAX_NAME {
        return Err(Error::gguf(at, GgufError::NameTooLong(len)));
    }
    let left = c.left();
    if len > left {
        return Err(Error::gguf(at, GgufError::StringTooLong { len, left }));
    }
    let raw = c.take(len, "tensor name")?;
    match std::str::from_utf8(raw) {
        Ok(s) if !s.is_empty() => Ok(s.to_owned()),
        _ => Err(Error::gguf(at, GgufError::BadName)),
    }
}

/// `n` rounded up to a multiple of `alignment` (a power of two), or `None` on overflow.
pub(crate) fn align_up(n: u64, alignment: u64) -> Option<u64> {
    Some(n.checked_add(alignment - 1)? & !(alignment - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info_bytes(name: &str, ne: &[u64], type_id: u32, offset: u64) -> Vec<u8> {
        let mut b = (name.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(name.as_bytes());
        b.extend_from_slice(&(ne.len() as u32).to_le_bytes());
        for d in ne {
            b.extend_from_slice(&d.to_le_bytes());
        }
        b.extend_from_slice(&type_id.to_le_bytes());
        b.extend_from_slice(&offset.to_le_bytes());
        b
    }

    fn parse(b: &[u8]) -> Result<ParsedTensor> {
        read_tensor_info(&mut Cursor::new(b), 32)
    }

    #[test]
    fn matrix_view_and_sizes() {
        // Q4_K weight of a 576 -> 1536 projection: 576 is not a multiple of 256, so use 512.
        let t = parse(&info_bytes("w", &[512, 1536], 12, 64)).unwrap();
        assert_eq!((t.info.cols(), t.info.rows()), (512, 1536));
        assert_eq!(t.info.shape(), &[512, 1536]);
        assert_eq!(t.info.n_elements(), 512 * 1536);
        assert_eq!(t.info.n_bytes, 2 * 144 * 1536);
        assert_eq!((t.name_at, t.offset_at), (0, 8 + 1 + 4 + 16 + 4));
    }

    #[test]
    fn zero_dimension_is_an_empty_tensor() {
        let t = parse(&info_bytes("e", &[0, 7], 0, 0)).unwrap();
        assert_eq!((t.info.n_elements(), t.info.n_bytes), (0, 0));
    }

    #[test]
    fn padding_overflow_is_caught() {
        // F32 [4, 2^30-1, 2^30+1]: 2^64-16 bytes, which wraps to 0 when padded to 32.
        let b = info_bytes("t", &[4, (1 << 30) - 1, (1 << 30) + 1], 0, 0);
        assert!(matches!(parse(&b), Err(Error::Gguf { kind: GgufError::SizeOverflow { .. }, .. })));
    }

    #[test]
    fn align_up_rounds_and_checks() {
        assert_eq!(align_up(0, 32), Some(0));
        assert_eq!(align_up(33, 32), Some(64));
        assert_eq!(align_up(u64::MAX - 3, 32), None);
    }
}
