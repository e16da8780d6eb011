//! The firmware in QEMU replays what `rocknet train` recorded and must end
//! with bit-identical weights and predictions.
//!
//! 1. Train in process and record, as `rocknet train <config> --record DIR`
//!    does: `configs/quickstart.toml` for 2 epochs, evaluating after the
//!    second (GunPoint, 5 devices, batch 8, Adam, f32: 100 training + 150
//!    evaluation items), and `configs/faceall-20.toml` for 1 epoch (FaceAll,
//!    20 devices, int8, QAdam, batch 128: 560 + 1,690 items). One record per
//!    device and `expected.json` (each device's parameter hash, the
//!    predictions).
//! 2. For GunPoint devices 0 and 3 and FaceAll device 0: build the firmware
//!    for thumbv7em-none-eabihf with `--features radio-replay` and
//!    `ROCKNET_FW_RECORD` = that device's record (in its own cargo target
//!    dir, `<target>/firmware-replay/cargo`), run it in
//!    `qemu-system-arm -machine mps2-an386 -icount shift=0`, parse what it
//!    prints through semihosting.
//! 3. Compare: weights hash and all predictions equal the host's; every
//!    partial logit the firmware sent equals the host's for the same item.
//! 4. Build the nRF52840 image (default features: FaceAll, 20 devices,
//!    device 0, int8, QAdam) and check it fits 1 MiB flash / 256 KiB RAM.
//! 5. Write `<target>/firmware-replay/measurements.json`: flash/RAM per image
//!    (from the ELF section headers), stack high-water, instructions per
//!    phase (SysTick ticks × the measured instructions per tick), and the
//!    cost model's predicted cycles and the ratio.
//!
//! Needs `qemu-system-arm` and the `thumbv7em-none-eabihf` rustup target;
//! fails (never skips) with the command that installs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rocknet_coordinator::config::ExperimentConfig;
use rocknet_coordinator::cost::CycleModel;
use rocknet_coordinator::experiment::Experiment;
use rocknet_coordinator::record_files;
use rocknet_coordinator::train::{TrainOptions, train_recorded};
use rocknet_core::record::Record;
use rocknet_systests::{cargo, repo, require_qemu, require_rust_target};
use serde_json::{Value, json};

/// A recorded run replayed in QEMU: the config, its epochs and evaluation
/// interval, the test-set size, the devices replayed.
struct Scenario {
    name: &'static str,
    config: &'static str,
    epochs: usize,
    eval_every: usize,
    n_test: usize,
    devices: &'static [usize],
}

const SCENARIOS: [Scenario; 2] = [
    // The check: GunPoint, 5 devices, f32, Adam; device 0 (class
    // biases) and device 3.
    Scenario {
        name: "gunpoint-5",
        config: "configs/quickstart.toml",
        epochs: 2,
        eval_every: 2,
        n_test: 150,
        devices: &[0, 3],
    },
    // RockNet's deployment: FaceAll, 20 devices, int8, QAdam, batch 128;
    // its largest device (the one the nRF52840 image is sized for), one
    // epoch (560 training + 1,690 evaluation items).
    Scenario {
        name: "faceall-20",
        config: "configs/faceall-20.toml",
        epochs: 1,
        eval_every: 1,
        n_test: 1690,
        devices: &[0],
    },
];

fn target_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp.
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .to_path_buf()
}

fn require_tools() {
    require_qemu();
    require_rust_target("thumbv7em-none-eabihf");
}

/// Trains `sc` in process and writes its replay records into `dir`, as
/// `rocknet train <config> --epochs E --eval-every V --record DIR` does.
fn record(sc: &Scenario, dir: &Path) {
    let mut cfg = ExperimentConfig::load(&repo().join(sc.config)).expect("load the config");
    cfg.training.epochs = sc.epochs;
    cfg.training.eval_every = sc.eval_every;
    let exp = Experiment::prepare(cfg).expect("prepare the experiment");
    let (out, records) = train_recorded(&exp, TrainOptions::from_config(&exp), &mut |_| {})
        .expect("train and record");
    record_files::write(dir, &exp, &out, &records).expect("write the records");
}

