//! Bad configs are rejected up front with the field named.

mod common;

use std::fs;
use std::path::PathBuf;

fn write_config(name: &str, body: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rocknet-cfg-{}-{name}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{name}.toml"));
    let data = common::repo().join("data").canonicalize().unwrap();
    fs::write(&p, body.replace("DATA", data.to_str().unwrap())).unwrap();
    p
}

const GOOD: &str = r#"
name = "t"
[dataset]
train = "DATA/GunPoint/GunPoint_TRAIN.ts"
test = "DATA/GunPoint/GunPoint_TEST.ts"
[training]
devices = 2
epochs = 1
"#;

fn fails_with(name: &str, body: &str, expect: &[&str]) {
    let p = write_config(name, body);
    let (ok, _out, err) = common::rocknet(&["train", p.to_str().unwrap()]);
    assert!(!ok, "{name}: should fail");
    for e in expect {
        assert!(
            err.contains(e),
            "{name}: error should mention {e:?}:\n{err}"
        );
    }
    assert!(!err.contains("panicked"), "{name}: panicked:\n{err}");
}

#[test]
fn a_good_config_trains() {
    let p = write_config("good", GOOD);
    let (ok, out, err) = common::rocknet(&["train", p.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("final test accuracy"), "{out}");
}

#[test]
fn unknown_field_is_named() {
    fails_with(
        "unknown",
        &GOOD.replace("epochs = 1", "epochs = 1\nepochz = 3"),
        &["epochz"],
    );
}

#[test]
fn zero_epochs_is_named() {
    fails_with(
        "zero",
        &GOOD.replace("epochs = 1", "epochs = 0"),
        &["training.epochs"],
    );
}

#[test]
fn wrong_type_is_named() {
    fails_with(
        "type",
        &GOOD.replace("devices = 2", "devices = \"many\""),
        &["devices"],
    );
}

#[test]
fn bad_optimizer_value_is_named() {
    fails_with(
        "optim",
        &GOOD.replace("epochs = 1", "epochs = 1\noptimizer = \"sgd\""),
        &["sgd"],
    );
}

#[test]
fn missing_dataset_file_is_named() {
    fails_with(
        "missing",
        &GOOD.replace("GunPoint_TEST.ts", "Nope_TEST.ts"),
        &["dataset.test", "Nope_TEST.ts"],
    );
}

#[test]
fn too_many_devices_is_named() {
    // GunPoint: 84 kernels × 12 dilations = 1,008 blocks.
    fails_with(
        "devices",
        &GOOD.replace("devices = 2", "devices = 5000"),
        &["training.devices", "5000"],
    );
}

#[test]
fn bad_learning_rate_is_named() {
    fails_with(
        "lr",
        &GOOD.replace("epochs = 1", "epochs = 1\nlearning_rate = -1.0"),
        &["training.learning_rate"],
    );
}

#[test]
fn missing_config_file_is_named() {
    let (ok, _, err) = common::rocknet(&["train", "configs/does-not-exist.toml"]);
    assert!(!ok);
    assert!(err.contains("does-not-exist.toml"), "{err}");
}

#[test]
fn environment_overrides_apply() {
    let p = write_config("env", GOOD);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rocknet"))
        .args(["train", p.to_str().unwrap(), "--json"])
        .env("ROCKNET__TRAINING__DEVICES", "3")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["devices"], 3);
}
