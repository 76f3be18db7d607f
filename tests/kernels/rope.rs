//! rope (NORM and NEOX, partial rotary dims, positions 0, 1 and 5000, 1 and 5 tokens) into a
//! tensor and into F16/F32 KV caches, and kv_write, vs kernels-ref. Cache rows outside
//! `pos..pos+n` must keep the harness's poison, proving nothing else was written.

use kiln::backend::HostData;
use kiln::graph::{
    ElemType, GraphBuilder, HostBytes, ParamDesc, ParamId, ParamInit, ParamTable, Plan, RopeSpec,
    Shape, Step,
};

use crate::common::{self, Input, TestBackend, tol};

pub const BASE: f64 = 10000.0;
pub const FREQ_SCALE: f64 = 1.0;

/// Adds the `(max_pos, n_rot/2, 2)` = (cos, sin) table built in f64 by kernels-ref.
pub fn table_param(params: &mut ParamTable, max_pos: usize, n_rot: usize) -> ParamId {
    let (cos, sin) = kernels_ref::rope::rope_table(max_pos, n_rot, BASE, FREQ_SCALE);
    let data: Vec<f32> = cos.iter().zip(&sin).flat_map(|(&c, &s)| [c as f32, s as f32]).collect();
    params.push(ParamDesc {
        name: "rope.table".into(),
        shape: Shape::new(&[max_pos, n_rot / 2, 2]),
        ty: ElemType::F32,
        init: ParamInit::Data(HostBytes::from_f32(&data)),
        layer: None,
    })
}

/// Adds a zeroed KV cache `(n_kv_heads, ctx, head_dim)` of `ty`.
pub fn cache_param(params: &mut ParamTable, name: &str, dims: [usize; 3], ty: ElemType) -> ParamId {
    params.push(ParamDesc {
        name: name.into(),
        shape: Shape::new(&dims),
        ty,
        init: ParamInit::Zeroed,
        layer: Some(0),
    })
}

/// The cache types a backend must handle: both on the CPU, the tier's own on wgpu.
pub fn cache_types(tb: &TestBackend) -> Vec<ElemType> {
    if tb.is_gpu {
        vec![tb.inner.lock().unwrap_or_else(|e| e.into_inner()).kv_type()]
    } else {
        vec![ElemType::F16, ElemType::F32]
    }
}

/// Cache bytes as f32 values, and whether each element still holds the poison pattern.
pub fn decode_cache(bytes: &[u8], ty: ElemType, n: usize) -> (Vec<f32>, Vec<bool>) {
    match ty {
        ElemType::F32 => bytes[..4 * n]
            .chunks_exact(4)
            .map(|c| {
                let w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                (f32::from_bits(w), w == u32::MAX)
            })
            .unzip(),
        _ => bytes[..2 * n]
            .chunks_exact(2)
            .map(|c| {
                let w = u16::from_le_bytes([c[0], c[1]]);
                (half::f16::from_bits(w).to_f32(), w == u16::MAX)
            })
            .unzip(),
    }
}

/// Splits a decoded cache `(heads, ctx, hd)` into rows `pos..pos+n` as `(n, heads·hd)` and
/// asserts every other row is still poison.
pub fn written_rows(
    what: &str,
    vals: &[f32],
    poison: &[bool],
    dims: [usize; 3],
    pos: usize,
    n: usize,
) -> Vec<f32> {
    let [heads, ctx, hd] = dims;
    let mut rows = vec![0f32; n * heads * hd];
    for h in 0..heads {
        for p in 0..ctx {
            for d in 0..hd {
                let i = (h * ctx + p) * hd + d;
                if (pos..pos + n).contains(&p) {
                    rows[((p - pos) * heads + h) * hd + d] = vals[i];
                } else {
                    assert!(poison[i], "{what}: cache head {h} row {p} [{d}] was written");
                }
            }
        }
    }
    rows
}

/// The error a cache of `ty` adds when it stores a kernel's f32 result.
pub fn store_tol(tb: &TestBackend, ty: ElemType) -> tol::Tol {
    match (ty, tb.is_gpu) {
        (ElemType::F32, _) => tol::EXACT,
        (_, true) => tol::KV_F16_STORE_GPU,
        (_, false) => tol::KV_F16_STORE_CPU,
    }
}

