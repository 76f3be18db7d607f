//! `kiln devices` as a user runs it: the real binary lists the same adapters, in the same
//! order, as `list_adapters()`, in text and JSON; with no adapter it says so in one line and
//! still succeeds (the CPU backend works without one).

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
