//! Architectures as graph builders: hyperparameters (hparams.rs, the one place GGUF keys are
//! read), weights (weights.rs), and the forward passes (llama.rs for llama/mistral/qwen2/qwen3,
//! gemma3.rs), plus the KV cache and RoPE tables every graph of a model shares.
//!
//! May use: `graph`, `gguf`, `quant`, `error` — never `backend` or `exec`: a model only
//! describes computation; where it runs is decided elsewhere. Invariant: every tensor shape and
//! hyperparameter is validated in `Model::load`, so graph building cannot fail on file data.

mod gemma3;
mod hparams;
mod llama;
mod rope;
mod weights;

use std::sync::Arc;

pub use hparams::{Arch, HParams, SUPPORTED};

use crate::error::{Error, Result};
use crate::gguf::GgufFile;
use crate::graph::{
    ElemType, Graph, GraphBuilder, HostBytes, ParamDesc, ParamId, ParamInit, ParamTable, Shape,
    TensorId,
};
use weights::WeightLoader;

/// Default context when the user gives none: the model's own, capped for memory.
pub const DEFAULT_MAX_CTX: usize = 4096;

/// The weights of one transformer layer, and its share of the KV cache.
#[derive(Debug, Clone)]
pub struct Layer {
    pub attn_norm: ParamId,
    pub wq: ParamId,
    pub wk: ParamId,
    pub wv: ParamId,
    pub wo: ParamId,
    /// Q, K and V biases concatenated (qwen2).
    pub qkv_bias: Option<ParamId>,
    pub q_norm: Option<ParamId>,
    pub k_norm: Option<ParamId>,
    pub post_attn_norm: Option<ParamId>,
    pub ffn_norm: ParamId,
    pub gate: ParamId,
    pub up: ParamId,
    pub down: ParamId,
    pub post_ffn_norm: Option<ParamId>,
    pub k_cache: ParamId,
    pub v_cache: ParamId,
    pub rope_table: ParamId,
}

/// A loaded model: hyperparameters, persistent tensors, and which is which.
pub struct Model {
    pub hp: HParams,
    pub params: ParamTable,
    pub tok_embd: ParamId,
    pub output_norm: ParamId,
    /// The LM head (the embedding table when tied).
    pub output: ParamId,
    pub layers: Vec<Layer>,
    /// Tokens the KV cache holds.
    pub n_ctx: usize,
    pub kv_type: ElemType,
}

/// Which logits a step graph computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outputs {
    /// None: the step only fills the KV cache (a prompt chunk before the last).
    None,
    /// Logits of the last token (sampling).
    Last,
    /// Logits of every token (perplexity).
    All,
    /// Only the id of the last token's largest logit (greedy decoding picks it on the device
    /// and reads back 4 bytes instead of the logits).
    Argmax,
}

/// A graph for one step shape and the tensors the host touches.
pub struct StepGraph {
    pub graph: Graph,
    /// Input: `(n_tokens,)` U32 token ids.
    pub tokens: TensorId,
    /// Output: `(rows, vocab_size)` logits, when asked for.
    pub logits: Option<TensorId>,
    /// Output: `(1,)` U32, the argmax of the last token's logits (`Outputs::Argmax`).
    pub argmax: Option<TensorId>,
}

/// Options fixed at load time.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// Context size; 0 = the model's own, capped at [`DEFAULT_MAX_CTX`].
    pub n_ctx: usize,
    /// Element type of the KV cache (the backend's preference).
    pub kv_type: ElemType,
}

