//! What `kiln bench kernels` and `benches/kernels.rs` time: one case per kernel × type × model
//! shape × token count, at the shapes of SmolLM2-135M, Gemma 3 270M and a Llama 7B, with the
//! bytes each case moves and the FLOPs it does, and the default subset that keeps a run on
//! lavapipe (~1 GB/s) to a minute or two.
//!
//! Bytes count every tensor the op reads or writes once: the weight (or embedding table, or
//! the KV cache entries `0..pos+n`) plus the f32 activations read (x, q, norm weight, RoPE
//! table rows) and written (y). FLOPs are `2·rows·cols·tokens` for matmuls (twice that for
//! matmul_glu's two matrices) and `2·n_heads·(2·head_dim)·Σ kv_len` for attention (QKᵀ and PV,
//! test-backend-ops' count); the other kernels report none. May use: `quant`.

use crate::quant::DType;

/// Tokens of a prefill case.
pub const PREFILL: usize = 512;

/// KV lengths of the attention decode cases.
pub const DECODE_KV: [usize; 3] = [256, 1024, 4096];

/// A model's dimensions, in llama2.c's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelShape {
    pub name: &'static str,
    pub dim: usize,
    pub hidden_dim: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub vocab_size: usize,
}

/// The two test models and the classic 7B.
pub const MODELS: [ModelShape; 3] = [
    ModelShape {
        name: "smollm2-135m",
        dim: 576,
        hidden_dim: 1536,
        n_heads: 9,
        n_kv_heads: 3,
        head_dim: 64,
        vocab_size: 49152,
    },
    ModelShape {
        name: "gemma3-270m",
        dim: 640,
        hidden_dim: 2048,
        n_heads: 4,
        n_kv_heads: 1,
        head_dim: 256,
        vocab_size: 262144,
    },
    ModelShape {
        name: "llama-7b",
        dim: 4096,
        hidden_dim: 11008,
        n_heads: 32,
        n_kv_heads: 32,
        head_dim: 128,
        vocab_size: 32000,
    },
];

/// Every weight type the matmul and get_rows kernels decode, in ggml id order (BF16 last):
/// each runnable type but Q8_1 and Q8_K, which ggml uses only for quantized activations.
pub fn weight_types() -> impl Iterator<Item = DType> {
    DType::ALL.into_iter().filter(|d| !matches!(d, DType::Q8_1 | DType::Q8_K))
}

/// A kernel as the report names it (`matvec` and `matmul` are one op at 1 and many tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    Matvec,
    Matmul,
    MatmulGlu,
    GetRows,
    RmsNorm,
    Rope,
    Attention,
    Softmax,
    Argmax,
}

impl Kernel {
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Matvec => "matvec",
            Kernel::Matmul => "matmul",
            Kernel::MatmulGlu => "matmul_glu",
            Kernel::GetRows => "get_rows",
            Kernel::RmsNorm => "rms_norm",
            Kernel::Rope => "rope",
            Kernel::Attention => "attention",
            Kernel::Softmax => "softmax",
            Kernel::Argmax => "argmax",
        }
    }
}

/// One timed case. `rows × cols` is the op's main operand: the weight matrix (matmul_glu: each
/// of gate and up), the embedding table, the KV cache as `(kv_len, n_kv_heads·head_dim)`, or
/// the activation `(tokens, width)` of the other kernels.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub kernel: Kernel,
    /// Weight or table type; the KV cache type for attention; F32 for activation-only kernels.
    pub dtype: DType,
    pub model: ModelShape,
    /// The tensor within the model: `ffn_down`, `token_embd`, `x`, `kv4096` …
    pub part: String,
    pub rows: usize,
    pub cols: usize,
    pub tokens: usize,
    /// Part of the default run (the rest needs `--all` or `--filter`).
    pub default: bool,
}

impl Case {
    /// `model/part`, e.g. `llama-7b/ffn_down`.
    pub fn shape(&self) -> String {
        format!("{}/{}", self.model.name, self.part)
    }

    /// `matvec Q4_K llama-7b/ffn_down n=1`: what `--filter` matches and benches are named.
    pub fn label(&self) -> String {
        format!("{} {} {} n={}", self.kernel.name(), self.dtype, self.shape(), self.tokens)
    }

