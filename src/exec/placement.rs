//! Where each part of a model runs: the embedding, every transformer layer and the output head
//! are each given a device. Nodes are tagged with their layer by the model's graph builder;
//! untagged nodes before the first layer are the embedding, after it the head.

use crate::graph::Graph;

/// How layers that do not fit the GPU budget run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffloadMode {
    /// The planner decides from bandwidths it measures, per phase.
    #[default]
    Auto,
    /// Weights stay in host memory and are uploaded to a reusable GPU slot before each use.
    Stream,
    /// The CPU backend computes them; activations cross over.
    Cpu,
    /// One fixed mode for prefill and another for decode (`Place::Stream` or `Place::Cpu`).
    Phases { prefill: Place, decode: Place },
}

impl std::str::FromStr for OffloadMode {
    type Err = String;
    /// `auto`, `stream`, `cpu`, or `PREFILL,DECODE` with each `stream` or `cpu`.
    fn from_str(s: &str) -> Result<Self, String> {
        let one = |w: &str| match w.trim().to_ascii_lowercase().as_str() {
            "stream" => Ok(Place::Stream),
            "cpu" => Ok(Place::Cpu),
            _ => Err(format!(
                "expected auto, stream, cpu or PREFILL,DECODE (each stream or cpu), got {s:?}"
            )),
        };
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(OffloadMode::Auto),
            "stream" => Ok(OffloadMode::Stream),
            "cpu" => Ok(OffloadMode::Cpu),
            _ => match s.split_once(',') {
                Some((p, d)) => Ok(OffloadMode::Phases { prefill: one(p)?, decode: one(d)? }),
                None => Err(one(s).map(|_| ()).unwrap_err()),
            },
        }
    }
}

/// Where one part of the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// On the GPU, weights resident.
    Gpu,
    /// On the GPU, weights streamed from host memory.
    Stream,
    /// On the CPU backend.
    Cpu,
}

/// Device index (0 = main device, 1 = the CPU backend helping it) of each part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub embed: usize,
    /// Per layer; layers past the end of this list run on `rest`.
    pub layers: Vec<usize>,
    pub rest: usize,
    pub head: usize,
}

impl Assignment {
    /// Everything on device `d`.
    pub fn all(d: usize) -> Assignment {
        Assignment { embed: d, layers: Vec::new(), rest: d, head: d }
    }

    pub fn layer(&self, il: usize) -> usize {
        self.layers.get(il).copied().unwrap_or(self.rest)
    }

    pub fn max_device(&self) -> usize {
        self.layers.iter().copied().chain([self.embed, self.rest, self.head]).max().unwrap_or(0)
    }

    /// The device of every node of `graph`, in node order.
    pub fn node_devices(&self, graph: &Graph) -> Vec<usize> {
        let mut seen_layer = false;
        graph
            .nodes
            .iter()
            .map(|n| match n.layer {
                Some(l) => {
                    seen_layer = true;
                    self.layer(l as usize)
                }
                None if seen_layer => self.head,
                None => self.embed,
            })
            .collect()
    }

    /// From per-part places (0 = GPU for Gpu/Stream, 1 = CPU), e.g. for `-ngl`.
    pub fn from_places(embed: Place, layers: &[Place], head: Place) -> Assignment {
        let dev = |p: Place| match p {
            Place::Gpu | Place::Stream => 0,
            Place::Cpu => 1,
        };
        Assignment {
            embed: dev(embed),
            layers: layers.iter().map(|&p| dev(p)).collect(),
            rest: 0,
            head: dev(head),
        }
    }
}

/// Which phase a step graph belongs to: prefill and decode may place layers differently (a
/// batch amortises an upload that one token cannot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// More than one token per step.
    Prefill,
    /// One token per step.
    Decode,
}

impl Phase {
    pub fn of(n_tokens: usize) -> Phase {
        if n_tokens > 1 { Phase::Prefill } else { Phase::Decode }
    }
}

/// Where a model's parts run in each phase, and which layers the main device streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub prefill: Assignment,
    pub decode: Assignment,
    /// Layers whose weights device 0 uploads per execution (streamed in at least one phase).
    pub streamed: Vec<usize>,
}

impl Placement {
    /// Everything on device `d`, nothing streamed.
    pub fn all(d: usize) -> Placement {
        Placement { prefill: Assignment::all(d), decode: Assignment::all(d), streamed: Vec::new() }
    }

    pub fn phase(&self, p: Phase) -> &Assignment {
        match p {
            Phase::Prefill => &self.prefill,
            Phase::Decode => &self.decode,
        }
    }

    pub fn max_device(&self) -> usize {
        self.prefill.max_device().max(self.decode.max_device())
    }
}

/// llama.cpp's `-ngl N`: the last N layers on the GPU, and the output head too when N exceeds
/// the layer count (llama.cpp counts the output as one more layer); the input embedding (one
/// row lookup per token) stays on the CPU whenever anything does.
pub fn n_gpu_layers(n_layers: usize, ngl: usize) -> (Place, Vec<Place>, Place) {
    let start = (n_layers + 1).saturating_sub(ngl);
    let layers: Vec<Place> =
        (0..n_layers).map(|il| if il >= start { Place::Gpu } else { Place::Cpu }).collect();
    let head = if ngl > n_layers { Place::Gpu } else { Place::Cpu };
    let embed = if layers.iter().all(|&p| p == Place::Gpu) && head == Place::Gpu {
        Place::Gpu
    } else {
        Place::Cpu
    };
    (embed, layers, head)
}

/// Fits as much of the model as `budget` bytes allow on the GPU after `reserve` bytes
/// (activations, scratch) are set aside: the output head first (the largest single matrix a
/// decode step reads), then layers from the last down (one contiguous GPU range, so a step
/// crosses devices once), each with its KV cache. Returns the places and the bytes used.
pub fn fit_budget(
    layer_bytes: &[usize],
    head_bytes: usize,
    embed_bytes: usize,
    budget: u64,
    reserve: u64,
) -> (Place, Vec<Place>, Place, u64) {
    let mut left = budget.saturating_sub(reserve);
    let mut take = |b: usize| {
        if (b as u64) <= left {
            left -= b as u64;
            true
        } else {
            false
        }
    };
    let head = if take(head_bytes) { Place::Gpu } else { Place::Cpu };
    let mut layers = vec![Place::Cpu; layer_bytes.len()];
    for il in (0..layer_bytes.len()).rev() {
        if !take(layer_bytes[il]) {
            break;
        }
        layers[il] = Place::Gpu;
    }
    let all = head == Place::Gpu && layers.iter().all(|&p| p == Place::Gpu);
    let embed = if all && take(embed_bytes) { Place::Gpu } else { Place::Cpu };
    (embed, layers, head, budget.saturating_sub(reserve) - left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ngl_keeps_the_last_layers_on_the_gpu() {
        let (e, l, h) = n_gpu_layers(4, 2);
        assert_eq!((e, h), (Place::Cpu, Place::Cpu));
        assert_eq!(l, vec![Place::Cpu, Place::Cpu, Place::Cpu, Place::Gpu]);
        let (e, l, h) = n_gpu_layers(4, 5);
        assert_eq!((e, h), (Place::Gpu, Place::Gpu));
        assert!(l.iter().all(|&p| p == Place::Gpu));
        let (_, l, h) = n_gpu_layers(4, 0);
        assert!(l.iter().all(|&p| p == Place::Cpu) && h == Place::Cpu);
    }
}
