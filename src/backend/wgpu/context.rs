//! The wgpu device kiln computes on: adapter choice, the limits and features requested, the
//! capability tier, and the sink that collects wgpu's errors (validation, out-of-memory,
//! device loss) so wait.rs can return them as `Err` values instead of panics.

use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// Which optional shader capabilities the kernels use. Every kernel is correct in all four
/// combinations; the runtime picks the best the adapter offers unless told otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tier {
    /// `SHADER_F16`: KV caches stored as f16 (half the memory and attention bandwidth).
    pub f16: bool,
    /// `SUBGROUP`: reductions with subgroup operations instead of shared-memory trees.
    pub subgroups: bool,
}

impl Tier {
    pub const ALL: [Tier; 4] = [
        Tier { f16: true, subgroups: true },
        Tier { f16: true, subgroups: false },
        Tier { f16: false, subgroups: true },
        Tier { f16: false, subgroups: false },
    ];

    /// Parses `f16+subgroups`, `f16`, `subgroups`, `f32` (the last means neither).
    pub fn parse(s: &str) -> Option<Tier> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f16+subgroups" | "subgroups+f16" | "full" => Some(Tier { f16: true, subgroups: true }),
            "f16" => Some(Tier { f16: true, subgroups: false }),
            "subgroups" | "f32+subgroups" => Some(Tier { f16: false, subgroups: true }),
            "f32" | "basic" | "none" => Some(Tier { f16: false, subgroups: false }),
            _ => None,
        }
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match (self.f16, self.subgroups) {
            (true, true) => "f16+subgroups",
            (true, false) => "f16",
            (false, true) => "subgroups",
            (false, false) => "f32",
        })
    }
}

/// How to pick and configure the device.
#[derive(Debug, Clone, Default)]
pub struct WgpuOptions {
    /// Adapter index (as listed by [`list_adapters`]) or a case-insensitive substring of its
    /// name; `None` picks the best adapter (discrete, integrated, virtual, then CPU-type).
    pub adapter: Option<String>,
    /// Force a capability tier (must be one the adapter supports).
    pub tier: Option<Tier>,
    /// Pretend the adapter binds at most this many bytes per storage binding (tests use a
    /// tiny value to exercise the row chunking of large tensors).
    pub max_binding_override: Option<u64>,
    /// Longest wait for the device before an operation fails with `Error::Device`; `None`:
    /// `KILN_GPU_TIMEOUT_SECS` seconds, else 60 (600 on CPU-type adapters; wait.rs).
    pub timeout: Option<std::time::Duration>,
}

/// An adapter as kiln sees it.
#[derive(Debug, Clone)]
pub struct AdapterSummary {
    pub index: usize,
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub is_cpu: bool,
    pub max_storage_binding: u64,
    pub max_buffer_size: u64,
    pub max_workgroup_storage: u32,
    pub max_invocations: u32,
    pub subgroup_sizes: (u32, u32),
    /// Bytes of the largest device-local memory heap, where the driver reports it (Vulkan).
    pub memory: Option<u64>,
    /// The tier kiln would use by default.
    pub tier: Tier,
    pub timestamps: bool,
}

fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    if desc.backends == wgpu::Backends::all() {
        desc.backends = wgpu::Backends::PRIMARY;
    }
    wgpu::Instance::new(desc)
}

fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// Adapters in kiln's order of preference (best first); the position is the adapter's index.
fn adapters(inst: &wgpu::Instance) -> Vec<wgpu::Adapter> {
    let mut list = pollster::block_on(inst.enumerate_adapters(wgpu::Backends::PRIMARY));
    list.retain(|a| {
        a.get_downlevel_capabilities().flags.contains(wgpu::DownlevelFlags::COMPUTE_SHADERS)
    });
    list.sort_by_key(|a| rank(a.get_info().device_type));
    list
}

