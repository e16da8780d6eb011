//! The containerised cluster: `docker-compose.yml` with the `rocknet:latest`
//! image (FROM scratch), which these tests build first with
//! `scripts/docker-build.sh` (the static `rocknet` binary for
//! x86_64-unknown-linux-musl, in its own cargo target dir
//! `<target>/containers/cargo`). The loopback run they compare with uses that
//! same static binary.
//!
//! Needs Docker with the Compose v2 plugin and the musl target; fails with
//! the command that installs what is missing. Only when `cargo xtask test`
//! has already reported Docker unusable ([`DOCKER_UNUSABLE_ENV`]) do they
//! report themselves skipped. Every test tears its project down
//! (`docker compose down -v`) even when it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rocknet_systests::{
    LoopbackRun, assert_same_as_loopback, build_image, docker_or_reported_skip, only_run_dir,
    read_json, repo,
};
use serde_json::Value;

/// One project at a time keeps the paced smoke test's timing calm on 2
/// cores (each project has its own subnet, see [`Project::new`]).
static ONE_PROJECT_AT_A_TIME: Mutex<()> = Mutex::new(());

fn root() -> PathBuf {
    repo()
}

/// Whether these tests can run (see [`docker_or_reported_skip`]).
fn docker_here() -> bool {
    docker_or_reported_skip("the container tests")
}

/// Builds the static binary and `rocknet:latest` once per test binary;
/// the static binary's path.
fn image() -> &'static Path {
    build_image(Path::new(env!("CARGO_TARGET_TMPDIR")))
}

/// A compose project over the repository's `docker-compose.yml`, with its
/// runs in a temporary directory; `down -v` on drop.
struct Project {
    name: String,
    config: String,
    /// The /24 prefix of its bridge network (`ROCKNET_NET`): not the
    /// default 172.28.0, so a user's own `docker compose up` (whose network
    /// stays until `docker compose down`) cannot collide with the tests.
    net: String,
    runs: tempfile::TempDir,
}

impl Project {
    fn new(name: &str, config: &str, net: &str) -> Self {
        let p = Self {
            name: name.into(),
            config: config.into(),
            net: net.into(),
            runs: tempfile::tempdir().unwrap(),
        };
        // A leftover from an interrupted earlier run would hold the subnet.
        p.down();
        p
    }

