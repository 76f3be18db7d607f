//! Reading one metadata key-value pair: the key string, the value type id, the value.
//!
//! May use: `error`, the sibling `cursor` and `value`. Invariant: every length (string, array)
//! is checked against the bytes left with checked arithmetic before anything is allocated, so
//! an allocation never exceeds a small multiple of the file's size.

use super::cursor::Cursor;
use super::value::{Array, Value, ValueType};
use crate::error::{Error, GgufError, Result};

/// Reads a metadata key: a non-empty UTF-8 GGUF string. Errors point at its length field.
pub(crate) fn read_key(c: &mut Cursor) -> Result<String> {
    let at = c.pos();
    let raw = c.string("metadata key")?;
    if raw.is_empty() {
        return Err(Error::gguf(at, GgufError::EmptyKey));
    }
    match std::str::from_utf8(raw) {
        Ok(key) => Ok(key.to_owned()),
        Err(_) => Err(Error::gguf(at, GgufError::KeyNotUtf8)),
    }
}

/// Reads a value type id and the value that follows it; `key` names the entry in errors.
pub(crate) fn read_value(c: &mut Cursor, key: &str) -> Result<Value> {
    let at = c.pos();
    let id = c.u32("value type")?;
    let ty = ValueType::from_id(id).ok_or_else(|| bad_type(at, key, id))?;
    Ok(match ty {
        ValueType::U8 => Value::U8(c.u8("u8 value")?),
        ValueType::I8 => Value::I8(c.u8("i8 value")? as i8),
        ValueType::U16 => Value::U16(c.u16("u16 value")?),
        ValueType::I16 => Value::I16(c.u16("i16 value")? as i16),
        ValueType::U32 => Value::U32(c.u32("u32 value")?),
        ValueType::I32 => Value::I32(c.u32("i32 value")? as i32),
        ValueType::F32 => Value::F32(c.f32("f32 value")?),
        ValueType::Bool => Value::Bool(read_bool(c, key)?),
        ValueType::String => Value::String(c.string("string value")?.to_vec()),
        ValueType::Array => Value::Array(read_array(c, key)?),
        ValueType::U64 => Value::U64(c.u64("u64 value")?),
        ValueType::I64 => Value::I64(c.u64("i64 value")? as i64),
        ValueType::F64 => Value::F64(c.f64("f64 value")?),
    })
}

fn bad_type(at: u64, key: &str, type_id: u32) -> Error {
    Error::gguf(at, GgufError::BadValueType { key: key.to_owned(), type_id })
}

fn nested(at: u64, key: &str) -> Error {
    Error::gguf(at, GgufError::NestedArray { key: key.to_owned() })
}

/// Policy: a bool byte must be 0 or 1 (ggml maps any non-zero byte to true; a stray value more
/// likely means a misparsed file, and candle rejects it too).
fn read_bool(c: &mut Cursor, key: &str) -> Result<bool> {
    let at = c.pos();
    match c.u8("bool value")? {
        0 => Ok(false),
        1 => Ok(true),
        value => Err(Error::gguf(at, GgufError::BadBool { key: key.to_owned(), value })),
    }
}

/// Array layout: element type id (u32), element count (u64), the elements back to back.
fn read_array(c: &mut Cursor, key: &str) -> Result<Array> {
    let at = c.pos();
    let id = c.u32("array element type")?;
    let ty = match ValueType::from_id(id) {
        None => return Err(bad_type(at, key, id)),
        Some(ValueType::Array) => return Err(nested(at, key)),
        Some(ty) => ty,
    };
    let len_at = c.pos();
    let len = c.u64("array length")?;
    let left = c.left();
    // Each element needs at least `min_size` bytes (a string its 8-byte length), so this bounds
    // both the reads and the Vec capacities below by the bytes left.
    if len.checked_mul(ty.min_size()).is_none_or(|need| need > left) {
        let kind = GgufError::ArrayTooLong { key: key.to_owned(), len, left };
        return Err(Error::gguf(len_at, kind));
    }
    let n = len as usize; // len <= left, which came from a slice length
    Ok(match ty {
        ValueType::U8 => Array::U8(c.take(len, "u8 array")?.to_vec()),
        ValueType::I8 => Array::I8(fixed(c, n, |b: [u8; 1]| b[0] as i8)?),
        ValueType::U16 => Array::U16(fixed(c, n, u16::from_le_bytes)?),
        ValueType::I16 => Array::I16(fixed(c, n, i16::from_le_bytes)?),
        ValueType::U32 => Array::U32(fixed(c, n, u32::from_le_bytes)?),
        ValueType::I32 => Array::I32(fixed(c, n, i32::from_le_bytes)?),
        ValueType::F32 => Array::F32(fixed(c, n, f32::from_le_bytes)?),
        ValueType::U64 => Array::U64(fixed(c, n, u64::from_le_bytes)?),
        ValueType::I64 => Array::I64(fixed(c, n, i64::from_le_bytes)?),
        ValueType::F64 => Array::F64(fixed(c, n, f64::from_le_bytes)?),
        ValueType::Bool => {
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(read_bool(c, key)?);
            }
            Array::Bool(v)
        }
        ValueType::String => {
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(c.string("string array element")?.to_vec());
            }
            Array::String(v)
        }
        ValueType::Array => return Err(nested(at, key)),
    })
}

