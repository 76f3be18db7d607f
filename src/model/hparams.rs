//! Hyperparameters, read from GGUF metadata in this one place and validated before any graph,
//! buffer or kernel is sized by them. ggml's conventions (`ne` order, key names) stop here.

use crate::error::{Error, Result};
use crate::gguf::GgufFile;
use crate::graph::GluAct;

/// Most layers a model may have (llama.cpp's `LLAMA_MAX_LAYERS`).
pub const MAX_LAYERS: u32 = 512;

/// Architectures kiln builds graphs for, and the `general.architecture` names they answer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// llama, mistral (SmolLM2, TinyLlama, Llama 2/3, Mistral 7B).
    Llama,
    /// qwen2: Q/K/V biases, NeoX RoPE.
    Qwen2,
    /// qwen3: per-head Q/K RMSNorm, NeoX RoPE.
    Qwen3,
    /// gemma3: sliding-window and global layers, Q/K norm, pre- and post-norms, GeGLU,
    /// embeddings scaled by √dim, tied head.
    Gemma3,
}

/// The names `general.architecture` may hold, for error messages.
pub const SUPPORTED: &str = "llama, mistral, qwen2, qwen3, gemma3";

impl Arch {
    pub fn from_name(name: &str) -> Option<Arch> {
        match name {
            "llama" | "mistral" => Some(Arch::Llama),
            "qwen2" => Some(Arch::Qwen2),
            "qwen3" => Some(Arch::Qwen3),
            "gemma3" => Some(Arch::Gemma3),
            _ => None,
        }
    }
}

/// Everything the graph builders need to know about a model, in llama2.c's vocabulary.
#[derive(Debug, Clone)]
pub struct HParams {
    pub arch: Arch,
    /// The metadata prefix (`general.architecture`), e.g. "llama".
    pub arch_name: String,
    pub n_layers: usize,
    pub dim: usize,
    pub hidden_dim: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    /// Dimension of one query/key head.
    pub head_dim: usize,
    pub vocab_size: usize,
    /// Context length the model was trained with.
    pub ctx_train: usize,
    pub rms_eps: f32,
    /// RoPE: rotated dimensions per head, base, linear frequency scale, pairing.
    pub n_rot: usize,
    pub rope_base: f64,
    /// RoPE base of sliding-window layers (Gemma 3: 10 000; others: = rope_base).
    pub rope_base_swa: f64,
    pub rope_freq_scale: f64,
    pub rope_neox: bool,
    /// Sliding window W and which layers use it (`swa_layers[il]`).
    pub sliding_window: Option<usize>,
    pub swa_layers: Vec<bool>,
    /// Multiplies q·k before the softmax.
    pub attn_scale: f32,
    /// Multiplies the embedding rows (Gemma: √dim).
    pub embed_scale: f32,
    pub act: GluAct,
}

fn key(arch: &str, k: &str) -> String {
    format!("{arch}.{k}")
}

fn usize_key(f: &GgufFile, k: &str) -> Result<usize> {
    Ok(f.get_u32(k)? as usize)
}

fn opt_usize(f: &GgufFile, k: &str) -> Result<Option<usize>> {
    match f.get(k) {
        None => Ok(None),
        Some(_) => Ok(Some(usize_key(f, k)?)),
    }
}

fn model_err(msg: String) -> Error {
    Error::Model(msg)
}

