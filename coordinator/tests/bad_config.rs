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

/// A directory with `<stem>_TRAIN.ts`, `<stem>_TEST.ts` (the given bodies
/// after a `.ts` header declaring classes a, b, c) and `<stem>.toml` (GOOD
/// on those files, plus `extra` lines in `[model]`); returns the config.
fn ts_experiment(stem: &str, train: &str, test: &str, extra: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rocknet-{stem}-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let ts = format!(
        "@problemName {stem}\n@univariate true\n@equalLength false\n@classLabel true a b c\n@data\n"
    );
    fs::write(dir.join(format!("{stem}_TRAIN.ts")), format!("{ts}{train}")).unwrap();
    fs::write(dir.join(format!("{stem}_TEST.ts")), format!("{ts}{test}")).unwrap();
    let cfg = GOOD
        .replace(
            "DATA/GunPoint/GunPoint_TRAIN.ts",
            &format!("{stem}_TRAIN.ts"),
        )
        .replace("DATA/GunPoint/GunPoint_TEST.ts", &format!("{stem}_TEST.ts"))
        .replace("[training]", &format!("[model]\n{extra}\n[training]"));
    let p = dir.join(format!("{stem}.toml"));
    fs::write(&p, cfg).unwrap();
    p
}

/// `rocknet train <config> --json`: (success, report or null, stderr).
fn train_json_of(config: &std::path::Path) -> (bool, serde_json::Value, String) {
    let (ok, out, err) = common::rocknet(&["train", config.to_str().unwrap(), "--json"]);
    let v = serde_json::from_str(&out).unwrap_or(serde_json::Value::Null);
    (ok, v, err)
}

#[test]
fn series_shorter_than_nine_are_padded_and_reported() {
    // Length 7, as JapaneseVowels' shortest series.
    let p = ts_experiment(
        "Short",
        "1,2,3,4,5,6,7:a\n7,6,5,4,3,2,1:b\n1,3,5,7,5,3,1:c\n",
        "1,2,3,4,5,6,7:a\n7,6,5,4,3,2,1:b\n2,4,6,8,6,4,2:c\n",
        "",
    );
    let (ok, v, err) = train_json_of(&p);
    assert!(ok, "{err}");
    assert_eq!(v["length"], 9, "padded to MiniRocket's kernel length");
    let s = &v["inputs"]["short_series"];
    assert_eq!(s["train_series"], 3);
    assert_eq!(s["test_series"], 3);
    assert_eq!(s["shortest"], 7);
    assert_eq!(s["padded_length"], 9);
    assert!(
        err.contains("3 training and 3 test series are shorter than MiniRocket's 9-point kernel (shortest: 7); zero-padded at the end to length 9"),
        "{err}"
    );
}

#[test]
fn a_short_series_among_long_ones_is_padded_and_reported() {
    let p = ts_experiment(
        "Mixed",
        "1,2,3,4,5,6,7,8,9,10:a\n1,2,3:b\n3,1,4,1,5,9,2,6,5,3:c\n",
        "1,2,3,4,5,6,7,8,9,10:a\n",
        "",
    );
    let (ok, v, err) = train_json_of(&p);
    assert!(ok, "{err}");
    assert_eq!(v["length"], 10);
    assert_eq!(v["inputs"]["short_series"]["train_series"], 1);
    assert_eq!(v["inputs"]["short_series"]["shortest"], 3);
    assert!(
        err.contains("1 training and 0 test series are shorter"),
        "{err}"
    );
}

#[test]
fn series_of_nine_or_more_report_no_padding() {
    let p = write_config("nine", GOOD);
    let (ok, v, err) = train_json_of(&p);
    assert!(ok, "{err}");
    assert!(v["inputs"]["short_series"].is_null(), "{v}");
    assert_eq!(
        v["inputs"]["classes_without_training_series"],
        serde_json::json!([])
    );
    assert!(!err.contains("shorter than"), "{err}");
}

#[test]
fn a_declared_class_without_training_series_is_a_warning() {
    // Classes a, b, c declared; no training series of `c`.
    let p = ts_experiment(
        "NoC",
        "1,2,3,4,5,6,7,8,9,10:a\n10,9,8,7,6,5,4,3,2,1:b\n",
        "1,2,3,4,5,6,7,8,9,10:a\n5,5,5,5,5,5,5,5,5,5:c\n",
        "",
    );
    let (ok, v, err) = train_json_of(&p);
    assert!(ok, "{err}");
    assert_eq!(
        v["inputs"]["classes_without_training_series"],
        serde_json::json!(["c"])
    );
    let warning = "warning: class(es) `c` declared by the training file have no training series";
    // Once with the header, once after the results.
    assert_eq!(err.matches(warning).count(), 2, "{err}");
}

