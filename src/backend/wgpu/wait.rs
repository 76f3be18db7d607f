//! Waiting for the device, and turning what wgpu reports into `Err` values: bounded waits
//! (a hung or lost device fails the operation instead of hanging kiln), error scopes around
//! resource creation, and the sink of errors raised outside a scope.
//!
//! May use: `error` and the wgpu context. Invariant: no wait on the device is unbounded; the
//! limit is `WgpuOptions::timeout`, else `KILN_GPU_TIMEOUT_SECS`, else [`DEFAULT_TIMEOUT`]
//! ([`CPU_ADAPTER_TIMEOUT`] on CPU-type adapters).

use std::time::Duration;

use super::context::Context;
use crate::error::{Error, Result};

/// The default limit on one wait. Generous: the longest single submission kiln makes is one
/// prefill batch, which takes seconds on lavapipe (a CPU pretending to be a GPU) and far less
/// on a real GPU, so only a hung device reaches it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The default on CPU-type adapters (lavapipe, SwiftShader, WARP): a prefill batch through a
/// 262k-token output head is minutes of CPU work there, and slower still when other processes
/// share the cores, so only a far longer wait says the device hung.
pub const CPU_ADAPTER_TIMEOUT: Duration = Duration::from_secs(600);

/// The environment variable that overrides [`DEFAULT_TIMEOUT`] (seconds, e.g. `300` or `0.5`).
pub const TIMEOUT_ENV: &str = "KILN_GPU_TIMEOUT_SECS";

/// Parses a [`TIMEOUT_ENV`] value: a positive, finite number of seconds.
pub fn parse_timeout(value: &str) -> Result<Duration> {
    let secs: f64 = value.trim().parse().map_err(|_| {
        Error::InvalidArgument(format!("{TIMEOUT_ENV}={value:?} is not a number of seconds"))
    })?;
    // NaN fails the range check too.
    if !(1e-9..=1e9).contains(&secs) {
        return Err(Error::InvalidArgument(format!(
            "{TIMEOUT_ENV}={value:?} must be a positive number of seconds"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The wait limit from [`TIMEOUT_ENV`], or `None` when it is unset.
pub fn timeout_from_env() -> Result<Option<Duration>> {
    match std::env::var(TIMEOUT_ENV) {
        Ok(v) => parse_timeout(&v).map(Some),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Error::InvalidArgument(format!("{TIMEOUT_ENV} is not valid UTF-8")))
        }
    }
}

impl Context {
    /// Returns the first error wgpu reported outside a scope since the last check, or the
    /// device loss, as an `Err` naming `what` was being done.
    pub fn check(&self, what: &str) -> Result<()> {
        let mut g = self.sink.lock().map_err(|_| Error::Device("error sink poisoned".into()))?;
        if let Some(lost) = &g.lost {
            return Err(Error::Device(format!("device lost during {what}: {lost}")));
        }
        if !g.errors.is_empty() {
            let all = std::mem::take(&mut g.errors).join("; ");
            return Err(Error::Device(format!("{what}: {all}")));
        }
        Ok(())
    }

    /// Runs `f` inside validation and out-of-memory error scopes and returns its value, or the
    /// error wgpu raised, with `what` for context. (Popping a scope needs no device progress on
    /// native wgpu: the futures are ready at once.)
    pub fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let val = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        let v = pollster::block_on(val.pop());
        let o = pollster::block_on(oom.pop());
        if let Some(e) = o {
            return Err(Error::OutOfMemory(format!("{what}: {e}")));
        }
        if let Some(e) = v {
            return Err(Error::Device(format!("{what}: {e}")));
        }
        self.check(what)?;
        Ok(out)
    }

    /// Waits for all submitted work (and the callbacks it triggers, such as buffer mappings),
    /// at most `self.timeout`; a timeout or a device loss is an `Err`.
    pub fn wait(&self, what: &str) -> Result<()> {
        let poll = wgpu::PollType::Wait { submission_index: None, timeout: Some(self.timeout) };
        polled(what, self.timeout, self.device.poll(poll))?;
        self.check(what)
    }
}

/// The outcome of a bounded wait of at most `limit` as kiln reports it.
fn polled(
    what: &str,
    limit: Duration,
    r: std::result::Result<wgpu::PollStatus, wgpu::PollError>,
) -> Result<()> {
    match r {
        Ok(_) => Ok(()),
        Err(wgpu::PollError::Timeout) => Err(Error::Device(format!(
            "{what}: the GPU did not finish within {:.3} s (a hung or overloaded device; set \
             {TIMEOUT_ENV} to wait longer)",
            limit.as_secs_f64()
        ))),
        Err(e) => Err(Error::Device(format!("{what}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timed_out_wait_is_a_device_error_naming_the_limit_and_the_variable() {
        let e = polled("reading results", Duration::from_secs(60), Err(wgpu::PollError::Timeout));
        let text = e.as_ref().unwrap_err().to_string();
        assert!(matches!(e, Err(Error::Device(_))), "{text}");
        assert!(text.contains("reading results") && text.contains("60.000 s"), "{text}");
        assert!(text.contains(TIMEOUT_ENV), "{text}");
        assert!(polled("x", DEFAULT_TIMEOUT, Ok(wgpu::PollStatus::QueueEmpty)).is_ok());
    }

    #[test]
    fn timeouts_parse_as_positive_seconds() {
        assert_eq!(parse_timeout("300").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_timeout(" 0.5 ").unwrap(), Duration::from_millis(500));
        for bad in ["", "abc", "0", "-3", "inf", "NaN", "1e30"] {
            let e = parse_timeout(bad).unwrap_err().to_string();
            assert!(e.contains(TIMEOUT_ENV), "{bad:?}: {e}");
        }
    }
}
