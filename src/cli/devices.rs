//! `kiln devices [--json]`: every GPU adapter kiln can use, in the order `--device N` counts
//! them, with the limits that shape kiln's kernels and the capability tier kiln would run it in.
//!
//! May use: `exec` (which re-exports the adapter listing). Invariant: text and JSON render the
//! same [`Report`]; finding no adapter is not an error, since the CPU backend still works: text
//! says so in one line, JSON gives an empty list, and both exit 0.

use std::io::{self, BufWriter, Write};

use anyhow::Context;
use serde::Serialize;

use crate::exec::{AdapterSummary, list_adapters};

/// Arguments of `kiln devices`.
#[derive(Debug, clap::Args)]
pub struct DevicesArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Everything `devices` prints.
#[derive(Debug, Serialize)]
struct Report {
    adapters: Vec<AdapterRow>,
}

/// One adapter; byte limits in bytes.
#[derive(Debug, Serialize)]
struct AdapterRow {
    index: usize,
    name: String,
    backend: String,
    device_type: String,
    driver: String,
    /// Capability tier kiln picks by default: `f16+subgroups`, `f16`, `subgroups` or `f32`.
    tier: String,
    max_storage_binding: u64,
    max_buffer_size: u64,
    max_workgroup_storage: u32,
    max_invocations_per_workgroup: u32,
    /// `[min, max]` as the driver reports them (0 when unknown).
    subgroup_sizes: [u32; 2],
    timestamps: bool,
    /// Largest device-local heap in bytes, where the driver reports it (Vulkan); kiln's default
    /// GPU memory budget is 90% of it.
    memory: Option<u64>,
}

fn row(a: &AdapterSummary) -> AdapterRow {
    AdapterRow {
        index: a.index,
        name: a.name.clone(),
        backend: a.backend.clone(),
        device_type: a.device_type.clone(),
        driver: a.driver.clone(),
        tier: a.tier.to_string(),
        max_storage_binding: a.max_storage_binding,
        max_buffer_size: a.max_buffer_size,
        max_workgroup_storage: a.max_workgroup_storage,
        max_invocations_per_workgroup: a.max_invocations,
        subgroup_sizes: [a.subgroup_sizes.0, a.subgroup_sizes.1],
        timestamps: a.timestamps,
        memory: a.memory,
    }
}

pub fn run(args: &DevicesArgs) -> anyhow::Result<()> {
    let report = Report { adapters: list_adapters().iter().map(row).collect() };
    let mut out = BufWriter::new(io::stdout().lock());
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report).map_err(io::Error::from)?;
        writeln!(out)?;
    } else {
        write_text(&mut out, &report)?;
    }
    out.flush().context("writing to stdout")?;
    Ok(())
}

fn write_text(out: &mut impl Write, r: &Report) -> io::Result<()> {
    if r.adapters.is_empty() {
        return writeln!(
            out,
            "no GPU adapter found (Vulkan, Metal or DX12); kiln runs on the CPU backend"
        );
    }
    for (i, a) in r.adapters.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        writeln!(out, "adapter {}: {}", a.index, clean(&a.name))?;
        let [lo, hi] = a.subgroup_sizes;
        let fields = [
            ("backend", a.backend.clone()),
            ("device type", a.device_type.clone()),
            ("driver", clean(&a.driver)),
            ("tier", a.tier.clone()),
            ("max storage binding", limit(a.max_storage_binding)),
            ("max buffer size", limit(a.max_buffer_size)),
            ("workgroup storage", limit(a.max_workgroup_storage.into())),
            ("invocations/workgroup", a.max_invocations_per_workgroup.to_string()),
            ("subgroup sizes", if lo == hi { lo.to_string() } else { format!("{lo}..{hi}") }),
            ("timestamps", if a.timestamps { "yes" } else { "no" }.to_string()),
            ("device memory", a.memory.map_or("not reported".to_string(), limit)),
        ];
        for (key, value) in fields {
            writeln!(out, "  {key:<22} {value}")?;
        }
    }
    Ok(())
}

/// Driver strings are untrusted text: control characters are shown escaped.
fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A byte limit, exactly: in the largest binary unit that divides it (`128 MiB`), otherwise as
/// bytes with an approximation (`2147483647 B (2.0 GiB)`), since a limit of 2^31 − 1 is worth
/// telling apart from 2^31.
fn limit(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] =
        [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    if let Some((name, size)) =
        UNITS.iter().find(|(_, size)| bytes >= *size && bytes.is_multiple_of(*size))
    {
        return format!("{} {name}", bytes / size);
    }
    match UNITS.iter().find(|(_, size)| bytes >= *size) {
        Some((name, size)) => format!("{bytes} B ({:.1} {name})", bytes as f64 / *size as f64),
        None => format!("{bytes} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_exact_or_marked_approximate() {
        assert_eq!(limit(0), "0 B");
        assert_eq!(limit(1000), "1000 B");
        assert_eq!(limit(32_768), "32 KiB");
        assert_eq!(limit(134_217_728), "128 MiB");
        assert_eq!(limit(2_147_483_647), "2147483647 B (2.0 GiB)");
        assert_eq!(limit(1 << 32), "4 GiB");
        assert_eq!(limit(1536 << 20), "1536 MiB");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(clean("gpu\u{1b}[2J\nx"), "gpu\\u{1b}[2J\\nx");
        assert_eq!(clean("Radeon™ 780M"), "Radeon™ 780M");
    }
}