/// Builds the firmware; returns the ELF path (copied to `copy_to`).
fn build_firmware(features: &[&str], record: Option<&Path>, copy_to: &Path) -> PathBuf {
    let cargo_dir = target_dir().join("firmware-replay").join("cargo");
    let mut cmd = cargo();
    cmd.current_dir(repo())
        .args([
            "build",
            "-p",
            "rocknet-firmware",
            "--release",
            "--target",
            "thumbv7em-none-eabihf",
        ])
        .args(features)
        .env("CARGO_TARGET_DIR", &cargo_dir)
        .env_remove("ROCKNET_FW_RECORD");
    if let Some(r) = record {
        cmd.env("ROCKNET_FW_RECORD", r);
    }
    let out = cmd.output().expect("run cargo build for the firmware");
    assert!(
        out.status.success(),
        "building the firmware ({features:?}) failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let elf = cargo_dir.join("thumbv7em-none-eabihf/release/rocknet-firmware");
    std::fs::copy(&elf, copy_to).expect("copy the firmware ELF");
    copy_to.to_path_buf()
}

/// Section sizes of an ELF32 file: (name, size, flags).
fn elf_sections(path: &Path) -> Vec<(String, u64, u32)> {
    let b = std::fs::read(path).expect("read ELF");
    assert_eq!(&b[..4], b"\x7fELF", "{} is not an ELF file", path.display());
    assert_eq!(b[4], 1, "expected ELF32");
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]) as usize;
    let (shoff, shentsize, shnum, shstrndx) =
        (u32_at(0x20), u16_at(0x2E), u16_at(0x30), u16_at(0x32));
    let sh = |i: usize| shoff + i * shentsize;
    let strtab = u32_at(sh(shstrndx) + 0x10);
    (0..shnum)
        .map(|i| {
            let name_off = strtab + u32_at(sh(i));
            let end = b[name_off..].iter().position(|&c| c == 0).unwrap();
            let name = String::from_utf8_lossy(&b[name_off..name_off + end]).into_owned();
            let flags = u32_at(sh(i) + 0x08) as u32;
            (name, u32_at(sh(i) + 0x14) as u64, flags)
        })
        .collect()
}

/// Flash (vector table + text + rodata + data's load image) and static
/// RAM (data + bss + uninit), in bytes.
fn image_sizes(path: &Path) -> Value {
    let s = elf_sections(path);
    let size = |n: &str| s.iter().find(|x| x.0 == n).map_or(0, |x| x.1);
    let (vt, text, rodata, data, bss, uninit) = (
        size(".vector_table"),
        size(".text"),
        size(".rodata"),
        size(".data"),
        size(".bss"),
        size(".uninit"),
    );
    json!({
        "vector_table": vt, "text": text, "rodata": rodata, "data": data, "bss": bss,
        "flash_bytes": vt + text + rodata + data,
        "ram_static_bytes": data + bss + uninit,
    })
}

/// Runs the ELF in QEMU (instruction counting on), returns stdout.
fn run_qemu(elf: &Path) -> String {
    let mut child = Command::new("qemu-system-arm")
        .args([
            "-cpu",
            "cortex-m4",
            "-machine",
            "mps2-an386",
            "-nographic",
            "-monitor",
            "none",
            "-serial",
            "none",
            "-semihosting-config",
            "enable=on,target=native",
            "-icount",
            "shift=0",
            "-kernel",
        ])
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start qemu-system-arm");
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for qemu") {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("the firmware did not finish within 120 s in QEMU");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().expect("qemu output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        status.success(),
        "the firmware exited with {status} in QEMU:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The fields of the line starting with `key` (after the key).
fn line<'a>(out: &'a str, key: &str) -> Vec<&'a str> {
    out.lines()
        .find_map(|l| l.strip_prefix(key).map(|r| r.split_whitespace().collect()))
        .unwrap_or_else(|| panic!("no `{key}` line in the firmware output:\n{out}"))
}

/// `name value` pairs of a line as numbers.
fn pairs(fields: &[&str]) -> Vec<(String, u64)> {
    fields
        .chunks(2)
        .map(|p| (p[0].to_string(), p[1].parse().expect("number")))
        .collect()
}

fn get(pairs: &[(String, u64)], name: &str) -> u64 {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no `{name}`"))
        .1
}

