//! Malformed GGUF files, built byte by byte, each rejected with its specific `GgufError` at the
//! byte offset where the offending field starts (reliability.md section A, items 1–26). Plus
//! sweeps: every truncation of a valid file, and byte corruptions, fail cleanly (no panic).

use kiln::Error;
use kiln::error::GgufError;
use kiln::gguf::{GgufFile, GgufWriter};
use kiln::quant::DType;

/// Little-endian GGUF bytes under construction; `pos()` gives the offset of the next field.
#[derive(Clone, Default)]
struct Raw(Vec<u8>);

impl Raw {
    /// Header with magic "GGUF".
    fn header(version: u32, n_tensors: u64, n_kv: u64) -> Raw {
        Raw::default().bytes(b"GGUF").u32(version).u64(n_tensors).u64(n_kv)
    }
    fn pos(&self) -> u64 {
        self.0.len() as u64
    }
    fn bytes(mut self, b: &[u8]) -> Raw {
        self.0.extend_from_slice(b);
        self
    }
    fn u8(self, v: u8) -> Raw {
        self.bytes(&[v])
    }
    fn u32(self, v: u32) -> Raw {
        self.bytes(&v.to_le_bytes())
    }
    fn u64(self, v: u64) -> Raw {
        self.bytes(&v.to_le_bytes())
    }
    fn str(self, s: &[u8]) -> Raw {
        self.u64(s.len() as u64).bytes(s)
    }
    /// A key and a u32 value.
    fn kv_u32(self, key: &str, v: u32) -> Raw {
        self.str(key.as_bytes()).u32(4).u32(v)
    }
    /// A tensor info: name, n_dims, ne, ggml type id, offset.
    fn tensor(self, name: &[u8], ne: &[u64], type_id: u32, offset: u64) -> Raw {
        let mut r = self.str(name).u32(ne.len() as u32);
        for &d in ne {
            r = r.u64(d);
        }
        r.u32(type_id).u64(offset)
    }
    /// Zero bytes up to the next multiple of `align`.
    fn pad(mut self, align: usize) -> Raw {
        while !self.0.len().is_multiple_of(align) {
            self.0.push(0);
        }
        self
    }
    fn zeros(mut self, n: usize) -> Raw {
        self.0.resize(self.0.len() + n, 0);
        self
    }
}

/// Parses `bytes`, which must fail with a GGUF error; returns its offset and kind.
fn fail(bytes: impl Into<Vec<u8>>) -> (u64, GgufError) {
    match GgufFile::from_bytes(bytes.into()) {
        Err(Error::Gguf { offset, kind }) => (offset, kind),
        Err(other) => panic!("expected a GGUF error, got {other}"),
        Ok(f) => panic!("expected a GGUF error, the file parsed: {f:?}"),
    }
}

fn assert_fails(r: Raw, offset: u64, kind: GgufError) {
    assert_eq!(fail(r.0), (offset, kind));
}

fn truncated(what: &'static str, needed: u64, left: u64) -> GgufError {
    GgufError::Truncated { what, needed, left }
}

// ---- header: magic, version, counts (items 1–5) ----

#[test]
fn empty_and_short_files_fail_on_the_magic() {
    assert_fails(Raw::default(), 0, truncated("magic", 4, 0));
    assert_fails(Raw::default().bytes(b"GGU"), 0, truncated("magic", 4, 3));
}

#[test]
fn bad_magic_shows_the_bytes_with_unprintables_as_question_marks() {
    assert_fails(Raw::default().bytes(b"FUGG").u32(3), 0, GgufError::BadMagic("FUGG".into()));
    assert_fails(Raw::default().bytes(b"ggjt").u32(3), 0, GgufError::BadMagic("ggjt".into()));
    assert_fails(
        Raw::default().bytes(&[0, 0xff, b'G', b'\n']),
        0,
        GgufError::BadMagic("??G?".into()),
    );
}

#[test]
fn version_is_checked() {
    assert_fails(Raw::default().bytes(b"GGUF").bytes(&[3, 0]), 4, truncated("version", 4, 2));
    assert_fails(Raw::header(0, 0, 0), 4, GgufError::BadVersion(0));
    assert_fails(Raw::header(1, 0, 0), 4, GgufError::VersionOne);
    assert_fails(Raw::header(4, 0, 0), 4, GgufError::BadVersion(4));
    assert_fails(Raw::header(0x0300_0000, 0, 0), 4, GgufError::BigEndian(0x0300_0000));
    assert_fails(Raw::header(0x0002_0000, 0, 0), 4, GgufError::BigEndian(0x0002_0000));
}

