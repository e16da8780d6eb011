//! Distribution is exact: training on 1 device and on N devices gives
//! bit-identical weights and predictions (docs/method.md#exact-partial-logits).

mod common;

fn run(devices: &str, extra: &[&str]) -> serde_json::Value {
    let cfg = common::config("gunpoint.toml");
    let mut args = vec![
        cfg.to_str().unwrap(),
        "--devices",
        devices,
        "--epochs",
        "8",
        "--eval-every",
        "4",
    ];
    args.extend_from_slice(extra);
    common::train_json(&args)
}

fn assert_same(a: &serde_json::Value, b: &serde_json::Value) {
    assert_eq!(a["weights_hash"], b["weights_hash"], "weights differ");
    assert_eq!(a["predictions"], b["predictions"], "predictions differ");
    assert_eq!(a["accuracy"], b["accuracy"]);
    assert_eq!(
        a["history"], b["history"],
        "per-epoch losses/accuracies differ"
    );
    assert_eq!(a["saturated_logits"], 0);
}

#[test]
fn one_and_twenty_devices_are_bit_identical_f32_adam() {
    let one = run("1", &[]);
    let twenty = run("20", &[]);
    assert_eq!(one["devices"], 1);
    assert_eq!(twenty["devices"], 20);
    assert_same(&one, &twenty);
    assert_trained(&one);
}

/// The run actually trained: the loss went down.
fn assert_trained(r: &serde_json::Value) {
    let h = r["history"].as_array().unwrap();
    let first = h[0]["train_loss"].as_f64().unwrap();
    let last = h.last().unwrap()["train_loss"].as_f64().unwrap();
    assert!(last < 0.8 * first, "loss {first} → {last}");
}

#[test]
fn one_and_twenty_devices_are_bit_identical_int8_qadam() {
    let extra = ["--input", "int8", "--optimizer", "qadam"];
    let one = run("1", &extra);
    let twenty = run("20", &extra);
    assert_eq!(one["optimizer"], "qadam");
    assert_eq!(one["input"], "int8");
    assert_same(&one, &twenty);
    assert_trained(&one);
    // 84 devices: one kernel each, still QAdam's per-kernel blocks.
    assert_same(&one, &run("84", &extra));
}

#[test]
fn beyond_84_devices_qadam_is_exact_across_block_partitions() {
    // Past 84 devices QAdam's blocks are (dilation, kernel) blocks: the
    // result is the same for every such N (docs/method.md#optimizers-adam-and-qadam: not equal to N ≤ 84).
    let extra = ["--optimizer", "qadam"];
    let a = run("100", &extra);
    let b = run("333", &extra);
    assert_same(&a, &b);
    assert_trained(&a);
}

#[test]
fn more_devices_than_kernels_split_blocks_and_stay_exact_with_adam() {
    // 84 < 100 devices: each owns (dilation, kernel) blocks, not kernels.
    let one = run("1", &[]);
    let hundred = run("100", &[]);
    assert_same(&one, &hundred);
    assert_trained(&hundred);
}

#[test]
fn different_seeds_give_different_models() {
    let a = run("5", &["--seed", "1"]);
    let b = run("5", &["--seed", "2"]);
    assert_ne!(a["weights_hash"], b["weights_hash"]);
}
