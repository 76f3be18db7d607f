//! WGSL sources, embedded at compile time, and their assembly into modules.
//!
//! Every file under `shaders/` is plain WGSL. A kernel module is an explicit list of files:
//! the tier snippets first (they carry `enable f16;`, which must open a module, the `Lane`
//! invocation struct and the reductions), then shared snippets from `shaders/common/`, then the
//! kernel file. Knobs are `override` constants set at pipeline creation. Adding a shader means
//! adding one line to [`FILES`].

use super::context::Tier;

/// Every WGSL file, by path relative to `shaders/`.
pub const FILES: &[(&str, &str)] = &[
    ("common/tier_f16.wgsl", include_str!("../../../shaders/common/tier_f16.wgsl")),
    ("common/tier_f32.wgsl", include_str!("../../../shaders/common/tier_f32.wgsl")),
    ("common/lane_subgroups.wgsl", include_str!("../../../shaders/common/lane_subgroups.wgsl")),
    ("common/lane_shared.wgsl", include_str!("../../../shaders/common/lane_shared.wgsl")),
    ("common/step.wgsl", include_str!("../../../shaders/common/step.wgsl")),
    ("common/grid.wgsl", include_str!("../../../shaders/common/grid.wgsl")),
    ("binary.wgsl", include_str!("../../../shaders/binary.wgsl")),
    ("rms_norm.wgsl", include_str!("../../../shaders/rms_norm.wgsl")),
    ("common/glu_act.wgsl", include_str!("../../../shaders/common/glu_act.wgsl")),
    ("glu.wgsl", include_str!("../../../shaders/glu.wgsl")),
    ("glu_vec4.wgsl", include_str!("../../../shaders/glu_vec4.wgsl")),
    ("softmax.wgsl", include_str!("../../../shaders/softmax.wgsl")),
    ("argmax.wgsl", include_str!("../../../shaders/argmax.wgsl")),
    ("common/rope_pair.wgsl", include_str!("../../../shaders/common/rope_pair.wgsl")),
    ("common/rope_slot.wgsl", include_str!("../../../shaders/common/rope_slot.wgsl")),
    ("rope.wgsl", include_str!("../../../shaders/rope.wgsl")),
    ("rope_cache.wgsl", include_str!("../../../shaders/rope_cache.wgsl")),
    ("kv_write.wgsl", include_str!("../../../shaders/kv_write.wgsl")),
    ("rope_qkv.wgsl", include_str!("../../../shaders/rope_qkv.wgsl")),
    ("common/attn_split.wgsl", include_str!("../../../shaders/common/attn_split.wgsl")),
    ("common/tanh.wgsl", include_str!("../../../shaders/common/tanh.wgsl")),
    ("attention.wgsl", include_str!("../../../shaders/attention.wgsl")),
    ("attention_combine.wgsl", include_str!("../../../shaders/attention_combine.wgsl")),
    ("common/quant_bytes.wgsl", include_str!("../../../shaders/common/quant_bytes.wgsl")),
    ("common/quant_f32.wgsl", include_str!("../../../shaders/common/quant_f32.wgsl")),
    ("common/quant_f16.wgsl", include_str!("../../../shaders/common/quant_f16.wgsl")),
    ("common/quant_bf16.wgsl", include_str!("../../../shaders/common/quant_bf16.wgsl")),
    ("common/quant_q4_0.wgsl", include_str!("../../../shaders/common/quant_q4_0.wgsl")),
    ("common/quant_q4_1.wgsl", include_str!("../../../shaders/common/quant_q4_1.wgsl")),
    ("common/quant_q5_0.wgsl", include_str!("../../../shaders/common/quant_q5_0.wgsl")),
    ("common/quant_q5_1.wgsl", include_str!("../../../shaders/common/quant_q5_1.wgsl")),
    ("common/quant_q8_0.wgsl", include_str!("../../../shaders/common/quant_q8_0.wgsl")),
    ("common/quant_q2_k.wgsl", include_str!("../../../shaders/common/quant_q2_k.wgsl")),
    ("common/quant_q3_k.wgsl", include_str!("../../../shaders/common/quant_q3_k.wgsl")),
    ("common/quant_q4_k.wgsl", include_str!("../../../shaders/common/quant_q4_k.wgsl")),
    ("common/quant_q5_k.wgsl", include_str!("../../../shaders/common/quant_q5_k.wgsl")),
    ("common/quant_q6_k.wgsl", include_str!("../../../shaders/common/quant_q6_k.wgsl")),
    ("common/matmul_io.wgsl", include_str!("../../../shaders/common/matmul_io.wgsl")),
    ("matvec.wgsl", include_str!("../../../shaders/matvec.wgsl")),
    ("matvec_rows.wgsl", include_str!("../../../shaders/matvec_rows.wgsl")),
    ("matmul.wgsl", include_str!("../../../shaders/matmul.wgsl")),
    ("get_rows.wgsl", include_str!("../../../shaders/get_rows.wgsl")),
    ("read_bandwidth.wgsl", include_str!("../../../shaders/read_bandwidth.wgsl")),
];

/// Source text of a file in [`FILES`].
pub fn file(path: &str) -> &'static str {
    FILES
        .iter()
        .find(|f| f.0 == path)
        .map(|f| f.1)
        .unwrap_or_else(|| panic!("invariant: shader file {path} is registered in FILES"))
}

/// The files that open every module for `tier`.
pub fn tier_files(tier: Tier) -> [&'static str; 2] {
    [
        if tier.f16 { "common/tier_f16.wgsl" } else { "common/tier_f32.wgsl" },
        if tier.subgroups { "common/lane_subgroups.wgsl" } else { "common/lane_shared.wgsl" },
    ]
}

/// One module to compile: the kernel-specific files (common snippets then the kernel file).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShaderSource {
    pub files: Vec<&'static str>,
}

impl ShaderSource {
    pub fn new(files: &[&'static str]) -> ShaderSource {
        ShaderSource { files: files.to_vec() }
    }

    /// The kernel's file name without directory and extension, for labels.
    pub fn label(&self) -> &'static str {
        let last = self.files.last().copied().unwrap_or("empty");
        last.trim_end_matches(".wgsl").rsplit('/').next().unwrap_or(last)
    }

    /// The full module text for `tier`. The tier file comes first because `enable f16;` must
    /// precede every declaration (comments may come before it).
    pub fn assemble(&self, tier: Tier) -> String {
        let mut out = String::new();
        for f in tier_files(tier).iter().chain(self.files.iter()) {
            out.push_str("// ---- ");
            out.push_str(f);
            out.push('\n');
            out.push_str(file(f));
            out.push('\n');
        }
        out
    }
}