impl Model {
    /// Reads hyperparameters and registers every weight of `file`, checking names and shapes.
    pub fn load(file: Arc<GgufFile>, opts: LoadOptions) -> Result<Model> {
        let hp = HParams::read(&file)?;
        let n_ctx = match opts.n_ctx {
            0 => hp.ctx_train.min(DEFAULT_MAX_CTX),
            n => n,
        };
        if n_ctx > 1 << 20 {
            return Err(Error::InvalidArgument(format!(
                "context {n_ctx} is larger than kiln supports (2^20)"
            )));
        }
        if !matches!(opts.kv_type, ElemType::F16 | ElemType::F32) {
            return Err(Error::InvalidArgument(format!(
                "KV cache type {} (F16 or F32)",
                opts.kv_type
            )));
        }
        let kv_bytes =
            [hp.n_layers, 2, hp.n_kv_heads, n_ctx, hp.head_dim, opts.kv_type.bytes(1).unwrap_or(4)]
                .iter()
                .try_fold(1usize, |acc, &v| acc.checked_mul(v))
                .filter(|&b| b <= 1 << 40)
                .ok_or_else(|| {
                    Error::OutOfMemory(format!("a KV cache for {n_ctx} tokens is absurdly large"))
                })?;
        log::debug!("KV cache: {} MiB ({})", kv_bytes >> 20, opts.kv_type);

        let mut params = ParamTable::new();
        let mut w = WeightLoader { file: &file, params: &mut params };
        let (dim, vocab) = (hp.dim, hp.vocab_size);
        let tok_embd = w.matrix("token_embd.weight", vocab, dim, None)?;
        let output_norm = w.vector("output_norm.weight", dim, None)?;
        let output = if w.has("output.weight") {
            w.matrix("output.weight", vocab, dim, None)?
        } else {
            tok_embd
        };

        let tables = rope::tables(&hp, &w, n_ctx)?;
        let mut table_ids = Vec::new();
        for (i, t) in tables.into_iter().enumerate() {
            table_ids.push(params.push(ParamDesc {
                name: format!("rope_table.{i}"),
                shape: Shape::new(&[n_ctx, hp.n_rot / 2, 2]),
                ty: ElemType::F32,
                init: ParamInit::Data(HostBytes::from_f32(&t)),
                layer: None,
            }));
        }
        let mut layers = Vec::with_capacity(hp.n_layers);
        for il in 0..hp.n_layers {
            let mut w = WeightLoader { file: &file, params: &mut params };
            let mut layer = load_layer(&hp, &mut w, il)?;
            let cache = |params: &mut ParamTable, which: &str| {
                params.push(ParamDesc {
                    name: format!("cache_{which}.{il}"),
                    shape: Shape::new(&[hp.n_kv_heads, n_ctx, hp.head_dim]),
                    ty: opts.kv_type,
                    init: ParamInit::Zeroed,
                    layer: Some(il as u32),
                })
            };
            layer.k_cache = cache(&mut params, "k");
            layer.v_cache = cache(&mut params, "v");
            layer.rope_table =
                table_ids[if hp.swa_layers[il] { 1.min(table_ids.len() - 1) } else { 0 }];
            layers.push(layer);
        }
        Ok(Model {
            hp,
            params,
            tok_embd,
            output_norm,
            output,
            layers,
            n_ctx,
            kv_type: opts.kv_type,
        })
    }

    /// The graph for `n_tokens` tokens at positions `pos .. pos + n_tokens` (pos is a runtime
    /// value of each execution).
    pub fn build(&self, n_tokens: usize, outputs: Outputs) -> StepGraph {
        assert!(n_tokens > 0 && n_tokens <= self.n_ctx, "invariant: 1..=n_ctx tokens per step");
        let mut g = GraphBuilder::new(&self.params);
        let tokens = g.input("tokens", &[n_tokens], ElemType::U32);
        let x = match self.hp.arch {
            Arch::Llama | Arch::Qwen2 | Arch::Qwen3 => llama::layers(self, &mut g, tokens),
            Arch::Gemma3 => gemma3::layers(self, &mut g, tokens),
        };
        g.set_layer(None);
        let logits = match outputs {
            Outputs::None => None,
            Outputs::Last | Outputs::All | Outputs::Argmax => {
                let x = if outputs != Outputs::All && n_tokens > 1 {
                    g.view(x, n_tokens - 1..n_tokens, 0..self.hp.dim)
                } else {
                    x
                };
                let norm = g.param(self.output_norm);
                let h = g.rms_norm(x, norm, self.hp.rms_eps, None, "result_norm");
                let head = g.param(self.output);
                let logits = g.matmul(&[head], h, None, None, "logits");
                Some(logits)
            }
        };
        let argmax = match (outputs, logits) {
            (Outputs::Argmax, Some(l)) => {
                let id = g.argmax(l, "argmax");
                g.output(id);
                Some(id)
            }
            _ => {
                logits.inspect(|&l| g.output(l));
                None
            }
        };
        let logits = if argmax.is_some() { None } else { logits };
        StepGraph { graph: g.build(), tokens, logits, argmax }
    }

    /// Stores layer `il`'s KV cache as `ty` (F16 or F32), e.g. for a layer computed on a device
    /// that prefers the other.
    pub fn set_kv_type(&mut self, il: usize, ty: ElemType) {
        let l = &self.layers[il];
        self.params.set_state_type(l.k_cache, ty);
        self.params.set_state_type(l.v_cache, ty);
    }