/// GunPoint's training set with one value replaced by `value`: series 5,
/// time step 38 (file line 24).
fn gunpoint_with_outlier(value: &str) -> PathBuf {
    let text = fs::read_to_string(common::repo().join("data/GunPoint/GunPoint_TRAIN.ts")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let (values, label) = lines[23].rsplit_once(':').unwrap();
    let mut v: Vec<&str> = values.split(',').collect();
    v[37] = value;
    lines[23] = format!("{}:{label}", v.join(","));
    let dir = std::env::temp_dir().join(format!("rocknet-outlier-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("GunPoint_{value}_TRAIN.ts"));
    fs::write(&p, lines.join("\n")).unwrap();
    p
}

#[test]
fn an_int8_outlier_is_refused_naming_the_value() {
    for value in ["3e38", "1e30", "-1e6"] {
        let train = gunpoint_with_outlier(value);
        let cfg = write_config(
            "outlier",
            &GOOD.replace("DATA/GunPoint/GunPoint_TRAIN.ts", train.to_str().unwrap()),
        );
        let (ok, _, err) = common::rocknet(&["train", cfg.to_str().unwrap(), "--input", "int8"]);
        assert!(!ok, "{value}: should be refused");
        let at = format!("{}:24: series 5, channel 1, value 38", train.display());
        assert!(err.contains(&at), "{value}: {err}");
        let shown: f32 = value.parse().unwrap();
        assert!(err.contains(&format!("is {shown:e}")), "{value}: {err}");
        assert!(
            err.contains("`model.int8_scale = { quantile = 0.999 }`"),
            "{err}"
        );
        assert!(err.contains("fewer than 8 of the 127 int8 steps"), "{err}");
        // As f32 the same data trains: the check is about the int8 scale.
        let (ok, _, err) = common::rocknet(&["train", cfg.to_str().unwrap()]);
        assert!(ok, "{value} as f32: {err}");
    }
}

#[test]
fn a_quantile_scale_clips_the_outlier_and_counts_it() {
    let train = gunpoint_with_outlier("3e38");
    let cfg = write_config(
        "quantile",
        &GOOD
            .replace("DATA/GunPoint/GunPoint_TRAIN.ts", train.to_str().unwrap())
            .replace(
                "[training]",
                "[model]\ninput = \"int8\"\nint8_scale = { quantile = 0.999 }\n[training]",
            ),
    );
    let (ok, v, err) = train_json_of(&cfg);
    assert!(ok, "{err}");
    let i = &v["inputs"]["int8"];
    assert_eq!(i["rule"], "quantile 0.999");
    // Nearest rank: 7,500 nonzero values, the 0.999 quantile is the 7,493rd
    // smallest |x|; a value clips when it rounds beyond 127 steps.
    let text = fs::read_to_string(&train).unwrap();
    let mut abs: Vec<f32> = text
        .lines()
        .filter(|l| !l.starts_with(['@', '#']) && !l.is_empty())
        .flat_map(|l| l.rsplit_once(':').unwrap().0.split(','))
        .map(|x| x.parse::<f64>().unwrap() as f32)
        .map(f32::abs)
        .collect();
    abs.sort_by(f32::total_cmp);
    assert_eq!(abs.len(), 7500);
    let reference = abs[7492];
    assert_eq!(i["reference_abs"].as_f64().unwrap() as f32, reference);
    let clipped = abs
        .iter()
        .filter(|&&a| (a * (127.0 / reference)).round() > 127.0)
        .count();
    assert!(clipped >= 1, "the outlier clips");
    assert_eq!(i["clipped_train_values"], clipped);
    assert!(
        err.contains(&format!("clipped to ±127: {clipped} training and")),
        "{err}"
    );
    // The shipped default is untouched: the max rule, nothing clipped in training.
    let (ok, v, err) = train_json_of(&write_config(
        "maxrule",
        &GOOD.replace("[training]", "[model]\ninput = \"int8\"\n[training]"),
    ));
    assert!(ok, "{err}");
    assert_eq!(v["inputs"]["int8"]["rule"], "max");
    assert_eq!(v["inputs"]["int8"]["clipped_train_values"], 0);
    assert_eq!(
        v["inputs"]["int8"]["reference_abs"].as_f64().unwrap() as f32,
        2.3692305
    );
}

#[test]
fn a_bad_int8_quantile_is_named() {
    for q in ["0.0", "1.5", "-0.5"] {
        fails_with(
            "badq",
            &GOOD.replace(
                "[training]",
                &format!(
                    "[model]\ninput = \"int8\"\nint8_scale = {{ quantile = {q} }}\n[training]"
                ),
            ),
            &["model.int8_scale", "(0, 1]"],
        );
    }
    fails_with(
        "badrule",
        &GOOD.replace("[training]", "[model]\nint8_scale = \"median\"\n[training]"),
        &["model.int8_scale", "median"],
    );
}

#[test]
fn non_finite_numbers_name_the_field_and_value() {
    for (v, shown) in [("nan", "NaN"), ("inf", "inf"), ("-inf", "-inf")] {
        fails_with(
            "nan",
            &GOOD.replace("epochs = 1", &format!("epochs = 1\nlearning_rate = {v}")),
            &[
                "training.learning_rate",
                &format!("{shown} is not a finite number"),
            ],
        );
    }
    let p = write_config("nanenv", GOOD);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rocknet"))
        .args(["train", p.to_str().unwrap()])
        .env("ROCKNET__TRAINING__BETA1", "nan")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("training.beta1"), "{err}");
    assert!(err.contains("ROCKNET__TRAINING__BETA1=nan"), "{err}");
}

#[test]
fn binary_garbage_is_not_echoed_raw() {
    let dir = std::env::temp_dir().join(format!("rocknet-garbage-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let cases: [(&str, &[u8]); 3] = [
        ("esc", b"name = \"t\"\n\x1b[31mRED\x07\x00 garbage\r\n"),
        ("instr", b"name = \"t\x1b]0;title\x07\"\n"),
        ("notutf8", b"name = \"t\"\n\xff\xfe\x00\x01\n"),
    ];
    for (name, bytes) in cases {
        let p = dir.join(format!("{name}.toml"));
        fs::write(&p, bytes).unwrap();
        let (ok, _, err) = common::rocknet(&["train", p.to_str().unwrap()]);
        assert!(!ok, "{name}");
        assert!(err.contains(&format!("{name}.toml")), "{name}: {err}");
        let raw: Vec<char> = err
            .chars()
            .filter(|c| c.is_control() && *c != '\n')
            .collect();
        assert!(
            raw.is_empty(),
            "{name}: raw control characters {raw:?} in {err:?}"
        );
    }
    let (_, _, err) = common::rocknet(&["train", dir.join("esc.toml").to_str().unwrap()]);
    assert!(err.contains("\\u{1b}[31mRED\\u{7}\\u{0}"), "{err}");
    let (_, _, err) = common::rocknet(&["train", dir.join("notutf8.toml").to_str().unwrap()]);
    assert!(
        err.contains("line 2, column 1: byte 0xff is not UTF-8"),
        "{err}"
    );
}

/// `rocknet train <GOOD> --json` with one environment variable set.
fn train_with_env(var: &str, value: &str) -> (bool, serde_json::Value, String) {
    let p = write_config(&format!("env-{}", var.to_lowercase()), GOOD);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rocknet"))
        .args(["train", p.to_str().unwrap(), "--json"])
        .env(var, value)
        .output()
        .unwrap();
    (
        out.status.success(),
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn failing_environment_overrides_name_the_variable() {
    let (ok, _, err) = train_with_env("ROCKNET__TRAINING__EPOCHS", "abc");
    assert!(!ok);
    assert!(
        err.contains(
            "field `training.epochs` (from environment variable ROCKNET__TRAINING__EPOCHS=abc)"
        ),
        "{err}"
    );
    let (ok, _, err) = train_with_env("ROCKNET__TRAINING__EPOCHS", "1.5");
    assert!(!ok);
    assert!(err.contains("ROCKNET__TRAINING__EPOCHS=1.5"), "{err}");
    assert!(err.contains("1.5"), "{err}");
    // A domain error names the variable too, not only the file.
    let (ok, _, err) = train_with_env("ROCKNET__TRAINING__EPOCHS", "0");
    assert!(!ok);
    assert!(err.contains("field `training.epochs`: must be at least 1 (set by environment variable ROCKNET__TRAINING__EPOCHS=0)"), "{err}");
    let (ok, _, err) = train_with_env("ROCKNET__NAME", "two words");
    assert!(!ok);
    assert!(err.contains("ROCKNET__NAME=two words"), "{err}");
    // A number is a valid name: the variable's text is used as it is.
    let (ok, v, err) = train_with_env("ROCKNET__NAME", "2024");
    assert!(ok, "{err}");
    assert_eq!(v["name"], "2024");
    let (ok, v, err) = train_with_env("ROCKNET__NAME", "007");
    assert!(ok, "{err}");
    assert_eq!(v["name"], "007");
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

#[test]
fn types_are_strict() {
    fails_with(
        "frac",
        &GOOD.replace("epochs = 1", "epochs = 1.5"),
        &["training.epochs", "1.5"],
    );
    fails_with(
        "bool",
        &GOOD.replace("epochs = 1", "epochs = true"),
        &["training.epochs"],
    );
    fails_with(
        "seed",
        &GOOD.replace("epochs = 1", "epochs = 1\nseed = 1.9"),
        &["training.seed"],
    );
}

#[test]
fn absurd_sizes_are_rejected_up_front() {
    fails_with(
        "ep",
        &GOOD.replace("epochs = 1", "epochs = 1000000000000"),
        &["training.epochs"],
    );
    // Beyond TOML's i64 the parser itself refuses: still an error, no panic.
    fails_with(
        "ep64",
        &GOOD.replace("epochs = 1", "epochs = 18446744073709551615"),
        &["too large"],
    );
    fails_with(
        "nf",
        &GOOD.replace(
            "[training]",
            "[model]\nnum_features = 4611686018427387904\n[training]",
        ),
        &["model.num_features"],
    );
    fails_with(
        "wd",
        &GOOD.replace(
            "epochs = 1",
            "epochs = 1\nlearning_rate = 2.0\nweight_decay = 1.0",
        ),
        &["training.weight_decay"],
    );
}
