//! Throughput measurements in llama-bench's terms: prompt processing (`pp`, n tokens evaluated
//! in one batch from an empty cache) and text generation (`tg`, n tokens evaluated one at a time
//! from an empty cache), repeated after one warm-up run.
//!
//! llama-bench (tools/llama-bench/llama-bench.cpp) feeds random token ids and never samples, so
//! both runtimes time the forward passes alone; kiln does the same with a seeded generator.
//! Each step reads back the last token's logits, as a decode does on both. May use: the engine.

use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Engine;
use crate::error::{Error, Result};
use crate::model::Outputs;

/// One test: `n_prompt` tokens in one batch, or `n_gen` tokens one by one (one of them is 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchTest {
    pub n_prompt: usize,
    pub n_gen: usize,
}

impl BenchTest {
    /// llama-bench's name: `pp512`, `tg128`.
    pub fn name(&self) -> String {
        if self.n_gen == 0 { format!("pp{}", self.n_prompt) } else { format!("tg{}", self.n_gen) }
    }

    /// Tokens the test evaluates per repetition.
    pub fn tokens(&self) -> usize {
        self.n_prompt + self.n_gen
    }
}

/// The timed repetitions of one test.
#[derive(Debug, Clone)]
pub struct BenchSamples {
    pub test: BenchTest,
    pub samples: Vec<Duration>,
}

impl BenchSamples {
    /// Tokens per second of each repetition.
    pub fn rates(&self) -> Vec<f64> {
        let n = self.test.tokens() as f64;
        self.samples.iter().map(|d| n / d.as_secs_f64().max(1e-12)).collect()
    }

    /// Mean and sample standard deviation of `v` (llama-bench's `avg` and `stdev`).
    pub fn mean_sd(v: &[f64]) -> (f64, f64) {
        let n = v.len() as f64;
        if v.is_empty() {
            return (0.0, 0.0);
        }
        let mean = v.iter().sum::<f64>() / n;
        let var = if v.len() < 2 {
            0.0
        } else {
            v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)
        };
        (mean, var.sqrt())
    }
}

impl Engine {
    /// Runs `test` once as a warm-up, then `reps` timed times. Each repetition starts from an
    /// empty cache. `seed` picks the token ids.
    pub fn bench(&mut self, test: BenchTest, reps: usize, seed: u64) -> Result<BenchSamples> {
        if (test.n_prompt == 0) == (test.n_gen == 0) {
            return Err(Error::InvalidArgument(
                "a bench test is either prompt tokens or generated tokens".into(),
            ));
        }
        if test.tokens() > self.n_ctx() {
            return Err(Error::InvalidArgument(format!(
                "{} needs {} tokens of context, the cache holds {}",
                test.name(),
                test.tokens(),
                self.n_ctx()
            )));
        }
        let vocab = self.model.hp.vocab_size as u32;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let tokens: Vec<u32> = (0..test.tokens()).map(|_| rng.random_range(0..vocab)).collect();
        let saved_batch = self.n_batch;
        // A prompt test is one batch, as llama-bench's default -b 2048 makes it.
        self.n_batch = self.n_batch.max(test.n_prompt).min(self.n_ctx());
        let result = (0..=reps).map(|_| self.bench_once(test, &tokens)).collect::<Result<Vec<_>>>();
        self.n_batch = saved_batch;
        self.reset();
        let mut samples = result?;
        samples.remove(0);
        Ok(BenchSamples { test, samples })
    }

    fn bench_once(&mut self, test: BenchTest, tokens: &[u32]) -> Result<Duration> {
        self.reset();
        let start = Instant::now();
        if test.n_prompt > 0 {
            self.eval(tokens, Outputs::Last)?;
        } else {
            for t in tokens.chunks(1) {
                self.eval(t, Outputs::Last)?;
            }
        }
        Ok(start.elapsed())
    }
}
