//! System tests: the firmware in QEMU (`tests/firmware_replay.rs`), the
//! cluster in containers (`tests/containers.rs`) and as a Docker Swarm stack
//! (`tests/swarm.rs`).
//!
//! They need what a plain Rust host lacks — `qemu-system-arm`, the
//! `thumbv7em-none-eabihf` and `x86_64-unknown-linux-musl` targets, Docker
//! with the Compose v2 plugin. `cargo xtask test` installs those and runs
//! every test of the workspace; under plain `cargo test` a missing tool fails
//! the test that needs it, with the command that installs it. Nothing here
//! skips silently: the only skip is the container and swarm tests' when the runner
//! has already reported Docker unusable ([`DOCKER_UNUSABLE_ENV`]).
//!
//! Builds these tests start (firmware, static binary, image) use their own
//! cargo target directories under the workspace's, so they never wait on
//! the lock of the `cargo test` that runs them.

use std::path::{Path, PathBuf};
use std::process::Command;

mod docker;
mod loopback;

pub use docker::{IMAGE, build_image, docker_or_reported_skip, docker_usable, image_id};
pub use loopback::{LoopbackRun, RESULT_KEYS, assert_same_as_loopback, only_run_dir, read_json};

/// Set by `cargo xtask test` after it has printed that Docker is unusable
/// here (its value says why): the container tests then report themselves
/// skipped instead of failing.
pub const DOCKER_UNUSABLE_ENV: &str = "ROCKNET_DOCKER_UNUSABLE";

/// How to get every tool these tests need in one go.
pub const INSTALL_ALL: &str = "`cargo xtask test` installs it and runs every test";

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository root")
}

/// The cargo to build with: the one running the tests.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Panics with the install command unless `qemu-system-arm` runs and has
/// the mps2-an386 (Cortex-M4F) machine.
pub fn require_qemu() {
    let machines = Command::new("qemu-system-arm")
        .args(["-machine", "help"])
        .output();
    match machines {
        Ok(o) if o.status.success() => assert!(
            String::from_utf8_lossy(&o.stdout).contains("mps2-an386"),
            "this qemu-system-arm has no mps2-an386 machine (Cortex-M4F); \
             install Debian's qemu-system-arm (7.2 or later)"
        ),
        _ => panic!(
            "qemu-system-arm is not installed (needed to run the firmware).\n\
             {INSTALL_ALL}, or: apt-get install -y --no-install-recommends qemu-system-arm"
        ),
    }
}

/// Panics with the install command unless `tshark` runs.
pub fn require_tshark() {
    let ok = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "tshark is not installed (needed to read the pcapng export).\n\
         {INSTALL_ALL}, or: DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tshark"
    );
}

/// Panics with the install command unless the rustup target is installed.
pub fn require_rust_target(target: &str) {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    assert!(
        installed.lines().any(|l| l.trim() == target),
        "the {target} target is not installed.\n{INSTALL_ALL}, or: rustup target add {target}"
    );
}