/// Per-element natural scale of RoPE: |x0| + |x1| of the element's pair, |x| when it passes.
pub fn rope_scale<T: Copy + Into<f64>>(
    x: &[T],
    head_dim: usize,
    n_rot: usize,
    neox: bool,
) -> Vec<f64> {
    let half = n_rot / 2;
    (0..x.len())
        .map(|i| {
            let (base, d) = (i - i % head_dim, i % head_dim);
            let partner = match (d < n_rot, neox) {
                (false, _) => return x[i].into().abs(),
                (true, true) => {
                    if d < half {
                        d + half
                    } else {
                        d - half
                    }
                }
                (true, false) => d ^ 1,
            };
            x[i].into().abs() + x[base + partner].into().abs()
        })
        .collect()
}

fn check(n_heads: usize, head_dim: usize, n_rot: usize, neox: bool, seed: u64) {
    const MAX_POS: usize = 5008;
    let mut params = ParamTable::new();
    let table = table_param(&mut params, MAX_POS, n_rot);
    let spec =
        RopeSpec { n_heads: n_heads as u32, head_dim: head_dim as u32, n_rot: n_rot as u32, neox };
    for (case, &(pos, n)) in [(0usize, 5usize), (1, 1), (5000, 5)].iter().enumerate() {
        let width = n_heads * head_dim;
        let x = common::uniform(n * width, -2.0, 2.0, seed + case as u64);
        let positions: Vec<usize> = (pos..pos + n).collect();
        let want = kernels_ref::rope::rope(
            &common::to_f64(&x),
            n_heads,
            head_dim,
            &positions,
            n_rot,
            BASE,
            FREQ_SCALE,
            neox,
        );
        let scale = rope_scale(&x, head_dim, n_rot, neox);
        let label = format!("rope hd={head_dim} n_rot={n_rot} neox={neox} pos={pos} n={n}");
        for tb in common::backends() {
            // Into a new tensor.
            let mut g = GraphBuilder::new(&params);
            let xt = g.input("x", &[n, width], ElemType::F32);
            let tt = g.param(table);
            let y = g.rope(xt, tt, spec, "y");
            g.output(y);
            let step = Step { pos: pos as u32 };
            let inputs = [(xt, Input::F32(x.clone()))];
            let out = common::run(&tb, &params, g.build(), step, &inputs, &[y], &[]);
            let what = format!("{label} on {}", tb.name);
            common::assert_close(&what, &out.outputs[0], &want, &scale, tol::ROPE);

            // Into a cache of each type the backend handles (n_heads KV heads here).
            for ty in cache_types(&tb) {
                let dims = [n_heads, pos + n + 2, head_dim];
                let mut cp = params.clone();
                let cache = cache_param(&mut cp, "cache_k", dims, ty);
                let mut g = GraphBuilder::new(&cp);
                let xt = g.input("x", &[n, width], ElemType::F32);
                let (tt, ct) = (g.param(table), g.param(cache));
                g.rope_into_cache(xt, tt, spec, ct);
                let inputs = [(xt, Input::F32(x.clone()))];
                let out = common::run(&tb, &cp, g.build(), step, &inputs, &[], &[cache]);
                let what = format!("{label} into {ty} cache on {}", tb.name);
                let (vals, poison) = decode_cache(&out.params[0], ty, dims.iter().product());
                let got = written_rows(&what, &vals, &poison, dims, pos, n);
                let (t, bound) = tol::then_stored(tol::ROPE, store_tol(&tb, ty), &scale, &want);
                common::assert_close(&what, &got, &want, &bound, t);
            }
        }
    }
}

#[test]
fn rope_norm_full_rotary_matches_reference() {
    // SmolLM2: 9 query heads of 64, all dims rotated, adjacent pairs.
    check(9, 64, 64, false, 200);
}

#[test]
fn rope_neox_full_rotary_matches_reference() {
    // Gemma 3 270M: 4 query heads of 256, halves paired.
    check(4, 256, 256, true, 210);
}

