//! One emulated RockNet device, and what every process shares about an
//! experiment.
//!
//! Data flow: [`config::ExperimentConfig`] (TOML, validated) →
//! [`experiment::Experiment`] (datasets + partition plan) →
//! [`schedule::Schedule`] (which sample each round carries) →
//! [`protocol::DeviceNode`] (one device's round protocol, no I/O) →
//! [`process`] (the device process, `rocknet node`: UDP to the relay, telemetry to
//! the coordinator over [`telemetry`]).

pub mod cli;
pub mod config;
pub mod energy;
pub mod experiment;
pub mod inputs;
pub mod network;
pub mod process;
pub mod protocol;
pub mod relay_link;
pub mod schedule;
pub mod telemetry;
pub mod weights;
