//! Accuracy on the default train/test splits with the shipped configs, seed 0,
//! against the MiniRocket reference of docs/results.md#reference-accuracy (ridge: GunPoint .993, Coffee
//! 1.0, ItalyPowerDemand .969, ArrowHead .863, FaceAll .808); softmax + Adam
//! must come within the bounds, and int8 input + QAdam within 3 points
//! of f32 + Adam.

mod common;

use rocknet_coordinator::config::{ExperimentConfig, InputSetting, OptimizerSetting};
use rocknet_coordinator::experiment::Experiment;
use rocknet_coordinator::train::{self, TrainOptions};

fn accuracy(config: &str, optimizer: OptimizerSetting, input: InputSetting) -> f64 {
    let mut cfg = ExperimentConfig::load(&common::config(config)).unwrap();
    cfg.training.optimizer = optimizer;
    cfg.model.input = input;
    let exp = Experiment::prepare(cfg).unwrap();
    let opts = TrainOptions {
        eval_every: usize::MAX,
    };
    let out = train::train(&exp, opts, &mut |_| {}).unwrap();
    assert_eq!(out.saturated_logits, 0);
    out.final_accuracy
}

fn check(config: &str, floor: f64) {
    let f32_adam = accuracy(config, OptimizerSetting::Adam, InputSetting::F32);
    let int8_qadam = accuracy(config, OptimizerSetting::Qadam, InputSetting::Int8);
    println!("{config}: f32+Adam {f32_adam:.4}, int8+QAdam {int8_qadam:.4}");
    assert!(
        f32_adam >= floor,
        "{config}: f32+Adam {f32_adam:.4} < {floor}"
    );
    assert!(
        int8_qadam >= f32_adam - 0.03,
        "{config}: int8+QAdam {int8_qadam:.4} more than 3 points below f32+Adam {f32_adam:.4}"
    );
}

#[test]
fn gunpoint() {
    check("gunpoint.toml", 0.96);
}

#[test]
fn coffee() {
    check("coffee.toml", 0.96);
}

#[test]
fn italypowerdemand() {
    check("italypowerdemand.toml", 0.94);
}

#[test]
fn arrowhead() {
    check("arrowhead.toml", 0.80);
}

#[test]
fn faceall() {
    check("faceall.toml", 0.75);
}
