//! The one error type of the library and its `Result` alias.
//!
//! May use: nothing inside the crate. Invariant: every failure a file, a user or a device can
//! cause is one of these variants, with enough context (file, byte offset, tensor, op) to act on.

use std::path::PathBuf;

/// Result with kiln's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in kiln, grouped by area.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Opening, reading or mapping a file failed.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },

    /// A GGUF file is malformed; `offset` is the byte where the bad field starts.
    #[error("bad GGUF file: {kind} (at byte offset {offset})")]
    Gguf { offset: u64, kind: GgufError },

    /// A metadata key the caller asked for is absent.
    #[error("metadata key not found: {0}")]
    KeyNotFound(String),

    /// A metadata key exists but holds another type than the caller asked for.
    #[error("metadata key {key} has type {found}, expected {expected}")]
    KeyType { key: String, found: &'static str, expected: &'static str },

    /// A ggml tensor type kiln recognises but cannot run (IQ*, TQ*, MXFP4 …).
    #[error(
        "tensor type {name} (ggml type id {id}) is not supported by kiln; supported types: \
         F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q8_1 Q2_K Q3_K Q4_K Q5_K Q6_K Q8_K"
    )]
    UnsupportedType { name: &'static str, id: u32 },

    /// A ggml type id that no version of ggml defines.
    #[error("unknown ggml type id {0}")]
    UnknownType(u32),

    /// The model a well-formed GGUF describes is unusable (missing tensor, bad hyperparameter …).
    #[error("model: {0}")]
    Model(String),

    /// The vocabulary or tokenizer metadata is unusable.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// A chat template failed to parse or render.
    #[error("chat template: {0}")]
    Template(String),

    /// A device (GPU adapter or the CPU backend) failed: validation error, lost device …
    #[error("device: {0}")]
    Device(String),

    /// A device or host allocation does not fit.
    #[error("out of memory: {0}")]
    OutOfMemory(String),

    /// The sequence would run past the context the KV cache was sized for.
    #[error("context is full: {needed} tokens needed, the context holds {n_ctx} (raise -c)")]
    ContextFull { needed: usize, n_ctx: usize },

    /// A caller-supplied value is out of range (CLI flag, request field, op argument).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// What exactly is wrong in a malformed GGUF file. Each variant is one check of the reader, so
/// tests can assert the specific failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GgufError {
    #[error("file ends early: needed {needed} more bytes for {what}, {left} left")]
    Truncated { what: &'static str, needed: u64, left: u64 },
    #[error("bad magic {0:?}, expected \"GGUF\"")]
    BadMagic(String),
    #[error("GGUF version 1 is no longer supported (convert the file again)")]
    VersionOne,
    #[error("unsupported GGUF version {0} (kiln reads 2 and 3)")]
    BadVersion(u32),
    #[error("version field reads {0:#x}: endianness mismatch? (big-endian GGUF is not supported)")]
    BigEndian(u32),
    #[error("{what} count {count} is impossible: the {left} bytes left hold at most {max}")]
    CountTooLarge { what: &'static str, count: u64, max: u64, left: u64 },
    #[error("string length {len} exceeds the {left} bytes left")]
    StringTooLong { len: u64, left: u64 },
    #[error("metadata key is not valid UTF-8")]
    KeyNotUtf8,
    #[error("empty metadata key")]
    EmptyKey,
    #[error("duplicate metadata key {0:?}")]
    DuplicateKey(String),
    #[error("metadata key {key:?} has unknown value type id {type_id}")]
    BadValueType { key: String, type_id: u32 },
    #[error("metadata key {key:?}: arrays of arrays are not supported")]
    NestedArray { key: String },
    #[error("metadata key {key:?}: array of {len} elements does not fit in the {left} bytes left")]
    ArrayTooLong { key: String, len: u64, left: u64 },
    #[error("metadata key {key:?}: bool byte is {value}, expected 0 or 1")]
    BadBool { key: String, value: u8 },
    #[error("general.alignment must be a u32, found {0}")]
    AlignmentType(&'static str),
    #[error("general.alignment {0} is not a power of two between 1 and 1 MiB")]
    BadAlignment(u64),
    #[error("tensor name of {0} bytes is too long (limit 63)")]
    NameTooLong(u64),
    #[error("tensor name is empty or not valid UTF-8")]
    BadName,
    #[error("duplicate tensor name {0:?}")]
    DuplicateTensor(String),
    #[error("tensor {name:?} has {n_dims} dimensions (at most 4)")]
    TooManyDims { name: String, n_dims: u32 },
    #[error("tensor {name:?} dimension {index} is {value}, out of range")]
    BadDim { name: String, index: usize, value: u64 },
    #[error("tensor {name:?}: element count or byte size overflows")]
    SizeOverflow { name: String },
    #[error("tensor {name:?} has unknown ggml type id {id}")]
    UnknownTensorType { name: String, id: u32 },
    #[error(
        "tensor {name:?} has ggml type {type_name} (id {id}), which kiln does not support; \
         supported: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q8_1 Q2_K Q3_K Q4_K Q5_K Q6_K Q8_K"
    )]
    UnsupportedTensorType { name: String, type_name: &'static str, id: u32 },
    #[error("tensor {name:?}: row length {ne0} is not a multiple of the {block}-element block")]
    RowNotBlockMultiple { name: String, ne0: u64, block: u64 },
    #[error("tensor {name:?}: data offset {offset} is not a multiple of the alignment {alignment}")]
    MisalignedOffset { name: String, offset: u64, alignment: u64 },
    #[error(
        "tensor {name:?}: data [{start}, {end}) lies outside the file ({file_len} bytes): \
         truncated or corrupted download?"
    )]
    TensorOutOfBounds { name: String, start: u64, end: u64, file_len: u64 },
    #[error("tensors {first:?} and {second:?} overlap in the data section")]
    OverlappingTensors { first: String, second: String },
}

impl Error {
    /// Shorthand for a GGUF error at `offset`.
    pub fn gguf(offset: u64, kind: GgufError) -> Self {
        Error::Gguf { offset, kind }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
