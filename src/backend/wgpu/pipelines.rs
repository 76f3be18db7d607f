//! Compute pipelines, built once per (module, override constants) and cached for the life of
//! the device. Bind group layouts come from the shader (`layout: None`), so a kernel's Rust side
//! binds exactly the bindings its entry point uses.

use std::collections::HashMap;
use std::sync::Arc;

use super::context::Context;
use super::shaders::ShaderSource;
use crate::error::Result;

/// Override constants of a pipeline, e.g. `[("WG", 256)]`.
pub type Constants = Vec<(&'static str, u32)>;

#[derive(Default)]
pub struct PipelineCache {
    pipelines: HashMap<(ShaderSource, Constants), Arc<wgpu::ComputePipeline>>,
}

impl PipelineCache {
    /// The pipeline for `src` with `constants`, compiled on first use.
    pub fn get(
        &mut self,
        cx: &Context,
        src: &ShaderSource,
        constants: &Constants,
    ) -> Result<Arc<wgpu::ComputePipeline>> {
        let key = (src.clone(), constants.clone());
        if let Some(p) = self.pipelines.get(&key) {
            return Ok(p.clone());
        }
        let label = src.label();
        let text = src.assemble(cx.tier);
        let consts: Vec<(&str, f64)> = constants.iter().map(|&(k, v)| (k, v as f64)).collect();
        let pipeline = cx.scoped(&format!("compiling shader {label}"), || {
            let module = cx.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(text.into()),
            });
            cx.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(label),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &consts,
                    // Kernels never read shared memory before writing it; zero-filling it is
                    // single-threaded work on some backends.
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            })
        })?;
        let p = Arc::new(pipeline);
        self.pipelines.insert(key, p.clone());
        Ok(p)
    }
}