#[test]
fn firmware_in_qemu_replays_bit_identical_to_the_host() {
    let t0 = Instant::now();
    require_tools();
    let dir = target_dir().join("firmware-replay");
    std::fs::create_dir_all(&dir).unwrap();

    let cycles = CycleModel::default();
    let mut devices = Vec::new();
    for sc in &SCENARIOS {
        // 1. The host trains and records.
        let rec_dir = dir.join(format!("record-{}", sc.name));
        let _ = std::fs::remove_dir_all(&rec_dir);
        record(sc, &rec_dir);
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(rec_dir.join("expected.json")).unwrap())
                .unwrap();
        let host_preds: Vec<u64> = expected["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(host_preds.len(), sc.n_test);

        for &d in sc.devices {
            let rec_path = rec_dir.join(format!("device-{d}.rnrec"));
            let bytes = std::fs::read(&rec_path).unwrap();
            let record = Record::parse(&bytes).unwrap();
            let spec = record.header().spec().unwrap();
            let train_items = (0..record.n_items())
                .filter(|&k| record.item(k).unwrap().phase == rocknet_core::wire::Phase::Train)
                .count();
            assert!(train_items >= 100, "{train_items} training rounds < 100");

            // 2. Build and run the firmware for this device.
            let elf = build_firmware(
                &["--no-default-features", "--features", "radio-replay"],
                Some(&rec_path),
                &dir.join(format!("firmware-{}-device-{d}.elf", sc.name)),
            );
            let out = run_qemu(&elf);
            std::fs::write(dir.join(format!("qemu-{}-device-{d}.txt", sc.name)), &out).unwrap();
            assert!(out.contains("ROCKNET-FW OK"), "{out}");

            // 3. Bit-identical to the host.
            let hash = line(&out, "weights_hash")[0].to_string();
            let host_hash = expected["device_params_hash"][d].as_str().unwrap();
            assert_eq!(
                hash, host_hash,
                "device {d}: firmware weights hash differs from the host's"
            );
            let preds = line(&out, "predictions");
            let fw_preds: Vec<u64> = preds[1..].iter().map(|p| p.parse().unwrap()).collect();
            assert_eq!(
                fw_preds, host_preds,
                "device {d}: firmware predictions differ from the host's"
            );
            let checks = pairs(&line(&out, "checks"));
            assert_eq!(get(&checks, "logits_differ"), 0, "{out}");
            assert_eq!(
                get(&checks, "logits_equal"),
                record.n_items() as u64,
                "{out}"
            );
            assert_eq!(get(&checks, "unexpected"), 0, "{out}");
            let stats = pairs(&line(&out, "stats"));
            assert_eq!(get(&stats, "train_items"), train_items as u64);
            assert_eq!(get(&stats, "eval_items"), sc.n_test as u64);
            for k in ["dropped", "rejected", "missing", "no_sample"] {
                assert_eq!(get(&stats, k), 0, "{k}: {out}");
            }

            // 5. Measurements.
            let calib = pairs(&line(&out, "calibrate"));
            let instr_per_tick =
                get(&calib, "instructions") as f64 / get(&calib, "ticks").max(1) as f64;
            let predicted = cycles.device_cycles(&spec, record.header().batch_size as usize);
            let mut phases = serde_json::Map::new();
            for l in out.lines().filter_map(|l| l.strip_prefix("phase ")) {
                let f: Vec<&str> = l.split_whitespace().collect();
                let (name, calls, ticks) = (
                    f[0],
                    f[2].parse::<u64>().unwrap(),
                    f[4].parse::<u64>().unwrap(),
                );
                let per_call = ticks as f64 * instr_per_tick / calls.max(1) as f64;
                let model = match name {
                    "transform" => Some(predicted.transform),
                    "partial_logits" => Some(predicted.partial_logits),
                    "gradient" => Some(predicted.gradient),
                    "step" => Some(predicted.optimizer_step),
                    _ => None,
                };
                let ratio = model.map(|m| per_call / m);
                println!(
                    "{} device {d} {name:>15}: {calls:>4} calls, {per_call:>12.0} instructions per call, cost model {:>12} cycles, ratio {}",
                    sc.name,
                    model.map_or("-".into(), |m| format!("{m:.0}")),
                    ratio.map_or("-".into(), |r| format!("{r:.3}")),
                );
                phases.insert(
                    name.into(),
                    json!({
                        "calls": calls,
                        "ticks": ticks,
                        "instructions_per_call": per_call,
                        "cost_model_cycles_per_call": model,
                        "instructions_over_model_cycles": ratio,
                    }),
                );
            }
            // The routines whose costs the cycle model takes from calibration.
            let rc = pairs(&line(&out, "routines"));
            let n_calls = get(&rc, "calls") as f64;
            let mut routines = serde_json::Map::new();
            for l in out.lines().filter_map(|l| l.strip_prefix("routine ")) {
                let f: Vec<&str> = l.split_whitespace().collect();
                let per_call = f[2].parse::<u64>().unwrap() as f64 * instr_per_tick / n_calls;
                let model = match f[0] {
                    "sqrtf" => cycles.f32_sqrt,
                    "expf" => cycles.f32_exp,
                    "logf" => cycles.f32_log,
                    _ => cycles.cvt64,
                };
                println!(
                    "{} device {d} routine {:>10}: {per_call:>6.1} instructions per call, cost model {model} cycles",
                    sc.name, f[0]
                );
                // The model's constants were calibrated from these counts (CPI 1):
                // a change in libm or the compiler runtime must be noticed.
                assert!(
                    (model - per_call).abs() <= 0.25 * per_call,
                    "{}: {per_call:.1} instructions per call in QEMU, but the cycle model assumes {model}: recalibrate coordinator/src/cost.rs",
                    f[0]
                );
                routines.insert(
                    f[0].into(),
                    json!({"instructions_per_call": per_call, "cost_model_cycles": model}),
                );
            }
            let stack = pairs(&line(&out, "stack"));
            devices.push(json!({
                "scenario": sc.name,
                "rocknet_train": format!(
                    "{} --epochs {} --eval-every {}",
                    sc.config, sc.epochs, sc.eval_every
                ),
                "device": d,
                "features": spec.num_features(),
                "items": record.n_items(),
                "train_items": train_items,
                "weights_hash": hash,
                "weights_hash_host": host_hash,
                "predictions_equal": true,
                "instructions_per_tick": instr_per_tick,
                "phases": phases,
                "routines": routines,
                "stack_high_water_bytes": get(&stack, "high_water"),
                "stack_high_water_after_fit_bytes": get(&stack, "after_fit"),
                "core_memory_footprint_bytes": rocknet_core::memory::MemoryFootprint::of(&spec).total().0,
                "image": image_sizes(&elf),
            }));
        }
    }

    // The comparison can fail: one other device's partial logit changed by
    // 1.0 in the first training item of GunPoint device 3's record must
    // change the firmware's weights and later partial logits.
    {
        let rec_dir = dir.join("record-gunpoint-5");
        let mut bytes = std::fs::read(rec_dir.join("device-3.rnrec")).unwrap();
        let record = Record::parse(&bytes).unwrap();
        let (n_items, item_len) = (record.n_items(), record.header().item_len());
        assert_eq!(
            record.item(0).unwrap().phase,
            rocknet_core::wire::Phase::Train
        );
        // Item 0, after phase/epoch/sample, device 0, class 0.
        let at = bytes.len() - n_items * item_len + rocknet_core::record::ITEM_FIXED_LEN;
        let v = i32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        bytes[at..at + 4].copy_from_slice(&(v + (1 << 20)).to_le_bytes());
        let tampered = dir.join("tampered-device-3.rnrec");
        std::fs::write(&tampered, &bytes).unwrap();
        let elf = build_firmware(
            &["--no-default-features", "--features", "radio-replay"],
            Some(&tampered),
            &dir.join("firmware-tampered.elf"),
        );
        let out = run_qemu(&elf);
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(rec_dir.join("expected.json")).unwrap())
                .unwrap();
        assert_ne!(
            line(&out, "weights_hash")[0],
            expected["device_params_hash"][3].as_str().unwrap(),
            "a tampered record must change the firmware's weights"
        );
        let checks = pairs(&line(&out, "checks"));
        assert!(get(&checks, "logits_differ") > 0, "{out}");
        println!(
            "tampered record: weights hash differs, {} of {} partial logits differ",
            get(&checks, "logits_differ"),
            n_items
        );
    }

    // 4. The nRF52840 image (FaceAll, 20 devices, device 0, int8, QAdam).
    let nrf = build_firmware(&[], None, &dir.join("firmware-nrf52840-faceall20.elf"));
    let nrf_sizes = image_sizes(&nrf);
    let flash = nrf_sizes["flash_bytes"].as_u64().unwrap();
    let ram = nrf_sizes["ram_static_bytes"].as_u64().unwrap();
    println!("nRF52840 FaceAll/20 device 0 image: flash {flash} B, static RAM {ram} B");
    assert!(flash <= 1024 * 1024, "flash {flash} B > 1 MiB");
    assert!(ram <= 256 * 1024, "static RAM {ram} B > 256 KiB");

    let m = json!({
        "qemu": "qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -icount shift=0",
        "devices": devices,
        "nrf52840_faceall20_device0": nrf_sizes,
        "test_seconds": t0.elapsed().as_secs_f64(),
    });
    let path = dir.join("measurements.json");
    std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    println!(
        "measurements: {} ({:.1} s)",
        path.display(),
        t0.elapsed().as_secs_f64()
    );
}
