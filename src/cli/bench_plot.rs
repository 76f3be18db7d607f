//! The SVG chart of `kiln bench kernels --plot FILE.svg`: one horizontal bar per case, its
//! length the percent of the measured peak read bandwidth, grouped under a heading per device
//! and model, coloured by kernel, with gridlines every 25 % or more and a heavier one at 100 %
//! (multi-token matmuls and attention, which are compute-bound, also show their GFLOP/s).
//! Written as plain SVG text (no plotting dependency); it renders in browsers and `rsvg-convert`.
//!
//! May use: nothing but the report rows. Invariant: every text is XML-escaped, and a bar is
//! never wider than the plotting area (the scale grows to the largest value).

use std::fmt::Write;

use super::bench_kernels::Row;

const WIDTH: f64 = 980.0;
const LABEL_W: f64 = 330.0;
const VALUE_W: f64 = 70.0;
const BAR_H: f64 = 13.0;
const ROW_H: f64 = 17.0;
const HEAD_H: f64 = 30.0;
const TOP: f64 = 84.0;

/// Kernel names in legend order, with their colours.
const COLOURS: [(&str, &str); 9] = [
    ("matvec", "#1f77b4"),
    ("matmul", "#ff7f0e"),
    ("matmul_glu", "#2ca02c"),
    ("get_rows", "#9467bd"),
    ("rms_norm", "#8c564b"),
    ("rope", "#e377c2"),
    ("attention", "#d62728"),
    ("softmax", "#7f7f7f"),
    ("argmax", "#17becf"),
];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn colour(kernel: &str) -> &'static str {
    COLOURS.iter().find(|(k, _)| *k == kernel).map_or("#333333", |(_, c)| c)
}

/// Rows grouped by (device, model), in order of first appearance.
fn groups(rows: &[Row]) -> Vec<(String, Vec<&Row>)> {
    let mut out: Vec<(String, Vec<&Row>)> = Vec::new();
    for r in rows {
        let key = format!("{} · {} · peak {:.2} GB/s", r.device, r.model, r.peak_gbps);
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(r),
            None => out.push((key, vec![r])),
        }
    }
    out
}

/// The chart as SVG text.
pub fn svg(rows: &[Row]) -> String {
    let groups = groups(rows);
    let max = rows.iter().map(|r| r.pct_peak).filter(|v| v.is_finite()).fold(100.0, f64::max);
    let (x0, x1) = (LABEL_W, WIDTH - VALUE_W);
    // Gridlines at least 45 px apart, so their labels never touch.
    let step = [25.0, 50.0, 100.0, 200.0, 500.0, 1000.0]
        .into_iter()
        .find(|s| (x1 - x0) * s / max >= 45.0)
        .unwrap_or(1000.0);
    let scale_max = (max / step).ceil() * step;
    let x_of = |pct: f64| x0 + (x1 - x0) * (pct.clamp(0.0, scale_max) / scale_max);
    let body: f64 = groups.iter().map(|(_, v)| HEAD_H + ROW_H * v.len() as f64).sum();
    let height = TOP + body + 30.0;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="12" y="24" font-size="16" font-weight="bold">kiln bench kernels: achieved read bandwidth, % of the measured peak</text>"#
    );
    // Legend.
    let mut lx = 12.0;
    for (k, c) in COLOURS {
        let _ = writeln!(s, r#"<rect x="{lx}" y="36" width="11" height="11" fill="{c}"/>"#);
        let _ = writeln!(s, r#"<text x="{}" y="45">{k}</text>"#, lx + 15.0);
        lx += 22.0 + 6.5 * k.len() as f64;
    }
    // Gridlines and their labels, over the whole plot.
    let (gy0, gy1) = (TOP - 12.0, TOP + body);
    let mut pct = 0.0;
    while pct <= scale_max + 1e-9 {
        let x = x_of(pct);
        let (stroke, w) = if pct == 100.0 { ("#444444", 1.5) } else { ("#dddddd", 1.0) };
        let _ = writeln!(
            s,
            r#"<line x1="{x:.1}" y1="{gy0}" x2="{x:.1}" y2="{gy1}" stroke="{stroke}" stroke-width="{w}"/>"#
        );
        for y in [gy0 - 3.0, gy1 + 14.0] {
            let _ =
                writeln!(s, r#"<text x="{x:.1}" y="{y}" text-anchor="middle">{pct:.0}%</text>"#);
        }
        pct += step;
    }
    let mut y = TOP;
    for (head, bars) in &groups {
        let _ = writeln!(
            s,
            r#"<text x="12" y="{:.1}" font-size="12" font-weight="bold">{}</text>"#,
            y + 20.0,
            escape(head)
        );
        y += HEAD_H;
        for r in bars {
            let mid = y + BAR_H / 2.0 + 4.0;
            let w = (x_of(r.pct_peak) - x0).max(0.5);
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{mid:.1}" text-anchor="end" font-family="DejaVu Sans Mono, monospace" font-size="10">{}</text>"#,
                x0 - 6.0,
                escape(&r.bar_label())
            );
            let _ = writeln!(
                s,
                r#"<rect x="{x0}" y="{y:.1}" width="{w:.1}" height="{BAR_H}" fill="{}"><title>{} · {:.2} GB/s</title></rect>"#,
                colour(r.kernel),
                escape(&r.bar_label()),
                r.gbps
            );
            // Prefill matmuls and attention are compute-bound: their FLOP rate says more.
            let value = match r.gflops {
                Some(g) if r.tokens > 1 => format!("{:.1}% · {g:.1} GFLOP/s", r.pct_peak),
                _ => format!("{:.1}%", r.pct_peak),
            };
            let _ = writeln!(s, r#"<text x="{:.1}" y="{mid:.1}">{value}</text>"#, x0 + w + 4.0);
            y += ROW_H;
        }
    }
    s.push_str("</svg>\n");
    s
}
