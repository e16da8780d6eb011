//! The link model: topology, flood rounds, loss and faults (docs/linkmodel.md).
//!
//! * [`topology`] — who hears whom: a directed table of packet reception
//!   ratios (PRR), from an explicit table, node positions and a path-loss
//!   model, or a generator.
//! * [`phy`] — PHY presets (BLE 2M/1M, IEEE 802.15.4): airtime and slot length.
//! * [`loss`] — loss processes layered on the PRR (Bernoulli, Gilbert–Elliott,
//!   timed interference).
//! * [`fault`] — link/node down and up, partitions, PRR overrides.
//! * [`draw`] — the keyed random draws: each a pure function of
//!   (seed, round, slot, transmitter, receiver).
//! * [`flood`] — one round of synchronous-transmission flooding (Mixer or
//!   Glossy) over all of the above; messages longer than a frame travel as
//!   fragments.
//! * [`relay`] — the UDP relay: nodes' packets in, the model's deliveries out,
//!   a control socket for live faults, and a JSON-lines trace.
//! * [`config`] — the serde `LinkModelConfig` tying these together, and the
//!   stateful [`config::LinkModel`] that runs round after round.
#![deny(missing_docs)]

pub mod cli;
pub mod config;
pub mod draw;
pub mod fault;
pub mod flood;
pub mod loss;
pub mod phy;
pub mod relay;
pub mod topology;
pub mod trace_file;
pub mod units;
