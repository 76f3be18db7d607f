//! Parses a whole GGUF file (v2 or v3, little-endian) into a validated [`Directory`].
//!
//! May use: `error`, the siblings `cursor`, `kv`, `tensor`, `value`. Invariant: a `Directory`
//! only exists for a file that passed every check of reliability.md section A: counts and
//! lengths fit in the bytes left, keys and tensor names are unique, the alignment is sane, and
//! every tensor's data lies inside the file without overlapping another's.
//!
//! Layout (all little-endian): magic `GGUF`, version u32, n_tensors u64, n_kv u64, n_kv
//! key-value pairs, n_tensors tensor infos, padding to the alignment, then the data section.

use std::collections::HashMap;

use super::cursor::Cursor;
use super::kv::{read_key, read_value};
use super::tensor::{ParsedTensor, TensorInfo, align_up, read_tensor_info};
use super::value::Value;
use crate::error::{Error, GgufError, Result};

/// Alignment of tensor data when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// Largest accepted `general.alignment` (1 MiB, as proposed in ggml-org/ggml#1516).
pub const MAX_ALIGNMENT: u64 = 1 << 20;

/// Fewest bytes a key-value pair can take: key length (8) + value type (4) + a 1-byte value.
const MIN_KV_BYTES: u64 = 13;

/// Fewest bytes a tensor info can take: name length (8) + n_dims (4) + type (4) + offset (8).
const MIN_TENSOR_BYTES: u64 = 24;

/// Initial capacity cap for the metadata and tensor vectors: counts were already checked
/// against the bytes left, this just keeps a large garbage count from reserving much up front.
const PREALLOC_CAP: u64 = 4096;

/// Everything the header, metadata and tensor directory say, after validation.
#[derive(Debug)]
pub(crate) struct Directory {
    pub(crate) version: u32,
    pub(crate) alignment: u64,
    pub(crate) data_offset: u64,
    pub(crate) file_len: u64,
    pub(crate) metadata: Vec<(String, Value)>,
    pub(crate) key_index: HashMap<String, usize>,
    pub(crate) tensors: Vec<TensorInfo>,
    pub(crate) tensor_index: HashMap<String, usize>,
}

/// Parses and validates `bytes`, the complete file.
pub(crate) fn parse(bytes: &[u8]) -> Result<Directory> {
    let mut c = Cursor::new(bytes);
    let file_len = bytes.len() as u64;
    let version = read_header(&mut c)?;

    let n_tensors_at = c.pos();
    let n_tensors = c.u64("tensor count")?;
    let n_kv_at = c.pos();
    let n_kv = c.u64("metadata count")?;
    check_count(n_tensors_at, "tensor", n_tensors, MIN_TENSOR_BYTES, c.left())?;
    check_count(n_kv_at, "metadata", n_kv, MIN_KV_BYTES, c.left())?;

    let mut metadata = Vec::with_capacity(n_kv.min(PREALLOC_CAP) as usize);
    let mut key_index = HashMap::new();
    let mut value_at = Vec::with_capacity(n_kv.min(PREALLOC_CAP) as usize);
    for _ in 0..n_kv {
        let key_at = c.pos();
        let key = read_key(&mut c)?;
        if key_index.contains_key(&key) {
            return Err(Error::gguf(key_at, GgufError::DuplicateKey(key)));
        }
        value_at.push(c.pos());
        let value = read_value(&mut c, &key)?;
        key_index.insert(key.clone(), metadata.len());
        metadata.push((key, value));
    }
    let alignment = match key_index.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(&i) => check_alignment(value_at[i], &metadata[i].1)?,
    };

    // The key-value pairs used up bytes: the tensor count must still fit in what is left.
    check_count(n_tensors_at, "tensor", n_tensors, MIN_TENSOR_BYTES, c.left())?;
    let mut parsed: Vec<ParsedTensor> = Vec::with_capacity(n_tensors.min(PREALLOC_CAP) as usize);
    let mut tensor_index = HashMap::new();
    for _ in 0..n_tensors {
        let t = read_tensor_info(&mut c, alignment)?;
        if tensor_index.contains_key(&t.info.name) {
            let kind = GgufError::DuplicateTensor(t.info.name);
            return Err(Error::gguf(t.name_at, kind));
        }
        tensor_index.insert(t.info.name.clone(), parsed.len());
        parsed.push(t);
    }

    // The data section starts at the next multiple of the alignment; since the whole file is
    // mapped at a page boundary, every tensor offset is then aligned in memory too.
    let data_offset = align_up(c.pos(), alignment)
        .expect("invariant: a position inside a slice is far below u64::MAX - 1 MiB");
    check_layout(&parsed, data_offset, file_len)?;

    let tensors = parsed.into_iter().map(|t| t.info).collect();
    Ok(Directory {
        version,
        alignment,
        data_offset,
        file_len,
        metadata,
        key_index,
        tensors,
        tensor_index,
    })
}

