//! The repeat-penalty window: the last `n` accepted tokens and how often each occurs in it.
//!
//! Invariant: `counts[t]` equals the number of times `t` occurs in `window`, and `window` never
//! holds more than `capacity` tokens. Memory grows with the tokens actually accepted (never
//! reserved up front from a user-supplied `repeat_last_n`), and is bounded by the window and
//! the number of distinct tokens.

use std::collections::{HashMap, VecDeque};

/// Sliding window over accepted tokens with per-token counts (llama.cpp's penalties sampler keeps
/// the same pair: a ring buffer and a count map).
#[derive(Debug, Clone, Default)]
pub(super) struct History {
    capacity: usize,
    window: VecDeque<u32>,
    counts: HashMap<u32, u32>,
}

impl History {
    pub(super) fn new(capacity: usize) -> Self {
        History { capacity, window: VecDeque::new(), counts: HashMap::new() }
    }

    /// Records `token` as the newest; the oldest falls out once the window is full.
    pub(super) fn push(&mut self, token: u32) {
        if self.capacity == 0 {
            return;
        }
        if self.window.len() == self.capacity
            && let Some(old) = self.window.pop_front()
            && let Some(c) = self.counts.get_mut(&old)
        {
            *c -= 1;
            if *c == 0 {
                self.counts.remove(&old);
            }
        }
        self.window.push_back(token);
        *self.counts.entry(token).or_insert(0) += 1;
    }

    pub(super) fn clear(&mut self) {
        self.window.clear();
        self.counts.clear();
    }

    /// Penalises every distinct token of the window once: positive logits are divided by
    /// `penalty`, zero and negative ones multiplied (llama.cpp src/llama-sampler.cpp, penalties).
    /// Tokens outside `logits` (an id from another vocabulary) are ignored. O(distinct tokens).
    pub(super) fn apply(&self, logits: &mut [f32], penalty: f32) {
        for &token in self.counts.keys() {
            if let Some(l) = logits.get_mut(token as usize) {
                if *l <= 0.0 {
                    *l *= penalty;
                } else {
                    *l /= penalty;
                }
            }
        }
    }

    #[cfg(test)]
    pub(super) fn tokens(&self) -> impl Iterator<Item = u32> + '_ {
        self.window.iter().copied()
    }
}
