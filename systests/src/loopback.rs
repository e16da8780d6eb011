//! The reference a container deployment is compared with: `rocknet run` of
//! the same static binary on loopback, and the comparison itself.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::repo;

/// The parts of `report.json` that are the experiment's result; a
/// deployment must not change any of them.
pub const RESULT_KEYS: [&str; 4] = ["weights_hash", "predictions", "final_accuracy", "epochs"];

/// A parsed JSON file; panics naming the file.
pub fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// The one run directory under `runs`.
pub fn only_run_dir(runs: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(runs)
        .unwrap_or_else(|e| panic!("{runs:?}: {e}"))
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "expected one run directory: {dirs:?}");
    dirs[0].clone()
}

/// A loopback run (`rocknet run configs/<config>`) and where it wrote.
pub struct LoopbackRun {
    /// Holds the run directory until dropped.
    _out: tempfile::TempDir,
    /// The run directory (`report.json`, `trace.jsonl.zst`, …).
    pub dir: PathBuf,
}

impl LoopbackRun {
    /// Runs `rocknet run configs/<config>` with the binary `rocknet`;
    /// panics with its stderr unless it succeeds.
    pub fn of(rocknet: &Path, config: &str) -> Self {
        let out = tempfile::tempdir().unwrap();
        let run = Command::new(rocknet)
            .arg("run")
            .arg(repo().join("configs").join(config))
            .arg("--out")
            .arg(out.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {rocknet:?}: {e}"));
        assert!(
            run.status.success(),
            "rocknet run {config} failed: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let dir = only_run_dir(out.path());
        Self { _out: out, dir }
    }

    /// Its `report.json`.
    pub fn report(&self) -> Value {
        read_json(&self.dir.join("report.json"))
    }
}

/// Asserts that the run in `deployed` (a run directory) completed with the
/// loopback run's result — every [`RESULT_KEYS`] entry — and a
/// byte-identical trace; `deployment` names it in the messages. Its report.
pub fn assert_same_as_loopback(deployment: &str, deployed: &Path, loopback: &LoopbackRun) -> Value {
    let report = read_json(&deployed.join("report.json"));
    let local = loopback.report();
    assert_eq!(
        report["completed"], true,
        "{deployment}: the run did not complete"
    );
    for key in RESULT_KEYS {
        assert_eq!(
            report[key], local[key],
            "{deployment}: {key} differs from loopback"
        );
    }
    let trace = std::fs::read(deployed.join("trace.jsonl.zst")).unwrap();
    let local_trace = std::fs::read(loopback.dir.join("trace.jsonl.zst")).unwrap();
    assert!(
        trace == local_trace,
        "{deployment}: the trace differs from loopback's"
    );
    report
}
