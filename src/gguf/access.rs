//! Typed metadata getters on [`GgufFile`] and the conversion rule behind them.
//!
//! May use: `error`, the siblings `value` and the parent module. Invariant: a getter never
//! converts lossily. The rule: an integer getter accepts its own type and any narrower type of
//! the same signedness (`get_u32` takes u8, u16, u32; `get_i64` takes i8 … i64); a signed value
//! never satisfies an unsigned getter or the reverse, even when it would fit, because a
//! converter that wrote the wrong signedness has probably written a wrong value too. (llama.cpp
//! requires the exact type; widening only admits files it would reject, never misreads one.)
//! `get_f64` takes f32 or f64, `get_f32` only f32. Strings stay bytes unless asked lossily.

use std::borrow::Cow;

use super::GgufFile;
use super::value::{Array, Value};
use crate::error::{Error, Result};

impl Value {
    /// The value as a u32 if it is a u8, u16 or u32.
    pub fn to_u32(&self) -> Option<u32> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v),
            _ => None,
        }
    }

    /// The value as a u64 if it is any unsigned integer.
    pub fn to_u64(&self) -> Option<u64> {
        match *self {
            Value::U64(v) => Some(v),
            _ => self.to_u32().map(u64::from),
        }
    }

    /// The value as an i32 if it is an i8, i16 or i32.
    pub fn to_i32(&self) -> Option<i32> {
        match *self {
            Value::I8(v) => Some(v.into()),
            Value::I16(v) => Some(v.into()),
            Value::I32(v) => Some(v),
            _ => None,
        }
    }

    /// The value as an i64 if it is any signed integer.
    pub fn to_i64(&self) -> Option<i64> {
        match *self {
            Value::I64(v) => Some(v),
            _ => self.to_i32().map(i64::from),
        }
    }

    /// The value as an f64 if it is an f32 or f64.
    pub fn to_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => None,
        }
    }
}

impl GgufFile {
    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.dir.key_index.get(key).map(|&i| &self.dir.metadata[i].1)
    }

    fn typed<'a, T>(
        &'a self,
        key: &str,
        expected: &'static str,
        convert: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<T> {
        let value = self.get(key).ok_or_else(|| Error::KeyNotFound(key.to_owned()))?;
        convert(value).ok_or_else(|| Error::KeyType {
            key: key.to_owned(),
            found: value.type_name(),
            expected,
        })
    }

    /// An unsigned integer of at most 32 bits (`llama.block_count`).
    pub fn get_u32(&self, key: &str) -> Result<u32> {
        self.typed(key, "u32", Value::to_u32)
    }

    /// An unsigned integer of any width.
    pub fn get_u64(&self, key: &str) -> Result<u64> {
        self.typed(key, "u64", Value::to_u64)
    }

    /// A signed integer of at most 32 bits.
    pub fn get_i32(&self, key: &str) -> Result<i32> {
        self.typed(key, "i32", Value::to_i32)
    }

    /// A signed integer of any width.
    pub fn get_i64(&self, key: &str) -> Result<i64> {
        self.typed(key, "i64", Value::to_i64)
    }

    /// An f32 (`llama.rope.freq_base`).
    pub fn get_f32(&self, key: &str) -> Result<f32> {
        self.typed(key, "f32", |v| match *v {
            Value::F32(x) => Some(x),
            _ => None,
        })
    }

    /// An f32 or f64, as f64.
    pub fn get_f64(&self, key: &str) -> Result<f64> {
        self.typed(key, "f64", Value::to_f64)
    }

    /// A bool.
    pub fn get_bool(&self, key: &str) -> Result<bool> {
        self.typed(key, "bool", |v| match *v {
            Value::Bool(b) => Some(b),
            _ => None,
        })
    }

    /// A string's raw bytes (GGUF does not guarantee UTF-8 for every string).
    pub fn get_str(&self, key: &str) -> Result<&[u8]> {
        self.typed(key, "string", |v| match v {
            Value::String(s) => Some(s.as_slice()),
            _ => None,
        })
    }

    /// A string decoded as UTF-8, invalid sequences replaced by U+FFFD.
    pub fn get_string_lossy(&self, key: &str) -> Result<Cow<'_, str>> {
        self.get_str(key).map(String::from_utf8_lossy)
    }

    /// An array of any element type.
    pub fn get_array(&self, key: &str) -> Result<&Array> {
        self.typed(key, "array", |v| match v {
            Value::Array(a) => Some(a),
            _ => None,
        })
    }

    /// A string array as raw bytes per element (`tokenizer.ggml.tokens`).
    pub fn get_string_array(&self, key: &str) -> Result<&[Vec<u8>]> {
        self.typed(key, "array<string>", |v| match v {
            Value::Array(a) => a.as_strings(),
            _ => None,
        })
    }

    /// An f32 array (`tokenizer.ggml.scores`).
    pub fn get_f32_array(&self, key: &str) -> Result<&[f32]> {
        self.typed(key, "array<f32>", |v| match v {
            Value::Array(a) => a.as_f32(),
            _ => None,
        })
    }

    /// An i32 array (`tokenizer.ggml.token_type`).
    pub fn get_i32_array(&self, key: &str) -> Result<&[i32]> {
        self.typed(key, "array<i32>", |v| match v {
            Value::Array(a) => a.as_i32(),
            _ => None,
        })
    }
}
