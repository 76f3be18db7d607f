//! `kiln devices` as a user runs it: the real binary lists the same adapters, in the same
//! order, as `list_adapters()`, in text and JSON; with no adapter it says so in one line and
//! still succeeds (the CPU backend works without one). And `--device` as a model-loading
//! command takes it: an adapter picked by part of its name in any case, a name that matches
//! nothing is one error line listing the adapters, and every load prints one stderr line
//! naming the device (and the GPU tier) while stdout holds only the generated text.

mod common;

use std::process::{Command, Output};

use serde_json::Value as Json;

fn kiln(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run kiln")
}

fn stdout(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).expect("utf-8 output")
}

#[test]
fn json_lists_every_adapter_with_its_limits_and_tier() {
    let want = kiln::backend::wgpu::list_adapters();
    let json: Json =
        serde_json::from_str(&stdout(&kiln(&["devices", "--json"], &[]))).expect("valid JSON");
    let got = json["adapters"].as_array().expect("an adapters array");
    assert_eq!(got.len(), want.len(), "{json:#}");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g["index"], w.index);
        assert_eq!(g["name"], w.name.as_str());
        assert_eq!(g["backend"], w.backend.as_str());
        assert_eq!(g["device_type"], w.device_type.as_str());
        assert_eq!(g["driver"], w.driver.as_str());
        assert_eq!(g["tier"], w.tier.to_string().as_str());
        assert_eq!(g["max_storage_binding"], w.max_storage_binding);
        assert_eq!(g["max_buffer_size"], w.max_buffer_size);
        assert_eq!(g["max_workgroup_storage"], w.max_workgroup_storage);
        assert_eq!(g["max_invocations_per_workgroup"], w.max_invocations);
        assert_eq!(
            g["subgroup_sizes"],
            serde_json::json!([w.subgroup_sizes.0, w.subgroup_sizes.1])
        );
        assert_eq!(g["timestamps"], w.timestamps);
    }
    if want.is_empty() {
        eprintln!("SKIP part: no wgpu adapter, so only the empty list was checked");
    }
}

#[test]
fn text_names_every_adapter_and_its_tier() {
    let want = kiln::backend::wgpu::list_adapters();
    let text = stdout(&kiln(&["devices"], &[]));
    if want.is_empty() {
        assert_eq!(text.lines().count(), 1, "{text}");
        return;
    }
    for a in &want {
        let head = format!("adapter {}: {}", a.index, a.name);
        let at = text.find(&head).unwrap_or_else(|| panic!("no {head:?} in\n{text}"));
        let block = &text[at..];
        let block = &block[..block.find("\n\n").unwrap_or(block.len())];
        for key in ["backend", "device type", "driver", "max storage binding", "timestamps"] {
            assert!(block.contains(&format!("  {key} ")), "no {key} in\n{block}");
        }
        assert!(block.contains(&format!(" {}\n", a.tier)), "no tier {} in\n{block}", a.tier);
    }
}

#[test]
fn no_adapter_is_one_line_and_success() {
    // kiln is built without the GL backend, so asking wgpu for GL alone finds nothing.
    let env = [("WGPU_BACKEND", "gl")];
    let text = stdout(&kiln(&["devices"], &env));
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("no GPU adapter") && text.contains("CPU backend"), "{text}");
    let json: Json =
        serde_json::from_str(&stdout(&kiln(&["devices", "--json"], &env))).expect("valid JSON");
    assert_eq!(json, serde_json::json!({ "adapters": [] }));
}

/// stderr lines that announce the device at load.
fn device_lines(out: &Output) -> Vec<String> {
    let err = String::from_utf8_lossy(&out.stderr);
    err.lines().filter(|l| l.starts_with("kiln: running on ")).map(str::to_string).collect()
}

/// `kiln generate` of two greedy tokens on `device`, with the small test model.
fn generate_on(model: &std::path::Path, device: &str) -> Output {
    let model = model.to_str().expect("a UTF-8 model path");
    kiln(
        &["generate", "-m", model, "--device", device, "-p", "Hello", "-n", "2", "--temp", "0"],
        &[],
    )
}

/// The first adapter, or `None` with a SKIP line (a failure under KILN_REQUIRE_GPU=1).
fn first_adapter() -> Option<kiln::backend::wgpu::AdapterSummary> {
    let a = kiln::backend::wgpu::list_adapters().into_iter().next();
    if a.is_none() {
        if std::env::var("KILN_REQUIRE_GPU").is_ok_and(|v| v == "1") {
            panic!("KILN_REQUIRE_GPU=1 but no GPU adapter was found");
        }
        eprintln!("SKIP: no wgpu adapter");
    }
    a
}

#[test]
fn device_name_picks_the_adapter_in_any_case() {
    let (Some(model), Some(a)) = (common::model_path(common::SMOLLM2), first_adapter()) else {
        return;
    };
    // A word of the adapter's own name, upper-cased: matching must ignore case.
    let word = a.name.split_whitespace().next().expect("a named adapter").to_uppercase();
    let out = generate_on(&model, &word);
    let text = stdout(&out);
    let want = format!("kiln: running on wgpu: {} ({}, tier {})", a.name, a.backend, a.tier);
    assert_eq!(device_lines(&out), [want], "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(!text.is_empty() && !text.contains("kiln:"), "stdout is the text alone: {text:?}");
}

#[test]
fn cpu_load_prints_one_device_line_and_keeps_stdout_clean() {
    let Some(model) = common::model_path(common::SMOLLM2) else { return };
    let out = generate_on(&model, "cpu");
    let text = stdout(&out);
    let lines = device_lines(&out);
    assert_eq!(lines.len(), 1, "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(lines[0].starts_with("kiln: running on cpu ("), "{lines:?}");
    assert!(!text.is_empty() && !text.contains("kiln:"), "stdout is the text alone: {text:?}");
}

#[test]
fn unknown_device_name_is_one_error_listing_the_adapters() {
    let Some(model) = common::model_path(common::SMOLLM2) else { return };
    let out = generate_on(&model, "no-such-adapter");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(out.stdout.is_empty(), "nothing on stdout: {:?}", out.stdout);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("kiln: error: ")).collect();
    assert_eq!(errors.len(), 1, "one error line: {err}");
    let adapters = kiln::backend::wgpu::list_adapters();
    if adapters.is_empty() {
        assert!(errors[0].contains("no GPU adapter"), "{err}");
        return;
    }
    assert!(errors[0].contains("no adapter name contains \"no-such-adapter\""), "{err}");
    for a in &adapters {
        assert!(errors[0].contains(&format!("{}: {}", a.index, a.name)), "{a:?} unlisted: {err}");
    }
}
