//! Which backend runs a model: `--device auto | cpu | gpu | N | NAME`, and the default choice.
//!
//! May use: `backend`, `error`. Invariant: only the GPU-failed fallback of `Auto` prints (one
//! stderr line, since the user asked for a GPU and did not get one); everything else is
//! returned or logged, so the CLI owns what the user sees.

use crate::backend::Backend;
use crate::backend::cpu::CpuBackend;
use crate::backend::wgpu::{WgpuBackend, WgpuOptions, list_adapters};
use crate::error::{Error, Result};

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// The best real GPU; the CPU backend when the only adapter is a CPU-type one.
    #[default]
    Auto,
    /// The CPU backend.
    Cpu,
    /// The wgpu backend on the best adapter, CPU-type ones (lavapipe) included.
    Gpu,
    /// The wgpu backend on adapter N of `kiln devices`.
    Adapter(usize),
    /// The wgpu backend on the first adapter (in `kiln devices` order) whose name contains
    /// this text, compared case-insensitively (e.g. `llvmpipe`, `nvidia`).
    Name(String),
}

impl std::str::FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "gpu" => Ok(DeviceChoice::Gpu),
            "" => Err("expected auto, cpu, gpu, an adapter index or a name, got \"\"".into()),
            n => Ok(match n.parse() {
                Ok(i) => DeviceChoice::Adapter(i),
                Err(_) => DeviceChoice::Name(s.trim().to_string()),
            }),
        }
    }
}

/// The backend that was opened, and why.
pub enum Device {
    Cpu(Box<dyn Backend>),
    Gpu(Box<dyn Backend>),
}

impl Device {
    pub fn into_backend(self) -> Box<dyn Backend> {
        match self {
            Device::Cpu(b) | Device::Gpu(b) => b,
        }
    }
}

/// Opens the backend for `choice`. `threads` sizes the CPU backend (0: all cores); `wgpu`
/// carries the tier override and test knobs. With `Auto`, a machine whose only adapters are
/// CPU-type (lavapipe, WARP) uses the CPU backend (logged at info level).
pub fn open_backend(choice: &DeviceChoice, threads: usize, wgpu: &WgpuOptions) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu(Box::new(CpuBackend::new(threads)?))),
        DeviceChoice::Gpu => {
            let opts = WgpuOptions { adapter: wgpu.adapter.clone(), ..wgpu.clone() };
            Ok(Device::Gpu(Box::new(WgpuBackend::new(&opts)?)))
        }
        DeviceChoice::Adapter(n) => {
            let opts = WgpuOptions { adapter: Some(n.to_string()), ..wgpu.clone() };
            Ok(Device::Gpu(Box::new(WgpuBackend::new(&opts)?)))
        }
        // The adapter is matched (and a miss reported with the list) by the wgpu context.
        DeviceChoice::Name(name) => {
            let opts = WgpuOptions { adapter: Some(name.clone()), ..wgpu.clone() };
            Ok(Device::Gpu(Box::new(WgpuBackend::new(&opts)?)))
        }
        DeviceChoice::Auto => {
            let adapters = list_adapters();
            match adapters.iter().find(|a| !a.is_cpu) {
                Some(a) => {
                    let opts = WgpuOptions { adapter: Some(a.index.to_string()), ..wgpu.clone() };
                    match WgpuBackend::new(&opts) {
                        Ok(b) => Ok(Device::Gpu(Box::new(b))),
                        Err(e) => {
                            eprintln!(
                                "kiln: GPU {} failed to open ({e}); using the CPU backend",
                                a.name
                            );
                            Ok(Device::Cpu(Box::new(CpuBackend::new(threads)?)))
                        }
                    }
                }
                None => {
                    if let Some(a) = adapters.first() {
                        log::info!(
                            "the only GPU adapter is {} (a CPU-type device); using the CPU backend (--device gpu to use it anyway)",
                            a.name
                        );
                    }
                    CpuBackend::new(threads).map(|b| Device::Cpu(Box::new(b))).map_err(|e: Error| e)
                }
            }
        }
    }
}
