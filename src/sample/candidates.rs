//! The candidate stages of the chain: top-k, top-p, min-p, temperature and the weighted draw,
//! each working in place on a reusable `Vec<Candidate>`.
//!
//! Invariant: no logit in the buffer is NaN or +inf (the caller screens them), so
//! [`order`] is a total order: larger logit first, then lower token id. Ties therefore resolve
//! the same way in every stage and in greedy decoding.
//!
//! Cost with `V` candidates (262 144 for Gemma 3): top-k is one pass over the logits keeping
//! the k best in a binary heap, O(V) comparisons plus O(log k) per token that enters the heap
//! (about k·ln(V/k) of them in random order), then O(k log k) to sort — never a full sort, and
//! the V-entry buffer is only filled when top-k is off. Top-p needs the sum over all V
//! (O(V)), then sorts only a prefix: the 256 most likely tokens first (O(V) selection), and
//! while that prefix holds less than `p` of the mass, the next stretch 8 times longer (O(V) per
//! step, at most five steps for 262 144 tokens; O(m log m) to sort the m kept). llama.cpp's
//! adaptive top-p sorts everything after the first 256 instead. Min-p and the draw are O(V).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A token still in the running and its (possibly penalised or scaled) logit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Candidate {
    pub id: u32,
    pub logit: f32,
}

/// How many of the most likely tokens top-p sorts before falling back to a full sort.
const TOP_P_PREFIX: usize = 256;

/// Total order for the stages: higher logit first, ties to the lower id. Needs no NaN.
pub(super) fn order(a: &Candidate, b: &Candidate) -> Ordering {
    if a.logit > b.logit {
        Ordering::Less
    } else if a.logit < b.logit {
        Ordering::Greater
    } else {
        a.id.cmp(&b.id)
    }
}

// The stages' total order as `Ord`, so a heap can rank candidates. Sound because no logit
// in a buffer is NaN (module invariant): `order` is then a total order consistent with `==`.
impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        order(self, other)
    }
}

/// Fills `buf` with every token whose logit is above −inf, in id order.
pub(super) fn fill_all(buf: &mut Vec<Candidate>, logits: &[f32]) {
    buf.clear();
    // Token ids fit in u32 (the sampler checks the vocabulary size), so the cast is exact.
    buf.extend(
        logits
            .iter()
            .enumerate()
            .filter(|(_, l)| **l > f32::NEG_INFINITY)
            .map(|(id, &logit)| Candidate { id: id as u32, logit }),
    );
}

/// Fills `buf` with the `k` (> 0) best tokens above −inf, sorted by [`order`], in one pass.
/// Reuses `buf`'s allocation: the heap is built in it and turned back into it.
pub(super) fn fill_top_k(buf: &mut Vec<Candidate>, logits: &[f32], k: usize) {
    buf.clear();
    // Max-heap under `order`: the root is the worst candidate kept so far.
    let mut heap = BinaryHeap::from(std::mem::take(buf));
    for (id, &logit) in logits.iter().enumerate() {
        if logit == f32::NEG_INFINITY {
            continue;
        }
        let c = Candidate { id: id as u32, logit };
        if heap.len() < k {
            heap.push(c);
        } else if let Some(mut worst) = heap.peek_mut()
            && c < *worst
        {
            *worst = c;
        }
    }
    *buf = heap.into_sorted_vec();
}

/// Candidates plus whether they are already sorted by [`order`].
pub(super) struct Stages<'a> {
    pub cands: &'a mut Vec<Candidate>,
    pub sorted: bool,
}

impl Stages<'_> {
    /// Keeps the smallest most-likely prefix whose softmax mass reaches `p` (the token that
    /// crosses `p` is kept). `p >= 1` changes nothing.
    pub fn top_p(&mut self, p: f32) {
        if p >= 1.0 || self.cands.len() <= 1 {
            return;
        }
        let max = self.max_logit();
        let total: f64 = self.cands.iter().map(|c| weight(c.logit, max)).sum();
        let n = self.cands.len();
        // Sort only a prefix; the tail gets sorted when the walk reaches it.
        let mut sorted_len = n;
        if !self.sorted {
            sorted_len = TOP_P_PREFIX.min(n);
            if sorted_len < n {
                self.cands.select_nth_unstable_by(sorted_len - 1, order);
            }
            self.cands[..sorted_len].sort_unstable_by(order);
        }
        let target = f64::from(p) * total;
        let mut cum = 0.0f64;
        // If rounding keeps `cum` below `target`, everything is kept (and by then sorted).
        let mut keep = n;
        for i in 0..n {
            if i == sorted_len {
                // The prefix held less than p: sort the next, 8 times longer, stretch. Everything
                // after the prefix ranks below it, so selecting within the tail keeps the
                // buffer sorted up to the new length.
                let grown = (sorted_len * 8).min(n);
                let tail = &mut self.cands[sorted_len..];
                if grown < n {
                    tail.select_nth_unstable_by(grown - sorted_len - 1, order);
                }
                tail[..grown - sorted_len].sort_unstable_by(order);
                sorted_len = grown;
            }
            cum += weight(self.cands[i].logit, max);
            if cum >= target {
                keep = i + 1;
                break;
            }
        }
        self.cands.truncate(keep);
        self.sorted = true;
    }

    /// Drops candidates whose probability is below `min_p` × the top probability, i.e. whose
    /// logit is below `max + ln(min_p)`. The top candidate always stays. `min_p <= 0` changes
    /// nothing.
    pub fn min_p(&mut self, min_p: f32) {
        if min_p <= 0.0 || self.cands.is_empty() {
            return;
        }
        let threshold = self.max_logit() + min_p.ln();
        if self.sorted {
            let keep = self.cands.iter().skip(1).take_while(|c| c.logit >= threshold).count();
            self.cands.truncate(keep + 1);
        } else {
            self.cands.retain(|c| c.logit >= threshold);
        }
    }

    /// Divides every logit by `temperature` (> 0).
    pub fn temperature(&mut self, temperature: f32) {
        if temperature != 1.0 {
            for c in self.cands.iter_mut() {
                c.logit /= temperature;
            }
        }
    }

    /// Picks a candidate with probability softmax(logit), given `u` uniform in [0, 1).
    /// Returns `None` only for an empty buffer.
    pub fn draw(&self, u: f64) -> Option<u32> {
        let max = self.max_logit();
        let total: f64 = self.cands.iter().map(|c| weight(c.logit, max)).sum();
        let target = u * total;
        let mut cum = 0.0f64;
        for c in self.cands.iter() {
            cum += weight(c.logit, max);
            // Strictly greater: a token of weight 0 can never be picked, and since `target <
            // total` and the same sum is rebuilt in the same order, the walk always ends here.
            if cum > target {
                return Some(c.id);
            }
        }
        self.cands.last().map(|c| c.id)
    }

    fn max_logit(&self) -> f32 {
        if self.sorted {
            return self.cands.first().map_or(f32::NEG_INFINITY, |c| c.logit);
        }
        self.cands.iter().fold(f32::NEG_INFINITY, |m, c| m.max(c.logit))
    }
}

/// Unnormalised softmax weight: `exp` in f32 as llama.cpp computes it, summed by the callers
/// in f64 so sums over 262 144 tokens lose nothing.
fn weight(logit: f32, max: f32) -> f64 {
    f64::from((logit - max).exp())
}
