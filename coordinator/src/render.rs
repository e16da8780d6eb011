//! Everything drawn from a `report.json`: the plots ([`crate::plots`]) and
//! `summary.md` ([`crate::summary`]); `rocknet report <run dir>` re-renders
//! them from the file alone.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::plots::{plot_accuracy, plot_devices, plot_links};
use crate::run_report::RunReport;
use crate::summary::summary_markdown;

/// The report's file name inside a run directory.
pub const REPORT_FILE: &str = "report.json";

/// Writes `accuracy.svg`, `devices.svg`, `links.svg` and `summary.md` of
/// `report` into `dir` (created if missing); returns their paths.
pub fn render_run(report: &RunReport, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let files = run_files(dir);
    if let Some(e) = render_run_each(report, dir).into_iter().next() {
        anyhow::bail!(e);
    }
    Ok(files.to_vec())
}

/// `accuracy.svg`, `devices.svg`, `links.svg`, `summary.md` in `dir`.
fn run_files(dir: &Path) -> [PathBuf; 4] {
    ["accuracy.svg", "devices.svg", "links.svg", "summary.md"].map(|f| dir.join(f))
}

/// Writes `summary.md` first (the most important when space is short),
/// then the plots, each tried even if another failed; returns the failures
/// (`writing <file>: <OS error>`). A file that failed half-way is removed.
pub fn render_run_each(report: &RunReport, dir: &Path) -> Vec<String> {
    let [accuracy, devices, links, summary] = run_files(dir);
    let results = [
        std::fs::write(&summary, summary_markdown(report))
            .with_context(|| format!("writing {}", summary.display())),
        plot_accuracy(report, &accuracy),
        plot_devices(report, &devices),
        plot_links(report, &links),
    ];
    let paths = [&summary, &accuracy, &devices, &links];
    results
        .into_iter()
        .zip(paths)
        .filter_map(|(r, path)| {
            r.err().map(|e| {
                let _ = std::fs::remove_file(path);
                format!("{e:#}")
            })
        })
        .collect()
}

/// Reads `dir/report.json` (errors name the file).
pub fn read_report(dir: &Path) -> Result<RunReport> {
    let path = dir.join(REPORT_FILE);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// `rocknet report <run dir>`: reads `dir/report.json` and re-renders the
/// plots and summary next to it; returns the files written.
pub fn report_cmd(dir: &Path) -> Result<Vec<PathBuf>> {
    let report = read_report(dir)?;
    render_run(&report, dir)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testing::sample_report;

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    /// The contents of the `<text>` elements, trimmed.
    pub(crate) fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .map(|t| {
                let body = &t[t.find('>').unwrap() + 1..];
                body[..body.find("</text>").unwrap()].trim().to_string()
            })
            .collect()
    }

    /// Points of each data line (the 2 px polylines; axes and legend
    /// marks are 1 px).
    pub(crate) fn data_lines(svg: &str) -> Vec<usize> {
        svg.lines()
            .filter(|l| l.starts_with("<polyline") && l.contains("stroke-width=\"2\""))
            .map(|l| {
                let pts = l.split("points=\"").nth(1).unwrap();
                pts.split('"').next().unwrap().split_whitespace().count()
            })
            .collect()
    }

    #[test]
    fn renders_every_file_with_its_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let files = render_run(&sample_report(), &out).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(
            names,
            ["accuracy.svg", "devices.svg", "links.svg", "summary.md"]
        );
        for f in &files {
            assert!(f.starts_with(&out));
        }

        let acc = read(&files[0]);
        assert!(acc.starts_with("<svg"), "{}", &acc[..80]);
        assert!(acc.trim_end().ends_with("</svg>"));
        assert!(acc.contains("toy: final test accuracy 0.8750 (host), 0.8500 (device mean)"));
        for label in [
            "test (host view)",
            "test (device mean)",
            "train (device 0)",
            "epoch",
            "accuracy",
        ] {
            assert!(acc.contains(label), "accuracy.svg lacks {label}");
        }
        // Three lines (host, device mean, train) of two epochs each.
        assert_eq!(data_lines(&acc), [2, 2, 2], "{acc}");

        let dev = read(&files[1]);
        assert!(dev.contains("toy: 2 devices"));
        for label in [
            "memory per device, KiB",
            "latency per sample, ms",
            "energy per sample, mJ",
        ] {
            assert!(dev.contains(label), "devices.svg lacks {label}");
        }
        // The bars' value labels: 80 and 100 KiB, 602.00 and 602.50 ms,
        // 1.000 and 1.234 mJ.
        let labels = texts(&dev);
        for value in ["80.0", "100.0", "602.00", "602.50", "1.000", "1.234"] {
            assert!(
                labels.iter().any(|t| t == value),
                "devices.svg lacks {value}"
            );
        }
        // The x axes name the two devices in each of the three panels.
        assert_eq!(labels.iter().filter(|t| *t == "1").count(), 3, "{labels:?}");

        let links = read(&files[2]);
        assert!(links.contains("toy: delivery ratio 0.9750 (78 of 80 deliveries, 2 lost)"));
        assert!(links.contains("partial logits missing"));
        assert!(texts(&links).iter().any(|t| t == "3"));

        let md = read(&files[3]);
        assert!(md.contains("**Test accuracy 87.50 %**"));
    }

    #[test]
    fn report_cmd_rerenders_from_report_json() {
        let dir = tempfile::tempdir().unwrap();
        let report = sample_report();
        std::fs::write(
            dir.path().join(REPORT_FILE),
            serde_json::to_string_pretty(&report).unwrap(),
        )
        .unwrap();
        let files = report_cmd(dir.path()).unwrap();
        assert_eq!(files.len(), 4);
        assert!(files.iter().all(|f| f.is_file()));
        // Everything but the config's source path (not serialised) survives.
        let mut want = report;
        want.config.source = Default::default();
        assert_eq!(read_report(dir.path()).unwrap(), want);
    }

    #[test]
    fn report_cmd_names_a_missing_or_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(REPORT_FILE);
        let e = format!("{:#}", report_cmd(dir.path()).unwrap_err());
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(e.starts_with("reading "), "{e}");
        std::fs::write(&path, "{\"name\": 3}").unwrap();
        let e = format!("{:#}", report_cmd(dir.path()).unwrap_err());
        assert!(e.starts_with("parsing "), "{e}");
        assert!(e.contains(&path.display().to_string()), "{e}");
        // Nothing was rendered.
        assert!(!dir.path().join("summary.md").exists());
    }
}