#[test]
fn rope_partial_rotary_matches_reference() {
    // phi-2 style: 32 of 80 dims rotated, the other 48 pass through; both layouts.
    check(3, 80, 32, false, 220);
    check(3, 80, 32, true, 230);
}

#[test]
fn kv_write_stores_rows_at_the_step_positions() {
    let (heads, hd) = (3usize, 64usize);
    for (case, &(pos, n)) in [(0usize, 5usize), (7, 1), (40, 3)].iter().enumerate() {
        // Values spanning f16's normal and subnormal ranges, so rounding is exercised.
        let mut src = common::uniform(n * heads * hd, -3.0, 3.0, 300 + case as u64);
        for (i, v) in src.iter_mut().enumerate().step_by(7) {
            *v *= 1e-5 * (1 + i % 3) as f32;
        }
        let want = common::to_f64(&src);
        let zero = vec![0.0; want.len()];
        for tb in common::backends() {
            for ty in cache_types(&tb) {
                let dims = [heads, pos + n + 3, hd];
                let mut params = ParamTable::new();
                let cache = cache_param(&mut params, "cache_v", dims, ty);
                let mut g = GraphBuilder::new(&params);
                let st = g.input("src", &[n, heads * hd], ElemType::F32);
                let ct = g.param(cache);
                g.kv_write(ct, st);
                let inputs = [(st, Input::F32(src.clone()))];
                let step = Step { pos: pos as u32 };
                let out = common::run(&tb, &params, g.build(), step, &inputs, &[], &[cache]);
                let what = format!("kv_write {ty} pos={pos} n={n} on {}", tb.name);
                let (vals, poison) = decode_cache(&out.params[0], ty, dims.iter().product());
                let got = written_rows(&what, &vals, &poison, dims, pos, n);
                if ty == ElemType::F16 && !tb.is_gpu {
                    // The CPU rounds to nearest even: bit-exact against the half crate.
                    for (i, (&g, &s)) in got.iter().zip(&src).enumerate() {
                        let r = half::f16::from_f32(s).to_f32();
                        assert_eq!(g.to_bits(), r.to_bits(), "{what}[{i}]: {g} vs {r} ({s})");
                    }
                }
                let exact = tol::EXACT;
                let (t, bound) = tol::then_stored(exact, store_tol(&tb, ty), &zero, &want);
                common::assert_close(&what, &got, &want, &bound, t);
            }
        }
    }
}

#[test]
fn rope_beyond_the_table_is_an_error_on_the_cpu_and_zeros_on_wgpu() {
    // Table of 8 positions; tokens at 6..11: the last three have no table row.
    let mut params = ParamTable::new();
    let table = table_param(&mut params, 8, 16);
    let spec = RopeSpec { n_heads: 2, head_dim: 16, n_rot: 16, neox: false };
    let x = common::uniform(5 * 32, -1.0, 1.0, 400);
    for tb in common::backends() {
        let mut g = GraphBuilder::new(&params);
        let xt = g.input("x", &[5, 32], ElemType::F32);
        let tt = g.param(table);
        let y = g.rope(xt, tt, spec, "y");
        g.output(y);
        if !tb.is_gpu {
            let graph = std::sync::Arc::new(g.build());
            let plan = std::sync::Arc::new(Plan::new(&graph));
            let mut b = tb.inner.lock().unwrap_or_else(|e| e.into_inner());
            b.load_params(&params, &[table]).unwrap();
            let h = b.prepare(graph, plan).unwrap();
            let r = b.execute(h, Step { pos: 6 }, &[(xt, HostData::F32(&x))]);
            b.release(h);
            b.unload_params(&[table]);
            let e = r.expect_err("cpu: rope beyond the table must fail");
            assert!(e.to_string().contains("table"), "cpu: {e}");
            continue;
        }
        let inputs = [(xt, Input::F32(x.clone()))];
        let out = common::run(&tb, &params, g.build(), Step { pos: 6 }, &inputs, &[y], &[]);
        let y = &out.outputs[0];
        assert!(y[..64].iter().all(|v| v.is_finite()), "{}: rows in the table", tb.name);
        assert!(y[64..].iter().all(|&v| v == 0.0), "{}: rows beyond the table", tb.name);
    }
}
