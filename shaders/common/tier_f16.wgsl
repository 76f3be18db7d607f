// Tier snippet, f16 tier: KV caches are stored as f16 (SHADER_F16). Opens every module of the
// tier, so its `enable` directive precedes all declarations. Chosen in
// src/backend/wgpu/shaders.rs (tier_files).
enable f16;

// Element type of KV-cache storage.
alias kv_t = f16;

fn kv_load(v: kv_t) -> f32 {
    return f32(v);
}

fn kv_store(v: f32) -> kv_t {
    return kv_t(v);
}
