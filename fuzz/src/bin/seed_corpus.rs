//! Writes a few small, valid GGUF files made by `GgufWriter` into fuzz/corpus/gguf_reader/,
//! as starting points for the fuzzer: every value type, arrays, several tensor types, both
//! versions and two alignments. The corpus is git-ignored; re-run this to recreate it.

use std::path::PathBuf;

use kiln::gguf::{Array, GgufWriter, Value};
use kiln::quant::DType;

fn main() -> kiln::Result<()> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus/gguf_reader");
    std::fs::create_dir_all(&dir).map_err(|e| kiln::Error::io(&dir, e))?;

    let mut empty = GgufWriter::new();
    empty.version(2);
    empty.write(dir.join("seed_empty_v2.gguf"))?;

    let mut meta = GgufWriter::new();
    meta.add("general.architecture", "llama")
        .add("u8", 1u8)
        .add("i8", -1i8)
        .add("u16", 2u16)
        .add("i16", -2i16)
        .add("llama.block_count", 3u32)
        .add("i32", -3i32)
        .add("f32", 0.5f32)
        .add("bool", true)
        .add("u64", 4u64)
        .add("i64", -4i64)
        .add("f64", 0.25f64)
        .add("tokens", vec!["<s>", "a", "b"])
        .add("scores", vec![0.0f32, -1.0, -2.0])
        .add("types", Value::Array(Array::I32(vec![3, 1, 1])))
        .add("flags", vec![true, false]);
    meta.write(dir.join("seed_metadata.gguf"))?;

    let mut tensors = GgufWriter::new();
    tensors.alignment(64)?;
    tensors.add("general.architecture", "gemma3");
    tensors.add_tensor("norm", DType::F32, &[4], vec![0; 16])?;
    tensors.add_tensor("half", DType::F16, &[2, 3], vec![1; 12])?;
    tensors.add_tensor("q4_0", DType::Q4_0, &[32, 2], vec![2; 36])?;
    tensors.add_tensor("q8_0", DType::Q8_0, &[32], vec![3; 34])?;
    tensors.add_tensor("q4_k", DType::Q4_K, &[256], vec![4; 144])?;
    tensors.add_tensor("scalar", DType::F32, &[], vec![5; 4])?;
    tensors.write(dir.join("seed_tensors_align64.gguf"))?;

    let mut small = GgufWriter::new();
    small.alignment(1)?;
    small.add_tensor("bf", DType::BF16, &[1, 1, 1, 3], vec![6; 6])?;
    small.write(dir.join("seed_align1.gguf"))?;
    println!("seeds written to {}", dir.display());
    Ok(())
}
