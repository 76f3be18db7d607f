//! Kernel benchmarks, shared by `kiln bench kernels` and the criterion benches: every kernel ×
//! weight type at real model shapes (cases.rs), each as a one-op graph over seeded data
//! (graphs.rs), timed on one backend, plus that backend's measured peak read bandwidth
//! ([`Backend::measure_read_bandwidth`]) so a time becomes a percentage of what the device can
//! stream.
//!
//! Timing: the backend runs in profiling mode, and a case's time is what one execution adds to
//! its kernel totals: GPU timestamp queries around each dispatch on wgpu (submission, input
//! uploads and readback fall outside), the monotonic clock around each op on the CPU. After a
//! warm-up, executions repeat until [`MIN_REPS`] and the time budget are both reached (at most
//! [`MAX_REPS`]); the median is reported.
//!
//! May use: `backend`, `exec`, `graph`, `quant`, `error` (it is part of `engine`). Invariant:
//! at most one case is loaded on the backend at a time (cases reuse parameter ids), and it is
//! unloaded before the next is prepared and when the bench is dropped.

mod cases;
mod graphs;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use cases::{
    Case, DECODE_KV, Kernel, MODELS, ModelShape, PREFILL, all_cases, select, weight_types,
};

use crate::backend::wgpu::WgpuOptions;
use crate::backend::{Backend, GraphHandle, HostData};
use crate::error::Result;
use crate::exec::{Device, DeviceChoice, open_backend};
use crate::graph::{ElemType, ParamId, Plan, Step, TensorId};
use crate::quant::DType;
use graphs::HostInput;

/// Fewest timed executions per case.
pub const MIN_REPS: usize = 3;
/// Most timed executions per case.
pub const MAX_REPS: usize = 500;

/// One timed case.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub median: Duration,
    pub reps: usize,
}

/// The case on the backend now.
struct Loaded {
    handle: GraphHandle,
    ids: Vec<ParamId>,
    inputs: Vec<(TensorId, HostInput)>,
    step: Step,
}

/// A backend in profiling mode and the case loaded on it.
pub struct KernelBench {
    backend: Box<dyn Backend>,
    kind: &'static str,
    loaded: Option<Loaded>,
}

fn kernel_total(b: &dyn Backend) -> Duration {
    b.profile().iter().map(|k| k.total).sum()
}

impl KernelBench {
    /// Opens the device `choice` names (`threads`: CPU threads, 0 for all cores).
    pub fn open(choice: &DeviceChoice, threads: usize, wgpu: &WgpuOptions) -> Result<KernelBench> {
        let (kind, mut backend) = match open_backend(choice, threads, wgpu)? {
            Device::Cpu(b) => ("cpu", b),
            Device::Gpu(b) => ("wgpu", b),
        };
        backend.set_profiling(true)?;
        Ok(KernelBench { backend, kind, loaded: None })
    }

    /// `cpu` or `wgpu`.
    pub fn backend_kind(&self) -> &'static str {
        self.kind
    }

    /// The backend's own description, e.g. `cpu (2 threads)`.
    pub fn device(&self) -> String {
        self.backend.name()
    }

    /// The cases a run times on this backend (attention uses its KV cache type).
    pub fn cases(&self, filter: Option<&str>, all: bool) -> Vec<Case> {
        let kv = match self.backend.kv_type() {
            ElemType::Float(dt) => dt,
            ElemType::U32 => DType::F32,
        };
        select(kv, filter, all)
    }

    /// The device's peak read bandwidth, measured now, in bytes per second.
    pub fn peak_read_bandwidth(&mut self) -> Result<f64> {
        self.unload();
        self.backend.measure_read_bandwidth()
    }

    fn unload(&mut self) {
        if let Some(l) = self.loaded.take() {
            self.backend.release(l.handle);
            self.backend.unload_params(&l.ids);
        }
    }

    /// Loads `case` (replacing the case loaded before) for [`run_once`](Self::run_once).
    pub fn prepare(&mut self, case: &Case) -> Result<()> {
        self.unload();
        let built = graphs::build(case, 0x6b69_6c6e)?;
        let ids: Vec<ParamId> = built.params.iter().map(|(id, _)| id).collect();
        let graph = Arc::new(built.graph);
        let plan = Arc::new(Plan::new(&graph));
        let prepared = self
            .backend
            .load_params(&built.params, &ids)
            .and_then(|()| self.backend.prepare(graph, plan));
        let handle = match prepared {
            Ok(h) => h,
            Err(e) => {
                self.backend.unload_params(&ids); // what loaded before a failure, too
                return Err(e);
            }
        };
        self.loaded = Some(Loaded { handle, ids, inputs: built.inputs, step: built.step });
        Ok(())
    }

    /// Executes the loaded case once; returns its kernel time (module doc).
    pub fn run_once(&mut self) -> Result<Duration> {
        let Some(l) = &self.loaded else {
            return Err(crate::error::Error::InvalidArgument("no kernel case is prepared".into()));
        };
        let host: Vec<(TensorId, HostData<'_>)> = l
            .inputs
            .iter()
            .map(|(t, v)| match v {
                HostInput::F32(v) => (*t, HostData::F32(v)),
                HostInput::U32(v) => (*t, HostData::U32(v)),
            })
            .collect();
        let before = kernel_total(&*self.backend);
        self.backend.execute(l.handle, l.step, &host)?;
        Ok(kernel_total(&*self.backend).saturating_sub(before))
    }

    /// Prepares `case`, warms up, and times executions for about `budget` (module doc).
    pub fn measure(&mut self, case: &Case, budget: Duration) -> Result<Measurement> {
        self.prepare(case)?;
        let warm = Instant::now();
        for i in 0..3 {
            if i > 0 && warm.elapsed() > budget / 4 {
                break;
            }
            self.run_once()?;
        }
        let start = Instant::now();
        let mut samples = Vec::new();
        while samples.len() < MIN_REPS || (start.elapsed() < budget && samples.len() < MAX_REPS) {
            samples.push(self.run_once()?);
        }
        self.unload();
        samples.sort();
        let mid = samples.len() / 2;
        let median = if samples.len() % 2 == 0 {
            (samples[mid - 1] + samples[mid]) / 2
        } else {
            samples[mid]
        };
        Ok(Measurement { median, reps: samples.len() })
    }
}

impl Drop for KernelBench {
    fn drop(&mut self) {
        self.unload();
    }
}
