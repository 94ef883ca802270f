//! `paddock bench plot`: bar charts of bench/report.py's `plot.tsv`
//! (columns: workload, server, ops_per_s, p50_ms, p99_ms, p999_ms):
//! `throughput.png` (ops/s per workload and server) and `latency.png`
//! (p50, p99, p99.9 per workload and server), both on log scales.
//!
//! Text needs a TrueType font; it is read at run time from the usual
//! DejaVu/Liberation paths (no fontconfig). Without one, no plot is drawn.

use std::error::Error;
use std::path::Path;
use std::process::ExitCode;

use plotters::prelude::*;
use plotters::style::FontStyle;

use super::args::PlotOptions;

const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];
const SIZE: (u32, u32) = (960, 460);
/// Bar colours per server: ZooKeeper blue, paddock orange; three shades
/// for the three percentiles.
const COLOURS: [[RGBColor; 3]; 2] = [
    [
        RGBColor(31, 119, 180),
        RGBColor(94, 160, 210),
        RGBColor(158, 199, 230),
    ],
    [
        RGBColor(230, 120, 20),
        RGBColor(242, 160, 80),
        RGBColor(250, 200, 150),
    ],
];

/// One line of plot.tsv.
struct Row {
    workload: String,
    server: String,
    values: [f64; 4],
}

/// Runs `paddock bench plot`.
pub fn main(o: &PlotOptions) -> ExitCode {
    match draw_all(o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("paddock bench plot: {e}");
            ExitCode::FAILURE
        }
    }
}

fn draw_all(o: &PlotOptions) -> Result<(), Box<dyn Error>> {
    let font = FONT_PATHS
        .iter()
        .find_map(|p| std::fs::read(p).ok())
        .ok_or("no TrueType font found (looked in /usr/share/fonts); no plots drawn")?;
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(font.into_boxed_slice()),
    )
    .map_err(|_| "the font could not be loaded")?;
    let rows = read_tsv(&std::fs::read_to_string(&o.input)?)?;
    let mut workloads: Vec<&str> = Vec::new();
    for r in &rows {
        if !workloads.contains(&r.workload.as_str()) {
            workloads.push(&r.workload);
        }
    }
    let servers = ["zookeeper", "paddock"];
    let value = |w: &str, s: &str, i: usize| {
        rows.iter()
            .find(|r| r.workload == w && r.server == s)
            .map_or(0.0, |r| r.values[i])
    };
    std::fs::create_dir_all(&o.out)?;
    let mode = if o.mode.is_empty() {
        String::new()
    } else {
        format!(", {}", o.mode)
    };
    let mut bars = Vec::new();
    for (wi, w) in workloads.iter().enumerate() {
        for (si, s) in servers.iter().enumerate() {
            bars.push(Bar {
                x: wi,
                group: si,
                n: 2,
                colour: COLOURS[si][0],
                value: value(w, s, 0),
            });
        }
    }
    chart(
        &Path::new(&o.out).join("throughput.png"),
        &format!("Throughput, ops/s (log scale): ZooKeeper 3.8 (blue) vs paddock (orange){mode}"),
        &workloads,
        &bars,
    )?;
    bars.clear();
    for (wi, w) in workloads.iter().enumerate() {
        for (si, s) in servers.iter().enumerate() {
            for (p, &colour) in COLOURS[si].iter().enumerate() {
                bars.push(Bar {
                    x: wi,
                    group: si * 3 + p,
                    n: 6,
                    colour,
                    value: value(w, s, p + 1),
                });
            }
        }
    }
    chart(
        &Path::new(&o.out).join("latency.png"),
        &format!(
            "Latency ms (log): p50 / p99 / p99.9, ZooKeeper (blues) vs paddock (oranges){mode}"
        ),
        &workloads,
        &bars,
    )
}

fn read_tsv(text: &str) -> Result<Vec<Row>, Box<dyn Error>> {
    let mut rows = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 6 {
            return Err(format!("plot.tsv: expected 6 columns in {line:?}").into());
        }
        let mut values = [0.0; 4];
        for (v, s) in values.iter_mut().zip(&f[2..]) {
            *v = s.parse()?;
        }
        rows.push(Row {
            workload: f[0].into(),
            server: f[1].into(),
            values,
        });
    }
    Ok(rows)
}

/// One bar: the `group`-th of `n` side by side at workload `x`.
struct Bar {
    x: usize,
    group: usize,
    n: usize,
    colour: RGBColor,
    value: f64,
}

fn chart(path: &Path, title: &str, workloads: &[&str], bars: &[Bar]) -> Result<(), Box<dyn Error>> {
    let positive = bars.iter().map(|b| b.value).filter(|v| *v > 0.0);
    let lo = positive.clone().fold(f64::INFINITY, f64::min);
    let hi = positive.fold(0.0, f64::max);
    if hi <= 0.0 {
        return Err("nothing to plot".into());
    }
    let (lo, hi) = (
        10f64.powf(lo.log10().floor()),
        10f64.powf(hi.log10().ceil()),
    );
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let n = workloads.len();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|v| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n {
                workloads[i as usize].to_string()
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|v| format!("{v}"))
        .label_style(("sans-serif", 13))
        .draw()?;
    chart.draw_series(bars.iter().filter(|b| b.value > 0.0).map(|b| {
        let width = 0.8 / b.n as f64;
        let x0 = b.x as f64 - 0.4 + width * b.group as f64;
        Rectangle::new([(x0, lo), (x0 + width * 0.9, b.value)], b.colour.filled())
    }))?;
    root.present()?;
    Ok(())
}
