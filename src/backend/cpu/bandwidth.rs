//! The host's peak read bandwidth, measured (`Backend::measure_read_bandwidth`): every thread of
//! the backend's pool sums its own contiguous part of one buffer much larger than the
//! last-level cache (eight times it, at least [`MIN_PROBE_BYTES`]), timed with the monotonic
//! clock. The sums are combined and passed through `black_box`, so no read can be dropped.
//!
//! May use: rayon and the standard library. Invariant: the result is the best of several
//! sweeps after one warm-up (which also faults the pages in), in bytes per second.

use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::error::{Error, Result};

/// Smallest probe buffer; larger when the last-level cache is over 1/8 of it.
pub const MIN_PROBE_BYTES: usize = 256 << 20;
/// Largest probe buffer, whatever the cache.
const MAX_PROBE_BYTES: usize = 2 << 30;

/// Bytes of the largest CPU cache Linux reports for cpu0 (`None` elsewhere or when unknown).
fn last_level_cache() -> Option<usize> {
    let dir = std::fs::read_dir("/sys/devices/system/cpu/cpu0/cache").ok()?;
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("size")).ok())
        .filter_map(|s| {
            let s = s.trim();
            let (num, mul) = match s.as_bytes().last()? {
                b'K' => (&s[..s.len() - 1], 1 << 10),
                b'M' => (&s[..s.len() - 1], 1 << 20),
                b'G' => (&s[..s.len() - 1], 1 << 30),
                _ => (s, 1),
            };
            num.parse::<usize>().ok().map(|n| n * mul)
        })
        .max()
}

/// Sum of `words` with eight independent lanes (vectorised, not one long add chain).
fn sum(words: &[u64]) -> u64 {
    let mut acc = [0u64; 8];
    let chunks = words.chunks_exact(8);
    let tail: u64 = chunks.remainder().iter().fold(0, |a, &w| a.wrapping_add(w));
    for c in chunks {
        for (a, &w) in acc.iter_mut().zip(c) {
            *a = a.wrapping_add(w);
        }
    }
    acc.iter().fold(tail, |a, &w| a.wrapping_add(w))
}

/// Bytes per second of the best timed sweep, reading with `threads` threads of `pool`.
pub fn measure(pool: &rayon::ThreadPool, threads: usize) -> Result<f64> {
    let bytes = last_level_cache()
        .map_or(MIN_PROBE_BYTES, |c| c.saturating_mul(8))
        .clamp(MIN_PROBE_BYTES, MAX_PROBE_BYTES);
    let n = bytes / 8;
    let mut buf: Vec<u64> = Vec::new();
    buf.try_reserve_exact(n)
        .map_err(|_| Error::OutOfMemory(format!("{} MiB for the bandwidth probe", bytes >> 20)))?;
    buf.resize(n, 0);
    let part = n.div_ceil(threads.max(1));
    // Written by the threads that will read it (first touch places pages near them).
    pool.install(|| {
        buf.par_chunks_mut(part).enumerate().for_each(|(i, c)| {
            for (j, w) in c.iter_mut().enumerate() {
                *w = (i * part + j) as u64;
            }
        })
    });
    let sweep = || {
        let t0 = Instant::now();
        let s = pool.install(|| {
            buf.par_chunks(part).map(sum).reduce(|| 0, |a: u64, b: u64| a.wrapping_add(b))
        });
        std::hint::black_box(s);
        t0.elapsed()
    };
    sweep();
    let start = Instant::now();
    let mut best = 0.0f64;
    for rep in 0.. {
        let t = sweep();
        if !t.is_zero() {
            best = best.max(bytes as f64 / t.as_secs_f64());
        }
        if rep >= 2 && (rep >= 6 || start.elapsed() > Duration::from_millis(400)) {
            break;
        }
    }
    Ok(best)
}
