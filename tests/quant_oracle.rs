//! kiln::quant against implementations nobody here wrote: the fixtures in tests/fixtures/quant/,
//! made by tools/quant_oracle.py from gguf-py's numpy codecs and ggml's own C reference functions
//! (provenance and format in that script's docstring).
//!
//! Every comparison is exact: decoded f32 values bit for bit, quantized bytes byte for byte. No
//! type needs a tolerance, because kiln's decoders evaluate each weight with the same f32
//! operations in the same order as ggml and gguf-py (`d·q + m` and `d·sc·q − dmin·m` as a
//! multiply then an add, never fused), and its quantizers follow ggml's reference C step by step.

use std::collections::BTreeMap;
use std::path::PathBuf;

use kiln::quant::{self, DType};
use serde_json::Value;

/// One decoded fixture case: bytes of `n` elements of `dtype` and the oracle's values.
struct DequantCase {
    dtype: DType,
    name: String,
    bytes: Vec<u8>,
    values: Vec<f32>,
}

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quant").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn hex(s: &Value) -> Vec<u8> {
    let s = s.as_str().expect("hex field is a string");
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

fn dtype(case: &Value) -> DType {
    let name = case["type"].as_str().expect("type is a string");
    DType::from_name(name).unwrap_or_else(|| panic!("unknown type {name}"))
}

fn dequant_cases(file: &str) -> Vec<DequantCase> {
    let fx = fixture(file);
    let cases = fx["cases"].as_array().expect("cases array");
    let out: Vec<DequantCase> = cases
        .iter()
        .map(|c| {
            let values = f32s(&hex(&c["values"]));
            assert_eq!(values.len() as u64, c["n"].as_u64().expect("n"), "{file}");
            DequantCase {
                dtype: dtype(c),
                name: c["name"].as_str().expect("name").to_owned(),
                bytes: hex(&c["bytes"]),
                values,
            }
        })
        .collect();
    assert!(!out.is_empty(), "{file} has no cases");
    out
}

/// Decodes every case with kiln and counts mismatching elements per type; panics listing them.
fn check_dequantize(file: &str, want_types: &[DType]) {
    let cases = dequant_cases(file);
    let mut per_type: BTreeMap<DType, (usize, usize)> = BTreeMap::new(); // (elements, mismatches)
    let mut failures = Vec::new();
    for case in &cases {
        let mut got = vec![f32::NAN; case.values.len()];
        quant::dequantize(case.dtype, &case.bytes, &mut got).expect("fixture lengths are valid");
        // Exact for every type: f32 bit patterns must be identical (see the module doc).
        let bad: Vec<usize> =
            (0..got.len()).filter(|&i| got[i].to_bits() != case.values[i].to_bits()).collect();
        let entry = per_type.entry(case.dtype).or_default();
        entry.0 += got.len();
        entry.1 += bad.len();
        if let Some(&i) = bad.first() {
            failures.push(format!(
                "{}: {} of {} elements differ, first at {i}: kiln {:e} ({:#010x}) vs oracle {:e} ({:#010x})",
                case.name,
                bad.len(),
                got.len(),
                got[i],
                got[i].to_bits(),
                case.values[i],
                case.values[i].to_bits()
            ));
        }
        check_second_implementation(case);
    }
    for (t, (n, bad)) in &per_type {
        println!("{file} {t}: {n} elements, {bad} not bit-exact");
    }
    for t in want_types {
        assert!(per_type.contains_key(t), "{file} has no {t} case");
    }
    assert!(failures.is_empty(), "{file}:\n{}", failures.join("\n"));
}

/// The second, independently written decoder, `kernels_ref::quant::dequantize`, held to the
/// same fixtures. Expect bit-exact: every product in these formats is exact in f32 (an f16 or
/// f32 scale times integers of at most 11 bits), so each f32 fixture value is the exact weight
/// rounded once, and kernels-ref's f64 evaluation is exact too unless a scale and a min are ~29
/// binades apart; only then could double rounding (f64, then f32) cost 1 ulp, and only for the
/// types with an add (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K). No fixture hits that case, so the check is
/// exact for every type.
fn check_second_implementation(case: &DequantCase) {
    let got = kernels_ref::quant::dequantize(case.dtype.name(), &case.bytes);
    assert_eq!(got.len(), case.values.len(), "kernels-ref {}: length", case.dtype);
    for (i, (&g, &w)) in got.iter().zip(&case.values).enumerate() {
        assert_eq!(
            (g as f32).to_bits(),
            w.to_bits(),
            "kernels-ref {} element {i}: {} vs fixture {}",
            case.dtype,
            g,
            w
        );
    }
}

#[test]
fn dequantize_matches_gguf_py_on_random_blocks_of_every_type() {
    check_dequantize("random_blocks.json", &DType::ALL);
}

#[test]
fn dequantize_matches_gguf_py_on_real_model_rows() {
    use DType::*;
    check_dequantize("model_rows.json", &[F32, Q4_1, Q8_0, Q4_K, Q5_0, Q6_K]);
}

/// Quantizes every fixture input with kiln and compares bytes with the oracle's.
fn check_quantize(file: &str, want_types: &[DType]) {
    let fx = fixture(file);
    let inputs: BTreeMap<&str, Vec<f32>> = fx["inputs"]
        .as_object()
        .expect("inputs object")
        .iter()
        .map(|(k, v)| (k.as_str(), f32s(&hex(v))))
        .collect();
    let mut failures = Vec::new();
    let mut seen = Vec::new();
    for c in fx["cases"].as_array().expect("cases array") {
        let t = dtype(c);
        let input_name = c["input"].as_str().expect("input");
        let want = hex(&c["bytes"]);
        let got = quant::quantize(t, &inputs[input_name]).expect("fixture inputs are whole blocks");
        let block = t.type_size();
        match got.iter().zip(&want).position(|(a, b)| a != b) {
            None if got.len() == want.len() => println!("{file} {t} on {input_name}: byte-exact"),
            None => failures.push(format!("{t} on {input_name}: {} bytes vs {}", got.len(), want.len())),
            Some(i) => failures.push(format!(
                "{t} on {input_name}: first differing byte {i} (block {}, offset {}): kiln {:02x} vs \
                 oracle {:02x}; kiln block {:02x?}, oracle block {:02x?}",
                i / block,
                i % block,
                got[i],
                want[i],
                &got[i / block * block..][..block],
                &want[i / block * block..][..block],
            )),
        }
        seen.push(t);
    }
    for t in want_types {
        assert!(seen.contains(t), "{file} has no {t} case");
    }
    assert!(failures.is_empty(), "{file}:\n{}", failures.join("\n"));
}

#[test]
fn quantize_matches_gguf_py_byte_for_byte() {
    use DType::*;
    check_quantize("gguf_py_quantize.json", &[F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0]);
}

#[test]
fn quantize_matches_ggml_reference_byte_for_byte() {
    use DType::*;
    let all_quantized =
        [F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K];
    check_quantize("ggml_quantize.json", &all_quantized);
}
