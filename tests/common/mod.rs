//! Shared test harness: the backends under test (the CPU backend, and the wgpu backend in every
//! capability tier the adapter offers), seeded inputs, random raw quant blocks, one-op graph
//! runs with poisoned arenas, and the comparison against kernels-ref with one tolerance table
//! (tol.rs).
//!
//! GPU policy (DESIGN.md §5): without an adapter, GPU tests print why they skip; with
//! KILN_REQUIRE_GPU=1 a missing adapter, or a capability tier the adapter does not offer or
//! fails to open, fails the test, so a CI run proves that all four tiers ran.
#![allow(dead_code)]

pub mod quant_blocks;
pub mod tol;

use std::sync::{Arc, Mutex, OnceLock};

use kiln::backend::wgpu::{Tier, WgpuBackend, WgpuOptions};
use kiln::backend::{Backend, HostData};
use kiln::graph::{Graph, ParamTable, Plan, Step, TensorId};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A backend shared by all tests of one test binary (pipelines compile once per tier).
pub struct TestBackend {
    pub name: String,
    pub is_gpu: bool,
    pub tier: Option<Tier>,
    pub inner: Mutex<Box<dyn Backend>>,
}

fn require_gpu() -> bool {
    std::env::var("KILN_REQUIRE_GPU").is_ok_and(|v| v == "1")
}

fn make_gpu_backends(max_binding: Option<u64>) -> Vec<Arc<TestBackend>> {
    let adapters = kiln::backend::wgpu::list_adapters();
    let Some(best) = adapters.first() else {
        if require_gpu() {
            panic!("KILN_REQUIRE_GPU=1 but no GPU adapter was found (is lavapipe installed?)");
        }
        eprintln!("SKIP gpu: no wgpu adapter found (install mesa-vulkan-drivers for lavapipe)");
        return Vec::new();
    };
    let mut out = Vec::new();
    for tier in Tier::ALL {
        if (tier.f16 && !best.tier.f16) || (tier.subgroups && !best.tier.subgroups) {
            // CI sets KILN_REQUIRE_GPU=1 on lavapipe, which offers all four tiers: a missing
            // one there means a tier went untested, so it fails instead of skipping.
            if require_gpu() {
                panic!(
                    "KILN_REQUIRE_GPU=1 but adapter {} does not offer tier {tier} (it offers {})",
                    best.name, best.tier
                );
            }
            eprintln!("SKIP tier {tier}: adapter {} does not offer it", best.name);
            continue;
        }
        let opts = WgpuOptions {
            adapter: Some("0".into()),
            tier: Some(tier),
            max_binding_override: max_binding,
            timeout: None,
        };
        match WgpuBackend::new(&opts) {
            Ok(b) => out.push(Arc::new(TestBackend {
                name: format!("wgpu[{tier}]"),
                is_gpu: true,
                tier: Some(tier),
                inner: Mutex::new(Box::new(b)),
            })),
            Err(e) if require_gpu() => panic!("opening {} in tier {tier}: {e}", best.name),
            Err(e) => eprintln!("SKIP tier {tier}: {e}"),
        }
    }
    out
}

/// The wgpu backend in every tier the first adapter offers.
pub fn gpu_backends() -> Vec<Arc<TestBackend>> {
    static GPU: OnceLock<Vec<Arc<TestBackend>>> = OnceLock::new();
    GPU.get_or_init(|| make_gpu_backends(None)).clone()
}

/// The wgpu backend (every tier) pretending one storage binding covers at most `bytes`, so
/// weight matrices split into row chunks.
pub fn gpu_backends_small_binding(bytes: u64) -> Vec<Arc<TestBackend>> {
    type ByLimit = Vec<(u64, Vec<Arc<TestBackend>>)>;
    static GPU: OnceLock<Mutex<ByLimit>> = OnceLock::new();
    let cell = GPU.get_or_init(|| Mutex::new(Vec::new()));
    let mut g = cell.lock().unwrap();
    if let Some((_, v)) = g.iter().find(|(b, _)| *b == bytes) {
        return v.clone();
    }
    let v = make_gpu_backends(Some(bytes));
    g.push((bytes, v.clone()));
    v
}