    /// Position of the step's first token: attention attends over `rows` cache entries.
    pub fn pos(&self) -> usize {
        match self.kernel {
            Kernel::Attention => self.rows - self.tokens,
            _ => 0,
        }
    }

    /// Bytes read and written, each tensor counted once (module doc).
    pub fn bytes(&self) -> u64 {
        let m = &self.model;
        let (r, c, n) = (self.rows as u64, self.cols as u64, self.tokens as u64);
        let row_bytes = |cols: u64| self.dtype.row_bytes(cols).unwrap_or(0);
        match self.kernel {
            Kernel::Matvec | Kernel::Matmul => r * row_bytes(c) + 4 * n * (c + r),
            Kernel::MatmulGlu => 2 * r * row_bytes(c) + 4 * n * (c + r),
            Kernel::GetRows => n * row_bytes(c) + 4 * n + 4 * n * c,
            Kernel::RmsNorm => 4 * (2 * n * c + c),
            // x in, y out, and the (cos, sin) table rows of the n positions.
            Kernel::Rope => 4 * (2 * n * c + n * m.head_dim as u64),
            Kernel::Attention => 2 * r * row_bytes(c) + 4 * 2 * n * (m.n_heads * m.head_dim) as u64,
            Kernel::Softmax => 4 * 2 * n * c,
            Kernel::Argmax => 4 * n * c + 4 * n,
        }
    }

    /// Floating-point operations, for the kernels where they are the point (module doc).
    pub fn flops(&self) -> Option<u64> {
        let (r, c, n) = (self.rows as u64, self.cols as u64, self.tokens as u64);
        match self.kernel {
            Kernel::Matvec | Kernel::Matmul => Some(2 * r * c * n),
            Kernel::MatmulGlu => Some(4 * r * c * n),
            Kernel::Attention => {
                // Query i (of n, at position pos + i) sees pos + i + 1 keys.
                let pos = self.pos() as u64;
                let keys = n * pos + n * (n + 1) / 2;
                Some(2 * (self.model.n_heads * 2 * self.model.head_dim) as u64 * keys)
            }
            Kernel::GetRows | Kernel::RmsNorm | Kernel::Rope | Kernel::Softmax | Kernel::Argmax => {
                None
            }
        }
    }

    /// `filter` is comma-separated alternatives, each a list of words that must all occur in
    /// the label (any case): `matvec q4_k`, `rms_norm, attention llama`.
    pub fn matches(&self, filter: &str) -> bool {
        let label = self.label().to_lowercase();
        filter
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .any(|alt| alt.split_whitespace().all(|w| label.contains(&w.to_lowercase())))
    }
}