    fn compose(&self) -> Command {
        let mut c = Command::new("docker");
        c.current_dir(root())
            .args(["compose", "-p", &self.name, "-f"])
            .arg(root().join("docker-compose.yml"))
            .env("ROCKNET_CONFIG", &self.config)
            .env("ROCKNET_NET", &self.net)
            .env("ROCKNET_RUNS", self.runs.path());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.compose().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "docker compose {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `rocknet ctl …` inside the relay's container; the reply.
    fn ctl(&self, command: &[&str]) -> Output {
        let mut args = vec!["exec", "-T", "linkmodel", "rocknet", "ctl"];
        args.extend_from_slice(command);
        self.compose().args(&args).output().unwrap()
    }

    /// The relay's last closed round (from `ctl status`), if it answers.
    fn last_closed(&self) -> Option<u64> {
        let out = self.ctl(&["status"]);
        if !out.status.success() {
            return None;
        }
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        v["last_closed"].as_u64()
    }

    fn wait_for_round(&self, round: u64, timeout: Duration) {
        let t0 = Instant::now();
        loop {
            if self.last_closed().is_some_and(|r| r >= round) {
                return;
            }
            assert!(
                t0.elapsed() < timeout,
                "round {round} not reached in {timeout:?}; logs:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits (at most `timeout`) for the coordinator's container to exit;
    /// its exit code. A hung run fails the test with the logs instead of
    /// hanging CI.
    fn wait_for_coordinator(&self, timeout: Duration) -> i64 {
        let id = String::from_utf8(self.run(&["ps", "-a", "-q", "coordinator"]).stdout).unwrap();
        let mut wait = Command::new("docker")
            .args(["wait", id.trim()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while wait.try_wait().unwrap().is_none() {
            if t0.elapsed() > timeout {
                let _ = wait.kill();
                panic!(
                    "the coordinator did not finish in {timeout:?}; logs:\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let out = wait.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(-1)
    }

    fn logs(&self) -> String {
        let out = self
            .compose()
            .args(["logs", "--no-color", "--tail", "40"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The one run directory the coordinator wrote.
    fn run_dir(&self) -> PathBuf {
        only_run_dir(self.runs.path())
    }

    fn down(&self) {
        let _ = self
            .compose()
            .args(["down", "-v", "--remove-orphans", "--timeout", "5"])
            .output();
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        self.down();
    }
}

/// Runs `program args…` in the repository; panics with its output unless
/// it succeeds.
fn must_succeed(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The compose file is valid for `docker compose` (v2) and, where it is
/// installed, Debian's `docker-compose` 1.29; the Swarm stack file is valid
/// for `docker stack deploy`.
#[test]
fn compose_and_stack_files_are_valid() {
    if !docker_here() {
        return;
    }
    must_succeed(
        "docker",
        &["compose", "-f", "docker-compose.yml", "config", "-q"],
    );
    if Command::new("docker-compose")
        .arg("version")
        .output()
        .is_ok()
    {
        must_succeed(
            "docker-compose",
            &["-f", "docker-compose.yml", "config", "-q"],
        );
    }
    must_succeed(
        "docker",
        &["compose", "-f", "docker-stack.yml", "config", "-q"],
    );
    must_succeed("docker", &["stack", "config", "-c", "docker-stack.yml"]);
}

const QUICKSTART_SERVICES: [&str; 7] = [
    "linkmodel",
    "coordinator",
    "node1",
    "node2",
    "node3",
    "node4",
    "node5",
];

/// Determinism across deployment modes: the quickstart experiment on 5
/// device containers gives exactly what `rocknet run` gives on loopback —
/// weights, predictions, per-epoch history and the link model's whole trace.
#[test]
fn containers_equal_the_loopback_run() {
    if !docker_here() {
        return;
    }
    let _one = ONE_PROJECT_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let rocknet = image();
    let p = Project::new("rocknet-determinism", "quickstart.toml", "172.29.101");
    let mut up = vec!["up", "-d"];
    up.extend_from_slice(&QUICKSTART_SERVICES);
    p.run(&up);
    assert_eq!(
        p.wait_for_coordinator(Duration::from_secs(300)),
        0,
        "{}",
        p.logs()
    );
    let loopback = LoopbackRun::of(rocknet, "quickstart.toml");
    let containers = assert_same_as_loopback("docker compose", &p.run_dir(), &loopback);
    eprintln!(
        "containers = loopback: weights {} accuracy {} ({} rounds)",
        containers["weights_hash"], containers["final_accuracy"], containers["rounds"]
    );
}

/// The smoke test: GunPoint on 5 device containers over a
/// lossless ladder; while it runs, a live `ctl link-down` and a real process
/// loss (`docker compose stop` of a device's container, then `start`). The
/// run completes, learns, and its report records the fault and the rounds
/// the stopped device missed.
#[test]
fn a_live_fault_and_a_stopped_container_during_a_run() {
    if !docker_here() {
        return;
    }
    let _one = ONE_PROJECT_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    image();
    let p = Project::new("rocknet-smoke", "compose-smoke.toml", "172.29.102");
    let mut up = vec!["up", "-d"];
    up.extend_from_slice(&QUICKSTART_SERVICES);
    p.run(&up);
    let patience = Duration::from_secs(180);

    p.wait_for_round(1000, patience);
    // A bad command gets an error reply (non-zero exit), not a crash.
    let bad = p.ctl(&["link-down", "1", "99"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("no such node"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let ok = p.ctl(&["link-down", "1", "3"]);
    assert!(
        ok.status.success() && String::from_utf8_lossy(&ok.stdout).starts_with("ok"),
        "{ok:?}"
    );

    p.wait_for_round(1500, patience);
    // Device 2 is radio node 3, container node3.
    p.run(&["stop", "node3"]);
    p.wait_for_round(2500, patience);
    p.run(&["start", "node3"]);

    assert_eq!(
        p.wait_for_coordinator(Duration::from_secs(300)),
        0,
        "{}",
        p.logs()
    );
    let report = read_json(&p.run_dir().join("report.json"));
    assert_eq!(report["completed"], true, "{}", p.logs());
    let acc = report["final_accuracy"].as_f64().unwrap();
    assert!(acc >= 0.9, "final accuracy {acc}");
    let faults = report["network"]["faults"].as_array().unwrap();
    assert!(
        faults.iter().any(|f| {
            let s = f["fault"].to_string();
            s.contains("link_down") && s.contains("\"from\":1") && s.contains("\"to\":3")
        }),
        "{faults:?}"
    );
    let devs = report["per_device"].as_array().unwrap();
    let victim = &devs[2];
    assert_eq!(victim["joins"], 2, "{victim}");
    let missed = victim["missed_rounds"].as_array().unwrap();
    assert!(!missed.is_empty(), "{victim}");
    // It missed rounds only after it was stopped (round ≥ 1500).
    assert!(missed[0]["first"].as_u64().unwrap() >= 1500, "{missed:?}");
    eprintln!(
        "compose smoke: completed, final accuracy {acc:.4}, faults {faults:?}, device 2 joined {} times and missed rounds {missed:?}, wall {:.1} s",
        victim["joins"],
        report["wall_seconds"].as_f64().unwrap_or(f64::NAN)
    );
    for (d, dev) in devs.iter().enumerate() {
        assert_eq!(dev["finished"], true, "device {d}: {dev}");
        if d != 2 {
            assert!(
                dev["missed_rounds"].as_array().unwrap().is_empty(),
                "device {d}: {dev}"
            );
        }
    }
}
