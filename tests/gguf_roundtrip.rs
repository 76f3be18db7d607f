//! GgufWriter → GgufFile round trips (every value type, arrays, tensors of several types,
//! alignments 32 and 64, versions 2 and 3), the typed getters' conversion rule, and `open`'s
//! refusal of non-regular files.

use std::path::PathBuf;

use kiln::Error;
use kiln::gguf::{Array, GgufFile, GgufWriter, Value, ValueType};
use kiln::quant::DType;

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-gguf-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// One value of every type, scalars and arrays, in a fixed order.
fn every_value() -> Vec<(&'static str, Value)> {
    vec![
        ("u8", Value::U8(200)),
        ("i8", Value::I8(-100)),
        ("u16", Value::U16(60_000)),
        ("i16", Value::I16(-30_000)),
        ("u32", Value::U32(4_000_000_000)),
        ("i32", Value::I32(-2_000_000_000)),
        ("f32", Value::F32(-1.5e-7)),
        ("bool", Value::Bool(true)),
        ("string", Value::String(b"h\xc3\xa9llo".to_vec())),
        ("raw_string", Value::String(vec![0xff, 0x00, b'x'])),
        ("u64", Value::U64(u64::MAX)),
        ("i64", Value::I64(i64::MIN)),
        ("f64", Value::F64(std::f64::consts::PI)),
        ("arr_u8", Array::U8(vec![1, 2, 255]).into()),
        ("arr_i8", Array::I8(vec![-1, 0, 1]).into()),
        ("arr_u16", Array::U16(vec![0, 65535]).into()),
        ("arr_i16", Array::I16(vec![-32768, 32767]).into()),
        ("arr_u32", Array::U32(vec![7; 5]).into()),
        ("arr_i32", Array::I32(vec![-3, 3]).into()),
        ("arr_f32", Array::F32(vec![0.0, -0.0, f32::INFINITY, 1e-30]).into()),
        ("arr_bool", Array::Bool(vec![true, false, true]).into()),
        ("arr_string", Array::String(vec![b"".to_vec(), b"a".to_vec(), vec![0xc3]]).into()),
        ("arr_u64", Array::U64(vec![u64::MAX, 0]).into()),
        ("arr_i64", Array::I64(vec![i64::MIN, i64::MAX]).into()),
        ("arr_f64", Array::F64(vec![f64::MIN_POSITIVE, -2.5]).into()),
        ("arr_empty", Array::String(vec![]).into()),
    ]
}

/// Deterministic bytes for tensor data.
fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn sample_writer(alignment: Option<u32>, version: u32) -> GgufWriter {
    let mut w = GgufWriter::new();
    w.version(version);
    if let Some(a) = alignment {
        w.alignment(a).expect("power of two");
    }
    for (k, v) in every_value() {
        w.add(k, v);
    }
    let tensors: [(&str, DType, &[u64], usize); 6] = [
        ("norm", DType::F32, &[7], 28),
        ("half", DType::F16, &[3, 5], 30),
        ("bf", DType::BF16, &[2, 2, 2, 2], 32),
        ("q4_0", DType::Q4_0, &[64, 3], 2 * 18 * 3),
        ("q6_k", DType::Q6_K, &[256, 2, 1], 210 * 2),
        ("scalar", DType::F32, &[], 4),
    ];
    for (i, (name, dt, ne, n)) in tensors.into_iter().enumerate() {
        w.add_tensor(name, dt, ne, pattern(n, i as u8)).expect("consistent tensor");
    }
    w
}

fn check_round_trip(alignment: Option<u32>, version: u32) {
    let w = sample_writer(alignment, version);
    let f = GgufFile::from_bytes(w.to_bytes()).expect("writer output parses");
    let align = u64::from(alignment.unwrap_or(32));
    assert_eq!((f.version(), f.alignment()), (version, align));
    assert_eq!(f.data_offset() % align, 0);
    let mut want = every_value();
    if let Some(a) = alignment {
        want.insert(0, ("general.alignment", Value::U32(a)));
    }
    let got: Vec<(&str, &Value)> = f.metadata().iter().map(|(k, v)| (k.as_str(), v)).collect();
    let want: Vec<(&str, &Value)> = want.iter().map(|(k, v)| (*k, v)).collect();
    assert_eq!(got, want, "metadata in file order");

    let names: Vec<&str> = f.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["norm", "half", "bf", "q4_0", "q6_k", "scalar"]);
    for (i, t) in f.tensors().iter().enumerate() {
        assert_eq!(t.offset % align, 0, "{} offset", t.name);
        assert_eq!(f.tensor_data(t), pattern(t.n_bytes as usize, i as u8).as_slice(), "{}", t.name);
    }
    let bf = f.tensor("bf").expect("bf");
    assert_eq!(
        (bf.dtype, bf.shape(), bf.n_dims, bf.n_elements()),
        (DType::BF16, &[2u64, 2, 2, 2][..], 4, 16)
    );
    let q = f.tensor("q6_k").expect("q6_k");
    assert_eq!((q.ne, q.cols(), q.rows(), q.n_bytes), ([256, 2, 1, 1], 256, 2, 420));
    let s = f.tensor("scalar").expect("scalar");
    assert_eq!((s.shape().len(), s.ne, s.n_elements()), (0, [1, 1, 1, 1], 1));
}

#[test]
fn round_trip_default_alignment_v3() {
    check_round_trip(None, 3);
}

#[test]
fn round_trip_alignment_64_v3() {
    check_round_trip(Some(64), 3);
}

#[test]
fn round_trip_alignment_32_explicit_v2() {
    check_round_trip(Some(32), 2);
}