/// Weight matrices of a model as `(name, rows, cols)`.
fn matrices(m: &ModelShape) -> [(&'static str, usize, usize); 6] {
    let (q, kv) = (m.n_heads * m.head_dim, m.n_kv_heads * m.head_dim);
    [
        ("attn_q", q, m.dim),
        ("attn_kv", kv, m.dim),
        ("attn_output", m.dim, q),
        ("ffn_up", m.hidden_dim, m.dim),
        ("ffn_down", m.dim, m.hidden_dim),
        ("output", m.vocab_size, m.dim),
    ]
}

/// Every case, with `kv` as the attention cache type. Weight cases whose rows are not whole
/// blocks of their type (K-quants need 256 | cols: not SmolLM2's or Gemma's dim) are left out.
pub fn all_cases(kv: DType) -> Vec<Case> {
    let mut out = Vec::new();
    for m in MODELS {
        let (big, small) = (m.name == "llama-7b", m.name == "smollm2-135m");
        let mut push = |kernel, dtype: DType, part: String, rows, cols, tokens, default| {
            if cols % dtype.block_size() == 0 {
                out.push(Case { kernel, dtype, model: m, part, rows, cols, tokens, default });
            }
        };
        // Kernel by kernel, so a report reads as one block per kernel and matrix.
        let mats = matrices(&m).into_iter().filter(|&(name, ..)| {
            name != "attn_kv" || m.n_kv_heads != m.n_heads // else the shape of attn_q
        });
        for (kernel, tokens) in [(Kernel::Matvec, 1), (Kernel::Matmul, PREFILL)] {
            for (name, rows, cols) in mats.clone() {
                // 7B prefill is ~46 GFLOP a matrix: tens of seconds on lavapipe.
                let default = name == "ffn_down" && (kernel == Kernel::Matvec || small);
                for dt in weight_types() {
                    push(kernel, dt, name.into(), rows, cols, tokens, default);
                }
            }
        }
        for tokens in [1, PREFILL] {
            for dt in weight_types() {
                let glu = matches!(dt, DType::Q4_0 | DType::Q8_0) || (big && dt == DType::Q4_K);
                let (h, d) = (m.hidden_dim, m.dim);
                push(Kernel::MatmulGlu, dt, "ffn_gate_up".into(), h, d, tokens, glu && tokens == 1);
            }
        }
        for tokens in [PREFILL, 1] {
            for dt in weight_types() {
                let embd = small || (big && dt.block_size() == crate::quant::QK_K);
                let (v, d) = (m.vocab_size, m.dim);
                push(Kernel::GetRows, dt, "token_embd".into(), v, d, tokens, embd && tokens > 1);
            }
        }
        let q = m.n_heads * m.head_dim;
        for tokens in [1, PREFILL] {
            push(Kernel::RmsNorm, DType::F32, "x".into(), tokens, m.dim, tokens, true);
        }
        for tokens in [1, PREFILL] {
            push(Kernel::Rope, DType::F32, "q".into(), tokens, q, tokens, true);
        }
        let kvw = m.n_kv_heads * m.head_dim;
        for kv_len in DECODE_KV.into_iter().chain([8192]) {
            let part = format!("kv{kv_len}");
            push(Kernel::Attention, kv, part, kv_len, kvw, 1, kv_len <= 4096);
        }
        push(Kernel::Attention, kv, format!("kv{PREFILL}"), PREFILL, kvw, PREFILL, !big);
        push(Kernel::Softmax, DType::F32, "logits".into(), 1, m.vocab_size, 1, true);
        push(Kernel::Argmax, DType::F32, "logits".into(), 1, m.vocab_size, 1, true);
    }
    out
}

/// The cases a run times: those matching `filter` (from all cases), else every case with
/// `all`, else the default subset.
pub fn select(kv: DType, filter: Option<&str>, all: bool) -> Vec<Case> {
    let cases = all_cases(kv);
    match filter.map(str::trim).filter(|f| !f.is_empty()) {
        Some(f) => cases.into_iter().filter(|c| c.matches(f)).collect(),
        None => cases.into_iter().filter(|c| all || c.default).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique_and_weights_whole_blocks() {
        let all = all_cases(DType::F16);
        let mut labels: Vec<String> = all.iter().map(Case::label).collect();
        labels.sort();
        let n = labels.len();
        labels.dedup();
        assert_eq!(labels.len(), n, "two cases share a label");
        for c in &all {
            assert_eq!(c.cols % c.dtype.block_size(), 0, "{}", c.label());
            assert!(c.bytes() > 0 && c.rows > 0 && c.tokens > 0, "{}", c.label());
        }
        let default = select(DType::F16, None, false);
        assert!((80..=120).contains(&default.len()), "{} default cases", default.len());
    }

    #[test]
    fn filters_are_alternatives_of_words_in_any_case() {
        let pick = |f: &str| select(DType::F16, Some(f), false);
        let q4k = pick("MATVEC q4_k");
        assert!(!q4k.is_empty());
        assert!(q4k.iter().all(|c| c.kernel == Kernel::Matvec && c.dtype == DType::Q4_K));
        let both = pick("rms_norm smollm2, argmax llama");
        assert_eq!(both.len(), 3, "{both:?}");
        assert_eq!(pick("  ").len(), select(DType::F16, None, false).len(), "blank: no filter");
        assert!(pick(",").is_empty());
    }

    #[test]
    fn attention_counts_keys_once_per_query() {
        let c = all_cases(DType::F16)
            .into_iter()
            .find(|c| c.label() == "attention F16 llama-7b/kv4096 n=1")
            .expect("the case");
        assert_eq!(c.pos(), 4095);
        // K and V: 4096 keys × 32 heads × 128 × 2 bytes each; q and out: 4096 f32 each.
        assert_eq!(c.bytes(), 2 * 4096 * 4096 * 2 + 2 * 4096 * 4);
        assert_eq!(c.flops(), Some(2 * 32 * 256 * 4096));
    }
}