fn best_tier(a: &wgpu::Adapter) -> Tier {
    let f = a.features();
    let info = a.get_info();
    Tier {
        f16: f.contains(wgpu::Features::SHADER_F16),
        // A subgroup must hold at least 4 lanes for the reduction layout.
        subgroups: f.contains(wgpu::Features::SUBGROUP) && info.subgroup_min_size >= 4,
    }
}

fn summary(index: usize, a: &wgpu::Adapter) -> AdapterSummary {
    let info = a.get_info();
    let l = a.limits();
    AdapterSummary {
        index,
        name: info.name.clone(),
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
        is_cpu: info.device_type == wgpu::DeviceType::Cpu,
        max_storage_binding: l.max_storage_buffer_binding_size,
        max_buffer_size: l.max_buffer_size,
        max_workgroup_storage: l.max_compute_workgroup_storage_size,
        max_invocations: l.max_compute_invocations_per_workgroup,
        subgroup_sizes: (info.subgroup_min_size, info.subgroup_max_size),
        memory: device_local_memory(a),
        tier: best_tier(a),
        timestamps: a.features().contains(wgpu::Features::TIMESTAMP_QUERY),
    }
}

/// The largest device-local heap of a Vulkan adapter. wgpu has no portable memory query; on
/// Vulkan the driver's heap sizes are read through wgpu-hal. Other backends report `None`.
fn device_local_memory(a: &wgpu::Adapter) -> Option<u64> {
    if a.get_info().backend != wgpu::Backend::Vulkan {
        return None;
    }
    // SAFETY: a read-only query of the physical device behind a live adapter; no handle
    // escapes the block.
    unsafe {
        let hal = a.as_hal::<wgpu::hal::api::Vulkan>()?;
        let props = hal
            .shared_instance()
            .raw_instance()
            .get_physical_device_memory_properties(hal.raw_physical_device());
        props.memory_heaps[..props.memory_heap_count as usize]
            .iter()
            .filter(|h| h.flags.contains(ash::vk::MemoryHeapFlags::DEVICE_LOCAL))
            .map(|h| h.size)
            .max()
    }
}

/// Every usable adapter, best first.
pub fn list_adapters() -> Vec<AdapterSummary> {
    adapters(&instance()).iter().enumerate().map(|(i, a)| summary(i, a)).collect()
}

/// Errors wgpu reported outside an error scope, and whether the device is gone (read by
/// wait.rs).
#[derive(Default)]
pub(super) struct ErrorSink {
    pub(super) errors: Vec<String>,
    pub(super) lost: Option<String>,
}

/// An open device with the facts kernels and planners need.
pub struct Context {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: AdapterSummary,
    pub tier: Tier,
    pub limits: wgpu::Limits,
    /// Bytes one storage binding may cover (after any test override).
    pub max_binding: u64,
    /// The device has `TIMESTAMP_QUERY` enabled (kernel timing in benchmarks).
    pub timestamps: bool,
    /// Decode matvecs run shaders/matvec_rows.wgsl (one invocation per row group, for CPU-type
    /// adapters) instead of shaders/matvec.wgsl (lanes split K, for GPUs): see
    /// [`matvec_rows_from_env`].
    pub matvec_rows: bool,
    /// How long one wait for the device may take (wait.rs).
    pub(super) timeout: std::time::Duration,
    pub(super) sink: Arc<Mutex<ErrorSink>>,
}

