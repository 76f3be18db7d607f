//! Deciding which parts of a model live on the GPU when it does not all fit: `-ngl N`
//! (llama.cpp's meaning), or a memory budget (`--gpu-memory`) that the model's parts are
//! fitted into, largest benefit first; the rest runs on the CPU backend. Activations and scratch
//! are counted before weights; each layer brings its KV cache along.

use super::EngineOptions;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::exec::{Assignment, OffloadMode, Place};
use crate::graph::Plan;
use crate::model::{Model, Outputs};

/// Where each part of the model runs.
pub struct OffloadPlan {
    pub embed: Place,
    pub layers: Vec<Place>,
    pub head: Place,
    pub assignment: Assignment,
    /// Bytes of persistent tensors placed on the GPU, and the activations reserved.
    pub gpu_bytes: u64,
    pub reserve: u64,
}

impl OffloadPlan {
    /// One line: how many layers where.
    pub fn summary(&self) -> String {
        let on_gpu = self.layers.iter().filter(|&&p| p == Place::Gpu).count();
        format!("{on_gpu}/{} layers on the GPU, head on {:?}", self.layers.len(), self.head)
    }

    /// The whole plan, part by part, for `-v` and `kiln bench`.
    pub fn describe(&self, model: &Model) -> String {
        let mut s = format!(
            "offload plan: {}; GPU holds {:.1} MiB of weights and caches + {:.1} MiB of activations\n",
            self.summary(),
            self.gpu_bytes as f64 / (1 << 20) as f64,
            self.reserve as f64 / (1 << 20) as f64
        );
        s.push_str(&format!("  embedding: {:?}\n", self.embed));
        let mut run_start = 0;
        for il in 1..=self.layers.len() {
            if il == self.layers.len() || self.layers[il] != self.layers[run_start] {
                s.push_str(&format!(
                    "  layers {}..={}: {:?}\n",
                    run_start,
                    il - 1,
                    self.layers[run_start]
                ));
                run_start = il;
            }
        }
        s.push_str(&format!("  output head: {:?} ({} layers total)", self.head, model.hp.n_layers));
        s
    }
}

/// Bytes of persistent tensors per layer (weights and KV cache), of the output head, and of the
/// embedding when it is a different tensor.
fn part_bytes(model: &Model) -> (Vec<usize>, usize, usize) {
    let mut layers = vec![0usize; model.hp.n_layers];
    for (_, p) in model.params.iter() {
        if let Some(l) = p.layer {
            layers[l as usize] += p.n_bytes();
        }
    }
    let head =
        model.params.get(model.output).n_bytes() + model.params.get(model.output_norm).n_bytes();
    let embed =
        if model.output == model.tok_embd { 0 } else { model.params.get(model.tok_embd).n_bytes() };
    (layers, head, embed)
}

/// The plan for `opts` on GPU backend `gpu`, or `None` when everything stays on the GPU.
/// Without `-ngl` or `--gpu-memory` the budget is what the adapter reports
/// (`Backend::memory_budget`), and with no report everything is placed on the GPU.
pub fn place(
    model: &Model,
    opts: &EngineOptions,
    gpu: &dyn Backend,
) -> Result<Option<OffloadPlan>> {
    let n_layers = model.hp.n_layers;
    let (layer_bytes, head_bytes, embed_bytes) = part_bytes(model);
    // Activations of the largest step graph (a full prefill batch) and the decode graph.
    let batch = opts.n_batch.clamp(1, model.n_ctx);
    let reserve = [
        Plan::new(&model.build(batch, Outputs::Last).graph).arena_bytes,
        Plan::new(&model.build(1, Outputs::Last).graph).arena_bytes,
    ]
    .iter()
    .sum::<usize>() as u64;
    let (embed, layers, head, gpu_bytes) = match (opts.n_gpu_layers, opts.gpu_memory) {
        (Some(ngl), _) => {
            let (e, l, h) = crate::exec::n_gpu_layers(n_layers, ngl);
            let used = l
                .iter()
                .zip(&layer_bytes)
                .filter(|(p, _)| **p == Place::Gpu)
                .map(|(_, &b)| b as u64)
                .sum::<u64>()
                + if h == Place::Gpu { head_bytes as u64 } else { 0 };
            (e, l, h, used)
        }
        (None, Some(budget)) => {
            if budget <= reserve {
                return Err(Error::OutOfMemory(format!(
                    "--gpu-memory {} MiB does not even hold the activations ({} MiB)",
                    budget >> 20,
                    reserve >> 20
                )));
            }
            crate::exec::fit_budget(&layer_bytes, head_bytes, embed_bytes, budget, reserve)
        }
        (None, None) => match gpu.memory_budget() {
            Some(budget) if budget > reserve => {
                crate::exec::fit_budget(&layer_bytes, head_bytes, embed_bytes, budget, reserve)
            }
            _ => return Ok(None),
        },
    };
    if embed == Place::Gpu && head == Place::Gpu && layers.iter().all(|&p| p == Place::Gpu) {
        return Ok(None);
    }
    let off = match opts.offload {
        OffloadMode::Cpu | OffloadMode::Auto => Place::Cpu,
        OffloadMode::Stream => {
            return Err(Error::InvalidArgument(format!(
                "--offload stream is not available on {}: use --offload cpu",
                gpu.name()
            )));
        }
    };
    let off_gpu = |p: Place| if p == Place::Gpu { Place::Gpu } else { off };
    let layers: Vec<Place> = layers.into_iter().map(off_gpu).collect();
    let (embed, head) = (off_gpu(embed), off_gpu(head));
    let assignment = Assignment::from_places(embed, &layers, head);
    Ok(Some(OffloadPlan { embed, layers, head, assignment, gpu_bytes, reserve }))
}
