//! Runs planned graphs on a device: picks the backend (`--device`), loads persistent tensors,
//! prepares each step graph once and keeps it cached, executes, reads results.
//!
//! May use: `backend`, `graph`, `error`. Invariant: a graph is planned and prepared once per
//! key; executing it allocates nothing on the device. Placement across devices and layer
//! offloading will live here too (DESIGN.md §3), so `model/` never learns where it runs.

mod device;

use std::collections::HashMap;
use std::sync::Arc;

/// The adapters `--device N` counts, for `kiln devices` (the CLI reaches devices through here).
pub use crate::backend::wgpu::{AdapterSummary, list_adapters};
pub use device::{Device, DeviceChoice, open_backend};

use crate::backend::{Backend, GraphHandle, HostData};
use crate::error::Result;
use crate::graph::{Graph, ParamId, ParamTable, Plan, Step, TensorId};

/// Most prepared graphs kept at once (decode, a few prefill chunk lengths); the least recently
/// used one is released beyond this.
const MAX_GRAPHS: usize = 6;

struct Entry {
    handle: GraphHandle,
    last_use: u64,
}

/// One device running the graphs of one model.
pub struct Executor {
    backend: Box<dyn Backend>,
    graphs: HashMap<u64, Entry>,
    clock: u64,
    loaded: Vec<ParamId>,
}

impl Executor {
    pub fn new(backend: Box<dyn Backend>) -> Executor {
        Executor { backend, graphs: HashMap::new(), clock: 0, loaded: Vec::new() }
    }

    pub fn backend(&self) -> &dyn Backend {
        &*self.backend
    }

    pub fn backend_mut(&mut self) -> &mut dyn Backend {
        &mut *self.backend
    }

    /// Uploads every persistent tensor of `params`, calling `progress(done, total)` in bytes.
    pub fn load(
        &mut self,
        params: &ParamTable,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<()> {
        let total = params.total_bytes();
        let mut done = 0;
        // Batches of about 64 MiB so progress moves on large models.
        let mut batch = Vec::new();
        let mut batch_bytes = 0;
        for (id, p) in params.iter() {
            batch.push(id);
            batch_bytes += p.n_bytes();
            if batch_bytes >= 64 << 20 {
                self.backend.load_params(params, &batch)?;
                done += batch_bytes;
                progress(done, total);
                self.loaded.append(&mut batch);
                batch_bytes = 0;
            }
        }
        self.backend.load_params(params, &batch)?;
        self.loaded.append(&mut batch);
        progress(total, total);
        Ok(())
    }

    /// The prepared graph for `key`, building and preparing it with `build` on first use.
    pub fn prepare(&mut self, key: u64, build: impl FnOnce() -> Graph) -> Result<GraphHandle> {
        self.clock += 1;
        if let Some(e) = self.graphs.get_mut(&key) {
            e.last_use = self.clock;
            return Ok(e.handle);
        }
        if self.graphs.len() >= MAX_GRAPHS
            && let Some((&old, _)) = self.graphs.iter().min_by_key(|(_, e)| e.last_use)
        {
            let e = self.graphs.remove(&old).expect("invariant: key from the map");
            self.backend.release(e.handle);
        }
        let graph = Arc::new(build());
        let plan = Arc::new(Plan::new(&graph));
        let handle = self.backend.prepare(graph, plan)?;
        self.graphs.insert(key, Entry { handle, last_use: self.clock });
        Ok(handle)
    }

    pub fn execute(
        &mut self,
        h: GraphHandle,
        step: Step,
        inputs: &[(TensorId, HostData<'_>)],
    ) -> Result<()> {
        self.backend.execute(h, step, inputs)
    }

    pub fn read_f32(&mut self, h: GraphHandle, t: TensorId, out: &mut [f32]) -> Result<()> {
        self.backend.read_f32(h, t, out)
    }

    pub fn read_u32(&mut self, h: GraphHandle, t: TensorId, out: &mut [u32]) -> Result<()> {
        self.backend.read_u32(h, t, out)
    }
}
