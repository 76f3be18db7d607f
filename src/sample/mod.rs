//! Logits → next token: repeat penalty, top-k, top-p, min-p, temperature and a seeded draw, in
//! llama.cpp's default order and with its semantics (src/llama-sampler.cpp, common/sampling.cpp).
//!
//! May use: `error` only; plain slices in, a token id out. Invariants: one seed and one sequence
//! of calls give the same tokens on every platform (ChaCha8, and the uniform draw is built from
//! raw `u64`s, not from a distribution whose algorithm could change between `rand` versions);
//! `sample` allocates nothing once its candidate buffer has grown to the vocabulary size.
//!
//! Greedy decoding (temperature ≤ 0) is the argmax of the penalised logits with ties to the
//! lowest id — the same token the full chain would give, since top-k/top-p/min-p always keep the
//! top token — and never touches the RNG.

mod candidates;
mod history;
mod params;
#[cfg(test)]
mod tests;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use candidates::{Candidate, Stages};
use history::History;
pub use params::SamplerParams;

/// A configured sampling chain with its RNG, penalty history and reusable candidate buffer.
///
/// Use: `sample` the logits of each step, then `accept` the token you keep (also the prompt's
/// tokens, if they should count for the repeat penalty, as llama.cpp does).
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplerParams,
    seed: u64,
    rng: ChaCha8Rng,
    history: History,
    /// Reused across calls: grows once to the vocabulary size, then never reallocates.
    candidates: Vec<Candidate>,
}

impl Sampler {
    /// Checks `params` (an `InvalidArgument` names the bad field) and seeds the RNG, from the
    /// clock when `params.seed` is `None`.
    pub fn new(params: SamplerParams) -> Result<Self> {
        params.validate()?;
        let seed = params.seed.unwrap_or_else(clock_seed);
        Ok(Sampler {
            history: History::new(params.repeat_last_n),
            rng: ChaCha8Rng::seed_from_u64(seed),
            seed,
            params,
            candidates: Vec::new(),
        })
    }

    /// The seed in use: report it, and pass it back as `SamplerParams::seed` to repeat a run.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn params(&self) -> &SamplerParams {
        &self.params
    }

    /// True when the token is the plain argmax of the raw logits (greedy, no penalty), so an
    /// engine may pick it on the device without reading the logits back.
    pub fn is_plain_greedy(&self) -> bool {
        self.params.temperature <= 0.0 && !self.params.penalty_active()
    }

    /// Records a token kept in the sequence, for the repeat penalty.
    pub fn accept(&mut self, token: u32) {
        self.history.push(token);
    }

    /// Forgets the penalty history and restarts the RNG from the seed, so the next run repeats
    /// the first one.
    pub fn reset(&mut self) {
        self.history.clear();
        self.rng = ChaCha8Rng::seed_from_u64(self.seed);
    }

    /// Picks the next token from one step's logits (one per vocabulary entry).
    ///
    /// The repeat penalty is applied to `logits` in place; the other stages work on a copy in the
    /// candidate buffer. A logit of −inf bans its token. Errors: empty logits, a NaN or +inf
    /// logit (the model or device produced garbage), or every token banned.
    pub fn sample(&mut self, logits: &mut [f32]) -> Result<u32> {
        if logits.is_empty() {
            return Err(Error::InvalidArgument("sampler: the logits are empty".into()));
        }
        if u32::try_from(logits.len()).is_err() {
            return Err(Error::InvalidArgument(format!(
                "sampler: {} logits exceed the u32 token-id range",
                logits.len()
            )));
        }
        if self.params.penalty_active() {
            self.history.apply(logits, self.params.repeat_penalty);
        }
        if let Some(i) = logits.iter().position(|l| l.is_nan() || *l == f32::INFINITY) {
            return Err(Error::InvalidArgument(format!(
                "sampler: the logit of token {i} is {} (the model produced a non-finite value)",
                logits[i]
            )));
        }
        if self.params.temperature <= 0.0 {
            return argmax(logits).ok_or_else(all_banned);
        }

        let u = unit_f64(self.rng.next_u64());
        let temperature = self.params.temperature;
        let mut stages = self.select(logits);
        stages.temperature(temperature);
        stages.draw(u).ok_or_else(all_banned)
    }

    /// Runs top-k, top-p and min-p: the candidates left (before temperature), sorted most
    /// likely first when any of these stages sorted them.
    fn select(&mut self, logits: &[f32]) -> Stages<'_> {
        let k = usize::try_from(self.params.top_k).unwrap_or(0);
        let sorted = k > 0 && k < logits.len();
        if sorted {
            candidates::fill_top_k(&mut self.candidates, logits, k);
        } else {
            candidates::fill_all(&mut self.candidates, logits);
        }
        let mut stages = Stages { cands: &mut self.candidates, sorted };
        stages.top_p(self.params.top_p);
        stages.min_p(self.params.min_p);
        stages
    }

    /// [`select`](Self::select) for tests of the stages.
    #[cfg(test)]
    fn filtered(&mut self, logits: &[f32]) -> Vec<Candidate> {
        self.select(logits).cands.clone()
    }
}

/// Index of the largest logit, the lowest index on ties; `None` when all are −inf.
fn argmax(logits: &[f32]) -> Option<u32> {
    let mut best = None;
    let mut best_logit = f32::NEG_INFINITY;
    for (i, &l) in logits.iter().enumerate() {
        if l > best_logit {
            best_logit = l;
            best = Some(i as u32);
        }
    }
    best
}

fn all_banned() -> Error {
    Error::InvalidArgument("sampler: every token's logit is -inf (all tokens banned)".into())
}

/// Uniform in [0, 1) from the top 53 bits of a `u64`: exactly representable and independent of
/// any library's float-distribution algorithm.
fn unit_f64(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A seed for runs without one: the clock's nanoseconds mixed with a per-process counter (two
/// samplers made in the same tick still differ) through splitmix64's finaliser.
fn clock_seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut z = nanos ^ COUNTER.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