impl Context {
    /// Opens the adapter chosen by `opts`.
    pub fn new(opts: &WgpuOptions) -> Result<Context> {
        let timeout = match opts.timeout {
            Some(t) => Some(t),
            None => super::wait::timeout_from_env()?,
        };
        let inst = instance();
        let list = adapters(&inst);
        if list.is_empty() {
            return Err(Error::Device("no GPU adapter with compute shaders found".into()));
        }
        // What `kiln devices` lists, for errors naming a missing adapter.
        let known = || {
            let names: Vec<String> = list
                .iter()
                .enumerate()
                .map(|(i, a)| format!("{i}: {} ({:?})", a.get_info().name, a.get_info().backend))
                .collect();
            format!("the adapters are {}", names.join(", "))
        };
        let index = match &opts.adapter {
            None => 0,
            Some(sel) => match sel.trim().parse::<usize>() {
                Ok(i) if i < list.len() => i,
                Ok(i) => {
                    return Err(Error::Device(format!("there is no adapter {i}; {}", known())));
                }
                Err(_) => {
                    let want = sel.trim().to_lowercase();
                    list.iter()
                        .position(|a| a.get_info().name.to_lowercase().contains(&want))
                        .ok_or_else(|| {
                            Error::Device(format!("no adapter name contains {sel:?}; {}", known()))
                        })?
                }
            },
        };
        let adapter = &list[index];
        let summary = summary(index, adapter);
        let offered = summary.tier;
        let tier = match opts.tier {
            None => offered,
            Some(t) if (!t.f16 || offered.f16) && (!t.subgroups || offered.subgroups) => t,
            Some(t) => {
                return Err(Error::Device(format!(
                    "tier {t} requested but adapter {} offers only {offered}",
                    summary.name
                )));
            }
        };
        let f16_in_f32 = adapter
            .get_downlevel_capabilities()
            .flags
            .contains(wgpu::DownlevelFlags::SHADER_F16_IN_F32);
        if !f16_in_f32 {
            return Err(Error::Device(format!(
                "adapter {} cannot unpack f16 in f32 shaders (SHADER_F16_IN_F32)",
                summary.name
            )));
        }

        let offered_features = adapter.features();
        let mut features = wgpu::Features::empty();
        if tier.f16 {
            features |= wgpu::Features::SHADER_F16;
        }
        if tier.subgroups {
            features |= wgpu::Features::SUBGROUP;
        }
        let timestamps = offered_features.contains(wgpu::Features::TIMESTAMP_QUERY);
        if timestamps {
            features |= wgpu::Features::TIMESTAMP_QUERY;
        }
        let limits = adapter.limits();
        let desc = wgpu::DeviceDescriptor {
            label: Some("kiln"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&desc))
            .map_err(|e| Error::Device(format!("{}: {e}", summary.name)))?;

        let sink = Arc::new(Mutex::new(ErrorSink::default()));
        let s = sink.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut g) = s.lock() {
                g.errors.push(e.to_string());
            }
        }));
        let s = sink.clone();
        device.set_device_lost_callback(move |reason, msg| {
            if let Ok(mut g) = s.lock() {
                g.lost = Some(format!("{reason:?}: {msg}"));
            }
        });

        let matvec_rows = matvec_rows_from_env()?.unwrap_or(summary.is_cpu);
        let timeout = timeout.unwrap_or(if summary.is_cpu {
            super::wait::CPU_ADAPTER_TIMEOUT
        } else {
            super::wait::DEFAULT_TIMEOUT
        });
        let max_binding = opts
            .max_binding_override
            .unwrap_or(u64::MAX)
            .min(limits.max_storage_buffer_binding_size)
            .min(limits.max_buffer_size);
        Ok(Context {
            device,
            queue,
            adapter: summary,
            tier,
            limits,
            max_binding,
            timestamps,
            matvec_rows,
            timeout,
            sink,
        })
    }
}

/// `KILN_WGPU_MATVEC=rows|lanes` forces a decode matvec layout (so tests can run the GPU
/// layout on lavapipe); unset, CPU-type adapters take `rows` and GPUs `lanes`.
pub fn matvec_rows_from_env() -> Result<Option<bool>> {
    match std::env::var("KILN_WGPU_MATVEC") {
        Err(_) => Ok(None),
        Ok(v) => match v.trim() {
            "rows" => Ok(Some(true)),
            "lanes" => Ok(Some(false)),
            "" => Ok(None),
            other => Err(Error::Device(format!(
                "KILN_WGPU_MATVEC={other:?}: expected \"rows\" or \"lanes\""
            ))),
        },
    }
}
