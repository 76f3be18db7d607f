//! Per-dispatch GPU timing with timestamp queries, for profiling and kernel benchmarks. When on,
//! each dispatch runs in a compute pass of its own with begin/end timestamps (this adds pass
//! boundaries, so totals are for finding where time goes, not for end-to-end speed).

use std::time::Duration;

use super::context::Context;
use crate::backend::KernelTime;
use crate::error::{Error, Result};

pub struct Profiler {
    query_set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    /// Dispatches one execution may time (two queries each).
    pub capacity: u32,
    pub totals: Vec<KernelTime>,
}

impl Profiler {
    pub fn new(cx: &Context, capacity: u32) -> Result<Profiler> {
        if !cx.timestamps {
            return Err(Error::Device(format!("{} has no timestamp queries", cx.adapter.name)));
        }
        let n = capacity * 2;
        let bytes = n as u64 * 8;
        cx.scoped("creating the profiler", || {
            let query_set = cx.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("profile"),
                ty: wgpu::QueryType::Timestamp,
                count: n,
            });
            let resolve = cx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("profile resolve"),
                size: bytes,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let readback = cx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("profile readback"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            Profiler { query_set, resolve, readback, capacity, totals: Vec::new() }
        })
    }

    pub fn writes(&self, i: u32) -> wgpu::ComputePassTimestampWrites<'_> {
        wgpu::ComputePassTimestampWrites {
            query_set: &self.query_set,
            beginning_of_pass_write_index: Some(2 * i),
            end_of_pass_write_index: Some(2 * i + 1),
        }
    }

    /// Records the resolve of `n` timed dispatches into `enc`.
    pub fn resolve(&self, enc: &mut wgpu::CommandEncoder, n: u32) {
        enc.resolve_query_set(&self.query_set, 0..2 * n, &self.resolve, 0);
        enc.copy_buffer_to_buffer(&self.resolve, 0, &self.readback, 0, n as u64 * 16);
    }

    /// Reads the timestamps of the last execution and adds them to the totals by label.
    pub fn collect(&mut self, cx: &Context, labels: &[&'static str]) -> Result<()> {
        let n = labels.len() as u64;
        if n == 0 {
            return Ok(());
        }
        let slice = self.readback.slice(0..n * 16);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        cx.wait("reading timestamps")?;
        rx.recv()
            .map_err(|_| Error::Device("timestamp readback never completed".into()))?
            .map_err(|e| Error::Device(format!("mapping timestamps: {e}")))?;
        let period = cx.queue.get_timestamp_period() as f64;
        {
            let view =
                slice.get_mapped_range().map_err(|e| Error::Device(format!("timestamps: {e}")))?;
            for (i, label) in labels.iter().enumerate() {
                let at = |k: usize| {
                    u64::from_le_bytes(view[k * 8..k * 8 + 8].try_into().expect("8 bytes"))
                };
                let ticks = at(2 * i + 1).saturating_sub(at(2 * i));
                let d = Duration::from_nanos((ticks as f64 * period) as u64);
                match self.totals.iter_mut().find(|t| t.label == *label) {
                    Some(t) => {
                        t.calls += 1;
                        t.total += d;
                    }
                    None => self.totals.push(KernelTime {
                        label: label.to_string(),
                        calls: 1,
                        total: d,
                    }),
                }
            }
        }
        self.readback.unmap();
        Ok(())
    }
}
