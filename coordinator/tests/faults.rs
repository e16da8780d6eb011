//! Faults of the machine a run is on, end to end: a role stopped and
//! continued (Ctrl-Z) keeps the undisturbed result, a full disk fails the run
//! at its first failed write naming the file, and every abort (the relay
//! killed, a device's error, Ctrl-C) still leaves a report with
//! `status = "aborted"` and the reason.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn rocknet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rocknet"))
}

/// GunPoint, 5 devices over the lossless line, 6 epochs, paced
/// (`time_scale`) so that a run lasts several seconds: long enough to stop
/// a process in its middle. Pacing never changes results.
fn paced_config(dir: &Path, round_timeout_ms: u64) -> PathBuf {
    let root = common::repo();
    let data = root.join("data/GunPoint");
    let path = dir.join("exp.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"faults\"\n[dataset]\ntrain = \"{}\"\ntest = \"{}\"\n\
             [training]\ndevices = 5\nepochs = 6\neval_every = 3\nbatch_size = 8\nlearning_rate = 0.003\n\
             [network]\nlinkmodel = \"{}\"\ntime_scale = 0.05\nround_timeout_ms = {round_timeout_ms}\n",
            data.join("GunPoint_TRAIN.ts").display(),
            data.join("GunPoint_TEST.ts").display(),
            root.join("configs/linkmodel-line6.toml").display(),
        ),
    )
    .unwrap();
    path
}

/// `rocknet train`'s weights hash for `cfg` (the undisturbed result).
fn train_hash(cfg: &Path) -> String {
    let v = common::train_json(&[cfg.to_str().unwrap()]);
    v["weights_hash"].as_str().unwrap().to_string()
}

