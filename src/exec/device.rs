//! Which backend runs a model: `--device cpu | gpu | N`, and the default choice.

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
}

impl std::str::FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "gpu" => Ok(DeviceChoice::Gpu),
            n => n
                .parse()
                .map(DeviceChoice::Adapter)
                .map_err(|_| format!("expected cpu, gpu, auto or an adapter index, got {s:?}")),
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
/// CPU-type (lavapipe, WARP) uses the CPU backend and says so once on stderr.
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
                        eprintln!(
                            "kiln: the only GPU adapter is {} (a CPU-type device); using the CPU backend (--device gpu to use it anyway)",
                            a.name
                        );
                    }
                    CpuBackend::new(threads).map(|b| Device::Cpu(Box::new(b))).map_err(|e: Error| e)
                }
            }
        }
    }
}
