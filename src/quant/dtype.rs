//! The `DType` table: every ggml tensor type kiln runs, with its ggml id, block shape and name,
//! plus the ids of the types it recognises but cannot run.
//!
//! Source of ids and sizes: ggml's `enum ggml_type` and `type_traits` (ggml/src/ggml.c) and the
//! block `static_assert`s in ggml/src/ggml-common.h.

use crate::error::{Error, Result};

/// A ggml tensor type that kiln can load and run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(non_camel_case_types)]
pub enum DType {
    F32,
    F16,
    BF16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
}

/// Elements per K-quant super-block.
pub const QK_K: usize = 256;

/// One row of the table: `(dtype, ggml id, name, elements per block, bytes per block)`.
const TABLE: [(DType, u32, &str, usize, usize); 15] = [
    (DType::F32, 0, "F32", 1, 4),
    (DType::F16, 1, "F16", 1, 2),
    (DType::Q4_0, 2, "Q4_0", 32, 18),
    (DType::Q4_1, 3, "Q4_1", 32, 20),
    (DType::Q5_0, 6, "Q5_0", 32, 22),
    (DType::Q5_1, 7, "Q5_1", 32, 24),
    (DType::Q8_0, 8, "Q8_0", 32, 34),
    (DType::Q8_1, 9, "Q8_1", 32, 36),
    (DType::Q2_K, 10, "Q2_K", QK_K, 84),
    (DType::Q3_K, 11, "Q3_K", QK_K, 110),
    (DType::Q4_K, 12, "Q4_K", QK_K, 144),
    (DType::Q5_K, 13, "Q5_K", QK_K, 176),
    (DType::Q6_K, 14, "Q6_K", QK_K, 210),
    (DType::Q8_K, 15, "Q8_K", QK_K, 292),
    (DType::BF16, 30, "BF16", 1, 2),
];

/// ggml types kiln recognises by id but does not run; `None` marks ids ggml removed.
const KNOWN_UNSUPPORTED: [(u32, Option<&str>); 25] = [
    (4, None), // Q4_2, removed
    (5, None), // Q4_3, removed
    (16, Some("IQ2_XXS")),
    (17, Some("IQ2_XS")),
    (18, Some("IQ3_XXS")),
    (19, Some("IQ1_S")),
    (20, Some("IQ4_NL")),
    (21, Some("IQ3_S")),
    (22, Some("IQ2_S")),
    (23, Some("IQ4_XS")),
    (24, Some("I8")),
    (25, Some("I16")),
    (26, Some("I32")),
    (27, Some("I64")),
    (28, Some("F64")),
    (29, Some("IQ1_M")),
    (31, None), // Q4_0_4_4, removed
    (32, None), // Q4_0_4_8, removed
    (33, None), // Q4_0_8_8, removed
    (34, Some("TQ1_0")),
    (35, Some("TQ2_0")),
    (36, None), // IQ4_NL_4_4, removed
    (37, None), // IQ4_NL_4_8, removed
    (38, None), // IQ4_NL_8_8, removed
    (39, Some("MXFP4")),
];

impl DType {
    /// Every runnable type, in ggml id order.
    pub const ALL: [DType; 15] = [
        DType::F32,
        DType::F16,
        DType::Q4_0,
        DType::Q4_1,
        DType::Q5_0,
        DType::Q5_1,
        DType::Q8_0,
        DType::Q8_1,
        DType::Q2_K,
        DType::Q3_K,
        DType::Q4_K,
        DType::Q5_K,
        DType::Q6_K,
        DType::Q8_K,
        DType::BF16,
    ];

    fn row(self) -> &'static (DType, u32, &'static str, usize, usize) {
        TABLE.iter().find(|r| r.0 == self).expect("invariant: every DType has a table row")
    }

    /// The ggml type id stored in GGUF tensor infos.
    pub fn ggml_id(self) -> u32 {
        self.row().1
    }

    /// ggml's name for the type (`Q4_K`, `BF16` …).
    pub fn name(self) -> &'static str {
        self.row().2
    }

    /// Elements per block (1 for float types).
    pub fn block_size(self) -> usize {
        self.row().3
    }

    /// Bytes per block.
    pub fn type_size(self) -> usize {
        self.row().4
    }

    /// True for F32, F16, BF16.
    pub fn is_float(self) -> bool {
        self.block_size() == 1
    }

    /// Looks a type up by ggml id. Ids of types kiln cannot run give
    /// [`Error::UnsupportedType`] naming them; ids no ggml defines give [`Error::UnknownType`].
    pub fn from_ggml_id(id: u32) -> Result<DType> {
        if let Some(r) = TABLE.iter().find(|r| r.1 == id) {
            return Ok(r.0);
        }
        match KNOWN_UNSUPPORTED.iter().find(|r| r.0 == id) {
            Some((_, Some(name))) => Err(Error::UnsupportedType { name, id }),
            Some((_, None)) => Err(Error::UnsupportedType { name: "(removed from ggml)", id }),
            None => Err(Error::UnknownType(id)),
        }
    }

    /// Looks a type up by its ggml name, case-insensitively (`q4_k`, `F16`).
    pub fn from_name(name: &str) -> Option<DType> {
        TABLE.iter().find(|r| r.2.eq_ignore_ascii_case(name)).map(|r| r.0)
    }

    /// Bytes of a row of `n` elements, or `None` when `n` is not a whole number of blocks or
    /// the size overflows.
    pub fn row_bytes(self, n: u64) -> Option<u64> {
        let bs = self.block_size() as u64;
        if !n.is_multiple_of(bs) {
            return None;
        }
        (n / bs).checked_mul(self.type_size() as u64)
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_round_trips_ids_and_names() {
        for dt in DType::ALL {
            assert_eq!(DType::from_ggml_id(dt.ggml_id()).unwrap(), dt);
            assert_eq!(DType::from_name(dt.name()), Some(dt));
        }
    }

    #[test]
    fn unsupported_and_unknown_ids_are_named() {
        match DType::from_ggml_id(20) {
            Err(Error::UnsupportedType { name, id }) => assert_eq!((name, id), ("IQ4_NL", 20)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(DType::from_ggml_id(4), Err(Error::UnsupportedType { .. })));
        assert!(matches!(DType::from_ggml_id(1000), Err(Error::UnknownType(1000))));
    }

    #[test]
    fn row_bytes_checks_blocks_and_overflow() {
        assert_eq!(DType::Q4_K.row_bytes(512), Some(288));
        assert_eq!(DType::Q8_0.row_bytes(33), None);
        assert_eq!(DType::F32.row_bytes(u64::MAX), None);
    }
}
