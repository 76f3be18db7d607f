//! Persistent tensors on the device: weights uploaded once, still quantized; KV caches; tables.
//!
//! A matrix whose bytes exceed what one storage binding may cover is split into row chunks,
//! each its own buffer, so a kernel binds a chunk whole and addresses its rows from 0 (Gemma 3's
//! 170 MiB embedding on lavapipe's 128 MiB binding limit becomes two chunks). Every buffer is
//! padded to a multiple of 4 bytes plus one spare word: WGSL reads blocks as `u32` words and the
//! unaligned loader of 2-byte-aligned blocks looks one word ahead.

use std::collections::HashMap;

use super::context::Context;
use crate::error::{Error, Result};
use crate::graph::{ParamId, ParamInit, ParamTable};

/// Rows `[row_start, row_start + rows)` of a tensor: bytes `offset .. offset + size` of
/// `buffer` (a buffer of their own for resident tensors, a window of a reusable slot for
/// streamed ones, stream.rs).
pub struct Chunk {
    pub buffer: wgpu::Buffer,
    pub offset: u64,
    pub size: u64,
    pub row_start: usize,
    pub rows: usize,
}

impl Chunk {
    /// The chunk as a storage binding (kernels address its rows from 0).
    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: self.offset,
            size: std::num::NonZeroU64::new(self.size),
        })
    }
}

/// A persistent tensor: one chunk, or several for a matrix larger than a binding.
pub struct ParamBuf {
    pub chunks: Vec<Chunk>,
}

#[derive(Default)]
pub struct ParamStore {
    bufs: HashMap<ParamId, ParamBuf>,
}

/// Buffer size for `bytes` of tensor data: whole words plus one spare word.
pub fn padded(bytes: usize) -> u64 {
    (bytes.div_ceil(4) * 4 + 4) as u64
}

impl ParamStore {
    pub fn get(&self, id: ParamId) -> Result<&ParamBuf> {
        self.bufs
            .get(&id)
            .ok_or_else(|| Error::Device(format!("param {} is not loaded on this device", id.0)))
    }

    /// Registers a tensor whose chunks were made elsewhere (streamed weights, stream.rs).
    pub fn insert(&mut self, id: ParamId, buf: ParamBuf) {
        self.bufs.insert(id, buf);
    }

    pub fn unload(&mut self, ids: &[ParamId]) {
        for id in ids {
            self.bufs.remove(id);
        }
    }

    /// Uploads (or allocates) `ids`. With `poison`, state tensors start as NaN instead of zero,
    /// so a kernel reading a KV slot never written shows up in tests.
    pub fn load(
        &mut self,
        cx: &Context,
        table: &ParamTable,
        ids: &[ParamId],
        poison: bool,
    ) -> Result<()> {
        // A buffer mapped at creation is filled through a staging copy of the same size that
        // wgpu frees only once the copy ran; flushing every STAGE_FLUSH bytes keeps that
        // host memory to one window instead of a second copy of every weight and cache.
        const STAGE_FLUSH: usize = 64 << 20;
        let mut staged = 0usize;
        for &id in ids {
            if self.bufs.contains_key(&id) {
                continue;
            }
            let p = table.get(id);
            let bytes = p.n_bytes();
            let rows = p.shape.rows();
            let row_bytes = bytes.checked_div(rows).unwrap_or(0);
            // Rows per chunk so that one chunk's padded size fits a binding.
            let fit = if padded(bytes) <= cx.max_binding || row_bytes == 0 {
                rows.max(1)
            } else {
                ((cx.max_binding.saturating_sub(8)) / row_bytes as u64) as usize
            };
            if p.shape.rank() != 2 && fit < rows {
                return Err(Error::OutOfMemory(format!(
                    "{}: {} bytes exceed the adapter's {} byte binding limit",
                    p.name, bytes, cx.max_binding
                )));
            }
            if fit == 0 {
                return Err(Error::OutOfMemory(format!(
                    "{}: one row of {row_bytes} bytes exceeds the {} byte binding limit",
                    p.name, cx.max_binding
                )));
            }
            let mut chunks = Vec::new();
            let mut row_start = 0;
            loop {
                let n = fit.min(rows - row_start);
                let range = row_start * row_bytes..(row_start + n) * row_bytes;
                let size = padded(range.len());
                let label = format!("{} rows {}..{}", p.name, row_start, row_start + n);
                // wgpu zero-fills a new buffer itself (without a host copy), so zeroed state
                // such as a KV cache is only mapped when the test aid wants it poisoned.
                let fill = matches!(p.init, ParamInit::Data(_)) || poison;
                let buffer = cx.scoped(&format!("allocating {label} ({size} bytes)"), || {
                    cx.device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some(&label),
                        size,
                        usage: wgpu::BufferUsages::STORAGE
                            | wgpu::BufferUsages::COPY_DST
                            | wgpu::BufferUsages::COPY_SRC,
                        mapped_at_creation: fill,
                    })
                })?;
                if fill {
                    let mut view = buffer
                        .slice(..)
                        .get_mapped_range_mut()
                        .map_err(|e| Error::Device(format!("mapping {label}: {e}")))?;
                    match &p.init {
                        ParamInit::Data(data) => {
                            view.slice(..range.len())
                                .copy_from_slice(&data.as_slice()[range.clone()]);
                            view.slice(range.len()..).fill(0);
                        }
                        ParamInit::Zeroed => view.slice(..).fill(if poison { 0xFF } else { 0 }),
                    }
                }
                if fill {
                    buffer.unmap();
                    staged += size as usize;
                    if staged >= STAGE_FLUSH {
                        cx.queue.submit([]);
                        cx.wait("uploading weights")?;
                        staged = 0;
                    }
                }
                chunks.push(Chunk { buffer, offset: 0, size, row_start, rows: n });
                row_start += n;
                if row_start >= rows {
                    break;
                }
            }
            // The device holds the weights now: their mmap pages need not stay resident.
            if let ParamInit::Data(data) = &p.init {
                data.release();
            }
            self.bufs.insert(id, ParamBuf { chunks });
        }
        cx.check("uploading weights")
    }
}
