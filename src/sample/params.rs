//! Sampler settings: llama.cpp's names, defaults and meanings (common/common.h
//! `common_params_sampling`), and the checks that turn a bad value into an error naming the field.

use crate::error::{Error, Result};

/// How the next token is chosen from the logits.
///
/// The chain runs in llama.cpp's default order: repeat penalty → top-k → top-p → min-p →
/// temperature → draw. Every stage except the draw can be switched off with its "disabled" value,
/// and the defaults are llama.cpp's (`--temp 0.8 --top-k 40 --top-p 0.95 --min-p 0.05
/// --repeat-penalty 1.0 --repeat-last-n 64`).
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerParams {
    /// Divides the logits of the surviving candidates. `<= 0` means greedy: the argmax of the
    /// (penalised) logits, ties going to the lowest token id, and no random draw.
    pub temperature: f32,
    /// Keep the `top_k` most likely tokens; `<= 0` keeps them all.
    pub top_k: i32,
    /// Keep the smallest set of most likely tokens whose probability reaches `top_p`, in
    /// (0, 1]; `1.0` keeps them all. Probabilities are taken before temperature, as llama.cpp does.
    pub top_p: f32,
    /// Drop tokens whose probability is below `min_p` times the top token's, in [0, 1];
    /// `0.0` keeps them all.
    pub min_p: f32,
    /// Penalty for tokens among the last `repeat_last_n` accepted ones: a positive logit is
    /// divided by it, a negative one multiplied (so > 1 always makes repeats less likely);
    /// `1.0` disables it. Applied once per distinct token, however often it repeated.
    pub repeat_penalty: f32,
    /// How many of the most recently accepted tokens the penalty looks at; `0` disables it.
    /// (llama.cpp's `-1` = "the whole context" is for the caller to map to the context length.)
    pub repeat_last_n: usize,
    /// Seed of the random draw; `None` derives one from the clock. The seed actually used is
    /// [`Sampler::seed`](super::Sampler::seed), so a run can be repeated.
    pub seed: Option<u64>,
}

impl Default for SamplerParams {
    fn default() -> Self {
        SamplerParams {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: None,
        }
    }
}

impl SamplerParams {
    /// Greedy decoding (temperature 0) with no penalty: the argmax of the logits.
    pub fn greedy() -> Self {
        SamplerParams { temperature: 0.0, repeat_penalty: 1.0, ..Self::default() }
    }

    /// Checks every field; the error names the first field that is out of range.
    pub fn validate(&self) -> Result<()> {
        if !self.temperature.is_finite() {
            return Err(invalid("temperature", self.temperature, "a finite number"));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(invalid("top_p", self.top_p, "in (0, 1]; 1 disables it"));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return Err(invalid("min_p", self.min_p, "in [0, 1]; 0 disables it"));
        }
        if !(self.repeat_penalty > 0.0 && self.repeat_penalty.is_finite()) {
            return Err(invalid(
                "repeat_penalty",
                self.repeat_penalty,
                "a finite number > 0; 1 disables it",
            ));
        }
        Ok(())
    }

    /// True when the penalty stage changes anything.
    pub(super) fn penalty_active(&self) -> bool {
        self.repeat_penalty != 1.0 && self.repeat_last_n > 0
    }
}

fn invalid(field: &str, value: f32, expected: &str) -> Error {
    Error::InvalidArgument(format!("sampler {field} is {value}, expected {expected}"))
}
