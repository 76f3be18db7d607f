//! Reading a prepared graph's outputs back without creating anything per step: one mappable
//! buffer per prepared graph holds every output tensor; `execute` records the copies into it in
//! the step's own encoder (so a step stays one submit), and a read maps it, copies the rows
//! out and unmaps.
//!
//! May use: the wgpu context. Invariant: a slot is filled by the last `execute` of its graph;
//! reads of tensors that are not graph outputs go through the slow path in mod.rs.

use super::context::Context;
use crate::error::{Error, Result};
use crate::graph::{Buf, Graph, Plan, TensorId};

/// Where one output lives in the arena and in the readback buffer.
struct Slot {
    tensor: TensorId,
    /// Byte offset in the arena and byte length of the copied span (rows with their stride).
    arena_offset: u64,
    span: u64,
    /// Byte offset in the readback buffer (8-aligned, as copies require 4).
    offset: u64,
    rows: usize,
    cols: usize,
    row_stride: usize,
}

pub struct Readback {
    buffer: wgpu::Buffer,
    slots: Vec<Slot>,
}

impl Readback {
    /// A buffer for every arena output of `graph` (none when it has none).
    pub fn new(cx: &Context, graph: &Graph, plan: &Plan) -> Result<Option<Readback>> {
        let mut slots = Vec::new();
        let mut size = 0u64;
        for &t in &graph.outputs {
            let loc = plan.location(t);
            if loc.buf != Buf::Arena {
                continue;
            }
            let shape = &graph.tensor(t).shape;
            let (rows, cols) = (shape.rows(), shape.cols());
            if rows == 0 || cols == 0 {
                continue;
            }
            let span = ((rows - 1) * loc.row_stride + cols) as u64 * 4;
            slots.push(Slot {
                tensor: t,
                arena_offset: loc.offset as u64 * 4,
                span,
                offset: size,
                rows,
                cols,
                row_stride: loc.row_stride,
            });
            size += span.div_ceil(8) * 8;
        }
        if slots.is_empty() {
            return Ok(None);
        }
        let buffer = cx.scoped("allocating the output readback buffer", || {
            cx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("outputs readback"),
                size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        Ok(Some(Readback { buffer, slots }))
    }

    /// Records the copies of every output from `arena` into the readback buffer.
    pub fn record(&self, enc: &mut wgpu::CommandEncoder, arena: &wgpu::Buffer) {
        for s in &self.slots {
            enc.copy_buffer_to_buffer(arena, s.arena_offset, &self.buffer, s.offset, s.span);
        }
    }

    /// Whether `t` is read back here.
    pub fn has(&self, t: TensorId) -> bool {
        self.slots.iter().any(|s| s.tensor == t)
    }

    /// Copies output `t` of the last execution into `out` (`rows · cols` words), row by row.
    pub fn read(&self, cx: &Context, t: TensorId, out: &mut [u32]) -> Result<()> {
        let s =
            self.slots.iter().find(|s| s.tensor == t).ok_or_else(|| {
                Error::InvalidArgument(format!("tensor {} is not read back", t.0))
            })?;
        if out.len() != s.rows * s.cols {
            return Err(Error::InvalidArgument(format!(
                "output has {} elements, asked for {}",
                s.rows * s.cols,
                out.len()
            )));
        }
        let slice = self.buffer.slice(s.offset..s.offset + s.span.div_ceil(8) * 8);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        cx.wait("reading results")?;
        rx.recv()
            .map_err(|_| Error::Device("readback never completed".into()))?
            .map_err(|e| Error::Device(format!("mapping readback: {e}")))?;
        {
            let view = slice
                .get_mapped_range()
                .map_err(|e| Error::Device(format!("readback view: {e}")))?;
            let words: &[u32] = bytemuck::try_cast_slice(&view[..s.span as usize])
                .map_err(|e| Error::Device(format!("readback view: {e}")))?;
            for (r, o) in out.chunks_exact_mut(s.cols).enumerate() {
                o.copy_from_slice(&words[r * s.row_stride..r * s.row_stride + s.cols]);
            }
        }
        self.buffer.unmap();
        Ok(())
    }
}
