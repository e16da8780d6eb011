//! Rendering of a scale sweep (`rocknet scale`): one [`ScaleRow`] per
//! cluster size, a Markdown table, `scale.svg` (memory, latency and energy
//! per sample against the number of devices) and the headline ratios of the
//! largest cluster against the smallest.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use plotters::prelude::*;

use crate::run_report::RunReport;

/// One cluster size's figures.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScaleRow {
    /// Devices N.
    pub devices: usize,
    /// The largest device's memory (all buffers), bytes.
    pub max_memory_bytes: u64,
    /// Mean memory per device, bytes.
    pub mean_memory_bytes: f64,
    /// Latency per sample of the slowest device, µs (a round waits for it).
    pub latency_per_sample_us: f64,
    /// Energy per sample, mean over devices, µJ (what one battery pays).
    pub energy_per_sample_uj: f64,
    /// Final test accuracy (host view).
    pub accuracy: f64,
}

impl ScaleRow {
    /// The row of one run (a run with no device figures gives zeros).
    pub fn from_report(r: &RunReport) -> Self {
        let d = &r.per_device;
        let n = d.len().max(1) as f64;
        Self {
            devices: r.devices,
            max_memory_bytes: d.iter().map(|x| x.memory.total).max().unwrap_or(0),
            mean_memory_bytes: d.iter().map(|x| x.memory.total as f64).sum::<f64>() / n,
            latency_per_sample_us: d
                .iter()
                .map(|x| x.latency_per_sample_us)
                .fold(0.0, f64::max),
            energy_per_sample_uj: d.iter().map(|x| x.energy_per_sample_uj).sum::<f64>() / n,
            accuracy: r.final_accuracy,
        }
    }
}

/// Rows sorted by number of devices.
fn sorted(rows: &[ScaleRow]) -> Vec<&ScaleRow> {
    let mut v: Vec<&ScaleRow> = rows.iter().collect();
    v.sort_by_key(|r| r.devices);
    v
}

/// The sweep as a Markdown table, by number of devices.
pub fn scale_table(rows: &[ScaleRow]) -> String {
    let mut s = String::from(
        "| devices | max memory KiB | mean memory KiB | latency ms / sample | energy mJ / sample | accuracy |\n|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in sorted(rows) {
        let _ = writeln!(
            s,
            "| {} | {:.1} | {:.1} | {:.2} | {:.3} | {:.4} |",
            r.devices,
            r.max_memory_bytes as f64 / 1024.0,
            r.mean_memory_bytes / 1024.0,
            r.latency_per_sample_us / 1000.0,
            r.energy_per_sample_uj / 1000.0,
            r.accuracy
        );
    }
    s
}

/// The relative change from `old` to `new` as `−12.3 %` / `+4.0 %` (a
/// true minus sign); `n/a` when `old` is 0.
pub fn signed_percent(new: f64, old: f64) -> String {
    if old == 0.0 || !old.is_finite() || !new.is_finite() {
        return "n/a".into();
    }
    let p = (new / old - 1.0) * 100.0;
    let s = format!("{p:+.1} %");
    s.replacen('-', "−", 1)
}

/// "Memory / latency / energy per sample at N_max vs N_min devices" (N_min
/// is 1 in a full sweep), or `None` with fewer than two cluster sizes.
pub fn headline_ratios(rows: &[ScaleRow]) -> Option<String> {
    let v = sorted(rows);
    let (small, large) = (v.first()?, v.last()?);
    if small.devices == large.devices {
        return None;
    }
    let device_word = |n: usize| if n == 1 { "device" } else { "devices" };
    Some(format!(
        "At {} devices vs {} {}: memory per device {} ({:.1} KiB vs {:.1} KiB, largest device), \
         latency per sample {} ({:.2} ms vs {:.2} ms), \
         energy per sample {} ({:.3} mJ vs {:.3} mJ per device); \
         test accuracy {:.4} vs {:.4}.",
        large.devices,
        small.devices,
        device_word(small.devices),
        signed_percent(large.max_memory_bytes as f64, small.max_memory_bytes as f64),
        large.max_memory_bytes as f64 / 1024.0,
        small.max_memory_bytes as f64 / 1024.0,
        signed_percent(large.latency_per_sample_us, small.latency_per_sample_us),
        large.latency_per_sample_us / 1000.0,
        small.latency_per_sample_us / 1000.0,
        signed_percent(large.energy_per_sample_uj, small.energy_per_sample_uj),
        large.energy_per_sample_uj / 1000.0,
        small.energy_per_sample_uj / 1000.0,
        large.accuracy,
        small.accuracy,
    ))
}