/// The CPU backend (2 threads, so work splitting is exercised on any machine).
pub fn cpu_backend() -> Arc<TestBackend> {
    static CPU: OnceLock<Arc<TestBackend>> = OnceLock::new();
    CPU.get_or_init(|| {
        let b = kiln::backend::cpu::CpuBackend::new(2).expect("CPU backend");
        Arc::new(TestBackend {
            name: "cpu".into(),
            is_gpu: false,
            tier: None,
            inner: Mutex::new(Box::new(b)),
        })
    })
    .clone()
}

/// Every backend under test: the CPU, then wgpu in each tier. `KILN_TEST_BACKENDS=cpu` or
/// `=wgpu` (a comma list of name prefixes) narrows the set while developing one backend.
pub fn backends() -> Vec<Arc<TestBackend>> {
    let mut v = vec![cpu_backend()];
    v.extend(gpu_backends());
    if let Ok(filter) = std::env::var("KILN_TEST_BACKENDS") {
        v.retain(|b| filter.split(',').any(|f| b.name.starts_with(f.trim())));
    }
    v
}

/// File names of the two real test models (tools/fetch-models.sh).
pub const SMOLLM2: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
pub const GEMMA3: &str = "gemma-3-270m-q4_k_m.gguf";

/// Path of a real test model: `$KILN_MODELS/<name>` or `<repo>/models/<name>`. `None` (with a
/// printed SKIP line) when absent, unless KILN_REQUIRE_MODELS=1, which makes absence fatal.
pub fn model_path(name: &str) -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("KILN_MODELS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models"));
    let path = dir.join(name);
    if path.is_file() {
        return Some(path);
    }
    if std::env::var("KILN_REQUIRE_MODELS").is_ok_and(|v| v == "1") {
        panic!(
            "KILN_REQUIRE_MODELS=1 but {} is missing (run tools/fetch-models.sh)",
            path.display()
        );
    }
    eprintln!("SKIP: {} not found (run tools/fetch-models.sh)", path.display());
    None
}

/// A seeded generator.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// `n` values uniform in `[lo, hi)`.
pub fn uniform(n: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    let mut r = rng(seed);
    (0..n).map(|_| r.random_range(lo..hi)).collect()
}

pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Host input of a run.
pub enum Input {
    F32(Vec<f32>),
    U32(Vec<u32>),
}

impl Input {
    fn host(&self) -> HostData<'_> {
        match self {
            Input::F32(v) => HostData::F32(v),
            Input::U32(v) => HostData::U32(v),
        }
    }
}

/// What a run produced: every requested output as f32 (U32 outputs converted exactly).
pub struct RunOutput {
    pub outputs: Vec<Vec<f32>>,
    pub params: Vec<Vec<u8>>,
    /// Kernel dispatches the graph was prepared into (`None` on the CPU).
    pub dispatches: Option<usize>,
}

/// Runs `graph` once on `tb` with poisoned activations and state, returns the tensors `read`
/// and the bytes of the persistent tensors in `read_params`. Also checks that every input is
/// unchanged afterwards and that no arena word outside the plan's tensors was written.
pub fn run(
    tb: &TestBackend,
    params: &ParamTable,
    graph: Graph,
    step: Step,
    inputs: &[(TensorId, Input)],
    read: &[TensorId],
    read_params: &[kiln::graph::ParamId],
) -> RunOutput {
    run_after(tb, params, Vec::new(), graph, step, inputs, read, read_params)
}

/// An execution that prepares state for a later one (e.g. fills a KV cache at earlier steps).
pub struct Setup {
    pub graph: Graph,
    pub step: Step,
    pub inputs: Vec<(TensorId, Input)>,
}

