//! `rocknet trace --pcapng` opens in tshark with one frame per delivery.
//!
//! Runs the quickstart on loopback, exports its trace as pcapng and counts
//! the frames tshark reads; the expected count is the number of `to`
//! entries in the trace's JSON lines (`rocknet trace --jsonl`). Needs
//! `tshark`; fails (never skips) with the command that installs it.

use std::path::PathBuf;
use std::process::Command;

use rocknet_systests::{LoopbackRun, cargo, repo, require_tshark};
use serde_json::Value;

/// Builds the host binary and returns its path.
fn rocknet() -> PathBuf {
    let status = cargo()
        .args([
            "build",
            "--release",
            "-p",
            "rocknet-coordinator",
            "--bin",
            "rocknet",
        ])
        .current_dir(repo())
        .status()
        .expect("cargo build");
    assert!(status.success(), "building rocknet failed");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or(repo().join("target"), PathBuf::from);
    target.join("release/rocknet")
}

#[test]
fn the_pcapng_export_has_one_frame_per_delivery() {
    require_tshark();
    let rocknet = rocknet();
    let run = LoopbackRun::of(&rocknet, "quickstart.toml");
    let lines = Command::new(&rocknet)
        .arg("trace")
        .arg(&run.dir)
        .arg("--jsonl")
        .output()
        .unwrap();
    assert!(
        lines.status.success(),
        "{}",
        String::from_utf8_lossy(&lines.stderr)
    );
    let mut deliveries = 0usize;
    for line in String::from_utf8(lines.stdout).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        for m in v["messages"].as_array().into_iter().flatten() {
            deliveries += m["to"].as_array().unwrap().len();
        }
    }
    assert!(deliveries > 0);
    let out = run.dir.join("trace.pcapng");
    let export = Command::new(&rocknet)
        .arg("trace")
        .arg(&run.dir)
        .arg("--pcapng")
        .arg(&out)
        .args(["--slot-us", "681"])
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let read = Command::new("tshark")
        .arg("-r")
        .arg(&out)
        .args(["-T", "fields", "-e", "frame.number"])
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&read.stderr)
    );
    let frames = String::from_utf8(read.stdout).unwrap().lines().count();
    assert_eq!(
        frames, deliveries,
        "tshark frames vs deliveries in the trace"
    );
}
