//! Helpers shared by the coordinator's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A config shipped in configs/.
pub fn config(name: &str) -> PathBuf {
    repo().join("configs").join(name)
}

/// Runs the `rocknet` binary; returns (status success, stdout, stderr).
pub fn rocknet(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rocknet"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run rocknet");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `rocknet train … --json` and parses the report.
pub fn train_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["train"];
    all.extend_from_slice(args);
    all.push("--json");
    let (ok, stdout, stderr) = rocknet(&all);
    assert!(ok, "rocknet {all:?} failed:\n{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{stdout}"))
}