/// [`run`], after executing each `setup` graph once, in order, on the same persistent tensors
/// (loaded poisoned once, before the first setup), so state written by earlier steps is what
/// `graph` sees.
#[allow(clippy::too_many_arguments)]
pub fn run_after(
    tb: &TestBackend,
    params: &ParamTable,
    setup: Vec<Setup>,
    mut graph: Graph,
    step: Step,
    inputs: &[(TensorId, Input)],
    read: &[TensorId],
    read_params: &[kiln::graph::ParamId],
) -> RunOutput {
    // Keep inputs alive to the end so the check below can see a kernel overwrite one.
    for (t, _) in inputs {
        if !graph.outputs.contains(t) {
            graph.outputs.push(*t);
        }
    }
    let graph = Arc::new(graph);
    let plan = Arc::new(Plan::new(&graph));
    let mut b = tb.inner.lock().unwrap_or_else(|e| e.into_inner());
    b.set_poison(true);
    let ids: Vec<_> = params.iter().map(|(id, _)| id).collect();
    // A test that panicked mid-run may have left params with the same ids loaded: drop them, so
    // this run never computes with another test's weights.
    b.unload_params(&ids);
    b.load_params(params, &ids).unwrap_or_else(|e| panic!("{}: load: {e}", tb.name));
    for s in setup {
        let g = Arc::new(s.graph);
        let p = Arc::new(Plan::new(&g));
        let h = b.prepare(g, p).unwrap_or_else(|e| panic!("{}: prepare setup: {e}", tb.name));
        let host: Vec<(TensorId, HostData)> =
            s.inputs.iter().map(|(t, d)| (*t, d.host())).collect();
        b.execute(h, s.step, &host).unwrap_or_else(|e| panic!("{}: execute setup: {e}", tb.name));
        b.release(h);
    }
    let h = b
        .prepare(graph.clone(), plan.clone())
        .unwrap_or_else(|e| panic!("{}: prepare: {e}", tb.name));
    let host: Vec<(TensorId, HostData)> = inputs.iter().map(|(t, d)| (*t, d.host())).collect();
    b.execute(h, step, &host).unwrap_or_else(|e| panic!("{}: execute: {e}", tb.name));
    let dispatches = b.dispatch_count(h).map(|d| d.total);
    let mut outputs = Vec::new();
    for &t in read {
        let desc = graph.tensor(t);
        let n = desc.shape.n_elements();
        if desc.ty == kiln::graph::ElemType::U32 {
            let mut v = vec![0u32; n];
            b.read_u32(h, t, &mut v).unwrap_or_else(|e| panic!("{}: read: {e}", tb.name));
            outputs.push(v.into_iter().map(|x| x as f32).collect());
        } else {
            let mut v = vec![0f32; n];
            b.read_f32(h, t, &mut v).unwrap_or_else(|e| panic!("{}: read: {e}", tb.name));
            outputs.push(v);
        }
    }
    // Inputs untouched, and nothing written outside the plan's tensors.
    let arena = b.read_arena(h).unwrap_or_else(|e| panic!("{}: read arena: {e}", tb.name));
    let mut owned = vec![false; arena.len()];
    for (i, loc) in plan.locations.iter().enumerate() {
        let Some(loc) = loc else { continue };
        if loc.buf != kiln::graph::Buf::Arena {
            continue;
        }
        let shape = graph.tensors[i].shape;
        for r in 0..shape.rows() {
            let s = loc.offset + r * loc.row_stride;
            for w in owned.iter_mut().skip(s).take(shape.cols()) {
                *w = true;
            }
        }
    }
    for (w, (&word, &own)) in arena.iter().zip(&owned).enumerate() {
        assert!(
            own || word == 0xFFFF_FFFF,
            "{}: arena word {w} outside every tensor was written ({word:#x})",
            tb.name
        );
    }
    for (t, d) in inputs {
        let loc = plan.location(*t);
        let expect: Vec<u32> = match d {
            Input::F32(v) => v.iter().map(|x| x.to_bits()).collect(),
            Input::U32(v) => v.clone(),
        };
        let got = &arena[loc.offset..loc.offset + expect.len()];
        assert_eq!(
            got,
            &expect[..],
            "{}: input {} was overwritten",
            tb.name,
            graph.tensor(*t).name
        );
    }
    let mut pbytes = Vec::new();
    for &p in read_params {
        pbytes.push(b.read_param(p).unwrap_or_else(|e| panic!("{}: read param: {e}", tb.name)));
    }
    b.release(h);
    b.unload_params(&ids);
    RunOutput { outputs, params: pbytes, dispatches }
}