/// Magic and version; returns the version (2 or 3).
fn read_header(c: &mut Cursor) -> Result<u32> {
    let magic = c.take(4, "magic")?;
    if magic != b"GGUF" {
        let shown = magic.iter().map(|&b| if b.is_ascii_graphic() { b as char } else { '?' });
        return Err(Error::gguf(0, GgufError::BadMagic(shown.collect())));
    }
    let version = c.u32("version")?;
    let kind = match version {
        2 | 3 => return Ok(version),
        1 => GgufError::VersionOne,
        // A big-endian v2/v3 file reads as 0x0200_0000 / 0x0300_0000 here.
        v if v != 0 && v & 0xffff == 0 => GgufError::BigEndian(v),
        v => GgufError::BadVersion(v),
    };
    Err(Error::gguf(4, kind))
}

/// Rejects a count of entries that cannot fit in the bytes left, before anything is allocated
/// from it (CVE-2024-21836 and CVE-2024-23605 wrapped count × size instead).
fn check_count(at: u64, what: &'static str, count: u64, min_bytes: u64, left: u64) -> Result<()> {
    let max = left / min_bytes;
    if count > max {
        return Err(Error::gguf(at, GgufError::CountTooLarge { what, count, max, left }));
    }
    Ok(())
}

/// `general.alignment` must be a u32 power of two no larger than [`MAX_ALIGNMENT`].
fn check_alignment(at: u64, value: &Value) -> Result<u64> {
    let Value::U32(a) = *value else {
        return Err(Error::gguf(at, GgufError::AlignmentType(value.type_name())));
    };
    let a = u64::from(a);
    if !a.is_power_of_two() || a > MAX_ALIGNMENT {
        return Err(Error::gguf(at, GgufError::BadAlignment(a)));
    }
    Ok(a)
}

/// Every tensor's bytes lie inside the file, and no two tensors share a byte.
fn check_layout(parsed: &[ParsedTensor], data_offset: u64, file_len: u64) -> Result<()> {
    for t in parsed {
        let start = data_offset.checked_add(t.info.offset);
        let end = start.and_then(|s| s.checked_add(t.info.n_bytes));
        match (start, end) {
            (Some(_), Some(end)) if end <= file_len => {}
            _ => {
                let kind = GgufError::TensorOutOfBounds {
                    name: t.info.name.clone(),
                    start: start.unwrap_or(u64::MAX),
                    end: end.unwrap_or(u64::MAX),
                    file_len,
                };
                return Err(Error::gguf(t.offset_at, kind));
            }
        }
    }
    // Sorted by start, intervals are disjoint exactly when each ends before the next starts.
    // Empty tensors own no bytes and cannot overlap.
    let mut order: Vec<&ParsedTensor> = parsed.iter().filter(|t| t.info.n_bytes > 0).collect();
    order.sort_by_key(|t| t.info.offset);
    for pair in order.windows(2) {
        let (a, b) = (&pair[0].info, &pair[1].info);
        // Both sums were bounds-checked above, so they cannot overflow.
        if b.offset < a.offset + a.n_bytes {
            let kind =
                GgufError::OverlappingTensors { first: a.name.clone(), second: b.name.clone() };
            return Err(Error::gguf(pair[1].offset_at, kind));
        }
    }
    Ok(())
}
