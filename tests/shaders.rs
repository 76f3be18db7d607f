//! Every module the wgpu backend can create, in every capability tier, parses and validates with
//! naga and translates with naga's own back ends to SPIR-V (Vulkan), MSL (Metal) and HLSL
//! (DX12). No GPU is needed, so a change that would break Metal or DX12 fails here.

use kiln::backend::wgpu::{Tier, WgpuBackend};
use naga::back::{hlsl, msl, spv};
use naga::valid::{Capabilities, ValidationFlags, Validator};

fn check(
    label: &str,
    text: &str,
    constants: &[(&'static str, u32)],
    tier: Tier,
) -> Result<(), String> {
    let module = naga::front::wgsl::parse_str(text).map_err(|e| e.emit_to_string(text))?;
    // The runtime refuses adapters without SHADER_F16_IN_F32 (unpack2x16float), in every tier.
    let mut caps = Capabilities::SHADER_FLOAT16_IN_FLOAT32;
    if tier.f16 {
        caps |= Capabilities::SHADER_FLOAT16;
    }
    if tier.subgroups {
        caps |= Capabilities::SUBGROUP;
    }
    let info = Validator::new(ValidationFlags::all(), caps)
        .validate(&module)
        .map_err(|e| format!("validation: {}", e.emit_to_string(text)))?;
    let consts: naga::back::PipelineConstants =
        constants.iter().map(|&(k, v)| (k.to_string(), v as f64)).collect();
    let (module, info) =
        naga::back::pipeline_constants::process_overrides(&module, &info, None, &consts)
            .map_err(|e| format!("overrides: {e}"))?;
    let spv_opts = spv::Options { lang_version: (1, 3), ..Default::default() };
    spv::write_vec(&module, &info, &spv_opts, None).map_err(|e| format!("SPIR-V: {e}"))?;
    let msl_opts = msl::Options { lang_version: (2, 4), ..Default::default() };
    msl::write_string(&module, &info, &msl_opts, &msl::PipelineOptions::default())
        .map_err(|e| format!("MSL: {e}"))?;
    let hlsl_opts = hlsl::Options { shader_model: hlsl::ShaderModel::V6_2, ..Default::default() };
    let mut out = String::new();
    hlsl::Writer::new(&mut out, &hlsl_opts, &Default::default())
        .write(&module, &info, None)
        .map_err(|e| format!("HLSL: {e}"))?;
    let _ = label;
    Ok(())
}

#[test]
fn every_shader_validates_and_translates_in_every_tier() {
    let catalog = WgpuBackend::shader_catalog();
    assert!(!catalog.is_empty());
    let mut failures = Vec::new();
    for (src, constants) in &catalog {
        for tier in Tier::ALL {
            let text = src.assemble(tier);
            if let Err(e) = check(src.label(), &text, constants, tier) {
                failures.push(format!("{} {:?} [{tier}]: {e}", src.label(), constants));
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n\n"));
}

#[test]
fn every_shader_file_has_a_header_comment() {
    for (path, text) in kiln::backend::wgpu::shader_files() {
        assert!(
            text.trim_start().starts_with("//"),
            "shaders/{path} must start with a header comment"
        );
    }
}
