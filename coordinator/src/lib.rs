//! The rocknet host: configs, datasets, training and reports.
//!
//! Data flow: [`config::ExperimentConfig`] (TOML, validated) →
//! [`experiment::Experiment`] (datasets + partition plan) → [`train`] (every
//! device's model, in process) → [`report::TrainReport`] (JSON).

pub use rocknet_node::{config, experiment};
pub mod report;
pub mod train;
pub mod run_report;
pub mod cluster;
