//! Message sizes, link-model capacity and drops, end to end: a large
//! shipped sample travels; a config whose messages cannot travel is refused
//! before any process or run directory exists; a run with drops reports them
//! by kind in report.json, summary.md and on the console, and they count
//! against the delivery ratio.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn rocknet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rocknet"))
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn only_run_dir(out: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

/// Item 1: BasicMotions (6 × 100 f32: 2,425-byte samples, more than the
/// relay's former fixed 2,048-byte limit) on 5 devices over the shipped
/// lossless line equals `rocknet train` bit for bit, with nothing dropped.
#[test]
fn basicmotions_over_line6_equals_train_with_nothing_dropped() {
    let cfg = common::config("basicmotions.toml");
    let out = tempfile::tempdir().unwrap();
    let env = [
        ("ROCKNET__TRAINING__DEVICES", "5"),
        ("ROCKNET__NETWORK__LINKMODEL", "linkmodel-line6.toml"),
    ];
    let run = json_of(
        &rocknet()
            .arg("run")
            .arg(&cfg)
            .args(["--epochs", "2", "--json", "--out"])
            .arg(out.path())
            .envs(env)
            .output()
            .unwrap(),
    );
    let train = json_of(
        &rocknet()
            .arg("train")
            .arg(&cfg)
            .args(["--epochs", "2", "--json"])
            .envs(env)
            .output()
            .unwrap(),
    );
    assert_eq!(run["completed"], true);
    assert_eq!(run["weights_hash"], train["weights_hash"]);
    assert_eq!(run["predictions"], train["predictions"]);
    let net = &run["network"];
    assert_eq!(net["drops_total"], 0, "{net}");
    assert_eq!(net["relay_drops"], serde_json::json!([]), "{net}");
    assert_eq!(net["messages_lost"], 0, "{net}");
    assert_eq!(net["delivery_ratio"], 1.0, "{net}");
    // Every sample was flooded: 2 epochs × (40 train + 40 test) rounds
    // carry one 2,425-byte sample each.
    let mut trace = String::new();
    rocknet_linkmodel::trace_file::open(&only_run_dir(out.path()).join("trace.jsonl.zst"))
        .unwrap()
        .read_to_string(&mut trace)
        .unwrap();
    let samples = trace.matches(r#""kind":"sample","len":2425"#).count();
    assert_eq!(samples, 160);
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A GunPoint experiment on 5 devices in `dir` over the link model `lm`.
fn gunpoint_config(dir: &Path, lm: &Path, extra_network: &str) -> PathBuf {
    let data = common::repo().join("data/GunPoint");
    write(
        dir,
        "exp.toml",
        &format!(
            "name = \"t\"\n[dataset]\ntrain = \"{}\"\ntest = \"{}\"\n[training]\ndevices = 5\nepochs = 1\n\
             [network]\nlinkmodel = \"{}\"\n{extra_network}\n",
            data.join("GunPoint_TRAIN.ts").display(),
            data.join("GunPoint_TEST.ts").display(),
            lm.display()
        ),
    )
}

/// Runs `rocknet <cmd> cfg --out out`, expects a failure before anything
/// started (no run directory); returns stderr.
fn refused(cmd: &str, cfg: &Path, out: &Path) -> String {
    let mut c = rocknet();
    c.arg(cmd).arg(cfg);
    if cmd != "relay" {
        c.arg("--out").arg(out);
    } else {
        c.args(["--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"]);
    }
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{cmd}: expected a refusal:\n{err}");
    assert!(!out.exists(), "{cmd}: a run directory was created");
    assert!(!err.contains("panicked"), "{err}");
    // Nothing started: no relay ready line, no device.
    assert!(!err.contains("rocknet-linkmodel: data"), "{err}");
    err
}

/// Item 4: a link model that provably cannot deliver a round (1 slot of
/// 1-byte frames) is refused by `run`, `serve` and `relay` with the numbers.
#[test]
fn a_link_model_that_cannot_carry_a_round_is_refused_before_start() {
    let dir = tempfile::tempdir().unwrap();
    let lm = write(
        dir.path(),
        "tiny.toml",
        "seed = 1\nslots_per_round = 1\npayload_bytes = 1\n[topology]\nkind = \"line\"\ndevices = 5\nprr = 1.0\n",
    );
    let cfg = gunpoint_config(dir.path(), &lm, "");
    let out = dir.path().join("runs");
    for cmd in ["run", "serve", "relay"] {
        let e = refused(cmd, &cfg, &out);
        // GunPoint f32: 33 B beacon + 625 B sample + 5 × 29 B logits = 803
        // one-byte fragments; a node owning 29 must receive 774.
        for want in [
            "tiny.toml",
            "803 fragments",
            "625 B sample",
            "at least 774 slots",
            "`slots_per_round` is 1",
        ] {
            assert!(e.contains(want), "{cmd}: {want:?} missing:\n{e}");
        }
    }
}

/// A round that fits the provable bound but that the flood model misses
/// even over lossless links is started, with a loud warning first.
#[test]
fn a_round_that_may_not_fit_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let lm = write(
        dir.path(),
        "short.toml",
        "seed = 1\nslots_per_round = 14\n[topology]\nkind = \"line\"\ndevices = 5\nprr = 1.0\n",
    );
    let cfg = gunpoint_config(dir.path(), &lm, "round_timeout_ms = 2000");
    let out = dir.path().join("runs");
    let o = rocknet()
        .arg("run")
        .arg(&cfg)
        .args(["--json", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("WARNING: ") && err.contains("even with every link lossless"),
        "{err}"
    );
    let report = json_of(&o);
    assert!(report["network"]["messages_lost"].as_u64().unwrap() > 0);
    let w = report["warnings"].as_array().unwrap();
    assert!(
        w.iter().any(|w| w
            .as_str()
            .unwrap()
            .contains("even with every link lossless")),
        "{report}"
    );
}

/// Item 8: a 100,000-point series trains in `rocknet train` but cannot
/// travel as one packet: `run`, `serve` and `relay` refuse it before any
/// process or run directory exists, naming the limit and the numbers.
#[test]
fn a_series_too_long_for_a_packet_is_refused_before_start() {
    let dir = tempfile::tempdir().unwrap();
    let ts = "@problemName Long\n@univariate true\n@classLabel true a b\n@data\n";
    let row = |k: usize, label: &str| {
        let v: Vec<String> = (0..100_000)
            .map(|i| format!("{}", ((i * (k + 3)) % 17) as f32 * 0.25))
            .collect();
        format!("{}:{label}\n", v.join(","))
    };
    let body = format!(
        "{ts}{}{}{}{}",
        row(0, "a"),
        row(1, "b"),
        row(2, "a"),
        row(3, "b")
    );
    write(dir.path(), "L_TRAIN.ts", &body);
    write(dir.path(), "L_TEST.ts", &body);
    let lm = write(
        dir.path(),
        "line2.toml",
        "seed = 1\n[topology]\nkind = \"line\"\ndevices = 2\nprr = 1.0\n",
    );
    let cfg = write(
        dir.path(),
        "long.toml",
        &format!(
            "name = \"long\"\n[dataset]\ntrain = \"L_TRAIN.ts\"\ntest = \"L_TEST.ts\"\n[model]\nnum_features = 84\n\
             [training]\ndevices = 2\nepochs = 1\n[network]\nlinkmodel = \"{}\"\n",
            lm.display()
        ),
    );
    // `rocknet train` handles it.
    let (ok, _, err) = common::rocknet(&["train", cfg.to_str().unwrap()]);
    assert!(ok, "{err}");
    let out = dir.path().join("runs");
    for cmd in ["run", "serve", "relay"] {
        let e = refused(cmd, &cfg, &out);
        for want in [
            "long.toml",
            "100000 f32 values",
            "400025-byte packet",
            "65480 bytes",
            "65507-byte UDP datagram",
            "at most 16363 f32 values",
        ] {
            assert!(e.contains(want), "{cmd}: {want:?} missing:\n{e}");
        }
    }
}

/// Waits for the run directory's cluster.json and reads it.
fn cluster_info(out: &Path) -> Value {
    let t0 = Instant::now();
    loop {
        assert!(t0.elapsed() < Duration::from_secs(120), "no cluster.json");
        if let Some(Ok(e)) = std::fs::read_dir(out).ok().and_then(|mut d| d.next()) {
            let p = e.path().join("cluster.json");
            if let Ok(bytes) = std::fs::read(&p)
                && let Ok(v) = serde_json::from_slice::<Value>(&bytes)
            {
                return v;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Junk sent to the relay's data port while a run is going is dropped,
/// counted by kind, shown in report.json, in summary.md's first line and on
/// the console, and counted against the delivery ratio.
#[test]
fn drops_are_reported_by_kind_everywhere_and_lower_the_delivery_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let line6 = common::config("linkmodel-line6.toml");
    // Paced so that the test can send while the rounds run.
    let cfg = gunpoint_config(dir.path(), &line6, "time_scale = 0.05");
    let out = dir.path().join("runs");
    let run = rocknet()
        .arg("run")
        .arg(&cfg)
        .args(["--json", "--out"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let info = cluster_info(&out);
    let relay: std::net::SocketAddr = info["relay"].as_str().unwrap().parse().unwrap();
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // 3 datagrams too short for a header, 2 with a wrong magic.
    for _ in 0..3 {
        sock.send_to(b"junk", relay).unwrap();
    }
    for _ in 0..2 {
        sock.send_to(&[0xAB; 40], relay).unwrap();
    }
    let output = run.wait_with_output().unwrap();
    let report = json_of(&output);
    let net = &report["network"];
    let kind = |k: &str| {
        net["relay_drops"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e[0] == k)
            .map_or(0, |e| e[1].as_u64().unwrap())
    };
    assert_eq!(kind("too_short"), 3, "{net}");
    assert_eq!(kind("bad_magic"), 2, "{net}");
    assert_eq!(net["drops_total"], 5, "{net}");
    // Each dropped datagram counts as a message none of the 5 other nodes
    // got: 25 pairs lost, although the flood itself lost nothing.
    assert_eq!(net["messages_lost"], 25, "{net}");
    let (made, expected) = (
        net["deliveries_made"].as_u64().unwrap(),
        net["deliveries_expected"].as_u64().unwrap(),
    );
    assert_eq!(expected - made, 25);
    assert!(net["delivery_ratio"].as_f64().unwrap() < 1.0, "{net}");
    // The weights are still train's: the junk carried nothing of the run.
    let train = common::train_json(&[cfg.to_str().unwrap()]);
    assert_eq!(report["weights_hash"], train["weights_hash"]);

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("WARNING: 5 packets were dropped"),
        "{stderr}"
    );
    assert!(
        stderr.contains("relay: ")
            && stderr.contains("too_short 3")
            && stderr.contains("bad_magic 2"),
        "{stderr}"
    );
    assert!(
        stderr.contains("25 (message, receiver) pairs lost"),
        "{stderr}"
    );
    let summary = std::fs::read_to_string(only_run_dir(&out).join("summary.md")).unwrap();
    let first = summary.lines().next().unwrap();
    assert!(
        first.contains("WARNING: 5 packets dropped")
            && first.contains("too_short 3")
            && first.contains("bad_magic 2"),
        "{first}"
    );
    assert!(summary.contains("| packets dropped | 5 |"), "{summary}");
}
