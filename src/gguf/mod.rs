//! The GGUF container: header, metadata, tensor directory, and views of tensor data in a
//! memory-mapped file; plus a writer used by tests and fixtures.
//!
//! May use: `quant`, `error`. Invariant: a [`GgufFile`] exists only for a file that passed
//! every check in reader.rs, so `tensor_data` of any of its tensors is an in-bounds slice of
//! the exact byte size; no input, however malformed, makes this module panic.
//!
//! Files: `cursor` (bounded little-endian reads), `value` (value types), `kv` (reading a
//! key-value pair), `tensor` (tensor infos), `reader` (the whole-file parse and layout checks),
//! `access` (typed metadata getters), `writer` (`GgufWriter`).

mod access;
mod cursor;
mod kv;
mod reader;
mod tensor;
mod value;
mod writer;

use std::fs::File;
use std::io;
use std::path::Path;

use memmap2::Mmap;

use crate::error::{Error, Result};
use reader::Directory;

pub use reader::{DEFAULT_ALIGNMENT, MAX_ALIGNMENT};
pub use tensor::{MAX_DIMS, MAX_NAME, TensorInfo};
pub use value::{Array, Value, ValueType};
pub use writer::GgufWriter;

/// The bytes of a GGUF file: mapped from disk, or owned (tests, fuzzing, small files).
enum Bytes {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// A parsed, validated GGUF file (versions 2 and 3).
pub struct GgufFile {
    bytes: Bytes,
    dir: Directory,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("version", &self.dir.version)
            .field("file_len", &self.dir.file_len)
            .field("n_kv", &self.dir.metadata.len())
            .field("n_tensors", &self.dir.tensors.len())
            .finish()
    }
}

impl GgufFile {
    /// Maps and parses the file at `path`. Only regular files are accepted: a directory, FIFO
    /// or device (`/dev/random` never ends) is refused before it is opened.
    ///
    /// The file must not be modified while mapped: the OS would change (or, if truncated,
    /// fault on) memory that was validated at open.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile> {
        let path = path.as_ref();
        // stat before open: opening a FIFO for reading blocks until a writer appears.
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        check_regular(path, &meta)?;
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        // Check again on the handle, in case the path was swapped between stat and open.
        let meta = file.metadata().map_err(|e| Error::io(path, e))?;
        check_regular(path, &meta)?;
        let bytes = if meta.len() == 0 {
            Bytes::Owned(Vec::new())
        } else {
            // SAFETY: the map is read-only and private to this process. Its contents may still
            // change if another process writes or truncates the file while it is mapped; that
            // is documented above as the caller's contract (llama.cpp and candle rely on the
            // same contract for mmap loading).
            let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
            Bytes::Mapped(map)
        };
        let dir = reader::parse(bytes.as_slice())?;
        Ok(GgufFile { bytes, dir })
    }

    /// Parses a file held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GgufFile> {
        let dir = reader::parse(&bytes)?;
        Ok(GgufFile { bytes: Bytes::Owned(bytes), dir })
    }

    /// GGUF version: 2 or 3.
    pub fn version(&self) -> u32 {
        self.dir.version
    }

    /// Alignment of tensor data in bytes (`general.alignment`, default 32).
    pub fn alignment(&self) -> u64 {
        self.dir.alignment
    }

    /// Absolute byte offset of the data section (a multiple of the alignment). With no tensors
    /// this may equal or exceed `file_len()`.
    pub fn data_offset(&self) -> u64 {
        self.dir.data_offset
    }

    /// Size of the whole file in bytes.
    pub fn file_len(&self) -> u64 {
        self.dir.file_len
    }

    /// Every key-value pair, in file order.
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.dir.metadata
    }

    /// The tensor directory, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.dir.tensors
    }

    /// The tensor named `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.dir.tensor_index.get(name).map(|&i| &self.dir.tensors[i])
    }

    /// The `n_bytes` bytes of a tensor's data, borrowed from the map. Memory alignment: the
    /// data section is aligned relative to the file start and a map starts on a page, so
    /// mapped data is `alignment()`-aligned; bytes from `from_bytes` carry no such promise.
    ///
    /// `info` must come from this file's [`tensors`](Self::tensors) (then the range was checked
    /// at open). For an info from elsewhere whose range does not fit, the slice is empty.
    pub fn tensor_data(&self, info: &TensorInfo) -> &[u8] {
        let range = self.dir.data_offset.checked_add(info.offset).and_then(|start| {
            let end = start.checked_add(info.n_bytes)?;
            Some(usize::try_from(start).ok()?..usize::try_from(end).ok()?)
        });
        range.and_then(|r| self.bytes.as_slice().get(r)).unwrap_or(&[])
    }

    /// The raw bytes of the whole file.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }
}

/// Lets graph parameters borrow tensor data straight from the mapping (`graph::HostBytes`).
impl AsRef<[u8]> for GgufFile {
    fn as_ref(&self) -> &[u8] {
        self.bytes.as_slice()
    }
}

impl GgufFile {
    /// Drops the pages holding bytes `[start, start + len)` of a mapped file from this process's
    /// resident memory (`madvise(MADV_DONTNEED)`; the range is widened to whole pages), for
    /// tensors whose copy now lives on a GPU. Reading them again is still correct: the mapping
    /// is shared, read-only and file-backed, so a later read faults the same bytes back in from
    /// the page cache or the file. A no-op for owned bytes, off Unix, and on any error (it is
    /// only a hint).
    pub fn release_pages(&self, start: usize, len: usize) {
        #[cfg(unix)]
        if let Bytes::Mapped(map) = &self.bytes {
            let len = len.min(map.len().saturating_sub(start));
            // SAFETY: DONTNEED on a shared read-only file mapping never changes what the
            // mapping reads (nothing here was written, so nothing is discarded): pages fault
            // back in with the file's bytes, which the open contract says do not change.
            let r = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, len)
            };
            if let Err(e) = r {
                log::debug!("madvise(DONTNEED) of {len} bytes at {start}: {e}");
            }
        }
        #[cfg(not(unix))]
        let _ = (start, len);
    }
}

fn check_regular(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    if meta.is_file() {
        return Ok(());
    }
    let what =
        if meta.is_dir() { "a directory" } else { "not a regular file (FIFO, socket or device?)" };
    let msg = format!("is {what}; a GGUF model must be a regular file");
    Err(Error::io(path, io::Error::new(io::ErrorKind::InvalidInput, msg)))
}