#[test]
fn truncated_counts() {
    let r = Raw::default().bytes(b"GGUF").u32(3).bytes(&[0; 5]);
    assert_fails(r, 8, truncated("tensor count", 8, 5));
    let r = Raw::default().bytes(b"GGUF").u32(3).u64(0).bytes(&[0; 7]);
    assert_fails(r, 16, truncated("metadata count", 8, 7));
}

#[test]
fn absurd_counts_are_rejected_before_allocating() {
    let count_err = |what, count, max, left| GgufError::CountTooLarge { what, count, max, left };
    assert_fails(Raw::header(3, u64::MAX, 0), 8, count_err("tensor", u64::MAX, 0, 0));
    assert_fails(Raw::header(3, 0, u64::MAX), 16, count_err("metadata", u64::MAX, 0, 0));
    // 30 bytes left hold at most 2 key-value pairs of 13 bytes.
    assert_fails(Raw::header(3, 0, 3).zeros(30), 16, count_err("metadata", 3, 2, 30));
    // One tensor fits in the 37 bytes after the header, but not in the 20 after the key-value.
    let r = Raw::header(3, 1, 1).kv_u32("a", 7).zeros(20);
    assert_fails(r, 8, count_err("tensor", 1, 0, 20));
}

// ---- key-value pairs (items 6–14) ----

#[test]
fn key_strings_are_bounded_nonempty_utf8_and_unique() {
    let too_long = Raw::header(3, 0, 1).u64(20).bytes(b"abcde").zeros(8);
    assert_fails(too_long, 24, GgufError::StringTooLong { len: 20, left: 13 });
    let huge = Raw::header(3, 0, 1).u64(u64::MAX).zeros(13);
    assert_fails(huge, 24, GgufError::StringTooLong { len: u64::MAX, left: 13 });
    assert_fails(Raw::header(3, 0, 1).str(b"").u32(0).u8(1), 24, GgufError::EmptyKey);
    assert_fails(Raw::header(3, 0, 1).str(b"a\xffb").u32(0).u8(1), 24, GgufError::KeyNotUtf8);
    let dup = Raw::header(3, 0, 2).kv_u32("general.x", 1);
    let at = dup.pos();
    assert_fails(dup.kv_u32("general.x", 2), at, GgufError::DuplicateKey("general.x".into()));
}

#[test]
fn unknown_value_type_names_the_key() {
    let r = Raw::header(3, 0, 1).str(b"k").u32(13).u64(0);
    assert_fails(r, 33, GgufError::BadValueType { key: "k".into(), type_id: 13 });
}

#[test]
fn truncated_scalar_and_string_values() {
    // u64 value (type 10) with 3 of its 8 bytes present.
    let r = Raw::header(3, 0, 1).str(b"k").u32(10).bytes(&[1, 2, 3]).zeros(10);
    assert_fails(Raw(r.0[..40].to_vec()), 37, truncated("u64 value", 8, 3));
    // A 1 GiB string in a file of a few dozen bytes.
    let r = Raw::header(3, 0, 1).str(b"k").u32(8).u64(1 << 30).bytes(b"short");
    assert_fails(r, 37, GgufError::StringTooLong { len: 1 << 30, left: 5 });
}

#[test]
fn bool_byte_other_than_zero_or_one() {
    let r = Raw::header(3, 0, 1).str(b"flag").u32(7).u8(2);
    assert_fails(r, 40, GgufError::BadBool { key: "flag".into(), value: 2 });
}

#[test]
fn arrays_reject_nesting_bad_types_and_impossible_lengths() {
    let arr = |elem: u32, n: u64| Raw::header(3, 0, 1).str(b"a").u32(9).u32(elem).u64(n);
    // The element type field sits at 24 + 9 (key) + 4 (value type) = 37; the length at 41.
    assert_fails(arr(9, 1).zeros(16), 37, GgufError::NestedArray { key: "a".into() });
    assert_fails(
        arr(13, 1).zeros(16),
        37,
        GgufError::BadValueType { key: "a".into(), type_id: 13 },
    );
    let left = 16;
    assert_fails(
        arr(10, 1 << 61).zeros(16),
        41,
        GgufError::ArrayTooLong { key: "a".into(), len: 1 << 61, left },
    );
    assert_fails(
        arr(8, 3).zeros(16),
        41,
        GgufError::ArrayTooLong { key: "a".into(), len: 3, left },
    );
    // A string element whose length runs past the end: the second element at 49 + 9.
    let r = arr(8, 2).str(b"x").u64(100).bytes(b"yy");
    assert_fails(r, 58, GgufError::StringTooLong { len: 100, left: 2 });
    // A bool array with a stray byte: 0, 1, 5 → the third element at 49 + 2.
    assert_fails(arr(7, 3).bytes(&[0, 1, 5]), 51, GgufError::BadBool { key: "a".into(), value: 5 });
    // Truncated fixed-size elements: 4 i32 need 16 bytes, 12 remain → rejected as too long.
    assert_fails(
        arr(5, 4).zeros(12),
        41,
        GgufError::ArrayTooLong { key: "a".into(), len: 4, left: 12 },
    );
}

