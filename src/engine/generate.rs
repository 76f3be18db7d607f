//! The generation loop: prefill the prompt, then sample, stream and evaluate one token at a
//! time until an end-of-generation token, the token budget, the context end, or the caller
//! says stop.

use std::ops::ControlFlow;
use std::time::Instant;

use super::Engine;
use crate::error::{Error, Result};
use crate::model::Outputs;
use crate::sample::Sampler;
use crate::tokenizer::StreamDecoder;

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The model produced an end-of-generation token.
    EndOfText,
    /// `max_tokens` tokens were generated.
    Length,
    /// The KV cache is full.
    ContextFull,
    /// The caller's callback asked to stop.
    Cancelled,
}

/// What one generation did.
#[derive(Debug, Clone)]
pub struct Generated {
    pub tokens: Vec<u32>,
    pub stop: StopReason,
    pub prompt_tokens: usize,
}

impl Engine {
    /// Evaluates `prompt` (after the tokens already in the cache), then generates up to
    /// `max_tokens` tokens (`None`: until the context is full) with `sampler`. `on_text` receives
    /// each piece of decoded text as soon as it is complete UTF-8; returning
    /// `ControlFlow::Break(())` stops generation.
    pub fn generate(
        &mut self,
        prompt: &[u32],
        max_tokens: Option<usize>,
        sampler: &mut Sampler,
        mut on_text: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generated> {
        if prompt.is_empty() && self.pos() == 0 {
            return Err(Error::InvalidArgument("the prompt is empty".into()));
        }
        // Plain greedy decoding picks the token on the device: 4 bytes read back per step
        // instead of the logits.
        let want = if sampler.is_plain_greedy() { Outputs::Argmax } else { Outputs::Last };
        let t0 = Instant::now();
        self.eval(prompt, want)?;
        self.timings.prompt += t0.elapsed();
        self.timings.prompt_tokens += prompt.len();
        for &t in prompt {
            sampler.accept(t);
        }

        let tokenizer = self.tokenizer.clone();
        let mut decoder = StreamDecoder::new(&tokenizer, false);
        let mut out = Vec::new();
        let t1 = Instant::now();
        let stop = loop {
            if max_tokens.is_some_and(|m| out.len() >= m) {
                break StopReason::Length;
            }
            let next = match self.argmax() {
                Some(id) => id,
                None => {
                    let mut logits = std::mem::take(&mut self.logits);
                    let next = sampler.sample(&mut logits);
                    self.logits = logits;
                    next?
                }
            };
            sampler.accept(next);
            if tokenizer.is_eog(next) {
                break StopReason::EndOfText;
            }
            out.push(next);
            let text = decoder.push(next);
            if !text.is_empty() && on_text(&text).is_break() {
                break StopReason::Cancelled;
            }
            if self.pos() >= self.n_ctx() {
                break StopReason::ContextFull;
            }
            self.eval(&[next], want)?;
        };
        let rest = decoder.flush();
        if !rest.is_empty() {
            let _ = on_text(&rest);
        }
        self.timings.decode += t1.elapsed();
        self.timings.decode_tokens += out.len();
        Ok(Generated { tokens: out, stop, prompt_tokens: prompt.len() })
    }
}
