//! GetRows vs kernels-ref's get_rows for every weight type: ids including 0, the last row and
//! repeats; bit-exact at scale 1 where dequantization is exact (every `d·q` fits an f32
//! significand; tol.rs EXACT), one rounding where it adds a min; a fused scale; tables split
//! into row chunks (every type, ids on both sides of each chunk boundary); and real
//! vocabularies (SmolLM2's 49152 rows, Gemma 3's 262144, which exceeds lavapipe's binding).

use kiln::graph::{
    ElemType, GraphBuilder, HostBytes, ParamDesc, ParamInit, ParamTable, Shape, Step,
};
use kiln::quant::DType;

use crate::common::{self, Input, tol};
use crate::matmul::{SMALL_BINDING, TYPES, chunked_shape, push_weight};

/// Types whose weights are `d·q` (exact in f32) rather than `d·q + m` (one rounding).
fn exact(dt: DType) -> bool {
    !matches!(dt, DType::Q4_1 | DType::Q5_1 | DType::Q2_K | DType::Q4_K | DType::Q5_K)
}

#[test]
fn every_weight_type_at_scale_one_and_scaled() {
    let vocab = 37;
    let ids = [0u32, 36, 5, 5, 17, 36, 2];
    // Gemma multiplies its embeddings by √dim.
    let scale = 640f32.sqrt();
    for (i, &dt) in TYPES.iter().enumerate() {
        // Odd block counts (2-byte-misaligned rows); float rows not whole runs of 16.
        let cols = match dt.block_size() {
            1 => 333,
            32 => 7 * 32,
            _ => 3 * 256,
        };
        let mut params = ParamTable::new();
        let w = push_weight(&mut params, dt, vocab, cols, 600 + i as u64);
        let want = kernels_ref::embed::get_rows(dt.name(), &w.bytes, cols, &ids);
        let want_scaled = kernels_ref::elementwise::scale(&want, scale as f64);
        for tb in common::backends() {
            let mut g = GraphBuilder::new(&params);
            let table = g.param(w.id);
            let it = g.input("ids", &[ids.len()], ElemType::U32);
            let y1 = g.get_rows(table, it, 1.0, "rows");
            let ys = g.get_rows(table, it, scale, "scaled rows");
            g.output(y1);
            g.output(ys);
            let inputs = [(it, Input::U32(ids.to_vec()))];
            let out =
                common::run(&tb, &params, g.build(), Step::default(), &inputs, &[y1, ys], &[]);
            let tol1 = if exact(dt) { tol::EXACT } else { tol::ONE_ROUNDING };
            let what = format!("get_rows {dt} x{cols} on {}", tb.name);
            common::assert_close(&what, &out.outputs[0], &want, &common::abs(&want), tol1);
            if exact(dt) {
                // Bit for bit, signed zeros included (ggml gives −0 for q = 0 under d < 0).
                for (j, (g, r)) in out.outputs[0].iter().zip(&want).enumerate() {
                    assert_eq!(g.to_bits(), (*r as f32).to_bits(), "{what}[{j}]: {g} vs {r}");
                }
            }
            // Scaling adds one rounding: at most two in all, 2u < ONE_ROUNDING's 1.2e-7.
            let what = format!("get_rows {dt} x{cols} · {scale} on {}", tb.name);
            let s = common::abs(&want_scaled);
            common::assert_close(&what, &out.outputs[1], &want_scaled, &s, tol::ONE_ROUNDING);
        }
    }
}

#[test]
fn tables_larger_than_a_binding_and_ids_past_the_end() {
    // Q8_0 rows of 544 bytes: chunks of 120, 120 and 60 rows. Ids ≥ vocab read nothing and
    // give zero rows (the wgpu kernel's documented behaviour; only wgpu chunks tables).
    let (vocab, cols) = (300, 512);
    let mut params = ParamTable::new();
    let w = push_weight(&mut params, DType::Q8_0, vocab, cols, 700);
    let ids = [0u32, 119, 120, 299, 150, 300, 299, 0, 1_000_000, 239, 240];
    let inside: Vec<u32> = ids.iter().map(|&id| if id < vocab as u32 { id } else { 0 }).collect();
    let mut want = kernels_ref::embed::get_rows("Q8_0", &w.bytes, cols, &inside);
    for (t, &id) in ids.iter().enumerate() {
        if id >= vocab as u32 {
            want[t * cols..(t + 1) * cols].fill(0.0);
        }
    }
    for tb in common::gpu_backends_small_binding(SMALL_BINDING) {
        for n in [1, ids.len()] {
            let mut g = GraphBuilder::new(&params);
            let table = g.param(w.id);
            let it = g.input("ids", &[n], ElemType::U32);
            let y = g.get_rows(table, it, 1.0, "rows");
            g.output(y);
            let inputs = [(it, Input::U32(ids[..n].to_vec()))];
            let out = common::run(&tb, &params, g.build(), Step::default(), &inputs, &[y], &[]);
            let what = format!("get_rows chunked n={n} on {}", tb.name);
            let want = &want[..n * cols];
            common::assert_close(&what, &out.outputs[0], want, &common::abs(want), tol::EXACT);
        }
    }
}

