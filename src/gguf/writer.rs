//! `GgufWriter`: builds GGUF files in memory for tests, fixtures and the fuzz corpus; plus the
//! `From` conversions that make building metadata values terse.
//!
//! May use: `quant`, `error`, the siblings `value` and `tensor`. Invariant: the writer emits
//! exactly the layout reader.rs parses (v2 and v3 share it); tensors are checked as they are
//! added, so `to_bytes` of a writer that only used the typed API is always a valid file.

use std::path::Path;

use super::tensor::{MAX_DIMS, MAX_NAME, align_up};
use super::value::{Array, Value};
use crate::error::{Error, Result};
use crate::quant::DType;

/// A GGUF file under construction. Keys keep insertion order; adding a key again replaces its
/// value in place.
#[derive(Debug, Clone)]
pub struct GgufWriter {
    version: u32,
    alignment: u64,
    kvs: Vec<(String, Value)>,
    tensors: Vec<(String, DType, Vec<u64>, Vec<u8>)>,
}

impl Default for GgufWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl GgufWriter {
    /// An empty version-3 file with the default alignment (32).
    pub fn new() -> Self {
        GgufWriter { version: 3, alignment: 32, kvs: Vec::new(), tensors: Vec::new() }
    }

    /// Sets the version field (2 and 3 share a layout; other values make invalid files).
    pub fn version(&mut self, version: u32) -> &mut Self {
        self.version = version;
        self
    }

    /// Pads tensor data to `alignment` bytes and records it as `general.alignment`.
    pub fn alignment(&mut self, alignment: u32) -> Result<&mut Self> {
        if !alignment.is_power_of_two() {
            let msg = format!("GGUF alignment {alignment} is not a power of two");
            return Err(Error::InvalidArgument(msg));
        }
        self.alignment = alignment.into();
        Ok(self.add("general.alignment", alignment))
    }

    /// Adds (or replaces) a key-value pair.
    pub fn add(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        let value = value.into();
        match self.kvs.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.kvs.push((key.to_owned(), value)),
        }
        self
    }

    /// Adds a tensor with shape `ne` (ggml order, at most 4 dimensions) and its raw data,
    /// which must be exactly the size `dtype` gives that shape.
    pub fn add_tensor(
        &mut self,
        name: &str,
        dtype: DType,
        ne: &[u64],
        data: Vec<u8>,
    ) -> Result<&mut Self> {
        let bad = |why: String| Err(Error::InvalidArgument(format!("tensor {name:?}: {why}")));
        if name.is_empty() || name.len() as u64 >= MAX_NAME {
            return bad(format!("name must be 1..{MAX_NAME} bytes"));
        }
        if self.tensors.iter().any(|t| t.0 == name) {
            return bad("added twice".into());
        }
        if ne.len() > MAX_DIMS {
            return bad(format!("{} dimensions, at most {MAX_DIMS}", ne.len()));
        }
        // A 0-dimensional tensor is a single element (ggml stores it as ne = [1, 1, 1, 1]).
        let expected = dtype
            .row_bytes(ne.first().copied().unwrap_or(1))
            .and_then(|row| ne.iter().skip(1).try_fold(row, |acc, &d| acc.checked_mul(d)));
        if expected != Some(data.len() as u64) {
            return bad(format!("{} data bytes, {dtype} {ne:?} needs {expected:?}", data.len()));
        }
        self.tensors.push((name.to_owned(), dtype, ne.to_vec(), data));
        Ok(self)
    }

    /// The complete file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"GGUF");
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.kvs.len() as u64).to_le_bytes());
        for (key, value) in &self.kvs {
            put_str(&mut out, key.as_bytes());
            put_value(&mut out, value);
        }
        let mut offset = 0u64;
        for (name, dtype, ne, data) in &self.tensors {
            put_str(&mut out, name.as_bytes());
            out.extend_from_slice(&(ne.len() as u32).to_le_bytes());
            for d in ne {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&dtype.ggml_id().to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            offset = self.pad(offset + data.len() as u64);
        }
        for (_, _, _, data) in &self.tensors {
            out.resize(self.pad(out.len() as u64) as usize, 0);
            out.extend_from_slice(data);
        }
        out.resize(self.pad(out.len() as u64) as usize, 0);
        out
    }

    fn pad(&self, n: u64) -> u64 {
        align_up(n, self.alignment).expect("invariant: in-memory sizes are far below u64::MAX")
    }

    /// Writes the file to `path` through a temporary file and a rename, so a failed write
    /// never leaves a half-written file under the final name.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, self.to_bytes()).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s);
}

/// Value type id, then the payload.
fn put_value(out: &mut Vec<u8>, v: &Value) {
    out.extend_from_slice(&v.value_type().id().to_le_bytes());
    put_payload(out, v);
}

/// A value without its type id: the form array elements take.
fn put_payload(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(u8::from(*x)),
        Value::String(s) => put_str(out, s),
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Array(a) => {
            out.extend_from_slice(&a.elem_type().id().to_le_bytes());
            out.extend_from_slice(&(a.len() as u64).to_le_bytes());
            // `Array::get` yields scalars only, so this recursion is one level deep.
            for item in (0..a.len()).filter_map(|i| a.get(i)) {
                put_payload(out, &item);
            }
        }
    }
}

macro_rules! scalar_from {
    ($($t:ty => $v:ident),*) => {$(
        impl From<$t> for Value {
            fn from(x: $t) -> Value {
                Value::$v(x)
            }
        }
        impl From<Vec<$t>> for Array {
            fn from(x: Vec<$t>) -> Array {
                Array::$v(x)
            }
        }
        impl From<Vec<$t>> for Value {
            fn from(x: Vec<$t>) -> Value {
                Value::Array(Array::$v(x))
            }
        }
    )*};
}

scalar_from!(u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32, f32 => F32,
    bool => Bool, u64 => U64, i64 => I64, f64 => F64);

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.as_bytes().to_vec())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s.into_bytes())
    }
}

impl From<Array> for Value {
    fn from(a: Array) -> Value {
        Value::Array(a)
    }
}

impl From<Vec<&str>> for Value {
    fn from(v: Vec<&str>) -> Value {
        Value::Array(Array::String(v.into_iter().map(|s| s.as_bytes().to_vec()).collect()))
    }
}

impl From<Vec<Vec<u8>>> for Value {
    fn from(v: Vec<Vec<u8>>) -> Value {
        Value::Array(Array::String(v))
    }
}
