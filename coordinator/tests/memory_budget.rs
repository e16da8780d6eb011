//! RockNet's FaceAll deployment (`configs/faceall-20.toml`: 9,660 features =
//! 84 × 5 dilations × 23 biases, 14 classes, 20 devices, int8 + QAdam) fits
//! the nRF52840: every buffer of the largest device is checked against the
//! formula of docs/method.md#memory-per-device, computed here independently, and the total against
//! 256 KiB.

mod common;

use rocknet_coordinator::config::{ExperimentConfig, InputSetting, OptimizerSetting};
use rocknet_coordinator::experiment::Experiment;
use rocknet_core::memory::MemoryFootprint;
use rocknet_core::minirocket::transform_scratch_len;

fn faceall_20() -> Experiment {
    let cfg = ExperimentConfig::load(&common::config("faceall-20.toml")).unwrap();
    Experiment::prepare(cfg).unwrap()
}

fn largest(exp: &Experiment) -> (usize, MemoryFootprint, usize) {
    (0..exp.partition.devices())
        .map(|d| {
            let spec = exp.device_spec(d).unwrap();
            (d, MemoryFootprint::of(&spec), spec.num_features())
        })
        .max_by_key(|(_, m, _)| m.total())
        .unwrap()
}

#[test]
fn faceall_20_devices_qadam_fits_256_kib_buffer_by_buffer() {
    let exp = faceall_20();
    let plan = exp.partition.model();
    assert_eq!(plan.dilations(), &[1, 2, 4, 8, 16]);
    assert_eq!(plan.features_per_dilation(), &[23; 5]);
    assert_eq!(plan.num_features(), 9_660);
    let (device, m, f_i) = largest(&exp);
    let (c, l) = (14usize, 131usize);
    // 84 = 4·20 + 4: devices 0..4 own 5 kernels = 5 × 5 × 23 = 575 features;
    // device 0 also holds the 14 class biases, so it is the largest.
    assert_eq!((device, f_i), (0, 575));
    let params = c * f_i + c;
    let qadam_blocks = c * 5 + 1; // one per (class, kernel), plus the class biases
    assert_eq!(m.weights.0, params * 4);
    assert_eq!(m.gradients.0, params * 4);
    assert_eq!(m.optimizer_state.0, 2 * params + 2 * 4 * qadam_blocks);
    assert_eq!(m.kernel_biases.0, f_i * 4);
    assert_eq!(m.features.0, f_i * 4);
    assert_eq!(m.sample.0, l); // int8
    assert_eq!(m.class_scratch.0, 2 * c * 4);
    assert_eq!(m.channel_subsets.0, 0); // univariate
    assert_eq!(m.fit_scratch.0, l * 4); // the sorted C values of one block
    assert_eq!(m.transform_scratch.0, transform_scratch_len(plan) * 4); // i32
    let total = m.total().0;
    println!("FaceAll, 20 devices, int8 + QAdam: largest device (#{device}) {total} B");
    assert_eq!(total, 89_183);
    assert!(total < 256 * 1024, "{total} B does not fit 256 KiB");
}

#[test]
fn one_device_does_not_fit_which_is_why_it_is_distributed() {
    let mut cfg = ExperimentConfig::load(&common::config("faceall-20.toml")).unwrap();
    cfg.training.devices = 1;
    cfg.training.optimizer = OptimizerSetting::Adam;
    cfg.model.input = InputSetting::F32;
    let exp = Experiment::prepare(cfg).unwrap();
    let (_, m, _) = largest(&exp);
    // weights + gradients + 2 Adam moments = 4 × (14 × 9,660 + 14) × 4 B.
    let core = 4 * (14 * 9_660 + 14) * 4;
    assert!(m.total().0 > core && core > 2_000_000, "{}", m.total().0);
}

#[test]
fn qadam_cuts_optimizer_state_about_four_times() {
    let exp = faceall_20();
    let spec = exp.device_spec(5).unwrap();
    let adam = rocknet_core::classifier::DeviceSpec {
        optimizer: rocknet_core::optim::OptimizerKind::Adam,
        ..spec
    };
    let ratio = MemoryFootprint::of(&adam).optimizer_state.0 as f64
        / MemoryFootprint::of(&spec).optimizer_state.0 as f64;
    // 8 B vs 2 B per parameter plus 8 B per 115-parameter block: 920 / 238.
    assert!((ratio - 920.0 / 238.0).abs() < 1e-9, "ratio {ratio}");
}
