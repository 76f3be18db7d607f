//! A bounds-checked little-endian cursor over the bytes of a GGUF file.
//!
//! May use: `error`. Invariant: no read goes past the end of the slice; every failure is an
//! `Error::Gguf` whose offset is where the field being read starts, and no length read from the
//! file is used for an allocation before it is checked against [`Cursor::left`].

use crate::error::{Error, GgufError, Result};

/// Reads fixed-size fields and length-prefixed strings from a byte slice.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    /// Byte offset of the next read (the start of the next field).
    pub(crate) fn pos(&self) -> u64 {
        self.pos as u64
    }

    /// Bytes between the current position and the end of the file.
    pub(crate) fn left(&self) -> u64 {
        (self.bytes.len() - self.pos) as u64
    }

    /// The next `n` bytes, or `Truncated` naming `what` at the current position.
    pub(crate) fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8]> {
        let left = self.left();
        if n > left {
            return Err(Error::gguf(self.pos(), GgufError::Truncated { what, needed: n, left }));
        }
        // n <= left <= usize::MAX, so the cast and the addition are exact.
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.bytes[start..self.pos])
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let s = self.take(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16> {
        self.array(what).map(u16::from_le_bytes)
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32> {
        self.array(what).map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64> {
        self.array(what).map(u64::from_le_bytes)
    }

    pub(crate) fn f32(&mut self, what: &'static str) -> Result<f32> {
        self.array(what).map(f32::from_le_bytes)
    }

    pub(crate) fn f64(&mut self, what: &'static str) -> Result<f64> {
        self.array(what).map(f64::from_le_bytes)
    }

    /// A GGUF string: u64 byte length, then that many bytes (no terminator, any encoding).
    /// A length beyond the bytes left is `StringTooLong` at the length field.
    pub(crate) fn string(&mut self, what: &'static str) -> Result<&'a [u8]> {
        let at = self.pos();
        let len = self.u64(what)?;
        let left = self.left();
        if len > left {
            return Err(Error::gguf(at, GgufError::StringTooLong { len, left }));
        }
        self.take(len, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(e: Error) -> (u64, GgufError) {
        match e {
            Error::Gguf { offset, kind } => (offset, kind),
            other => panic!("not a GGUF error: {other:?}"),
        }
    }

    #[test]
    fn reads_little_endian_fields_in_order() {
        let mut bytes = vec![7u8];
        bytes.extend_from_slice(&0x1234u16.to_le_bytes());
        bytes.extend_from_slice(&0xdead_beefu32.to_le_bytes());
        bytes.extend_from_slice(&u64::MAX.to_le_bytes());
        bytes.extend_from_slice(&1.5f32.to_le_bytes());
        let mut c = Cursor::new(&bytes);
        assert_eq!(c.u8("a").unwrap(), 7);
        assert_eq!(c.u16("b").unwrap(), 0x1234);
        assert_eq!(c.u32("c").unwrap(), 0xdead_beef);
        assert_eq!(c.u64("d").unwrap(), u64::MAX);
        assert_eq!(c.f32("e").unwrap(), 1.5);
        assert_eq!(c.left(), 0);
    }

    #[test]
    fn short_field_is_truncated_at_its_start() {
        let mut c = Cursor::new(&[1, 2, 3, 4, 5]);
        c.u8("x").unwrap();
        let (offset, k) = kind(c.u64("field").unwrap_err());
        assert_eq!(offset, 1);
        assert_eq!(k, GgufError::Truncated { what: "field", needed: 8, left: 4 });
        // A failed read does not move the cursor.
        assert_eq!(c.pos(), 1);
    }

    #[test]
    fn string_length_is_checked_against_bytes_left() {
        let mut bytes = u64::MAX.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"abc");
        let (offset, k) = kind(Cursor::new(&bytes).string("s").unwrap_err());
        assert_eq!(offset, 0);
        assert_eq!(k, GgufError::StringTooLong { len: u64::MAX, left: 3 });

        let mut ok = 3u64.to_le_bytes().to_vec();
        ok.extend_from_slice(b"abc");
        assert_eq!(Cursor::new(&ok).string("s").unwrap(), b"abc");
    }
}
