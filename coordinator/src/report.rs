//! The machine-readable result of `rocknet train --json`.

use serde::Serialize;

use crate::experiment::Experiment;
use crate::train::{DeviceSummary, EpochRecord, TrainOutcome};
use rocknet_node::inputs::InputReport;

/// One device's memory, flattened for JSON.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceMemory {
    /// Device index.
    pub device: usize,
    /// Features it computes.
    pub features: usize,
    /// All buffers, in bytes.
    pub memory_bytes: usize,
    /// All buffers except the fit scratch (what training holds).
    pub training_memory_bytes: usize,
    /// Bytes per buffer.
    pub buffers: std::collections::BTreeMap<&'static str, usize>,
}

impl From<&DeviceSummary> for DeviceMemory {
    fn from(d: &DeviceSummary) -> Self {
        Self {
            device: d.device,
            features: d.features,
            memory_bytes: d.memory.total().0,
            training_memory_bytes: d.memory.training_total().0,
            buffers: d.memory.entries().iter().map(|(n, b)| (*n, b.0)).collect(),
        }
    }
}

/// Everything `rocknet train` measured.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    /// Experiment name.
    pub name: String,
    /// Dataset files.
    pub train_file: String,
    /// Dataset files.
    pub test_file: String,
    /// Seed.
    pub seed: u32,
    /// Devices.
    pub devices: usize,
    /// Epochs trained.
    pub epochs: usize,
    /// Samples per step.
    pub batch_size: usize,
    /// `adam` or `qadam`.
    pub optimizer: String,
    /// `f32` or `int8`.
    pub input: String,
    /// Learning rate.
    pub learning_rate: f32,
    /// Total MiniRocket features.
    pub num_features: usize,
    /// Classes.
    pub n_classes: usize,
    /// Series length (after padding).
    pub length: usize,
    /// Final test accuracy.
    pub accuracy: f64,
    /// Per-epoch records.
    pub history: Vec<EpochRecord>,
    /// Predicted class per test sample.
    pub predictions: Vec<u16>,
    /// Hash of all parameters in canonical order (hex).
    pub weights_hash: String,
    /// Partial logits clamped to i32.
    pub saturated_logits: u64,
    /// Per-device memory.
    pub memory: Vec<DeviceMemory>,
    /// The largest device's memory in bytes.
    pub max_device_memory_bytes: usize,
    /// Seconds spent fitting and transforming.
    pub feature_seconds: f64,
    /// Seconds spent training and evaluating.
    pub train_seconds: f64,
    /// What preparing the inputs found or changed (padding, classes without
    /// training series, int8 scale and clipping).
    pub inputs: InputReport,
}

impl TrainReport {
    /// Builds the report of a finished run.
    pub fn new(exp: &Experiment, out: &TrainOutcome) -> Self {
        let t = &exp.config.training;
        let memory: Vec<DeviceMemory> = out.devices.iter().map(DeviceMemory::from).collect();
        Self {
            name: exp.config.name.clone(),
            train_file: exp.config.dataset.train.display().to_string(),
            test_file: exp.config.dataset.test.display().to_string(),
            seed: t.seed,
            devices: exp.partition.devices(),
            epochs: t.epochs,
            batch_size: exp.batch_size(),
            optimizer: t.optimizer.as_str().into(),
            input: exp.config.model.input.as_str().into(),
            learning_rate: t.learning_rate,
            num_features: exp.partition.model().num_features(),
            n_classes: exp.n_classes(),
            length: exp.train.length,
            accuracy: out.final_accuracy,
            history: out.epochs.clone(),
            predictions: out.predictions.clone(),
            weights_hash: format!("{:016x}", out.weights_hash),
            saturated_logits: out.saturated_logits,
            max_device_memory_bytes: memory.iter().map(|m| m.memory_bytes).max().unwrap_or(0),
            memory,
            feature_seconds: out.feature_seconds,
            train_seconds: out.train_seconds,
            inputs: exp.inputs.clone(),
        }
    }
}
