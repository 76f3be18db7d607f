//! Criterion benches of single kernels on the CPU backend and, when an adapter exists, on wgpu:
//! matvec (Q4_0, Q4_1, Q8_0, Q4_K, Q6_K at SmolLM2's and Llama 7B's ffn_down), 512-token
//! matmul (Q4_1, Q4_K at SmolLM2's), attention decode at kv 1024 and rms_norm, for each model.
//! The cases, their data and their timing are `kiln::engine::kernel_bench`'s, the same as
//! `kiln bench kernels` (whose report adds % of the measured peak): criterion gets each
//! execution's kernel time (GPU timestamps on wgpu) through `iter_custom`, and its throughput
//! is the case's bytes (criterion prints GiB/s, 2^30 bytes).
//!
//! Run: `cargo bench --bench kernels` (all), `cargo bench --bench kernels -- 'cpu/matvec Q4_K'`.

use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use kiln::engine::WgpuOptions;
use kiln::engine::kernel_bench::KernelBench;
use kiln::exec::DeviceChoice;

/// The cases, as a `kiln bench kernels --filter` (see its --help).
fn filter() -> String {
    let mut f = Vec::new();
    for dt in ["Q4_0", "Q4_1", "Q8_0", "Q4_K", "Q6_K"] {
        for m in ["smollm2-135m", "llama-7b"] {
            f.push(format!("matvec {dt} {m}/ffn_down n=1"));
        }
    }
    for dt in ["Q4_1", "Q4_K"] {
        f.push(format!("matmul {dt} smollm2-135m/ffn_down n=512"));
    }
    f.push("attention kv1024 n=1".into());
    f.push("rms_norm".into());
    f.join(",")
}

fn kernels(c: &mut Criterion) {
    let devices = [("cpu", DeviceChoice::Cpu), ("wgpu", DeviceChoice::Gpu)];
    for (name, choice) in devices {
        let mut kb = match KernelBench::open(&choice, 0, &WgpuOptions::default()) {
            Ok(kb) => kb,
            Err(e) => {
                eprintln!("SKIP {name}: {e}");
                continue;
            }
        };
        match kb.peak_read_bandwidth() {
            Ok(bw) => {
                eprintln!("{}: measured peak read bandwidth {:.2} GB/s", kb.device(), bw / 1e9)
            }
            Err(e) => eprintln!("{}: no peak read bandwidth: {e}", kb.device()),
        }
        let mut group = c.benchmark_group(name);
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        for case in kb.cases(Some(&filter()), false) {
            group.throughput(Throughput::Bytes(case.bytes()));
            // Loaded on first use only, so criterion's name filter skips the loading too.
            let mut ready = false;
            group.bench_function(case.label().replace('/', ":"), |b| {
                if !ready {
                    kb.prepare(&case).unwrap_or_else(|e| panic!("{}: {e}", case.label()));
                    ready = true;
                }
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| kb.run_once().unwrap_or_else(|e| panic!("{}: {e}", case.label())))
                        .sum()
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, kernels);
criterion_main!(benches);
