//! Persistent tensors shared by every graph of a model: weights (still quantized, borrowed from
//! the memory-mapped file), KV caches (zero-initialised device state) and derived tables built
//! on the host (RoPE cos/sin, norm weights with Gemma's `+1` folded in).

use std::sync::Arc;

use super::tensor::{ElemType, ParamId, Shape};

/// Host memory that [`HostBytes`] borrow from: the mmap of a GGUF file, or a `Vec`.
pub trait HostMemory: AsRef<[u8]> + Send + Sync {
    /// Says bytes `[start, start + len)` will not be read soon (a device holds their copy), so
    /// the owner may drop them from resident memory; a later read must still see the same
    /// bytes. Default: nothing.
    fn release(&self, start: usize, len: usize) {
        let _ = (start, len);
    }
}

impl HostMemory for Vec<u8> {}

/// A byte range of host memory kept alive by its owner (the mmap of a GGUF file, or a `Vec`).
/// Backends upload it or, on the CPU, use it in place.
#[derive(Clone)]
pub struct HostBytes {
    owner: Arc<dyn HostMemory>,
    start: usize,
    len: usize,
}

impl HostBytes {
    /// The bytes `[start, start + len)` of `owner`. Panics if the range is outside: callers get
    /// ranges from a validated GGUF directory.
    #[track_caller]
    pub fn new(owner: Arc<dyn HostMemory>, start: usize, len: usize) -> HostBytes {
        let total = (*owner).as_ref().len();
        assert!(start.checked_add(len).is_some_and(|end| end <= total), "HostBytes out of range");
        HostBytes { owner, start, len }
    }

    /// Owns `bytes` (tables and weights derived on the host).
    pub fn from_vec(bytes: Vec<u8>) -> HostBytes {
        let len = bytes.len();
        HostBytes { owner: Arc::new(bytes), start: 0, len }
    }

    /// Owns the little-endian bytes of `values`.
    pub fn from_f32(values: &[f32]) -> HostBytes {
        HostBytes::from_vec(values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }

    pub fn as_slice(&self) -> &[u8] {
        &(*self.owner).as_ref()[self.start..self.start + self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Tells the owner these bytes were copied to a device (see [`HostMemory::release`]).
    pub fn release(&self) {
        self.owner.release(self.start, self.len);
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for HostBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HostBytes({} bytes)", self.len)
    }
}

/// What a persistent tensor holds at load time.
#[derive(Debug, Clone)]
pub enum ParamInit {
    /// Constant data from the host, in the element type's own byte layout.
    Data(HostBytes),
    /// Device state that starts as zeros (a KV cache).
    Zeroed,
}

/// One persistent tensor.
#[derive(Debug, Clone)]
pub struct ParamDesc {
    pub name: String,
    pub shape: Shape,
    pub ty: ElemType,
    pub init: ParamInit,
    /// The transformer layer this tensor belongs to (`None` for embedding, output head,
    /// tables). Offloading places whole layers.
    pub layer: Option<u32>,
}

impl ParamDesc {
    pub fn n_bytes(&self) -> usize {
        self.ty.bytes(self.shape.n_elements()).expect("invariant: param size checked on insert")
    }
}

/// The persistent tensors of a model, indexed by [`ParamId`].
#[derive(Debug, Default, Clone)]
pub struct ParamTable {
    params: Vec<ParamDesc>,
}

impl ParamTable {
    pub fn new() -> ParamTable {
        ParamTable::default()
    }

    /// Adds a tensor. Panics (a programming error) if data does not match shape and type.
    #[track_caller]
    pub fn push(&mut self, desc: ParamDesc) -> ParamId {
        let want = desc.ty.bytes(desc.shape.n_elements());
        assert!(
            want.is_some(),
            "param {}: {:?} is not whole {} blocks",
            desc.name,
            desc.shape,
            desc.ty
        );
        if let ParamInit::Data(bytes) = &desc.init {
            assert_eq!(Some(bytes.len()), want, "param {}: data size", desc.name);
        }
        self.params.push(desc);
        ParamId(self.params.len() as u32 - 1)
    }

    pub fn get(&self, id: ParamId) -> &ParamDesc {
        &self.params[id.index()]
    }

    pub fn len(&self) -> usize {
        self.params.len()
    }

    /// Changes the element type of a zero-initialised state tensor (a KV cache placed on a
    /// device that stores it differently). Panics on constant data (a programming error).
    #[track_caller]
    pub fn set_state_type(&mut self, id: ParamId, ty: ElemType) {
        let p = &mut self.params[id.index()];
        assert!(matches!(p.init, ParamInit::Zeroed), "{} is not state", p.name);
        assert!(
            ty.bytes(p.shape.n_elements()).is_some(),
            "{}: {ty} does not fit {:?}",
            p.name,
            p.shape
        );
        p.ty = ty;
    }

    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (ParamId, &ParamDesc)> {
        self.params.iter().enumerate().map(|(i, p)| (ParamId(i as u32), p))
    }

    /// Total bytes of all tensors (weights and state).
    pub fn total_bytes(&self) -> usize {
        self.params.iter().map(ParamDesc::n_bytes).sum()
    }
}