/// Reads `n` fixed-size little-endian elements of `N` bytes each.
fn fixed<T, const N: usize>(c: &mut Cursor, n: usize, decode: fn([u8; N]) -> T) -> Result<Vec<T>> {
    // n * N <= bytes left was checked by the caller; saturating keeps this self-contained
    // (a saturated size fails in `take`).
    let total = (n as u64).saturating_mul(N as u64);
    let bytes = c.take(total, "array elements")?;
    let mut out = Vec::with_capacity(n);
    for chunk in bytes.chunks_exact(N) {
        let mut b = [0u8; N];
        b.copy_from_slice(chunk);
        out.push(decode(b));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_bytes(type_id: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = type_id.to_le_bytes().to_vec();
        v.extend_from_slice(payload);
        v
    }

    fn array_bytes(elem: u32, n: u64, payload: &[u8]) -> Vec<u8> {
        let mut p = elem.to_le_bytes().to_vec();
        p.extend_from_slice(&n.to_le_bytes());
        p.extend_from_slice(payload);
        value_bytes(9, &p)
    }

    fn err_kind(bytes: &[u8]) -> (u64, GgufError) {
        match read_value(&mut Cursor::new(bytes), "k") {
            Err(Error::Gguf { offset, kind }) => (offset, kind),
            other => panic!("expected a GGUF error, got {other:?}"),
        }
    }

    #[test]
    fn scalars_decode_by_type_id() {
        let v = |id, p: &[u8]| read_value(&mut Cursor::new(&value_bytes(id, p)), "k").unwrap();
        assert_eq!(v(1, &[0xff]), Value::I8(-1));
        assert_eq!(v(3, &(-2i16).to_le_bytes()), Value::I16(-2));
        assert_eq!(v(11, &(-3i64).to_le_bytes()), Value::I64(-3));
        assert_eq!(v(12, &0.25f64.to_le_bytes()), Value::F64(0.25));
        assert_eq!(v(7, &[1]), Value::Bool(true));
    }

    #[test]
    fn arrays_decode_and_reject_nesting() {
        let a = array_bytes(5, 2, &[1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff]);
        let got = read_value(&mut Cursor::new(&a), "k").unwrap();
        assert_eq!(got, Value::Array(Array::I32(vec![1, -2])));
        assert_eq!(
            err_kind(&array_bytes(9, 1, &[])),
            (4, GgufError::NestedArray { key: "k".into() })
        );
    }

    #[test]
    fn array_length_is_bounded_by_bytes_left() {
        // 2^61 u64 elements would be 2^64 bytes: the multiplication itself overflows.
        let (off, kind) = err_kind(&array_bytes(10, 1 << 61, &[0; 16]));
        assert_eq!(off, 8);
        assert_eq!(kind, GgufError::ArrayTooLong { key: "k".into(), len: 1 << 61, left: 16 });
        // Three strings need at least 24 bytes of length prefixes.
        let (_, kind) = err_kind(&array_bytes(8, 3, &[0; 16]));
        assert!(matches!(kind, GgufError::ArrayTooLong { len: 3, left: 16, .. }));
    }

    #[test]
    fn bool_must_be_zero_or_one() {
        assert_eq!(
            err_kind(&value_bytes(7, &[2])),
            (4, GgufError::BadBool { key: "k".into(), value: 2 })
        );
        let (off, _) = err_kind(&array_bytes(7, 3, &[0, 1, 7]));
        assert_eq!(off, 4 + 4 + 8 + 2);
    }

    #[test]
    fn keys_must_be_nonempty_utf8() {
        let key = |raw: &[u8]| {
            let mut b = (raw.len() as u64).to_le_bytes().to_vec();
            b.extend_from_slice(raw);
            read_key(&mut Cursor::new(&b))
        };
        assert_eq!(key(b"general.name").unwrap(), "general.name");
        assert!(matches!(key(b""), Err(Error::Gguf { kind: GgufError::EmptyKey, .. })));
        assert!(matches!(key(&[0xff, 0xfe]), Err(Error::Gguf { kind: GgufError::KeyNotUtf8, .. })));
    }
}