#[test]
fn typed_getters_widen_within_a_family_only() {
    let f = GgufFile::from_bytes(sample_writer(None, 3).to_bytes()).expect("parses");
    assert_eq!(f.get_u32("u8").unwrap(), 200);
    assert_eq!(f.get_u32("u16").unwrap(), 60_000);
    assert_eq!(f.get_u64("u32").unwrap(), 4_000_000_000);
    assert_eq!(f.get_u64("u64").unwrap(), u64::MAX);
    assert_eq!(f.get_i32("i8").unwrap(), -100);
    assert_eq!(f.get_i64("i32").unwrap(), -2_000_000_000);
    assert_eq!(f.get_f32("f32").unwrap(), -1.5e-7);
    assert_eq!(f.get_f64("f32").unwrap(), f64::from(-1.5e-7f32));
    assert!(f.get_bool("bool").unwrap());
    assert_eq!(f.get_str("raw_string").unwrap(), [0xff, 0x00, b'x']);
    assert_eq!(f.get_string_lossy("raw_string").unwrap(), "\u{fffd}\0x");
    assert_eq!(f.get_string_lossy("string").unwrap(), "héllo");
    assert_eq!(
        f.get_string_array("arr_string").unwrap(),
        [b"".to_vec(), b"a".to_vec(), vec![0xc3]]
    );
    assert_eq!(f.get_f32_array("arr_f32").unwrap()[2], f32::INFINITY);
    assert_eq!(f.get_i32_array("arr_i32").unwrap(), [-3, 3]);
    assert_eq!(f.get_array("arr_bool").unwrap().elem_type(), ValueType::Bool);

    let key_type = |r: kiln::Result<_>| match r {
        Err(Error::KeyType { key, found, expected }) => (key, found, expected),
        Err(other) => panic!("expected KeyType, got {other}"),
        Ok(()) => panic!("expected KeyType, got a value"),
    };
    // Narrowing, sign changes and cross-family reads are refused.
    assert_eq!(key_type(f.get_u32("u64").map(drop)), ("u64".into(), "u64", "u32"));
    assert_eq!(key_type(f.get_u32("i32").map(drop)), ("i32".into(), "i32", "u32"));
    assert_eq!(key_type(f.get_i32("u8").map(drop)), ("u8".into(), "u8", "i32"));
    assert_eq!(key_type(f.get_f32("f64").map(drop)), ("f64".into(), "f64", "f32"));
    assert_eq!(key_type(f.get_str("u8").map(drop)), ("u8".into(), "u8", "string"));
    assert_eq!(
        key_type(f.get_f32_array("arr_i32").map(drop)),
        ("arr_i32".into(), "array<i32>", "array<f32>")
    );
    assert_eq!(key_type(f.get_array("string").map(drop)), ("string".into(), "string", "array"));
    assert!(matches!(f.get_u32("nope"), Err(Error::KeyNotFound(k)) if k == "nope"));
    assert!(f.get("nope").is_none());
}

#[test]
fn writer_refuses_inconsistent_tensors() {
    let mut w = GgufWriter::new();
    assert!(w.add_tensor("t", DType::Q4_0, &[33], vec![0; 18]).is_err());
    assert!(w.add_tensor("t", DType::F32, &[4], vec![0; 15]).is_err());
    assert!(w.add_tensor("", DType::F32, &[1], vec![0; 4]).is_err());
    assert!(w.add_tensor("t", DType::F32, &[1, 1, 1, 1, 1], vec![0; 4]).is_err());
    assert!(w.add_tensor(&"n".repeat(64), DType::F32, &[1], vec![0; 4]).is_err());
    w.add_tensor("t", DType::F32, &[1], vec![0; 4]).expect("valid");
    assert!(w.add_tensor("t", DType::F32, &[1], vec![0; 4]).is_err(), "duplicate name");
    assert!(w.alignment(48).is_err());
}

#[test]
fn open_maps_a_written_file_with_aligned_data() {
    let dir = scratch("open");
    let path = dir.join("model.gguf");
    sample_writer(Some(64), 3).write(&path).expect("write");
    let f = GgufFile::open(&path).expect("open");
    assert_eq!(f.file_len(), std::fs::metadata(&path).unwrap().len());
    for t in f.tensors() {
        // A map starts on a page boundary, so the file-relative alignment holds in memory.
        assert_eq!(f.tensor_data(t).as_ptr() as usize % 64, 0, "{}", t.name);
    }
    let empty = dir.join("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(GgufFile::open(&empty), Err(Error::Gguf { offset: 0, .. })));
    let _ = std::fs::remove_dir_all(&dir);
}

fn assert_refused(path: &std::path::Path) {
    match GgufFile::open(path) {
        Err(Error::Io { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::InvalidInput, "{}", path.display());
            assert!(source.to_string().contains("regular file"), "{source}");
        }
        other => panic!("{}: expected a refusal, got {other:?}", path.display()),
    }
}

#[test]
fn open_refuses_directories_devices_and_fifos() {
    let dir = scratch("refuse");
    assert_refused(&dir);
    if std::path::Path::new("/dev/random").exists() {
        assert_refused(std::path::Path::new("/dev/random"));
    }
    let fifo = dir.join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success());
    if made {
        // Opening a FIFO would block forever; open must refuse it before that.
        assert_refused(&fifo);
    } else {
        eprintln!("mkfifo unavailable: FIFO case skipped");
    }
    assert!(matches!(GgufFile::open(dir.join("missing")), Err(Error::Io { .. })));
    let _ = std::fs::remove_dir_all(&dir);
}