#[test]
fn alignment_must_be_a_sane_u32_power_of_two() {
    let key = |r: Raw| r.str(b"general.alignment");
    // The value field (its type id) starts at 24 + 8 + 17 = 49.
    let r = key(Raw::header(3, 0, 1)).u32(10).u64(32);
    assert_fails(r, 49, GgufError::AlignmentType("u64"));
    let r = key(Raw::header(3, 0, 1)).u32(8).str(b"32");
    assert_fails(r, 49, GgufError::AlignmentType("string"));
    for bad in [0u32, 48, 1 << 30] {
        let r = key(Raw::header(3, 0, 1)).u32(4).u32(bad);
        assert_fails(r, 49, GgufError::BadAlignment(bad.into()));
    }
}

// ---- tensor infos (items 15–23) ----

/// A header with no key-value pairs and `n` tensors; tensor infos start at 24.
fn tensors(n: u64) -> Raw {
    Raw::header(3, n, 0)
}

#[test]
fn tensor_names_are_short_nonempty_utf8_and_unique() {
    let long = [b'x'; 64];
    assert_fails(tensors(1).tensor(&long, &[4], 0, 0), 24, GgufError::NameTooLong(64));
    let huge = tensors(1).u64(u64::MAX).zeros(40);
    assert_fails(huge, 24, GgufError::NameTooLong(u64::MAX));
    assert_fails(tensors(1).tensor(b"", &[4], 0, 0), 24, GgufError::BadName);
    assert_fails(tensors(1).tensor(b"\xc3\x28", &[4], 0, 0), 24, GgufError::BadName);
    let first = tensors(2).tensor(b"t", &[8], 0, 0);
    let at = first.pos();
    let r = first.tensor(b"t", &[8], 0, 32).pad(32).zeros(64);
    assert_fails(r, at, GgufError::DuplicateTensor("t".into()));
}

#[test]
fn truncated_tensor_info() {
    // Each file keeps at least 24 bytes after the header, so the count check passes.
    // A 63-byte name with 16 bytes left.
    assert_fails(tensors(1).u64(63).zeros(16), 24, GgufError::StringTooLong { len: 63, left: 16 });
    // Four dimensions announced, the second cut after 3 bytes (ne[1] at 24 + 9 + 4 + 8).
    let r = tensors(1).str(b"t").u32(4).zeros(11);
    assert_fails(r, 45, truncated("tensor dimension", 8, 3));
    // Everything but the last 4 bytes of the offset field (at 49).
    let mut r = tensors(1).tensor(b"t", &[8], 0, 0);
    r.0.truncate(r.0.len() - 4);
    assert_fails(r, 49, truncated("tensor data offset", 8, 4));
    // The type field (at 46, after a 2-byte name) cut after 2 bytes: exactly 24 bytes left.
    let r = tensors(1).str(b"tt").u32(1).u64(8).bytes(&[0, 0]);
    assert_fails(r, 46, truncated("tensor type", 4, 2));
}

#[test]
fn too_many_dims_is_rejected_before_reading_them() {
    // n_dims = 5 with no dimension bytes after it at all.
    let r = tensors(1).str(b"t").u32(5).zeros(12);
    assert_fails(r, 33, GgufError::TooManyDims { name: "t".into(), n_dims: 5 });
    let r = tensors(1).str(b"t").u32(u32::MAX).zeros(12);
    assert_fails(r, 33, GgufError::TooManyDims { name: "t".into(), n_dims: u32::MAX });
}