/// Compares `got` (f32 from a backend) with `want` (f64 from kernels-ref): NaN/Inf must
/// match, NMSE must not exceed `tol.nmse`, and every element must satisfy
/// `|g − r| ≤ tol.atol + tol.rtol · scale[i]`, where `scale[i]` is the element's natural
/// scale (|r| for elementwise ops, Σ|w·x| for dot products).
#[track_caller]
pub fn assert_close(what: &str, got: &[f32], want: &[f64], scale: &[f64], tol: tol::Tol) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    assert_eq!(scale.len(), want.len(), "{what}: scale length");
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for i in 0..got.len() {
        let (g, r) = (got[i] as f64, want[i]);
        if r.is_nan() || g.is_nan() {
            assert!(r.is_nan() && g.is_nan(), "{what}[{i}]: got {g}, want {r}");
            continue;
        }
        if r.is_infinite() || g.is_infinite() {
            assert_eq!(g, r, "{what}[{i}]: infinities differ");
            continue;
        }
        let bound = tol.atol + tol.rtol * scale[i];
        assert!(
            (g - r).abs() <= bound,
            "{what}[{i}]: got {g}, want {r}, |diff| {} > bound {bound}",
            (g - r).abs()
        );
        num += (g - r) * (g - r);
        den += r * r;
    }
    if den > 0.0 {
        let nmse = num / den;
        assert!(nmse <= tol.nmse, "{what}: NMSE {nmse:e} > {:e}", tol.nmse);
    }
}

/// The activations a backend's matmul really multiplies with weights of type `w`: wgpu uses x
/// as given; the CPU converts each row of `cols` values to its activation type first (8-bit
/// blocks, f16 or bf16, as ggml does), so its reference must use the same rounded values for
/// the f32 bound to apply. The conversion is kiln's quantizer, checked byte-exact against
/// ggml's in tests/quant_oracle.rs; the decode is kernels-ref's.
pub fn seen_activations(
    tb: &TestBackend,
    w: kiln::quant::DType,
    x: &[f64],
    cols: usize,
) -> Vec<f64> {
    if tb.is_gpu {
        return x.to_vec();
    }
    let act = kiln::backend::cpu::activation_type(w).expect("a weight type");
    x.chunks(cols)
        .flat_map(|row| {
            let row: Vec<f32> = row.iter().map(|&v| v as f32).collect();
            let bytes = kiln::quant::quantize(act, &row).expect("quantize activations");
            kernels_ref::quant::dequantize(act.name(), &bytes)
        })
        .collect()
}

/// The `s` field (d·Σq rounded to f16) of each Q8_1 block the CPU makes of `row`.
pub fn q8_1_block_sums(row: &[f64]) -> Vec<f64> {
    let row: Vec<f32> = row.iter().map(|&v| v as f32).collect();
    let bytes = kiln::quant::quantize(kiln::quant::DType::Q8_1, &row).expect("quantize");
    bytes.chunks_exact(36).map(|b| half::f16::from_le_bytes([b[2], b[3]]).to_f64()).collect()
}

/// `|r|` per element: the natural scale of elementwise results.
pub fn abs(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| x.abs()).collect()
}