impl HParams {
    /// Reads and validates the hyperparameters of `f`.
    pub fn read(f: &GgufFile) -> Result<HParams> {
        let arch_name = f.get_string_lossy("general.architecture")?.into_owned();
        let arch = Arch::from_name(&arch_name).ok_or_else(|| {
            model_err(format!("unsupported architecture {arch_name:?}; kiln supports {SUPPORTED}"))
        })?;
        let a = arch_name.as_str();
        let n_layers = usize_key(f, &key(a, "block_count"))?;
        let dim = usize_key(f, &key(a, "embedding_length"))?;
        let hidden_dim = usize_key(f, &key(a, "feed_forward_length"))?;
        let n_heads = usize_key(f, &key(a, "attention.head_count"))?;
        let n_kv_heads = opt_usize(f, &key(a, "attention.head_count_kv"))?.unwrap_or(n_heads);
        let ctx_train = usize_key(f, &key(a, "context_length"))?;
        let rms_eps = f.get_f32(&key(a, "attention.layer_norm_rms_epsilon"))?;
        if n_layers == 0 || n_layers > MAX_LAYERS as usize {
            return Err(model_err(format!("block_count {n_layers} is outside 1..={MAX_LAYERS}")));
        }
        for (name, v) in [
            ("embedding_length", dim),
            ("feed_forward_length", hidden_dim),
            ("context_length", ctx_train),
        ] {
            if v == 0 || v > 1 << 24 {
                return Err(model_err(format!("{a}.{name} = {v} is out of range")));
            }
        }
        if n_heads == 0 || n_kv_heads == 0 || n_heads > 4096 || n_heads % n_kv_heads != 0 {
            return Err(model_err(format!(
                "{n_heads} attention heads cannot share {n_kv_heads} KV heads evenly"
            )));
        }
        let head_dim = match opt_usize(f, &key(a, "attention.key_length"))? {
            Some(k) => k,
            None if dim % n_heads == 0 => dim / n_heads,
            None => {
                return Err(model_err(format!(
                    "embedding_length {dim} is not divisible by {n_heads} heads"
                )));
            }
        };
        if let Some(v) = opt_usize(f, &key(a, "attention.value_length"))?
            && v != head_dim
        {
            return Err(model_err(format!(
                "value head size {v} differs from key head size {head_dim}"
            )));
        }
        if head_dim == 0 || head_dim > 1024 || head_dim % 2 != 0 {
            return Err(model_err(format!(
                "head dimension {head_dim} must be even and in 2..=1024"
            )));
        }
        let n_rot = opt_usize(f, &key(a, "rope.dimension_count"))?.unwrap_or(head_dim);
        if n_rot == 0 || n_rot > head_dim || n_rot % 2 != 0 {
            return Err(model_err(format!(
                "rope.dimension_count {n_rot} must be even and ≤ head size {head_dim}"
            )));
        }
        if !rms_eps.is_finite() || rms_eps < 0.0 {
            return Err(model_err(format!("rms epsilon {rms_eps} is not a non-negative number")));
        }
        let rope_base = match f.get(&key(a, "rope.freq_base")) {
            Some(_) => f.get_f32(&key(a, "rope.freq_base"))? as f64,
            None => 10_000.0,
        };
        let rope_freq_scale = match f
            .get(&key(a, "rope.scaling.type"))
            .map(|_| f.get_string_lossy(&key(a, "rope.scaling.type")))
        {
            Some(t) => match t?.as_ref() {
                "none" => 1.0,
                "linear" => 1.0 / f.get_f32(&key(a, "rope.scaling.factor"))? as f64,
                other => {
                    return Err(model_err(format!(
                        "rope scaling {other:?} is not supported (linear, none)"
                    )));
                }
            },
            None => match f.get(&key(a, "rope.scale_linear")) {
                Some(_) => 1.0 / f.get_f32(&key(a, "rope.scale_linear"))? as f64,
                None => 1.0,
            },
        };
        if !(rope_base.is_finite()
            && rope_base > 1.0
            && rope_freq_scale.is_finite()
            && rope_freq_scale > 0.0)
        {
            return Err(model_err(format!(
                "rope base {rope_base} / scale {rope_freq_scale} out of range"
            )));
        }
        let vocab_size = match opt_usize(f, &key(a, "vocab_size"))? {
            Some(v) => v,
            None => f.get_array("tokenizer.ggml.tokens")?.len(),
        };
        if vocab_size == 0 {
            return Err(model_err("the vocabulary is empty".into()));
        }

        let mut hp = HParams {
            arch,
            arch_name: arch_name.clone(),
            n_layers,
            dim,
            hidden_dim,
            n_heads,
            n_kv_heads,
            head_dim,
            vocab_size,
            ctx_train,
            rms_eps,
            n_rot,
            rope_base,
            rope_base_swa: rope_base,
            rope_freq_scale,
            rope_neox: arch != Arch::Llama,
            sliding_window: None,
            swa_layers: vec![false; n_layers],
            attn_scale: 1.0 / (head_dim as f32).sqrt(),
            embed_scale: 1.0,
            act: GluAct::Silu,
        };
        if arch == Arch::Gemma3 {
            // llama.cpp (src/llama-model.cpp, LLM_ARCH_GEMMA3): local layers use base 10 000,
            // every sixth layer is global; embeddings are scaled by √dim; GELU (tanh) gating.
            let w = opt_usize(f, &key(a, "attention.sliding_window"))?;
            if let Some(w) = w {
                if w == 0 {
                    return Err(model_err("attention.sliding_window is 0".into()));
                }
                hp.sliding_window = Some(w);
                hp.swa_layers = (0..n_layers).map(|il| (il + 1) % 6 != 0).collect();
            }
            hp.rope_base_swa = 10_000.0;
            hp.embed_scale = (dim as f32).sqrt();
            hp.act = GluAct::GeluTanh;
        }
        Ok(hp)
    }

    pub fn q_dim(&self) -> usize {
        self.n_heads * self.head_dim
    }

    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }
}
