//! RockNet's FaceAll deployment fits the nRF52840: the largest of 20 devices,
//! with QAdam, holds less than 256 KiB (DESIGN.md §1.3, §6).

use rocknet_core::classifier::DeviceSpec;
use rocknet_core::memory::MemoryFootprint;
use rocknet_core::minirocket::MiniRocketPlan;
use rocknet_core::optim::{AdamConfig, OptimizerKind};
use rocknet_core::partition::PartitionPlan;
use rocknet_core::series::InputKind;

fn largest(devices: usize, optimizer: OptimizerKind, input: InputKind) -> (usize, usize) {
    // FaceAll: L = 131, 14 classes; RockNet's 9,660 features (84 × 5 × 23).
    let plan = MiniRocketPlan::new(131, 1, 9_660).unwrap();
    assert_eq!(plan.num_features(), 9_660);
    let part = PartitionPlan::new(plan, devices).unwrap();
    (0..devices)
        .map(|d| {
            let spec =
                DeviceSpec::for_device(&part, d, 14, optimizer, AdamConfig::default(), input, 0)
                    .unwrap();
            (MemoryFootprint::of(&spec).total().0, spec.num_features())
        })
        .max()
        .unwrap()
}

#[test]
fn faceall_20_devices_qadam_fits_256_kib() {
    let (bytes, features) = largest(20, OptimizerKind::QAdam, InputKind::Int8);
    println!("FaceAll, 20 devices, QAdam, int8: largest device {bytes} B, {features} features");
    assert_eq!(features, 5 * 5 * 23); // 84 = 4·20 + 4: the first 4 devices own 5 kernels
    assert!(bytes < 256 * 1024, "{bytes} B does not fit 256 KiB");
}

#[test]
fn one_device_does_not_fit_which_is_why_it_is_distributed() {
    let (bytes, _) = largest(1, OptimizerKind::Adam, InputKind::F32);
    // weights + gradients + 2 moments ≈ 4 × 9,660 × 14 × 4 B ≈ 2.2 MB.
    assert!(bytes > 1_000_000, "{bytes}");
}

#[test]
fn qadam_cuts_optimizer_state_about_four_times() {
    let plan = MiniRocketPlan::new(131, 1, 9_660).unwrap();
    let part = PartitionPlan::new(plan, 20).unwrap();
    let state = |o| {
        let s = DeviceSpec::for_device(&part, 5, 14, o, AdamConfig::default(), InputKind::F32, 0)
            .unwrap();
        MemoryFootprint::of(&s).optimizer_state.0 as f64
    };
    let ratio = state(OptimizerKind::Adam) / state(OptimizerKind::QAdam);
    assert!(ratio > 3.5 && ratio <= 4.0, "ratio {ratio}");
}
