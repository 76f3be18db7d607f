//! How CPU kernels see tensors: persistent tensors ([`CpuParam`]), strided f32 rows of the
//! activation arena ([`Rows`]), and the output of the node being run ([`Out`]). The arena is
//! split around the output range, so inputs and output are disjoint borrows without `unsafe`:
//! the planner guarantees a live input never overlaps the output.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::graph::{Buf, Graph, HostBytes, ParamId, Plan, TensorId};

/// A persistent tensor on the host.
pub enum CpuParam {
    /// Constant data used in place (the mmap of the model file, or a host-built table).
    Host(HostBytes),
    /// Data owned by the backend, 4-byte aligned: state (KV caches) or an aligned copy.
    Owned { words: Vec<u32>, len: usize },
}

impl CpuParam {
    /// Uses `bytes` in place when 4-byte aligned, else copies them into aligned storage.
    pub fn from_host(bytes: &HostBytes) -> CpuParam {
        let s = bytes.as_slice();
        if (s.as_ptr() as usize).is_multiple_of(4) {
            return CpuParam::Host(bytes.clone());
        }
        let mut words = vec![0u32; s.len().div_ceil(4)];
        bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..s.len()].copy_from_slice(s);
        CpuParam::Owned { words, len: s.len() }
    }

    /// `len` bytes of zeros (or of NaN bits when poisoning for tests).
    pub fn zeroed(len: usize, poison: bool) -> Result<CpuParam> {
        let n = len.div_ceil(4);
        let mut words = Vec::new();
        words
            .try_reserve_exact(n)
            .map_err(|_| Error::OutOfMemory(format!("{} MiB of state", len >> 20)))?;
        words.resize(n, if poison { u32::MAX } else { 0 });
        Ok(CpuParam::Owned { words, len })
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            CpuParam::Host(h) => h.as_slice(),
            CpuParam::Owned { words, len } => &bytemuck::cast_slice(words)[..*len],
        }
    }

    /// Mutable bytes of owned state; constant data cannot be written.
    pub fn bytes_mut(&mut self) -> Result<&mut [u8]> {
        match self {
            CpuParam::Host(_) => Err(Error::Device("a kernel tried to write constant data".into())),
            CpuParam::Owned { words, len } => Ok(&mut bytemuck::cast_slice_mut(words)[..*len]),
        }
    }

    /// The data as f32 values (F32 tensors).
    pub fn f32s(&self) -> Result<&[f32]> {
        bytemuck::try_cast_slice(self.bytes())
            .map_err(|e| Error::Device(format!("f32 view of a param: {e}")))
    }
}

/// `rows` strided rows of `cols` f32 values: row `r` is `data[offset + r·stride ..][..cols]`.
#[derive(Clone, Copy)]
pub struct Rows<'a> {
    pub data: &'a [f32],
    pub offset: usize,
    pub stride: usize,
    pub rows: usize,
    pub cols: usize,
}

impl<'a> Rows<'a> {
    pub fn row(&self, r: usize) -> &'a [f32] {
        let s = self.offset + r * self.stride;
        &self.data[s..s + self.cols]
    }
}

/// Read access to everything but the node's output.
pub struct Io<'a> {
    pub graph: &'a Graph,
    pub plan: &'a Plan,
    /// Arena words before the output range, and after it (starting at `hi_start`).
    lo: &'a [f32],
    hi: &'a [f32],
    hi_start: usize,
    pub params: &'a HashMap<ParamId, CpuParam>,
}

impl<'a> Io<'a> {
    pub fn new(
        graph: &'a Graph,
        plan: &'a Plan,
        lo: &'a [f32],
        hi: &'a [f32],
        hi_start: usize,
        params: &'a HashMap<ParamId, CpuParam>,
    ) -> Self {
        Io { graph, plan, lo, hi, hi_start, params }
    }

    /// An f32 activation as strided rows.
    pub fn rows(&self, t: TensorId) -> Result<Rows<'a>> {
        let loc = self.plan.location(t);
        let shape = self.graph.tensor(t).shape;
        let (rows, cols) = (shape.rows(), shape.cols());
        let end = loc.offset + (rows.max(1) - 1) * loc.row_stride + cols;
        match loc.buf {
            Buf::Arena if end <= self.lo.len() => {
                Ok(Rows { data: self.lo, offset: loc.offset, stride: loc.row_stride, rows, cols })
            }
            Buf::Arena if loc.offset >= self.hi_start => Ok(Rows {
                data: self.hi,
                offset: loc.offset - self.hi_start,
                stride: loc.row_stride,
                rows,
                cols,
            }),
            Buf::Arena => {
                Err(Error::Device(format!("{} overlaps the output", self.graph.tensor(t).name)))
            }
            Buf::Param(p) => {
                let data = self.param(p)?.f32s()?;
                Ok(Rows { data, offset: 0, stride: cols, rows, cols })
            }
        }
    }

    pub fn param(&self, p: ParamId) -> Result<&'a CpuParam> {
        self.params.get(&p).ok_or_else(|| Error::Device(format!("param {} is not loaded", p.0)))
    }

    /// The persistent tensor behind graph tensor `t`.
    pub fn param_of(&self, t: TensorId) -> Result<(ParamId, &'a CpuParam)> {
        match self.plan.location(t).buf {
            Buf::Param(p) => Ok((p, self.param(p)?)),
            Buf::Arena => Err(Error::Device(format!(
                "{} is not a persistent tensor",
                self.graph.tensor(t).name
            ))),
        }
    }
}

/// The output of the node being run.
pub enum Out<'a> {
    /// Contiguous rows in the arena.
    Arena(&'a mut [f32]),
    /// A persistent tensor written in place (a KV cache).
    Param(&'a mut [u8]),
}

impl<'a> Out<'a> {
    pub fn arena(self) -> Result<&'a mut [f32]> {
        match self {
            Out::Arena(a) => Ok(a),
            Out::Param(_) => Err(Error::Device("op expected an activation output".into())),
        }
    }

    pub fn param(self) -> Result<&'a mut [u8]> {
        match self {
            Out::Param(p) => Ok(p),
            Out::Arena(_) => Err(Error::Device("op expected a state output".into())),
        }
    }
}