#[test]
fn negative_dims_and_overflowing_sizes() {
    // ne[1] = 2^63 reads as negative in ggml's int64 ne; it sits at 33 + 4 + 8.
    let r = tensors(1).tensor(b"t", &[4, 1 << 63], 0, 0);
    assert_fails(r, 45, GgufError::BadDim { name: "t".into(), index: 1, value: 1 << 63 });
    // 2^32 × 2^32 elements: the element count overflows.
    let r = tensors(1).tensor(b"t", &[1 << 32, 1 << 32], 0, 0);
    assert_fails(r, 33, GgufError::SizeOverflow { name: "t".into() });
    // 2^62 F32 elements: the count fits i64 but the byte size (2^64) does not.
    let r = tensors(1).tensor(b"t", &[1 << 31, 1 << 31], 0, 0);
    assert_fails(r, 33, GgufError::SizeOverflow { name: "t".into() });
    // F32 [4, 2^30-1, 2^30+1] is 2^64-16 bytes: only the padding step overflows.
    let r = tensors(1).tensor(b"t", &[4, (1 << 30) - 1, (1 << 30) + 1], 0, 0);
    assert_fails(r, 33, GgufError::SizeOverflow { name: "t".into() });
}

#[test]
fn tensor_types_must_be_known_and_supported() {
    // The type field follows name (8 + 1), n_dims (4), one dim (8): 24 + 21 = 45.
    let r = tensors(1).tensor(b"t", &[32], 1000, 0);
    assert_fails(r, 45, GgufError::UnknownTensorType { name: "t".into(), id: 1000 });
    let r = tensors(1).tensor(b"t", &[32], 20, 0);
    let kind = GgufError::UnsupportedTensorType { name: "t".into(), type_name: "IQ4_NL", id: 20 };
    assert_fails(r, 45, kind);
    let r = tensors(1).tensor(b"t", &[32], 39, 0);
    let kind = GgufError::UnsupportedTensorType { name: "t".into(), type_name: "MXFP4", id: 39 };
    assert_fails(r, 45, kind);
}

#[test]
fn row_length_must_be_whole_blocks() {
    let r = tensors(1).tensor(b"q", &[33, 2], 2, 0);
    assert_fails(r, 33, GgufError::RowNotBlockMultiple { name: "q".into(), ne0: 33, block: 32 });
    let r = tensors(1).tensor(b"k", &[128], 12, 0);
    assert_fails(r, 33, GgufError::RowNotBlockMultiple { name: "k".into(), ne0: 128, block: 256 });
}

#[test]
fn offsets_must_be_aligned() {
    // The offset field follows the type: 45 + 4 = 49.
    let r = tensors(1).tensor(b"t", &[8], 0, 8);
    assert_fails(r, 49, GgufError::MisalignedOffset { name: "t".into(), offset: 8, alignment: 32 });
    let r = tensors(1).tensor(b"t", &[8], 0, u64::MAX);
    assert_fails(
        r,
        49,
        GgufError::MisalignedOffset { name: "t".into(), offset: u64::MAX, alignment: 32 },
    );
}

// ---- data section (items 22–26) ----

#[test]
fn tensor_data_must_lie_inside_the_file() {
    // Alignment 1, so an offset of u64::MAX is aligned and only the bounds check can catch it.
    let r = Raw::header(3, 1, 1).str(b"general.alignment").u32(4).u32(1);
    let off_at = r.pos() + 8 + 1 + 4 + 8 + 4;
    let r = r.tensor(b"t", &[8], 0, u64::MAX);
    let data = r.pos();
    let kind = GgufError::TensorOutOfBounds {
        name: "t".into(),
        start: u64::MAX,
        end: u64::MAX,
        file_len: data,
    };
    assert_fails(r, off_at, kind);

    // A valid file truncated in its data section.
    let mut w = GgufWriter::new();
    w.add_tensor("w", DType::F32, &[16], vec![0; 64]).unwrap();
    let bytes = w.to_bytes();
    let cut = bytes.len() - 40;
    let (offset, kind) = fail(&bytes[..cut]);
    assert_eq!(offset, 24 + 8 + 1 + 4 + 8 + 4);
    // Infos end at 57, so the data section starts at 64 and "w" spans [64, 128).
    let file_len = cut as u64;
    assert_eq!(
        kind,
        GgufError::TensorOutOfBounds { name: "w".into(), start: 64, end: 128, file_len }
    );
}

