//! SVG plots of a run (plotters, SVG backend only): accuracy per epoch,
//! per-device memory / latency / energy, and link losses per device.
//!
//! Text goes into the SVG as `<text>` elements (no font is loaded), so the
//! numbers a plot shows can be read back from the file.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::run_report::{RunEpoch, RunReport};

/// Plot size, px.
const SIZE: (u32, u32) = (900, 540);
/// Height of a three-panel figure, px.
const TALL: u32 = 900;
/// Bars get a value label up to this many devices (beyond, labels overlap).
const MAX_LABELLED_BARS: usize = 24;
const FONT: &str = "sans-serif";

/// One line of the accuracy plot: `(epoch, accuracy)` points.
pub type Series = Vec<(usize, f64)>;

/// The accuracy plot's three lines: host-view test accuracy, mean of the
/// devices' own test accuracy, training accuracy (epochs without a value are
/// left out).
pub fn accuracy_series(epochs: &[RunEpoch]) -> [Series; 3] {
    let mut host = Series::new();
    let mut devices = Series::new();
    let mut train = Series::new();
    for e in epochs {
        let x = e.epoch;
        if let Some(a) = e.test_accuracy {
            host.push((x, a));
        }
        if let Some(m) = mean_some(&e.device_test_accuracy) {
            devices.push((x, m));
        }
        if let Some(a) = e.train_accuracy {
            train.push((x, a));
        }
    }
    [host, devices, train]
}

/// Mean of the values present, if any.
pub fn mean_some(values: &[Option<f64>]) -> Option<f64> {
    let (sum, n) = values
        .iter()
        .flatten()
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// `accuracy.svg`: test accuracy per epoch (host view and device mean) and
/// training accuracy; the caption gives the final host-view accuracy.
pub fn plot_accuracy(report: &RunReport, path: &Path) -> Result<()> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    draw_accuracy(&root, report).with_context(|| format!("drawing {}", path.display()))?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))
}

fn draw_accuracy(area: &DrawingArea<SVGBackend<'_>, Shift>, report: &RunReport) -> Result<()> {
    area.fill(&WHITE)?;
    let [host, devices, train] = accuracy_series(&report.epochs);
    let last = report.epochs.iter().map(|e| e.epoch).max().unwrap_or(1);
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "{}: final test accuracy {:.4} (host), {:.4} (device mean)",
                report.name, report.final_accuracy, report.final_device_accuracy
            ),
            (FONT, 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        // Integer epochs, with a free epoch either side of the data.
        .build_cartesian_2d(0..last + 1, 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("accuracy")
        .draw()?;
    for (series, name, color) in [
        (host, "test (host view)", BLUE),
        (devices, "test (device mean)", GREEN),
        (train, "train (device 0)", RED),
    ] {
        chart
            .draw_series(LineSeries::new(
                series.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart.draw_series(series.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// One panel of per-device bars.
pub struct BarPanel {
    /// Panel title, with its unit.
    pub title: String,
    /// One value per device.
    pub values: Vec<f64>,
    /// Decimals of the value labels.
    pub decimals: usize,
}

/// The three panels of `devices.svg`: memory (KiB, all buffers), latency
/// per sample (ms) and energy per sample (mJ), per device.
pub fn device_panels(report: &RunReport) -> [BarPanel; 3] {
    let d = &report.per_device;
    [
        BarPanel {
            title: "memory per device, KiB".into(),
            values: d.iter().map(|x| x.memory.total as f64 / 1024.0).collect(),
            decimals: 1,
        },
        BarPanel {
            title: "latency per sample, ms".into(),
            values: d.iter().map(|x| x.latency_per_sample_us / 1000.0).collect(),
            decimals: 2,
        },
        BarPanel {
            title: "energy per sample, mJ".into(),
            values: d.iter().map(|x| x.energy_per_sample_uj / 1000.0).collect(),
            decimals: 3,
        },
    ]
}

/// The panels of `links.svg`: other devices' partial logits each device
/// never got, and samples it never received.
pub fn link_panels(report: &RunReport) -> [BarPanel; 2] {
    let d = &report.per_device;
    [
        BarPanel {
            title: "partial logits missing".into(),
            values: d.iter().map(|x| x.missing_contributions as f64).collect(),
            decimals: 0,
        },
        BarPanel {
            title: "samples missed".into(),
            values: d.iter().map(|x| x.samples_missed as f64).collect(),
            decimals: 0,
        },
    ]
}

/// `devices.svg`: [`device_panels`] stacked.
pub fn plot_devices(report: &RunReport, path: &Path) -> Result<()> {
    let title = format!("{}: {} devices", report.name, report.devices);
    plot_panels(&title, &device_panels(report), path)
}

/// `links.svg`: [`link_panels`] under the network's delivery ratio.
pub fn plot_links(report: &RunReport, path: &Path) -> Result<()> {
    let n = &report.network;
    let title = format!(
        "{}: delivery ratio {:.4} ({} of {} deliveries, {} lost)",
        report.name, n.delivery_ratio, n.deliveries_made, n.deliveries_expected, n.messages_lost
    );
    plot_panels(&title, &link_panels(report), path)
}

/// Bar panels stacked vertically under `title`.
fn plot_panels(title: &str, panels: &[BarPanel], path: &Path) -> Result<()> {
    let height = if panels.len() > 2 { TALL } else { SIZE.1 };
    let root = SVGBackend::new(path, (SIZE.0, height)).into_drawing_area();
    let draw = || -> Result<()> {
        root.fill(&WHITE)?;
        let body = root.titled(title, (FONT, 20))?;
        for (area, panel) in body.split_evenly((panels.len(), 1)).iter().zip(panels) {
            draw_bars(area, panel)?;
        }
        Ok(())
    };
    draw().with_context(|| format!("drawing {}", path.display()))?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))
}

/// One bar per device, labelled with its value when there are few.
fn draw_bars(area: &DrawingArea<SVGBackend<'_>, Shift>, panel: &BarPanel) -> Result<()> {
    let n = panel.values.len();
    let top = panel
        .values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let top = if top > 0.0 { top * 1.2 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FONT, 16))
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(60)
        // A segmented `0..m` has m + 1 segments: one per device is `0..n − 1`.
        .build_cartesian_2d((0..n.max(1) - 1).into_segmented(), 0.0..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("device")
        .x_labels(n.clamp(1, MAX_LABELLED_BARS))
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => i.to_string(),
            _ => String::new(),
        })
        .draw()?;
    chart.draw_series(panel.values.iter().enumerate().map(|(i, &v)| {
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), v),
            ],
            BLUE.mix(0.7).filled(),
        );
        bar.set_margin(0, 0, 4, 4);
        bar
    }))?;
    if n <= MAX_LABELLED_BARS {
        let style =
            TextStyle::from((FONT, 11).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
        chart.draw_series(panel.values.iter().enumerate().map(|(i, &v)| {
            Text::new(
                format!("{v:.*}", panel.decimals),
                (SegmentValue::CenterOf(i), v),
                style.clone(),
            )
        }))?;
    }
    Ok(())
}
