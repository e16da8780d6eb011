//! The rocknet host: configs, datasets, training and reports.
//!
//! Data flow: [`config::ExperimentConfig`] (TOML, validated) →
//! [`experiment::Experiment`] (datasets + partition plan) → [`train`] (every
//! device's model, in process) → [`report::TrainReport`] (JSON).
//!
//! Costs and reports of cluster runs: [`cost`] (Cortex-M4F cycles from the
//! core's op counts) and [`energy`] (µJ per power state) fill a
//! [`run_report::RunReport`]; [`render`] draws it ([`plots`], [`summary`]);
//! [`scale`] renders a sweep over cluster sizes.

pub use rocknet_node::{config, experiment};
pub mod cluster;
pub mod cost;
pub mod drops;
pub mod energy;
pub mod plots;
pub mod record_files;
pub mod render;
pub mod report;
pub mod run_report;
pub mod scale;
pub mod summary;
#[cfg(test)]
mod testing;
pub mod trace_view;
pub mod train;