    /// Weight bytes one decode step reads from memory: every weight once, except the embedding
    /// table, of which only one row is read unless it is also the LM head (tied). The KV cache
    /// and the RoPE tables (one row per position) are not counted.
    pub fn weight_bytes_per_token(&self) -> u64 {
        let embd = self.params.get(self.tok_embd);
        let mut total: u64 = self
            .params
            .iter()
            .filter(|&(id, p)| is_weight(p) && id != self.tok_embd)
            .map(|(_, p)| p.n_bytes() as u64)
            .sum();
        total += if self.output == self.tok_embd {
            embd.n_bytes() as u64
        } else {
            (embd.n_bytes() / embd.shape.rows().max(1)) as u64
        };
        total
    }

    /// Weight elements (the model's parameter count, the embedding table counted once).
    pub fn n_weights(&self) -> u64 {
        self.params
            .iter()
            .filter(|(_, p)| is_weight(p))
            .map(|(_, p)| p.shape.n_elements() as u64)
            .sum()
    }

    /// Every KV-cache tensor (state to keep on the device that runs its layer).
    pub fn kv_params(&self) -> Vec<ParamId> {
        self.layers.iter().flat_map(|l| [l.k_cache, l.v_cache]).collect()
    }
}

/// A tensor from the file (or derived from one, like qwen2's joined biases), not state or a
/// RoPE table.
fn is_weight(p: &ParamDesc) -> bool {
    matches!(p.init, ParamInit::Data(_)) && !p.name.starts_with("rope_table.")
}

/// Loads the weights of layer `il`; cache and table ids are filled in by the caller.
fn load_layer(hp: &HParams, w: &mut WeightLoader<'_>, il: usize) -> Result<Layer> {
    let l = Some(il as u32);
    let n = |s: &str| format!("blk.{il}.{s}.weight");
    let (dim, q, kv, ff, hd) = (hp.dim, hp.q_dim(), hp.kv_dim(), hp.hidden_dim, hp.head_dim);
    let qkv_bias = if hp.arch == Arch::Qwen2 {
        let mut b = w.f32_values(&format!("blk.{il}.attn_q.bias"))?;
        b.extend(w.f32_values(&format!("blk.{il}.attn_k.bias"))?);
        b.extend(w.f32_values(&format!("blk.{il}.attn_v.bias"))?);
        if b.len() != q + 2 * kv {
            return Err(Error::Model(format!(
                "layer {il}: Q/K/V biases have {} values, expected {}",
                b.len(),
                q + 2 * kv
            )));
        }
        Some(w.params.push(ParamDesc {
            name: format!("blk.{il}.attn_qkv.bias"),
            shape: Shape::new(&[q + 2 * kv]),
            ty: ElemType::F32,
            init: ParamInit::Data(HostBytes::from_f32(&b)),
            layer: l,
        }))
    } else {
        None
    };
    let qk_norm = matches!(hp.arch, Arch::Qwen3 | Arch::Gemma3);
    let gemma = hp.arch == Arch::Gemma3;
    Ok(Layer {
        attn_norm: w.vector(&n("attn_norm"), dim, l)?,
        wq: w.matrix(&n("attn_q"), q, dim, l)?,
        wk: w.matrix(&n("attn_k"), kv, dim, l)?,
        wv: w.matrix(&n("attn_v"), kv, dim, l)?,
        wo: w.matrix(&n("attn_output"), dim, q, l)?,
        qkv_bias,
        q_norm: if qk_norm { Some(w.vector(&n("attn_q_norm"), hd, l)?) } else { None },
        k_norm: if qk_norm { Some(w.vector(&n("attn_k_norm"), hd, l)?) } else { None },
        post_attn_norm: if gemma {
            Some(w.vector(&n("post_attention_norm"), dim, l)?)
        } else {
            None
        },
        ffn_norm: w.vector(&n("ffn_norm"), dim, l)?,
        gate: w.matrix(&n("ffn_gate"), ff, dim, l)?,
        up: w.matrix(&n("ffn_up"), ff, dim, l)?,
        down: w.matrix(&n("ffn_down"), dim, ff, l)?,
        post_ffn_norm: if gemma { Some(w.vector(&n("post_ffw_norm"), dim, l)?) } else { None },
        k_cache: ParamId(u32::MAX),
        v_cache: ParamId(u32::MAX),
        rope_table: ParamId(u32::MAX),
    })
}
