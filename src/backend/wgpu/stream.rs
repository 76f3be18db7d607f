//! Streamed weights: layers whose weights stay in host memory (the memory-mapped file) and are
//! uploaded, every execution, into one of two reusable device slots right before the layer's
//! kernels run. Layer i uses slot i % 2, so the upload of layer i + 1 is staged on the host
//! while the device still computes layer i (one submit per streamed layer: wgpu applies a
//! `write_buffer` before the next submit's commands and runs submits in order, so a slot is
//! rewritten only after the layer two back has used it).
//!
//! May use: the wgpu context and the param store. Invariant: a streamed tensor is bound as a
//! window of its slot at an offset aligned to `min_storage_buffer_offset_alignment`, padded
//! with zeros exactly like a resident buffer, so kernels cannot tell the two apart.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::context::Context;
use super::store::{Chunk, ParamBuf, ParamStore, padded};
use crate::error::{Error, Result};
use crate::graph::{HostBytes, ParamId, ParamInit, ParamTable};

/// One tensor's upload: its host bytes (a whole number of words), the tail word and zero
/// padding (made once), and where both go in the slot.
struct Part {
    data: HostBytes,
    words: usize,
    tail: Vec<u8>,
    offset: u64,
}

struct Layer {
    slot: usize,
    parts: Vec<Part>,
    bytes: u64,
}

/// The streamed layers of one backend and their two slots.
pub struct StreamSet {
    slots: [wgpu::Buffer; 2],
    layers: Vec<Layer>,
    of_param: HashMap<ParamId, usize>,
    /// Bytes uploaded and host time spent staging them, since the last `take_stats`.
    uploaded: u64,
    upload_time: Duration,
}

impl StreamSet {
    /// Lays `layers` (the weight ids of each streamed layer, in execution order) out in two
    /// slots and registers every tensor in `store` as a window of its layer's slot.
    pub fn new(
        cx: &Context,
        store: &mut ParamStore,
        table: &ParamTable,
        layers: &[Vec<ParamId>],
    ) -> Result<StreamSet> {
        let align = u64::from(cx.limits.min_storage_buffer_offset_alignment).max(4);
        let mut out = Vec::with_capacity(layers.len());
        let mut of_param = HashMap::new();
        let mut slot_size = [4u64; 2];
        let mut windows = Vec::new();
        for (li, ids) in layers.iter().enumerate() {
            let slot = li % 2;
            let mut offset = 0u64;
            let mut parts = Vec::with_capacity(ids.len());
            for &id in ids {
                let p = table.get(id);
                let ParamInit::Data(data) = &p.init else {
                    return Err(Error::InvalidArgument(format!(
                        "{} is state, not a weight: it cannot be streamed",
                        p.name
                    )));
                };
                let size = padded(data.len());
                if size > cx.max_binding {
                    return Err(Error::OutOfMemory(format!(
                        "{}: {size} bytes exceed one binding ({}); it cannot be streamed",
                        p.name, cx.max_binding
                    )));
                }
                if of_param.insert(id, li).is_some() {
                    return Err(Error::InvalidArgument(format!("{} is streamed twice", p.name)));
                }
                offset = offset.div_ceil(align) * align;
                let words = data.len() / 4 * 4;
                let mut tail = data.as_slice()[words..].to_vec();
                tail.resize((size as usize) - words, 0);
                windows.push((id, slot, offset, size, p.shape.rows()));
                parts.push(Part { data: data.clone(), words, tail, offset });
                offset += size;
            }
            slot_size[slot] = slot_size[slot].max(offset);
            out.push(Layer { slot, parts, bytes: offset });
        }
        let make = |i: usize| {
            cx.scoped(&format!("allocating stream slot {i} ({} bytes)", slot_size[i]), || {
                cx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(if i == 0 { "stream slot 0" } else { "stream slot 1" }),
                    size: slot_size[i].div_ceil(4) * 4,
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_DST
                        | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                })
            })
        };
        let slots = [make(0)?, make(1)?];
        for (id, slot, offset, size, rows) in windows {
            let chunk = Chunk { buffer: slots[slot].clone(), offset, size, row_start: 0, rows };
            store.insert(id, ParamBuf { chunks: vec![chunk] });
        }
        Ok(StreamSet { slots, layers: out, of_param, uploaded: 0, upload_time: Duration::ZERO })
    }

    /// The streamed layer a tensor belongs to.
    pub fn layer_of(&self, id: ParamId) -> Option<usize> {
        self.of_param.get(&id).copied()
    }

    /// Bytes both slots take on the device.
    pub fn device_bytes(&self) -> u64 {
        self.slots.iter().map(wgpu::Buffer::size).sum()
    }

    /// Stages layer `li`'s weights for the next submit.
    pub fn upload(&mut self, cx: &Context, li: usize) {
        let start = Instant::now();
        let layer = &self.layers[li];
        let slot = &self.slots[layer.slot];
        for part in &layer.parts {
            if part.words > 0 {
                cx.queue.write_buffer(slot, part.offset, &part.data.as_slice()[..part.words]);
            }
            cx.queue.write_buffer(slot, part.offset + part.words as u64, &part.tail);
        }
        self.uploaded += layer.bytes;
        self.upload_time += start.elapsed();
    }

    /// Bytes uploaded and host time spent since the last call.
    pub fn take_stats(&mut self) -> (u64, Duration) {
        let s = (self.uploaded, self.upload_time);
        self.uploaded = 0;
        self.upload_time = Duration::ZERO;
        s
    }
}
