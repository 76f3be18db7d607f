//! The device's peak read bandwidth, measured (`Backend::measure_read_bandwidth`): the probe
//! shaders/read_bandwidth.wgsl sweeps one read-only buffer as large as one storage binding
//! allows (at most [`PROBE_BYTES`]), timed with timestamp queries (profile.rs) around each
//! pass, so submission and readback are outside the timed span.
//!
//! May use: the wgpu context, pipelines, profiler. Invariant: the result is the best of several
//! sweeps after one warm-up, in bytes per second, counting only the bytes of the probe buffer.

use std::time::{Duration, Instant};

use super::context::Context;
use super::pipelines::{Constants, PipelineCache};
use super::profile::Profiler;
use super::shaders::ShaderSource;
use crate::error::{Error, Result};

/// Largest probe buffer: far beyond any GPU's last-level cache (tens of MiB today).
pub const PROBE_BYTES: u64 = 512 << 20;

const WG: u32 = 256;
/// Elements of src each invocation reads per sweep, at least (sets the workgroup count).
const PER_THREAD: u64 = 16;
const LABEL: &str = "read_bandwidth";

pub fn source() -> ShaderSource {
    ShaderSource::new(&["common/grid.wgsl", "read_bandwidth.wgsl"])
}

pub fn constants() -> Constants {
    vec![("WG", WG)]
}

fn buffer(cx: &Context, label: &str, size: u64, usage: wgpu::BufferUsages) -> Result<wgpu::Buffer> {
    cx.scoped(&format!("allocating {label}"), || {
        cx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage,
            mapped_at_creation: false,
        })
    })
}

/// Bytes per second of the best timed sweep set.
pub fn measure(cx: &Context, pipes: &mut PipelineCache) -> Result<f64> {
    if !cx.timestamps {
        return Err(Error::Device(format!(
            "{} has no timestamp queries, which kiln's GPU timing needs",
            cx.adapter.name
        )));
    }
    let unit = 16 * WG as u64;
    let bytes = PROBE_BYTES.min(cx.max_binding) / unit * unit;
    if bytes == 0 {
        return Err(Error::Device("the storage binding limit is too small for the probe".into()));
    }
    let n_vec4 = bytes / 16;
    let max_dim = cx.limits.max_compute_workgroups_per_dimension as u64;
    let n_wg = (n_vec4 / (WG as u64 * PER_THREAD)).clamp(1, max_dim) as u32;

    use wgpu::BufferUsages as U;
    let src = buffer(cx, "bandwidth probe", bytes, U::STORAGE | U::COPY_DST)?;
    // Ones rather than wgpu's zero fill, written in 16 MiB pieces to bound host memory.
    let piece = vec![1.0f32; (16usize << 20).min(bytes as usize) / 4];
    let piece = bytemuck::cast_slice::<f32, u8>(&piece);
    let mut off = 0;
    while off < bytes {
        let n = piece.len().min((bytes - off) as usize);
        cx.queue.write_buffer(&src, off, &piece[..n]);
        off += n as u64;
    }
    let partial = buffer(cx, "bandwidth partial sums", n_wg as u64 * 4, U::STORAGE)?;
    let params = buffer(cx, "bandwidth params", 16, U::UNIFORM | U::COPY_DST)?;
    let words = [n_vec4 as u32, n_wg * WG, 0, 0];
    cx.queue.write_buffer(&params, 0, bytemuck::cast_slice(&words));
    let pipeline = pipes.get(cx, &source(), &constants())?;
    let layout = pipeline.get_bind_group_layout(0);
    let bind_group = cx.scoped("binding the bandwidth probe", || {
        cx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(LABEL),
            layout: &layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: params.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: src.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: partial.as_entire_binding() },
            ],
        })
    })?;

    // `sweeps` passes in one submission; returns the summed time of their timestamp spans.
    let mut prof = Profiler::new(cx, 64)?;
    let mut run = |sweeps: u32| -> Result<Duration> {
        let before: Duration = prof.totals.iter().map(|t| t.total).sum();
        cx.scoped("running the bandwidth probe", || {
            let mut enc = cx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(LABEL) });
            for i in 0..sweeps {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some(LABEL),
                    timestamp_writes: Some(prof.writes(i)),
                });
                pass.set_pipeline(&pipeline);
                pass.set_bind_group(0, &bind_group, &[]);
                pass.dispatch_workgroups(n_wg, 1, 1);
            }
            prof.resolve(&mut enc, sweeps);
            cx.queue.submit([enc.finish()]);
        })?;
        prof.collect(cx, &vec![LABEL; sweeps as usize])?;
        let after: Duration = prof.totals.iter().map(|t| t.total).sum();
        Ok(after.saturating_sub(before))
    };

    // The warm-up sweep also sizes the timed sets: about 20 ms each, so pass boundaries are a
    // small part of what is timed on a fast GPU.
    let first = run(1)?.max(Duration::from_micros(1));
    let sweeps = (Duration::from_millis(20).as_secs_f64() / first.as_secs_f64()).ceil();
    let sweeps = sweeps.clamp(1.0, 64.0) as u32;
    let start = Instant::now();
    let mut best = 0.0f64;
    for rep in 0.. {
        let t = run(sweeps)?;
        if !t.is_zero() {
            best = best.max(bytes as f64 * sweeps as f64 / t.as_secs_f64());
        }
        if rep >= 1 && (rep >= 4 || start.elapsed() > Duration::from_millis(400)) {
            break;
        }
    }
    if best <= 0.0 || !best.is_finite() {
        return Err(Error::Device("the bandwidth probe's timestamps did not advance".into()));
    }
    Ok(best)
}

/// Bytes per upload probe round: about a layer of a mid-sized model.
const UPLOAD_BYTES: u64 = 32 << 20;

/// Host-to-device upload bandwidth in bytes per second: the wall time of `write_buffer` of
/// [`UPLOAD_BYTES`] from host memory, a submit and the wait until the device has it (what a
/// streamed layer costs), best of three rounds after a warm-up.
pub fn measure_upload(cx: &Context) -> Result<f64> {
    let bytes = UPLOAD_BYTES.min(cx.max_binding) / 16 * 16;
    let dst = buffer(
        cx,
        "upload probe",
        bytes,
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
    )?;
    let src = vec![0x3Cu8; bytes as usize];
    let mut best = f64::INFINITY;
    for round in 0..4 {
        let start = std::time::Instant::now();
        cx.queue.write_buffer(&dst, 0, &src);
        cx.queue.submit([]);
        cx.wait("measuring upload bandwidth")?;
        if round > 0 {
            best = best.min(start.elapsed().as_secs_f64());
        }
    }
    Ok(bytes as f64 / best.max(1e-9))
}