#[test]
fn every_weight_type_in_row_chunks() {
    for (i, &dt) in TYPES.iter().enumerate() {
        let (vocab, cols) = chunked_shape(dt);
        // Rows on both sides of every chunk boundary (store.rs: ⌊(binding − 8)/row_bytes⌋
        // rows a chunk; the ids straddle that and its neighbours), the first, the last, repeats.
        let row_bytes = dt.row_bytes(cols as u64).expect("whole blocks") as usize;
        let per = (SMALL_BINDING as usize - 8) / row_bytes;
        let mut ids: Vec<u32> = vec![0, (vocab - 1) as u32, 0];
        for b in [per, 2 * per] {
            ids.extend([b - 2, b - 1, b, b + 1].map(|r| r as u32));
        }
        let mut params = ParamTable::new();
        let w = push_weight(&mut params, dt, vocab, cols, 800 + i as u64);
        let want = kernels_ref::embed::get_rows(dt.name(), &w.bytes, cols, &ids);
        let tol = if exact(dt) { tol::EXACT } else { tol::ONE_ROUNDING };
        for tb in common::gpu_backends_small_binding(SMALL_BINDING) {
            let mut g = GraphBuilder::new(&params);
            let table = g.param(w.id);
            let it = g.input("ids", &[ids.len()], ElemType::U32);
            let y = g.get_rows(table, it, 1.0, "rows");
            g.output(y);
            let inputs = [(it, Input::U32(ids.clone()))];
            let out = common::run(&tb, &params, g.build(), Step::default(), &inputs, &[y], &[]);
            let what = format!("get_rows {dt} {vocab}x{cols} chunked on {}", tb.name);
            common::assert_close(&what, &out.outputs[0], &want, &common::abs(&want), tol);
        }
    }
}

#[test]
fn real_vocabularies() {
    // (vocab, cols): SmolLM2's Q8_0 embedding, and Gemma 3's 262144 × 640 Q8_0 one (178 MB,
    // over lavapipe's 128 MiB binding: row chunks at the adapter's real limit).
    for (i, (vocab, cols)) in [(49_152usize, 576usize), (262_144, 640)].into_iter().enumerate() {
        // Only the looked-up rows are decoded by the reference, so no f64 copy of the table.
        let table = HostBytes::from_vec(common::quant_blocks::random_blocks(
            DType::Q8_0,
            vocab * cols,
            900 + i as u64,
        ));
        let (bytes, row_bytes) = (table.as_slice(), table.len() / vocab);
        let mut params = ParamTable::new();
        let id = params.push(ParamDesc {
            name: format!("token_embd {vocab}x{cols}"),
            shape: Shape::new(&[vocab, cols]),
            ty: ElemType::Float(DType::Q8_0),
            init: ParamInit::Data(table.clone()),
            layer: None,
        });
        // First, last, middle, repeated, and both sides of where the adapter's binding limit
        // ends the first chunk (store.rs: ⌊(limit − 8)/row_bytes⌋ rows a chunk).
        let mut ids: Vec<u32> = vec![0, (vocab - 1) as u32, (vocab / 2) as u32, 0, 1];
        if let Some(a) = kiln::backend::wgpu::list_adapters().first() {
            let per = (a.max_storage_binding.min(a.max_buffer_size) as usize - 8) / row_bytes;
            if per < vocab {
                ids.extend([per - 1, per].map(|r| r as u32));
            }
        }
        let want: Vec<f64> = ids
            .iter()
            .flat_map(|&r| {
                let row = &bytes[r as usize * row_bytes..][..row_bytes];
                kernels_ref::embed::get_rows("Q8_0", row, cols, &[0])
            })
            .collect();
        for tb in common::backends() {
            let mut g = GraphBuilder::new(&params);
            let table = g.param(id);
            let it = g.input("ids", &[ids.len()], ElemType::U32);
            let y = g.get_rows(table, it, 1.0, "rows");
            g.output(y);
            let inputs = [(it, Input::U32(ids.clone()))];
            let out = common::run(&tb, &params, g.build(), Step::default(), &inputs, &[y], &[]);
            let what = format!("get_rows Q8_0 {vocab}x{cols} on {}", tb.name);
            common::assert_close(&what, &out.outputs[0], &want, &common::abs(&want), tol::EXACT);
        }
    }
}
