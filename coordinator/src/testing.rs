//! A small hand-made [`RunReport`] for the rendering tests.

use std::path::PathBuf;

use rocknet_node::config::{DatasetSection, ExperimentConfig};
use rocknet_node::telemetry::MemoryReport;

use crate::run_report::{
    DeviceReport, EnergyTotals, FaultRecord, NetworkReport, RoundSpan, RunEpoch, RunReport,
    RunStatus,
};

/// Two devices, two epochs, one fault; every figure chosen so that its
/// rendering is easy to predict (see the tests that use it).
pub(crate) fn sample_report() -> RunReport {
    let memory = |total: u64| MemoryReport {
        buffers: vec![("weights".into(), total / 2)],
        total,
        training_total: total / 2,
    };
    let device0 = DeviceReport {
        device: 0,
        features: 42,
        memory: memory(80 * 1024),
        cycles_per_train_sample: 2000,
        cycles_per_eval_sample: 1500,
        energy: EnergyTotals {
            radio_tx_uj: 1000.0,
            radio_rx_uj: 2000.0,
            radio_rampup_uj: 100.0,
            cpu_uj: 3000.0,
            sleep_uj: 4000.0,
            total_uj: 10_100.0,
        },
        energy_per_sample_uj: 1000.0,
        latency_per_sample_us: 602_000.0,
        joins: 1,
        finished: true,
        ..DeviceReport::default()
    };
    let device1 = DeviceReport {
        device: 1,
        features: 42,
        memory: memory(100 * 1024),
        cycles_per_train_sample: 2000,
        cycles_per_eval_sample: 1500,
        energy: EnergyTotals {
            total_uj: 49_360.0,
            ..EnergyTotals::default()
        },
        energy_per_sample_uj: 1234.0,
        latency_per_sample_us: 602_500.0,
        missing_contributions: 3,
        samples_missed: 1,
        missed_rounds: vec![
            RoundSpan {
                first: 10,
                last: 12,
            },
            RoundSpan {
                first: 20,
                last: 20,
            },
        ],
        joins: 2,
        finished: true,
        ..DeviceReport::default()
    };
    RunReport {
        name: "toy".into(),
        config: ExperimentConfig {
            name: "toy".into(),
            dataset: DatasetSection {
                train: "toy_TRAIN.ts".into(),
                test: "toy_TEST.ts".into(),
            },
            model: Default::default(),
            training: Default::default(),
            network: Default::default(),
            energy: Default::default(),
            source: PathBuf::from("configs/toy.toml"),
            env_overrides: Vec::new(),
        },
        config_hash: 0xabcd,
        seed: 0,
        devices: 2,
        rounds: 40,
        status: RunStatus::Completed,
        abort_reason: None,
        rounds_planned: 40,
        completed: true,
        epochs: vec![
            RunEpoch {
                epoch: 1,
                train_loss: Some(0.6),
                train_accuracy: Some(0.8),
                test_accuracy: Some(0.75),
                device_test_accuracy: vec![Some(0.7), Some(0.8)],
            },
            RunEpoch {
                epoch: 2,
                train_loss: Some(0.3),
                train_accuracy: Some(0.9),
                test_accuracy: Some(0.875),
                device_test_accuracy: vec![Some(0.9), Some(0.8)],
            },
        ],
        final_accuracy: 0.875,
        final_device_accuracy: 0.85,
        predictions: vec![0, 1, 1, 0],
        weights_hash: Some("0000000000001234".into()),
        per_device: vec![device0, device1],
        network: NetworkReport {
            messages: 80,
            deliveries_expected: 80,
            deliveries_made: 78,
            messages_lost: 2,
            delivery_ratio: 0.975,
            flood_us_mean: 102_000.0,
            round_period_us: 602_000.0,
            emulated_seconds: 24.08,
            timed_out_rounds: 0,
            faults: vec![FaultRecord {
                round: 7,
                fault: serde_json::json!({"link_down": [1, 2]}),
            }],
            relay_drops: Vec::new(),
            host_drops: Vec::new(),
            drops_total: 0,
        },
        warnings: Vec::new(),
        wall_seconds: 2.0,
        rounds_per_second: 20.0,
        emulated_over_wall: 12.04,
        inputs: Default::default(),
    }
}
