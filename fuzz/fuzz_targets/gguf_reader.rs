//! Fuzz target: parse arbitrary bytes as GGUF. Must never panic; on success, every metadata
//! value and tensor view is touched, the directory's invariants are re-checked, and the file
//! is re-written with GgufWriter and parsed again to the same content.

#![no_main]

use kiln::gguf::{GgufFile, GgufWriter, Value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(f) = GgufFile::from_bytes(data.to_vec()) else { return };
    touch_metadata(&f);
    touch_tensors(&f);
    rewrite_and_compare(&f);
});

fn touch_metadata(f: &GgufFile) {
    for (key, value) in f.metadata() {
        assert!(f.get(key).is_some_and(|v| std::ptr::eq(v, value)), "lookup of {key}");
        let _ = (f.get_u32(key), f.get_u64(key), f.get_i32(key), f.get_i64(key));
        let _ = (f.get_f32(key), f.get_f64(key), f.get_bool(key), f.get_string_lossy(key));
        let _ = (f.get_string_array(key), f.get_f32_array(key), f.get_i32_array(key));
        let _ = value.type_name();
        if let Value::Array(a) = value {
            assert_eq!(f.get_array(key).map(|x| x.len()).ok(), Some(a.len()));
            for i in 0..a.len() {
                let item = a.get(i).expect("index below len");
                assert!(!matches!(item, Value::Array(_)), "arrays never nest");
            }
            assert!(a.get(a.len()).is_none());
        }
    }
}

fn touch_tensors(f: &GgufFile) {
    let mut checksum = 0u8;
    for t in f.tensors() {
        let data = f.tensor_data(t);
        assert_eq!(data.len() as u64, t.n_bytes, "{}", t.name);
        checksum ^= data.first().copied().unwrap_or(0) ^ data.last().copied().unwrap_or(0);
        assert!(std::ptr::eq(f.tensor(&t.name).expect("by name"), t));
        assert_eq!(t.offset % f.alignment(), 0);
        assert!(t.shape().len() <= 4 && t.name.len() < 64 && !t.name.is_empty());
        assert_eq!(t.n_elements(), t.cols().checked_mul(t.rows()).expect("no overflow"));
        let row = t.dtype.row_bytes(t.cols()).expect("whole blocks");
        assert_eq!(Some(t.n_bytes), row.checked_mul(t.rows()));
        let end = f.data_offset() + t.offset + t.n_bytes;
        assert!(end <= f.file_len());
    }
    std::hint::black_box(checksum);
}

/// Writes the parsed content back out and checks the reader sees the same thing. Offsets may
/// differ (the writer packs tensors in directory order), so they are not compared.
fn rewrite_and_compare(f: &GgufFile) {
    let mut w = GgufWriter::new();
    w.version(f.version());
    for (key, value) in f.metadata() {
        w.add(key, value.clone());
    }
    if f.get("general.alignment").is_some() {
        let a = u32::try_from(f.alignment()).expect("alignment is a u32");
        w.alignment(a).expect("validated alignment");
    }
    for t in f.tensors() {
        w.add_tensor(&t.name, t.dtype, t.shape(), f.tensor_data(t).to_vec()).expect("valid tensor");
    }
    let g = GgufFile::from_bytes(w.to_bytes()).expect("writer output parses");
    // Debug formatting compares NaN payload-insensitively but otherwise exactly.
    assert_eq!(format!("{:?}", f.metadata()), format!("{:?}", g.metadata()));
    assert_eq!((f.version(), f.alignment()), (g.version(), g.alignment()));
    assert_eq!(f.tensors().len(), g.tensors().len());
    for (a, b) in f.tensors().iter().zip(g.tensors()) {
        let key = |t: &kiln::gguf::TensorInfo| (t.name.clone(), t.dtype, t.ne, t.n_dims, t.n_bytes);
        assert_eq!(key(a), key(b));
        assert_eq!(f.tensor_data(a), g.tensor_data(b));
    }
}