/// The run directory under `out` and its `cluster.json`, once written.
fn wait_for_cluster(out: &Path, patience: Duration) -> Option<(PathBuf, Value)> {
    let t0 = Instant::now();
    while t0.elapsed() < patience {
        if let Some(Ok(e)) = std::fs::read_dir(out).ok().and_then(|mut d| d.next()) {
            let dir = e.path();
            if let Ok(bytes) = std::fs::read(dir.join("cluster.json"))
                && let Ok(cluster) = serde_json::from_slice(&bytes)
            {
                return Some((dir, cluster));
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// A `rocknet run` in progress.
struct Running {
    child: Child,
    dir: PathBuf,
    cluster: Value,
}

impl Running {
    /// Starts `rocknet run cfg --json --out out` (with `env`) and waits for
    /// its `cluster.json`.
    fn start(cfg: &Path, out: &Path, env: &[(&str, &str)]) -> Self {
        let child = rocknet()
            .arg("run")
            .arg(cfg)
            .args(["--json", "--out"])
            .arg(out)
            .envs(env.iter().copied())
            .env("RUST_BACKTRACE", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        match wait_for_cluster(out, Duration::from_secs(60)) {
            Some((dir, cluster)) => Self {
                child,
                dir,
                cluster,
            },
            None => {
                let mut child = child;
                let _ = child.kill();
                let _ = child.wait();
                panic!("no cluster.json under {} after 60 s", out.display());
            }
        }
    }

    /// The pid of `role`: `coordinator`, `relay` or `device <d>`.
    fn pid(&self, role: &str) -> u32 {
        match role {
            "coordinator" => self.child.id(),
            "relay" => self.cluster["relay_pid"].as_u64().unwrap() as u32,
            dev => {
                let d: usize = dev.strip_prefix("device ").unwrap().parse().unwrap();
                self.cluster["pids"][d].as_u64().unwrap() as u32
            }
        }
    }

    fn assert_running(&mut self, when: &str) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the run ended {when}: the fault did not happen mid-run"
        );
    }

    fn finish(self) -> (Output, PathBuf) {
        (self.child.wait_with_output().unwrap(), self.dir)
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill {sig} {pid}");
}

/// The process state letter from /proc (`T`: stopped).
fn proc_state(pid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // `pid (comm) S …`: the state follows the last ')'.
    stat[stat.rfind(')').unwrap() + 2..].chars().next().unwrap()
}

fn report(dir: &Path) -> Value {
    let path = dir.join("report.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Stops `role` for `pause` mid-run, continues it; returns the run's output
/// and directory.
fn stop_and_continue(cfg: &Path, out: &Path, role: &str, pause: Duration) -> (Output, PathBuf) {
    let mut run = Running::start(cfg, out, &[]);
    let pid = run.pid(role);
    // Past the devices' fits and registrations, into the rounds.
    std::thread::sleep(Duration::from_millis(2500));
    run.assert_running("before the stop");
    signal(pid, "-STOP");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(proc_state(pid), 'T', "{role} ({pid}) is not stopped");
    std::thread::sleep(pause);
    signal(pid, "-CONT");
    run.assert_running("while stopped");
    run.finish()
}

/// Ctrl-Z (SIGSTOP) for 2 s, then SIGCONT, of each role of a local run: the
/// run ends normally with exactly `rocknet train`'s weights (a receive
/// interrupted by the stop is retried, the stop does not count as the
/// relay's silence, and a stopped relay does not time devices out).
fn assert_stop_and_continue_keeps_the_result(role: &str) {
    let dir = tempfile::tempdir().unwrap();
    // Well above the 2 s stop: a stopped device is late, not silent.
    let cfg = paced_config(dir.path(), 6000);
    let out = dir.path().join("runs");
    let (output, _) = stop_and_continue(&cfg, &out, role, Duration::from_secs(2));
    assert!(
        output.status.success(),
        "{role} stopped and continued: the run failed:\n{}",
        text(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["status"], "completed", "{report}");
    assert_eq!(report["weights_hash"], train_hash(&cfg).as_str(), "{role}");
    assert_eq!(report["network"]["timed_out_rounds"], 0, "{role}");
    for d in report["per_device"].as_array().unwrap() {
        assert_eq!(d["joins"], 1, "{role}: {d}");
        assert_eq!(d["missed_rounds"], serde_json::json!([]), "{role}: {d}");
    }
}

#[test]
fn stopping_and_continuing_the_coordinator_keeps_the_undisturbed_result() {
    assert_stop_and_continue_keeps_the_result("coordinator");
}

#[test]
fn stopping_and_continuing_the_relay_keeps_the_undisturbed_result() {
    assert_stop_and_continue_keeps_the_result("relay");
}

#[test]
fn stopping_and_continuing_a_device_keeps_the_undisturbed_result() {
    assert_stop_and_continue_keeps_the_result("device 2");
}

/// A device stopped for longer than the round timeout is declared silent by
/// the relay: the result legitimately differs, and the run says so — the
/// rounds it missed in report.json, on the console and first in summary.md.
#[test]
fn a_device_stopped_past_the_round_timeout_is_reported_not_silent() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = paced_config(dir.path(), 500);
    let out = dir.path().join("runs");
    let (output, run_dir) = stop_and_continue(&cfg, &out, "device 2", Duration::from_secs(2));
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report = report(&run_dir);
    assert!(report["network"]["timed_out_rounds"].as_u64().unwrap() >= 1);
    let missed = report["per_device"][2]["missed_rounds"].as_array().unwrap();
    assert!(!missed.is_empty(), "{}", report["per_device"][2]);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("device 2: joined 1 time(s), missed rounds")
            && stderr.contains("WARNING: devices missed"),
        "{stderr}\n{stdout}"
    );
    let summary = std::fs::read_to_string(run_dir.join("summary.md")).unwrap();
    let first = summary.lines().nth(2).unwrap();
    assert!(
        first.starts_with("**Devices missed") && first.contains("device 2: "),
        "{summary}"
    );
}

/// Checks an aborted run's directory: report.json says `aborted` with a
/// reason containing every one of `why`, fewer rounds than planned,
/// summary.md says so first, and `rocknet report` re-renders it.
fn assert_aborted(output: &Output, run_dir: &Path, why: &[&str]) -> Value {
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "the run succeeded:\n{stderr}");
    let report = report(run_dir);
    assert_eq!(report["status"], "aborted", "{report}");
    assert_eq!(report["completed"], false);
    assert_eq!(report["weights_hash"], Value::Null);
    let reason = report["abort_reason"].as_str().unwrap();
    for w in why {
        assert!(reason.contains(w), "reason {reason:?} lacks {w:?}");
        assert!(stderr.contains(w), "console lacks {w:?}:\n{stderr}");
    }
    let (rounds, planned) = (
        report["rounds"].as_u64().unwrap(),
        report["rounds_planned"].as_u64().unwrap(),
    );
    assert!(rounds > 0 && rounds < planned, "{rounds} of {planned}");
    assert!(
        stderr.contains(&format!("run aborted after {rounds} of {planned} rounds")),
        "{stderr}"
    );
    let summary = run_dir.join("summary.md");
    let first_line = |p: &Path| {
        let md = std::fs::read_to_string(p).unwrap();
        md.lines().nth(2).unwrap().to_string()
    };
    let want = format!("**Aborted** after {rounds} of {planned} rounds: {reason}.");
    assert!(
        first_line(&summary).starts_with(&want),
        "{}",
        first_line(&summary)
    );
    // `rocknet report` re-renders an aborted run's report.
    std::fs::remove_file(&summary).unwrap();
    let (ok, _, err) = common::rocknet(&["report", run_dir.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(first_line(&summary).starts_with(&want));
    report
}

/// The relay killed mid-run (SIGKILL): the run stops at once — not after
/// the host's patience runs out — with a report naming the relay.
#[test]
fn a_killed_relay_aborts_the_run_with_a_report_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = paced_config(dir.path(), 2000);
    let out = dir.path().join("runs");
    let mut run = Running::start(&cfg, &out, &[]);
    std::thread::sleep(Duration::from_millis(2500));
    run.assert_running("before the kill");
    let relay = run.pid("relay");
    signal(relay, "-9");
    let killed = Instant::now();
    let (output, run_dir) = run.finish();
    assert!(
        killed.elapsed() < Duration::from_secs(10),
        "took {:?} to notice",
        killed.elapsed()
    );
    let report = assert_aborted(
        &output,
        &run_dir,
        &["the relay exited (signal: 9", "logs/relay.log"],
    );
    // What was measured up to the abort is there: devices' passes, memory.
    for d in report["per_device"].as_array().unwrap() {
        assert!(d["memory"]["total"].as_u64().unwrap() > 0, "{d}");
    }
}

/// A device that fails (here by injection) aborts the run with a report
/// naming the device and its error, and everything measured before it.
#[test]
fn a_device_error_aborts_the_run_with_a_report_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = paced_config(dir.path(), 2000);
    let out = dir.path().join("runs");
    // Rounds 0..300: epochs 1–3 of 50 training rounds, then epoch 3's 150
    // evaluation rounds (eval_every = 3); device 3 fails in epoch 4.
    let run = Running::start(&cfg, &out, &[("ROCKNET_INJECT_DEVICE_ERROR", "3@320")]);
    let (output, run_dir) = run.finish();
    let report = assert_aborted(
        &output,
        &run_dir,
        &["device 3 failed: injected error at round 320", "node-3.log"],
    );
    assert!(report["rounds"].as_u64().unwrap() >= 320, "{report}");
    // Epochs 1–4 reached; epoch 3's accuracy measured, and lossless up to
    // then, so it is `rocknet train`'s.
    let epochs = report["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 4, "epochs reached: {epochs:?}");
    let train = common::train_json(&[cfg.to_str().unwrap()]);
    let want = &train["history"][2];
    assert_eq!(want["epoch"], 3);
    assert_eq!(epochs[2]["test_accuracy"], want["test_accuracy"]);
    assert_eq!(epochs[2]["train_loss"], want["train_loss"]);
    assert_eq!(report["final_accuracy"], want["test_accuracy"]);
    assert!(
        text(&output.stderr).contains(&format!(
            "ABORTED: test accuracy so far {:.4}",
            want["test_accuracy"].as_f64().unwrap()
        )),
        "{}",
        text(&output.stderr)
    );
}

/// Ctrl-C (SIGINT to the coordinator): an aborted report saying so.
#[test]
fn ctrl_c_aborts_the_run_with_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = paced_config(dir.path(), 2000);
    let out = dir.path().join("runs");
    let mut run = Running::start(&cfg, &out, &[]);
    std::thread::sleep(Duration::from_millis(2500));
    run.assert_running("before Ctrl-C");
    signal(run.pid("coordinator"), "-INT");
    let (output, run_dir) = run.finish();
    assert_aborted(&output, &run_dir, &["interrupted (Ctrl-C)"]);
}

/// A tmpfs of `size` mounted at a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("running mount");
        // No skipping: a full disk must be tested (CI runs as root).
        assert!(
            out.status.success(),
            "cannot mount a {size} tmpfs at {} (this test needs root): {}",
            dir.path().display(),
            text(&out.stderr)
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// The run directory on a small tmpfs: the trace fills it within a few
/// hundred rounds (plain on 256 KiB; compressed, flushed every 256 KiB of
/// lines, on 48 KiB). The run stops at that first failed write, naming the
/// file and the OS error (not a misleading parse error at the end), and
/// says on the console which report files could not be written and why.
#[test]
fn a_full_disk_fails_the_run_at_the_first_failed_write_naming_the_file() {
    full_disk("jsonl", "256k", "trace.jsonl");
    full_disk("zstd", "48k", "trace.jsonl.zst");
}

fn full_disk(format: &str, size: &str, trace_file: &str) {
    let disk = Tmpfs::mount(size);
    let out = disk.path().join("runs");
    let cfg = common::config("quickstart.toml");
    let output = rocknet()
        .arg("run")
        .arg(&cfg)
        .args(["--trace-format", format])
        .arg("--out")
        .arg(&out)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    let run_dir = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let trace = run_dir.join(trace_file);
    let enospc = "No space left on device (os error 28)";
    assert!(
        stderr.contains(&format!("writing the trace {}: {enospc}", trace.display())),
        "{stderr}"
    );
    assert!(stderr.contains("run aborted after "), "{stderr}");
    assert!(!stderr.contains("not JSON"), "{stderr}");
    // Stopped at once: far from the 1601 rounds.
    let rounds: u64 = stderr
        .split("run aborted after ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(rounds < 1000, "{rounds} rounds");
    // The report: written and marked aborted, or the console says why not.
    let report_path = run_dir.join("report.json");
    if report_path.is_file() {
        assert_eq!(report(&run_dir)["status"], "aborted");
    } else {
        assert!(
            stderr.contains(&format!(
                "the report could not be written: writing {}: {enospc}",
                report_path.display()
            )),
            "{stderr}"
        );
    }
}