/// One line of a scale panel: `(devices, value)` points.
pub struct ScaleLine {
    /// Legend entry.
    pub name: &'static str,
    /// Points, by number of devices.
    pub points: Vec<(usize, f64)>,
}

/// One panel of `scale.svg`.
pub struct ScalePanel {
    /// Title, with its unit.
    pub title: &'static str,
    /// Its lines.
    pub lines: Vec<ScaleLine>,
}

/// The panels of `scale.svg`: memory per device (largest and mean, KiB),
/// latency per sample of the slowest device (ms), energy per sample (mean
/// over devices, mJ).
pub fn scale_panels(rows: &[ScaleRow]) -> [ScalePanel; 3] {
    let v = sorted(rows);
    let line = |name, f: &dyn Fn(&ScaleRow) -> f64| ScaleLine {
        name,
        points: v.iter().map(|r| (r.devices, f(r))).collect(),
    };
    [
        ScalePanel {
            title: "memory per device, KiB",
            lines: vec![
                line("largest device", &|r| r.max_memory_bytes as f64 / 1024.0),
                line("mean", &|r| r.mean_memory_bytes / 1024.0),
            ],
        },
        ScalePanel {
            title: "latency per sample, ms",
            lines: vec![line("slowest device", &|r| {
                r.latency_per_sample_us / 1000.0
            })],
        },
        ScalePanel {
            title: "energy per sample, mJ",
            lines: vec![line("mean over devices", &|r| {
                r.energy_per_sample_uj / 1000.0
            })],
        },
    ]
}

/// `scale.svg`: [`scale_panels`] stacked, against the number of devices.
pub fn plot_scale(rows: &[ScaleRow], path: &Path) -> Result<()> {
    let root = SVGBackend::new(path, (900, 900)).into_drawing_area();
    let max_n = rows.iter().map(|r| r.devices).max().unwrap_or(1).max(1);
    let draw = || -> Result<()> {
        root.fill(&WHITE)?;
        let body = root.titled("scaling with the number of devices", ("sans-serif", 20))?;
        for (area, panel) in body.split_evenly((3, 1)).iter().zip(scale_panels(rows)) {
            draw_panel(area, &panel, max_n)?;
        }
        Ok(())
    };
    draw().with_context(|| format!("drawing {}", path.display()))?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))
}

