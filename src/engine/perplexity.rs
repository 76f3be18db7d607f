//! Perplexity the way llama.cpp's `llama-perplexity` measures it, so the two can be compared:
//! non-overlapping chunks of `n_ctx` tokens, each evaluated from position 0 with its first token
//! replaced by BOS when the vocabulary adds one, and only the second half scored — the logits at
//! position j score token j+1 for j in `n_ctx/2 .. n_ctx-1`. NLL = −(l[t] − m − ln Σ e^(l−m)),
//! the sum of exponentials in f64; the ± is the standard error of the mean NLL carried through
//! exp (tests/fixtures/perplexity/README.md documents each rule with its source).

use super::Engine;
use crate::error::{Error, Result};
use crate::model::Outputs;

/// Running totals after some chunks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Perplexity {
    pub chunks: usize,
    /// Tokens scored so far.
    pub count: usize,
    sum1: f64,
    sum2: f64,
}

impl Perplexity {
    pub fn mean_nll(&self) -> f64 {
        self.sum1 / self.count as f64
    }

    pub fn ppl(&self) -> f64 {
        self.mean_nll().exp()
    }

    /// Standard error of the mean NLL.
    pub fn nll_stderr(&self) -> f64 {
        let n = self.count as f64;
        let m = self.mean_nll();
        ((self.sum2 / n - m * m) / (n - 1.0)).max(0.0).sqrt()
    }

    /// The ± of the final estimate: `ppl · stderr(nll)`.
    pub fn ppl_stderr(&self) -> f64 {
        self.ppl() * self.nll_stderr()
    }
}

/// `−log softmax(logits)[target]` with llama.cpp's arithmetic: max in f32, Σ exp in f64.
fn nll(logits: &[f32], target: usize) -> f64 {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let s: f64 = logits.iter().map(|&l| (l - m).exp() as f64).sum();
    -((logits[target] - m) as f64 - s.ln())
}

impl Engine {
    /// Scores `tokens` in chunks of `n_ctx` (≤ the engine's context); `on_chunk` sees the
    /// running totals after each chunk.
    pub fn perplexity(
        &mut self,
        tokens: &[u32],
        n_ctx: usize,
        mut on_chunk: impl FnMut(&Perplexity),
    ) -> Result<Perplexity> {
        if n_ctx < 4 || n_ctx > self.n_ctx() {
            return Err(Error::InvalidArgument(format!(
                "chunk size {n_ctx} must be in 4..={}",
                self.n_ctx()
            )));
        }
        let n_chunks = tokens.len() / n_ctx;
        if n_chunks == 0 || tokens.len() < 2 * n_ctx {
            return Err(Error::InvalidArgument(format!(
                "{} tokens are too few for chunks of {n_ctx}: at least {} are needed",
                tokens.len(),
                2 * n_ctx
            )));
        }
        let bos = if self.tokenizer.add_bos() { self.tokenizer.bos() } else { None };
        let vocab = self.model.hp.vocab_size;
        let first = n_ctx / 2;
        let mut p = Perplexity::default();
        let mut chunk = vec![0u32; n_ctx];
        for c in 0..n_chunks {
            chunk.copy_from_slice(&tokens[c * n_ctx..(c + 1) * n_ctx]);
            if let Some(b) = bos {
                chunk[0] = b;
            }
            self.reset();
            self.eval(&chunk[..first], Outputs::None)?;
            self.eval(&chunk[first..], Outputs::All)?;
            let logits = self.logits();
            for j in first..n_ctx - 1 {
                let row = &logits[(j - first) * vocab..(j - first + 1) * vocab];
                let v = nll(row, chunk[j + 1] as usize);
                p.sum1 += v;
                p.sum2 += v * v;
                p.count += 1;
            }
            p.chunks += 1;
            on_chunk(&p);
        }
        self.reset();
        Ok(p)
    }
}
