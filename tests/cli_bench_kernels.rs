//! `kiln bench kernels` as a user runs it, through the real binary, on a few small cases: the
//! JSON rows carry every documented field, times and rates are positive, `pct_peak` is finite
//! and positive and agrees with `gbps / peak_gbps`, bytes and FLOPs follow the documented
//! counts, and `--plot` writes an SVG naming every case. On the CPU always; on wgpu when an
//! adapter exists (KILN_REQUIRE_GPU=1 makes a missing one fail). Also: `kiln bench`'s own
//! flags still parse next to the subcommand.

use std::process::{Command, Output};

use serde_json::Value;

/// The documented csv/json columns.
const FIELDS: [&str; 17] = [
    "kernel",
    "dtype",
    "shape",
    "model",
    "rows",
    "cols",
    "tokens",
    "bytes",
    "flops",
    "reps",
    "median_ns",
    "gbps",
    "gflops",
    "peak_gbps",
    "pct_peak",
    "backend",
    "device",
];

/// Three quick cases: a Q4_0 matvec and rms_norm at 1 and 512 tokens, SmolLM2's shapes.
const FILTER: &str = "matvec q4_0 smollm2-135m/ffn_down, rms_norm smollm2";

fn kiln(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln")).args(args).output().expect("run kiln")
}

fn bench_json(device: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["bench", "kernels", "--device", device, "--filter", FILTER];
    args.extend(["--time-ms", "20", "-o", "json"]);
    args.extend(extra);
    let out = kiln(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let json: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    json.as_array().expect("an array of rows").clone()
}

fn check_rows(rows: &[Value], backend: &str) {
    let labels: Vec<String> = rows
        .iter()
        .map(|r| format!("{} {} {}", r["kernel"], r["shape"], r["tokens"]).replace('"', ""))
        .collect();
    assert_eq!(
        labels,
        [
            "matvec smollm2-135m/ffn_down 1",
            "rms_norm smollm2-135m/x 1",
            "rms_norm smollm2-135m/x 512"
        ],
        "{rows:#?}"
    );
    for r in rows {
        for f in FIELDS {
            assert!(r.get(f).is_some(), "row lacks {f}: {r:#}");
        }
        assert_eq!(r["backend"], backend, "{r:#}");
        assert!(r["device"].as_str().is_some_and(|d| !d.is_empty()), "{r:#}");
        let num = |f: &str| r[f].as_f64().unwrap_or_else(|| panic!("{f} is not a number: {r:#}"));
        for f in ["median_ns", "gbps", "peak_gbps", "pct_peak", "bytes", "reps"] {
            let v = num(f);
            assert!(v.is_finite() && v > 0.0, "{f} = {v}: {r:#}");
        }
        let pct = 100.0 * num("gbps") / num("peak_gbps");
        assert!((num("pct_peak") - pct).abs() <= 1e-9 * pct.max(1.0), "{r:#}");
        let gbps = num("bytes") / num("median_ns");
        assert!((num("gbps") - gbps).abs() <= 1e-3 * gbps, "{r:#}");
        assert!(num("reps") >= 3.0, "{r:#}");
    }
    // Q4_0: 576 rows of 1536/32 blocks of 18 bytes, plus x (1536) and y (576) as f32.
    let mv = &rows[0];
    assert_eq!(mv["dtype"], "Q4_0");
    assert_eq!((&mv["rows"], &mv["cols"]), (&Value::from(576), &Value::from(1536)));
    assert_eq!(mv["bytes"], 576 * 48 * 18 + 4 * (1536 + 576));
    assert_eq!(mv["flops"], 2 * 576 * 1536);
    assert!(mv["gflops"].as_f64().is_some_and(|g| g.is_finite() && g > 0.0), "{mv:#}");
    // x in and y out (512 × 576 f32 each) plus the 576 weights; no FLOPs reported.
    let norm = &rows[2];
    assert_eq!(norm["bytes"], 4 * (2 * 512 * 576 + 576));
    assert!(norm["flops"].is_null() && norm["gflops"].is_null(), "{norm:#}");
}

#[test]
fn cpu_rows_have_every_field_and_a_positive_share_of_the_peak() {
    let svg = std::env::temp_dir().join(format!("kiln-bench-kernels-{}.svg", std::process::id()));
    let rows = bench_json("cpu", &["-t", "2", "--plot", svg.to_str().expect("utf-8 path")]);
    check_rows(&rows, "cpu");
    assert!(rows.iter().all(|r| r["device"] == "cpu (2 threads)"), "{rows:#?}");
    let text = std::fs::read_to_string(&svg).expect("the plot was written");
    let _ = std::fs::remove_file(&svg);
    assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"), "{text}");
    for label in ["matvec Q4_0 ffn_down n=1", "rms_norm F32 x n=512", "smollm2-135m"] {
        assert!(text.contains(label), "the plot does not name {label}");
    }
}

#[test]
fn gpu_rows_have_every_field_and_a_positive_share_of_the_peak() {
    if kiln::backend::wgpu::list_adapters().is_empty() {
        if std::env::var("KILN_REQUIRE_GPU").is_ok_and(|v| v == "1") {
            panic!("KILN_REQUIRE_GPU=1 but no GPU adapter was found (is lavapipe installed?)");
        }
        eprintln!("SKIP gpu: no wgpu adapter found (install mesa-vulkan-drivers for lavapipe)");
        return;
    }
    check_rows(&bench_json("gpu", &[]), "wgpu");
}

#[test]
fn bench_still_takes_its_model_flags_beside_the_subcommand() {
    // Parsed (exit 1 from loading the missing file, not clap's usage error 2).
    let out = kiln(&["bench", "-m", "/nonexistent/model.gguf", "-p", "8", "-n", "4", "-o", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("/nonexistent/model.gguf"), "{stderr}");
    let help = kiln(&["bench", "--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("kernels"));
}