#[test]
fn huge_tensors_whose_running_total_would_overflow() {
    // Two tensors of 2^62 bytes (F32 [2^30, 2^30]): each alone is far past the file's end.
    let r = tensors(2).tensor(b"a", &[1 << 30, 1 << 30], 0, 0).tensor(
        b"b",
        &[1 << 30, 1 << 30],
        0,
        1 << 62,
    );
    let (offset, kind) = fail(r.0);
    assert_eq!(offset, 24 + 8 + 1 + 4 + 16 + 4);
    assert!(
        matches!(kind, GgufError::TensorOutOfBounds { ref name, .. } if name == "a"),
        "{kind:?}"
    );
}

#[test]
fn overlapping_tensors_are_rejected_in_any_order() {
    // b [32, 64) overlaps a [0, 64); b comes first in the directory.
    let first = tensors(2).tensor(b"b", &[8], 0, 32);
    let b_off = first.pos() - 8;
    let r = first.tensor(b"a", &[16], 0, 0).pad(32).zeros(64);
    assert_fails(r, b_off, GgufError::OverlappingTensors { first: "a".into(), second: "b".into() });
}

#[test]
fn zero_dims_and_out_of_order_tensors_are_valid() {
    let r = tensors(3)
        .tensor(b"second", &[8], 0, 32)
        .tensor(b"empty", &[0, 5], 0, 0)
        .tensor(b"first", &[8], 0, 0)
        .pad(32)
        .zeros(64);
    let f = GgufFile::from_bytes(r.0).expect("valid");
    let empty = f.tensor("empty").unwrap();
    assert_eq!((empty.n_elements(), empty.n_bytes, f.tensor_data(empty).len()), (0, 0, 0));
    assert_eq!(f.tensor_data(f.tensor("second").unwrap()).len(), 32);
}

// ---- sweeps over a valid file ----

/// A small valid file with keys of several types, arrays, and tensors of three types.
fn sample() -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.add("general.architecture", "llama")
        .add("llama.block_count", 2u32)
        .add("flag", true)
        .add("tokens", vec!["a", "bc", ""])
        .add("scores", vec![0.5f32, -1.0])
        .add("big", u64::MAX);
    w.add_tensor("f32", DType::F32, &[4, 2], vec![1; 32]).unwrap();
    w.add_tensor("q8", DType::Q8_0, &[32], vec![2; 34]).unwrap();
    w.add_tensor("q4k", DType::Q4_K, &[256, 1], vec![3; 144]).unwrap();
    w.to_bytes()
}

/// The error kinds a file cut short can produce: whichever length or count check meets the
/// missing bytes first.
fn is_truncation(kind: &GgufError) -> bool {
    matches!(
        kind,
        GgufError::Truncated { .. }
            | GgufError::StringTooLong { .. }
            | GgufError::ArrayTooLong { .. }
            | GgufError::CountTooLarge { .. }
            | GgufError::TensorOutOfBounds { .. }
    )
}

#[test]
fn every_truncation_fails_cleanly() {
    let bytes = sample();
    let f = GgufFile::from_bytes(bytes.clone()).expect("sample is valid");
    let ends = f.tensors().iter().map(|t| f.data_offset() + t.offset + t.n_bytes);
    let last_end = ends.max().expect("three tensors") as usize;
    // f32 [0, 32), q8_0 [32, 66), q4_k [96, 240): the data section is 240 bytes.
    assert_eq!(last_end as u64, f.data_offset() + 240);
    for cut in 0..last_end {
        let (offset, kind) = fail(&bytes[..cut]);
        assert!(is_truncation(&kind), "cut at {cut}: {kind:?}");
        assert!(offset <= cut as u64, "cut at {cut}: error offset {offset} is past the end");
    }
    // Cutting only trailing padding after the last tensor's bytes still leaves a valid file.
    assert!(GgufFile::from_bytes(bytes[..last_end].to_vec()).is_ok());
}

#[test]
fn corrupting_any_byte_never_panics() {
    let bytes = sample();
    let data_offset = GgufFile::from_bytes(bytes.clone()).expect("valid").data_offset() as usize;
    for i in 0..data_offset {
        for v in [0x00, 0x01, 0x3f, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] = v;
            // Ok or Err are both fine; a panic fails the test.
            if let Ok(f) = GgufFile::from_bytes(b) {
                for t in f.tensors() {
                    assert_eq!(f.tensor_data(t).len() as u64, t.n_bytes);
                }
            }
        }
    }
}

#[test]
fn version_2_reads_like_version_3() {
    let mut b = sample();
    b[4] = 2;
    let f = GgufFile::from_bytes(b).expect("v2");
    assert_eq!((f.version(), f.tensors().len(), f.metadata().len()), (2, 3, 6));
}
