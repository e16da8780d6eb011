//! Every experiment shipped in `configs/` runs on a local cluster over a
//! lossless topology and gives exactly `rocknet train`'s weights: the
//! distributed result of every shipped config is the centralised one, with
//! nothing lost or dropped. One epoch each, to keep it quick.
//!
//! Every `configs/*.toml` must be listed below, as an experiment or as a
//! link model, so a new config cannot be skipped silently.

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Which lossless link model an experiment runs over.
#[derive(Debug, Clone, Copy)]
enum Network {
    /// Its own `[network].linkmodel`, lossless as shipped.
    Own,
    /// A generated lossless full mesh of `training.devices + 1` nodes (its
    /// own link model is lossy, or it has none).
    Mesh,
}

/// The experiments in `configs/`.
const EXPERIMENTS: &[(&str, Network)] = &[
    ("arrowhead.toml", Network::Mesh),
    ("basicmotions.toml", Network::Mesh),
    ("coffee.toml", Network::Mesh),
    ("compose-smoke.toml", Network::Own),
    ("faceall-20.toml", Network::Mesh),
    ("faceall.toml", Network::Mesh),
    ("gunpoint.toml", Network::Mesh),
    ("italypowerdemand.toml", Network::Mesh),
    ("quickstart.toml", Network::Own),
];

/// The link-model files in `configs/` (not experiments: no dataset).
const LINK_MODELS: &[&str] = &[
    "linkmodel-ladder6.toml",
    "linkmodel-line6.toml",
    "linkmodel-testbed20-loss10.toml",
    "linkmodel-testbed20.toml",
];

#[test]
fn every_config_is_listed_as_an_experiment_or_a_link_model() {
    let mut unlisted = Vec::new();
    for e in std::fs::read_dir(common::repo().join("configs")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if !name.ends_with(".toml") {
            continue;
        }
        let is_exp = EXPERIMENTS.iter().any(|(n, _)| *n == name);
        let is_lm = LINK_MODELS.contains(&name.as_str());
        assert!(!(is_exp && is_lm), "{name} is in both lists");
        if !is_exp && !is_lm {
            unlisted.push(name);
        }
    }
    assert!(
        unlisted.is_empty(),
        "configs not covered by every_shipped_config.rs: {unlisted:?}; add each to EXPERIMENTS or LINK_MODELS"
    );
    for (n, _) in EXPERIMENTS {
        assert!(common::config(n).is_file(), "{n} listed but missing");
    }
    for n in LINK_MODELS {
        assert!(common::config(n).is_file(), "{n} listed but missing");
        let text = std::fs::read_to_string(common::config(n)).unwrap();
        assert!(!text.contains("[dataset]"), "{n} looks like an experiment");
    }
}

/// A lossless Mixer full mesh of `nodes` nodes (host 0 and the devices).
fn mesh(dir: &Path, nodes: usize) -> std::path::PathBuf {
    let mut links = String::new();
    for a in 0..nodes {
        for b in a + 1..nodes {
            links.push_str(&format!("  {{ from = {a}, to = {b}, prr = 1.0 }},\n"));
        }
    }
    let p = dir.join(format!("mesh{nodes}.toml"));
    std::fs::write(
        &p,
        format!(
            "seed = 1\nmode = \"mixer\"\nslots_per_round = 300\nn_tx = 3\npayload_bytes = 100\n\
             [topology]\nkind = \"links\"\nnodes = {nodes}\nlinks = [\n{links}]\n[loss]\nkind = \"bernoulli\"\n"
        ),
    )
    .unwrap();
    p
}

/// `rocknet <args> --json` with `env`; stdout as JSON and stderr.
fn json(args: &[&str], env: &[(&str, String)]) -> (Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rocknet"))
        .args(args)
        .arg("--json")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(common::repo())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "rocknet {args:?} failed:\n{stderr}");
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("rocknet {args:?}: stdout is not JSON ({e})"));
    (v, stderr)
}

#[test]
fn every_shipped_experiment_runs_on_a_lossless_cluster_exactly_as_train() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for &(name, network) in EXPERIMENTS {
        let cfg = common::config(name);
        let cfg_s = cfg.to_str().unwrap();
        // The device count as shipped (train's JSON report names it).
        let (train, _) = json(&["train", cfg_s, "--epochs", "1"], &[]);
        let devices = train["devices"].as_u64().unwrap() as usize;
        let env: Vec<(&str, String)> = match network {
            Network::Own => Vec::new(),
            Network::Mesh => vec![(
                "ROCKNET__NETWORK__LINKMODEL",
                mesh(dir.path(), devices + 1).display().to_string(),
            )],
        };
        let out = dir.path().join(name.trim_end_matches(".toml"));
        let t0 = std::time::Instant::now();
        let (run, stderr) = json(
            &[
                "run",
                cfg_s,
                "--epochs",
                "1",
                "--out",
                out.to_str().unwrap(),
            ],
            &env,
        );
        let net = &run["network"];
        eprintln!(
            "{name}: {devices} devices, {} rounds in {:.1} s, weights {} (train {}), {} of {} deliveries, {} drops",
            run["rounds"],
            t0.elapsed().as_secs_f64(),
            run["weights_hash"],
            train["weights_hash"],
            net["deliveries_made"],
            net["deliveries_expected"],
            net["drops_total"],
        );
        let checks = [
            (run["completed"] == true, "completed"),
            (run["weights_hash"] == train["weights_hash"], "weights hash"),
            (run["predictions"] == train["predictions"], "predictions"),
            (net["messages_lost"] == 0, "messages lost"),
            (net["drops_total"] == 0, "drops"),
            (!stderr.contains("WARNING"), "no warning"),
        ];
        for (ok, what) in checks {
            if !ok {
                failures.push(format!("{name}: {what}: {net}\n{stderr}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
