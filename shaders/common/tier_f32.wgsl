// Tier snippet, f32 tier: KV caches are stored as f32 (no SHADER_F16 needed). Same interface
// as tier_f16.wgsl. Chosen in src/backend/wgpu/shaders.rs (tier_files).

// Element type of KV-cache storage.
alias kv_t = f32;

fn kv_load(v: kv_t) -> f32 {
    return v;
}

fn kv_store(v: f32) -> kv_t {
    return v;
}
