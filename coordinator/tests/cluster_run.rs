//! `rocknet run` end to end: processes, relay, host, reports.
//!
//! These start real processes (the `rocknet` binary's hidden `node` and
//! `linkmodel` subcommands) on loopback.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

fn rocknet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rocknet"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The acceptance test of the cluster: over a lossless topology, 5 device
/// processes exchanging partial logits through the relay compute exactly
/// what the in-process trainer computes — same weights (hash), same
/// predictions, same per-epoch losses and accuracies.
#[test]
fn run_over_a_lossless_line_equals_train_bit_for_bit() {
    let cfg = root().join("configs/quickstart.toml");
    let out = tempfile::tempdir().unwrap();
    let run = stdout_json(
        &rocknet()
            .arg("run")
            .arg(&cfg)
            .args(["--epochs", "6", "--json", "--out"])
            .arg(out.path())
            .output()
            .unwrap(),
    );
    let train = stdout_json(
        &rocknet()
            .arg("train")
            .arg(&cfg)
            .args(["--epochs", "6", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(run["completed"], true);
    assert_eq!(run["devices"], 5);
    assert_eq!(run["network"]["delivery_ratio"], 1.0);
    assert_eq!(run["weights_hash"], train["weights_hash"]);
    assert_eq!(run["predictions"], train["predictions"]);
    assert_eq!(run["final_accuracy"], train["accuracy"]);
    let (re, te) = (
        run["epochs"].as_array().unwrap(),
        train["history"].as_array().unwrap(),
    );
    assert_eq!(re.len(), 6);
    for (r, t) in re.iter().zip(te) {
        assert_eq!(r["epoch"], t["epoch"]);
        assert_eq!(r["train_loss"], t["train_loss"], "epoch {}", t["epoch"]);
        assert_eq!(r["train_accuracy"], t["train_accuracy"]);
        assert_eq!(r["test_accuracy"], t["test_accuracy"]);
        // Every device saw the same sums, so every device's view agrees.
        if let Some(acc) = t["test_accuracy"].as_f64() {
            for d in r["device_test_accuracy"].as_array().unwrap() {
                assert_eq!(d.as_f64(), Some(acc));
            }
        }
    }
    // The run directory holds what docs/architecture.md#run-directory says.
    let dir = std::fs::read_dir(out.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    for f in [
        "report.json",
        "trace.jsonl.zst",
        "config.json",
        "cluster.json",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing in {}", dir.display());
    }
    let mut lines = String::new();
    rocknet_linkmodel::trace_file::open(&dir.join("trace.jsonl.zst"))
        .unwrap()
        .read_to_string(&mut lines)
        .unwrap();
    assert_eq!(
        lines.lines().filter(|l| l.contains("\"round\"")).count() as u64,
        run["rounds"].as_u64().unwrap()
    );
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A config in `dir` based on the quickstart with `extra` appended to
/// `[training]` and `network` replacing the `[network]` section.
fn config(dir: &Path, training_extra: &str, network: &str) -> PathBuf {
    let data = root().join("data/GunPoint");
    write(
        dir,
        "exp.toml",
        &format!(
            "name = \"t\"\n[dataset]\ntrain = \"{}\"\ntest = \"{}\"\n[training]\ndevices = 5\nepochs = 2\n{training_extra}\n[network]\n{network}\n",
            data.join("GunPoint_TRAIN.ts").display(),
            data.join("GunPoint_TEST.ts").display(),
        ),
    )
}

fn run_err(cfg: &Path, out: &Path) -> String {
    let o = rocknet()
        .arg("run")
        .arg(cfg)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(!o.status.success(), "expected a failure");
    assert!(
        !out.exists(),
        "a run directory was created before the config was checked"
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Bad input is one clear error before any process starts (no run
/// directory appears).
#[test]
fn bad_cluster_configs_fail_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs");
    let line6 = root().join("configs/linkmodel-line6.toml");
    let net = format!("linkmodel = \"{}\"", line6.display());

    // A missing dataset file.
    let cfg = config(dir.path(), "", &net);
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("GunPoint_TEST.ts", "NoSuch_TEST.ts");
    std::fs::write(&cfg, text).unwrap();
    let e = run_err(&cfg, &out);
    assert!(
        e.contains("dataset.test") && e.contains("NoSuch_TEST.ts"),
        "{e}"
    );

    // Zero epochs.
    let cfg = config(dir.path(), "", &net);
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("epochs = 2", "epochs = 0");
    std::fs::write(&cfg, text).unwrap();
    let e = run_err(&cfg, &out);
    assert!(e.contains("training.epochs"), "{e}");

    // More devices than kernel blocks (84 kernels × 1 dilation at 84 features).
    let cfg = config(dir.path(), "", &net);
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("devices = 5", "devices = 90")
        .replace("[training]", "[model]\nnum_features = 84\n[training]");
    std::fs::write(&cfg, text).unwrap();
    let e = run_err(&cfg, &out);
    assert!(e.contains("training.devices"), "{e}");

    // A topology whose size does not match the devices.
    let cfg = config(dir.path(), "", &net);
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("devices = 5", "devices = 4");
    std::fs::write(&cfg, text).unwrap();
    let e = run_err(&cfg, &out);
    assert!(
        e.contains("training.devices") && e.contains("linkmodel-line6.toml") && e.contains("6"),
        "{e}"
    );

    // A scheduled fault naming a node the topology does not have.
    let lm = write(
        dir.path(),
        "lm.toml",
        "seed = 1\nslots_per_round = 150\n[topology]\nkind = \"line\"\ndevices = 5\nprr = 1.0\n[[faults]]\nat_round = 3\nkind = \"node_down\"\nnode = 30\n",
    );
    let cfg = config(dir.path(), "", &format!("linkmodel = \"{}\"", lm.display()));
    let e = run_err(&cfg, &out);
    assert!(e.contains("30") && e.contains("lm.toml"), "{e}");

    // No link model at all.
    let cfg = config(dir.path(), "", "missing = \"zero\"");
    let e = run_err(&cfg, &out);
    assert!(e.contains("network.linkmodel"), "{e}");

    // A bad network value.
    let cfg = config(dir.path(), "", &format!("{net}\ntime_scale = -1.0"));
    let e = run_err(&cfg, &out);
    assert!(e.contains("network.time_scale"), "{e}");
}

fn wait_for(path: &Path, timeout: Duration) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if path.is_file() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Kills one device process mid-run (SIGKILL: a crash), then starts a new
/// one: the run completes, the report names the device, its second join
/// and the rounds it missed; every other device missed nothing.
#[test]
fn a_killed_device_is_reported_and_a_restarted_one_rejoins() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs");
    let line6 = root().join("configs/linkmodel-line6.toml");
    // Paced (time_scale) so the run lasts long enough to kill a node in it;
    // a short round timeout so the dead node costs little.
    let cfg = config(
        dir.path(),
        "epochs = 6\neval_every = 6\nbatch_size = 8\nlearning_rate = 0.003",
        &format!(
            "linkmodel = \"{}\"\ntime_scale = 0.1\nround_timeout_ms = 400",
            line6.display()
        ),
    );
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("epochs = 2\n", "");
    std::fs::write(&cfg, text).unwrap();
    let mut run = rocknet()
        .arg("run")
        .arg(&cfg)
        .args(["--json", "--out"])
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Find the run directory and its cluster.json.
    let t0 = Instant::now();
    let info = loop {
        assert!(t0.elapsed() < Duration::from_secs(60), "no cluster.json");
        if let Some(Ok(e)) = std::fs::read_dir(&out).ok().and_then(|mut d| d.next())
            && wait_for(&e.path().join("cluster.json"), Duration::from_secs(1))
        {
            let v: Value =
                serde_json::from_slice(&std::fs::read(e.path().join("cluster.json")).unwrap())
                    .unwrap();
            break v;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let victim = 2usize;
    let pid = info["pids"][victim].as_u64().unwrap();
    // Let the run get going (device fits and registrations, some rounds).
    std::thread::sleep(Duration::from_secs(2));
    assert!(run.try_wait().unwrap().is_none(), "the run ended too soon");
    let killed = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    std::thread::sleep(Duration::from_secs(1));
    // A replacement process for the same device.
    let mut restarted = rocknet()
        .arg("node")
        .args(["--device", &victim.to_string()])
        .args(["--relay", info["relay"].as_str().unwrap()])
        .args(["--coordinator", info["coordinator"].as_str().unwrap()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let output = run.wait_with_output().unwrap();
    let _ = restarted.wait();
    let report = stdout_json(&output);
    assert_eq!(report["completed"], true, "{report}");
    let devs = report["per_device"].as_array().unwrap();
    let v = &devs[victim];
    assert_eq!(v["joins"], 2, "{v}");
    let missed = v["missed_rounds"].as_array().unwrap();
    assert!(!missed.is_empty(), "{v}");
    for (d, dev) in devs.iter().enumerate() {
        if d != victim {
            assert_eq!(dev["joins"], 1);
            assert!(dev["missed_rounds"].as_array().unwrap().is_empty(), "{dev}");
        }
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("device {victim}: joined 2 time(s), missed rounds")),
        "{stderr}"
    );
    // Training went on around it: every device finished, and the training
    // loss fell (the restarted slice starts again from the plan's initial
    // weights, so the final accuracy itself varies with the kill's timing).
    assert!(devs.iter().all(|d| d["finished"] == true), "{report}");
    let losses: Vec<f64> = report["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["train_loss"].as_f64())
        .collect();
    assert_eq!(losses.len(), 6, "{report}");
    assert!(losses[5] < losses[0] / 4.0, "{losses:?}");
}

/// The containerised form on loopback: `rocknet relay` (set up from the
/// experiment config), `rocknet serve` and device processes started
/// independently (in any order, as containers start) find each other,
/// compute exactly what `rocknet train` computes, and the deployment ends by
/// itself: serve tells the relay to shut down and keeps the relay's whole
/// trace (final drops line included) in the run directory.
#[test]
fn serve_with_an_external_relay_and_self_starting_devices_equals_train() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let cfg = root().join("configs/quickstart.toml");
    let trace = dir.path().join("trace.jsonl");
    let mut relay = rocknet()
        .arg("relay")
        .arg(&cfg)
        .args(["--epochs", "3"])
        .args(["--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"])
        .arg("--trace")
        .arg(&trace)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(relay.stderr.take().unwrap()).lines();
    let ready = lines.next().unwrap().unwrap();
    let (relay_addr, control) = ready
        .strip_prefix("rocknet-linkmodel: data ")
        .and_then(|r| r.split_once(" control "))
        .map(|(d, c)| (d.to_string(), c.trim().to_string()))
        .unwrap_or_else(|| panic!("unexpected ready line {ready:?}"));
    std::thread::spawn(move || for _ in lines {});
    // A free port for the coordinator's telemetry listener.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let coordinator = format!("127.0.0.1:{port}");
    // Devices first: they keep retrying until the coordinator is up.
    let mut nodes: Vec<_> = (0..5)
        .map(|d| {
            rocknet()
                .arg("node")
                .args(["--device", &d.to_string()])
                .args(["--relay", &relay_addr])
                .args(["--coordinator", &coordinator])
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let out = rocknet()
        .arg("serve")
        .arg(&cfg)
        .args([
            "--epochs",
            "3",
            "--relay",
            &relay_addr,
            "--control",
            &control,
            "--listen",
            &coordinator,
        ])
        .arg("--trace")
        .arg(&trace)
        .arg("--out")
        .arg(dir.path().join("runs"))
        .output()
        .unwrap();
    for n in &mut nodes {
        let _ = n.wait();
    }
    // The relay was told to shut down: it exits by itself, successfully.
    let t0 = Instant::now();
    let relay_status = loop {
        if let Some(st) = relay.try_wait().unwrap() {
            break Some(st);
        }
        if t0.elapsed() > Duration::from_secs(20) {
            let _ = relay.kill();
            let _ = relay.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        relay_status.is_some_and(|s| s.success()),
        "the relay did not shut down by itself: {relay_status:?}"
    );
    let run_dir = std::fs::read_dir(dir.path().join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let kept = std::fs::read(run_dir.join("trace.jsonl")).unwrap();
    assert_eq!(kept, std::fs::read(&trace).unwrap(), "trace copy differs");
    let last = kept.split(|&b| b == b'\n').rev().nth(1).unwrap();
    assert!(
        last.starts_with(b"{\"drops\""),
        "{}",
        String::from_utf8_lossy(last)
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("report.json")).unwrap()).unwrap();
    let train = stdout_json(
        &rocknet()
            .arg("train")
            .arg(&cfg)
            .args(["--epochs", "3", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(report["completed"], true);
    assert_eq!(report["weights_hash"], train["weights_hash"]);
    assert_eq!(report["predictions"], train["predictions"]);
    assert_eq!(
        report["network"]["messages_lost"], 0,
        "{}",
        report["network"]
    );
}
