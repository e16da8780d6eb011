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

#[test]
fn series_shorter_than_nine_is_an_error() {
    let dir = std::env::temp_dir().join(format!("rocknet-short-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let ts = "@problemName Short\n@univariate true\n@classLabel true a b\n@data\n";
    let body = format!("{ts}1,2,3,4,5:a\n5,4,3,2,1:b\n");
    fs::write(dir.join("S_TRAIN.ts"), &body).unwrap();
    fs::write(dir.join("S_TEST.ts"), &body).unwrap();
    let cfg = GOOD
        .replace("DATA/GunPoint/GunPoint_TRAIN.ts", "S_TRAIN.ts")
        .replace("DATA/GunPoint/GunPoint_TEST.ts", "S_TEST.ts");
    fs::write(dir.join("short.toml"), cfg).unwrap();
    let (ok, _, err) = common::rocknet(&["train", dir.join("short.toml").to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("length 5") && err.contains('9'), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn malformed_dataset_is_named_with_its_line() {
    let dir = std::env::temp_dir().join(format!("rocknet-bad-ds-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let ts = "@problemName Bad\n@univariate true\n@classLabel true a b\n@data\n";
    fs::write(
        dir.join("B_TRAIN.ts"),
        format!("{ts}1,2,3,4,5,6,7,8,9,10:a\n1,2,3,x,5,6,7,8,9,10:b\n"),
    )
    .unwrap();
    fs::write(
        dir.join("B_TEST.ts"),
        format!("{ts}1,2,3,4,5,6,7,8,9,10:a\n"),
    )
    .unwrap();
    let cfg = GOOD
        .replace("DATA/GunPoint/GunPoint_TRAIN.ts", "B_TRAIN.ts")
        .replace("DATA/GunPoint/GunPoint_TEST.ts", "B_TEST.ts");
    fs::write(dir.join("bad.toml"), cfg).unwrap();
    let (ok, _, err) = common::rocknet(&["train", dir.join("bad.toml").to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("B_TRAIN.ts:6"), "{err}");
    assert!(
        err.contains("\"x\"") || err.contains("`x`") || err.contains(" x"),
        "{err}"
    );
}

#[test]
fn command_line_overrides_apply() {
    let cfg = common::config("gunpoint.toml");
    let data = common::repo().join("data/ItalyPowerDemand");
    let train = data.join("ItalyPowerDemand_TRAIN.ts");
    let test = data.join("ItalyPowerDemand_TEST.ts");
    let v = common::train_json(&[
        cfg.to_str().unwrap(),
        "--train",
        train.to_str().unwrap(),
        "--test",
        test.to_str().unwrap(),
        "--devices",
        "7",
        "--epochs",
        "2",
        "--seed",
        "5",
    ]);
    assert_eq!(v["length"], 24);
    assert_eq!(v["devices"], 7);
    assert_eq!(v["epochs"], 2);
    assert_eq!(v["seed"], 5);
    assert_eq!(v["predictions"].as_array().unwrap().len(), 1029);
    assert_eq!(v["memory"].as_array().unwrap().len(), 7);
    assert!(v["memory"][0]["memory_bytes"].as_u64().unwrap() > 0);
}
