//! The one-op graph of a [`Case`], over persistent tensors filled with seeded data: weights are
//! uniform [−1, 1) floats quantized by kiln's own quantizers (so scales are what real files
//! hold: no NaN, Inf or subnormal bit patterns to slow a CPU down), a 64 Ki-element pattern
//! repeated over the matrix so that 7B-sized weights take milliseconds to make; KV caches are
//! zeroed state, as a model allocates them; RoPE tables are real (cos, sin) tables.
//!
//! May use: `graph`, `quant`, `error`. Invariant: the graph has exactly one node, whose output
//! is the graph's only output, and every host input it needs is in `inputs`.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::cases::{Case, Kernel};
use crate::error::Result;
use crate::graph::{
    AttentionSpec, ElemType, GluAct, Graph, GraphBuilder, HostBytes, ParamDesc, ParamId, ParamInit,
    ParamTable, RopeSpec, Shape, Step, TensorId,
};
use crate::quant::{self, DType};

/// Elements of the quantized pattern a weight repeats.
const PATTERN: usize = 1 << 16;

/// A host input's values.
pub enum HostInput {
    F32(Vec<f32>),
    U32(Vec<u32>),
}

/// A case ready to load: its persistent tensors, graph, inputs and step.
pub struct Built {
    pub params: ParamTable,
    pub graph: Graph,
    pub inputs: Vec<(TensorId, HostInput)>,
    pub step: Step,
}

fn uniform(n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn param(
    params: &mut ParamTable,
    name: &str,
    dims: &[usize],
    ty: ElemType,
    init: ParamInit,
) -> ParamId {
    let shape = Shape::new(dims);
    params.push(ParamDesc { name: name.into(), shape, ty, init, layer: None })
}

/// A `(rows, cols)` weight of type `dt` (cols whole blocks of it).
fn weight(
    params: &mut ParamTable,
    name: &str,
    dt: DType,
    (rows, cols): (usize, usize),
    rng: &mut ChaCha8Rng,
) -> Result<ParamId> {
    let n = rows * cols;
    let pattern = quant::quantize(dt, &uniform(n.min(PATTERN), rng))?;
    let total = dt.row_bytes(n as u64).unwrap_or(0) as usize;
    let mut bytes = Vec::with_capacity(total);
    while bytes.len() < total {
        let k = pattern.len().min(total - bytes.len());
        bytes.extend_from_slice(&pattern[..k]);
    }
    let init = ParamInit::Data(HostBytes::from_vec(bytes));
    Ok(param(params, name, &[rows, cols], ElemType::Float(dt), init))
}

/// The `(max_pos, head_dim/2, 2)` (cos, sin) table of base 10 000 for `max_pos` positions.
fn rope_table(params: &mut ParamTable, max_pos: usize, head_dim: usize) -> ParamId {
    let half = head_dim / 2;
    let values: Vec<f32> = (0..max_pos * half)
        .flat_map(|k| {
            let freq = 10000f64.powf(-2.0 * (k % half) as f64 / head_dim as f64);
            let (s, c) = ((k / half) as f64 * freq).sin_cos();
            [c as f32, s as f32]
        })
        .collect();
    let init = ParamInit::Data(HostBytes::from_f32(&values));
    param(params, "rope.table", &[max_pos, half, 2], ElemType::F32, init)
}

/// Builds `case`'s graph with data from `seed`.
pub fn build(case: &Case, seed: u64) -> Result<Built> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let m = case.model;
    let (rows, cols, n) = (case.rows, case.cols, case.tokens);
    let mut params = ParamTable::new();
    let mut ids = Vec::new();
    match case.kernel {
        Kernel::Matvec | Kernel::Matmul | Kernel::GetRows => {
            ids.push(weight(&mut params, "w", case.dtype, (rows, cols), &mut rng)?)
        }
        Kernel::MatmulGlu => {
            ids.push(weight(&mut params, "gate", case.dtype, (rows, cols), &mut rng)?);
            ids.push(weight(&mut params, "up", case.dtype, (rows, cols), &mut rng)?);
        }
        Kernel::RmsNorm => {
            let init = ParamInit::Data(HostBytes::from_f32(&uniform(cols, &mut rng)));
            ids.push(param(&mut params, "norm", &[cols], ElemType::F32, init));
        }
        Kernel::Rope => ids.push(rope_table(&mut params, n, m.head_dim)),
        Kernel::Attention => {
            let dims = [m.n_kv_heads, rows, m.head_dim];
            for name in ["cache_k", "cache_v"] {
                let ty = ElemType::Float(case.dtype);
                ids.push(param(&mut params, name, &dims, ty, ParamInit::Zeroed));
            }
        }
        Kernel::Softmax | Kernel::Argmax => {}
    }
    let mut g = GraphBuilder::new(&params);
    let p: Vec<TensorId> = ids.iter().map(|&id| g.param(id)).collect();
    let mut inputs = Vec::new();
    let mut f32_input = |g: &mut GraphBuilder<'_>, rows: usize, cols: usize| {
        let t = g.input("x", &[rows, cols], ElemType::F32);
        inputs.push((t, HostInput::F32(uniform(rows * cols, &mut rng))));
        t
    };
    let y = match case.kernel {
        Kernel::Matvec | Kernel::Matmul => {
            let x = f32_input(&mut g, n, cols);
            g.matmul(&p, x, None, None, "y")
        }
        Kernel::MatmulGlu => {
            let x = f32_input(&mut g, n, cols);
            g.matmul_glu(p[0], p[1], x, GluAct::Silu, "y")
        }
        Kernel::RmsNorm => {
            let x = f32_input(&mut g, n, cols);
            g.rms_norm(x, p[0], 1e-6, None, "y")
        }
        Kernel::Rope => {
            let x = f32_input(&mut g, n, cols);
            let hd = m.head_dim as u32;
            let spec = RopeSpec { n_heads: m.n_heads as u32, head_dim: hd, n_rot: hd, neox: false };
            g.rope(x, p[0], spec, "y")
        }
        Kernel::Attention => {
            let q = f32_input(&mut g, n, m.n_heads * m.head_dim);
            let spec = AttentionSpec {
                n_heads: m.n_heads as u32,
                n_kv_heads: m.n_kv_heads as u32,
                head_dim: m.head_dim as u32,
                scale: 1.0 / (m.head_dim as f32).sqrt(),
                window: None,
                softcap: None,
            };
            g.attention(q, p[0], p[1], spec, "y")
        }
        Kernel::Softmax => {
            let x = f32_input(&mut g, rows, cols);
            g.softmax(x, "y")
        }
        Kernel::Argmax => {
            let x = f32_input(&mut g, rows, cols);
            g.argmax(x, "y")
        }
        Kernel::GetRows => {
            let t = g.input("ids", &[n], ElemType::U32);
            let v = (0..n).map(|_| rng.random_range(0..rows as u32)).collect();
            inputs.push((t, HostInput::U32(v)));
            g.get_rows(p[0], t, 1.0, "y")
        }
    };
    g.output(y);
    let graph = g.build();
    Ok(Built { params, graph, inputs, step: Step { pos: case.pos() as u32 } })
}