/// One panel's lines, x from 0 to `max_n + 1` devices.
fn draw_panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    panel: &ScalePanel,
    max_n: usize,
) -> Result<()> {
    let top = panel
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .filter(|y| y.is_finite())
        .fold(0.0, f64::max);
    let top = if top > 0.0 { top * 1.15 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(panel.title, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0..max_n + 1, 0.0..top)?;
    chart.configure_mesh().x_desc("devices").draw()?;
    for (line, color) in panel.lines.iter().zip([BLUE, RED]) {
        chart
            .draw_series(LineSeries::new(
                line.points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(line.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart.draw_series(
            line.points
                .iter()
                .map(|&p| Circle::new(p, 3, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Writes `scale.md` (table + headline) and `scale.svg` into `dir`; returns
/// their paths.
pub fn render_scale(rows: &[ScaleRow], dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let md = dir.join("scale.md");
    let mut text = String::from("# Scaling\n\n");
    if let Some(h) = headline_ratios(rows) {
        let _ = writeln!(text, "{h}\n");
    }
    text.push_str(&scale_table(rows));
    std::fs::write(&md, text).with_context(|| format!("writing {}", md.display()))?;
    let svg = dir.join("scale.svg");
    plot_scale(rows, &svg)?;
    Ok(vec![md, svg])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::sample_report;

    fn row(devices: usize, mem_kib: u64, latency_ms: f64, energy_mj: f64, acc: f64) -> ScaleRow {
        ScaleRow {
            devices,
            max_memory_bytes: mem_kib * 1024,
            mean_memory_bytes: (mem_kib * 1024) as f64 * 0.9,
            latency_per_sample_us: latency_ms * 1000.0,
            energy_per_sample_uj: energy_mj * 1000.0,
            accuracy: acc,
        }
    }

    #[test]
    fn row_from_report() {
        // Devices of 80 and 100 KiB, 602.0 and 602.5 ms, 1.000 and 1.234 mJ.
        let r = ScaleRow::from_report(&sample_report());
        assert_eq!(
            r,
            ScaleRow {
                devices: 2,
                max_memory_bytes: 100 * 1024,
                mean_memory_bytes: 90.0 * 1024.0,
                latency_per_sample_us: 602_500.0,
                energy_per_sample_uj: 1117.0,
                accuracy: 0.875,
            }
        );
        let mut empty = sample_report();
        empty.per_device.clear();
        let e = ScaleRow::from_report(&empty);
        assert_eq!((e.max_memory_bytes, e.mean_memory_bytes), (0, 0.0));
    }

    #[test]
    fn percent_text() {
        assert_eq!(signed_percent(10.0, 100.0), "−90.0 %");
        assert_eq!(signed_percent(150.0, 100.0), "+50.0 %");
        assert_eq!(signed_percent(100.0, 100.0), "+0.0 %");
        assert_eq!(signed_percent(1.0, 0.0), "n/a");
    }

    #[test]
    fn table_and_headline() {
        // Out of order on purpose: everything sorts by devices.
        let rows = [
            row(20, 100, 300.0, 2.0, 0.95),
            row(1, 1000, 1200.0, 8.0, 0.96),
            row(10, 160, 400.0, 3.0, 0.955),
        ];
        let t = scale_table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(
            lines[2],
            "| 1 | 1000.0 | 900.0 | 1200.00 | 8.000 | 0.9600 |"
        );
        assert_eq!(lines[3], "| 10 | 160.0 | 144.0 | 400.00 | 3.000 | 0.9550 |");
        assert_eq!(lines[4], "| 20 | 100.0 | 90.0 | 300.00 | 2.000 | 0.9500 |");
        let h = headline_ratios(&rows).unwrap();
        assert!(h.starts_with("At 20 devices vs 1 device: "), "{h}");
        // 100/1000 − 1 = −90 %, 300/1200 − 1 = −75 %, 2/8 − 1 = −75 %.
        assert!(
            h.contains("memory per device −90.0 % (100.0 KiB vs 1000.0 KiB"),
            "{h}"
        );
        assert!(
            h.contains("latency per sample −75.0 % (300.00 ms vs 1200.00 ms)"),
            "{h}"
        );
        assert!(
            h.contains("energy per sample −75.0 % (2.000 mJ vs 8.000 mJ"),
            "{h}"
        );
        assert!(h.contains("test accuracy 0.9500 vs 0.9600"), "{h}");
        assert_eq!(headline_ratios(&rows[..1]), None);
        assert_eq!(headline_ratios(&[]), None);
    }

    #[test]
    fn panels_follow_the_rows() {
        let rows = [
            row(4, 256, 500.0, 3.5, 0.96),
            row(1, 1024, 1200.0, 8.0, 0.96),
        ];
        let [mem, lat, energy] = scale_panels(&rows);
        assert_eq!(mem.lines[0].points, [(1, 1024.0), (4, 256.0)]);
        assert_eq!(mem.lines[1].points, [(1, 0.9 * 1024.0), (4, 0.9 * 256.0)]);
        assert_eq!(lat.lines[0].points, [(1, 1200.0), (4, 500.0)]);
        assert_eq!(energy.lines[0].points, [(1, 8.0), (4, 3.5)]);
    }

    #[test]
    fn renders_table_and_plot() {
        let rows = [
            row(1, 1000, 1200.0, 8.0, 0.96),
            row(4, 260, 500.0, 3.5, 0.96),
        ];
        let dir = tempfile::tempdir().unwrap();
        let files = render_scale(&rows, dir.path()).unwrap();
        let md = std::fs::read_to_string(&files[0]).unwrap();
        assert!(
            md.contains("At 4 devices vs 1 device: memory per device −74.0 %"),
            "{md}"
        );
        assert!(
            md.contains("| 4 | 260.0 | 234.0 | 500.00 | 3.500 | 0.9600 |"),
            "{md}"
        );
        let svg = std::fs::read_to_string(&files[1]).unwrap();
        assert!(svg.starts_with("<svg"));
        for label in [
            "scaling with the number of devices",
            "memory per device, KiB",
            "latency per sample, ms",
            "energy per sample, mJ",
            "largest device",
            "slowest device",
            "devices",
        ] {
            assert!(svg.contains(label), "scale.svg lacks {label}");
        }
        // Four lines (largest, mean, latency, energy) of two sizes each.
        assert_eq!(crate::render::tests::data_lines(&svg), [2, 2, 2, 2]);
    }
}
