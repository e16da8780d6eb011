//! The `[network]` section: which link model the cluster runs over and how
//! devices treat contributions the radio lost.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What a device does when a partial logit of the sample it is training on
/// never arrived (lost on the radio, or its owner sent "absent").
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum MissingPolicy {
    /// Count it as zero and train anyway (RockNet's behaviour).
    #[default]
    Zero,
    /// Take no gradient for that sample.
    Skip,
}

impl MissingPolicy {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Zero => "zero",
            Self::Skip => "skip",
        }
    }
}

/// The longest round timeout accepted (a minute): beyond it a lost node
/// would stall a run for longer than anyone waits.
pub const MAX_ROUND_TIMEOUT_MS: u64 = 60_000;

/// The emulated radio network of `rocknet run` / `rocknet serve`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSection {
    /// The link-model config (TOML, relative to this config file). Its
    /// topology must have one node per device plus the host (node 0).
    pub linkmodel: Option<PathBuf>,
    /// Missing-contribution policy.
    pub missing: MissingPolicy,
    /// Wall-clock seconds per emulated second (0 = as fast as possible;
    /// never changes results).
    pub time_scale: f64,
    /// The relay closes a round at the latest this long after it opened
    /// (only a dead or stalled node makes a round wait this long).
    pub round_timeout_ms: u64,
    /// The compute window after each round's flood (RockNet: 500 ms), part
    /// of the emulated round period and of the latency per sample.
    pub compute_window_ms: f64,
    /// Cluster id on the wire (packets of other clusters are dropped).
    pub cluster: u16,
}

impl Default for NetworkSection {
    fn default() -> Self {
        Self {
            linkmodel: None,
            missing: MissingPolicy::Zero,
            time_scale: 0.0,
            round_timeout_ms: 2_000,
            compute_window_ms: 500.0,
            cluster: 1,
        }
    }
}

impl NetworkSection {
    /// Checks the value domains; `Err((field, problem))`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(self.time_scale.is_finite() && (0.0..=1_000.0).contains(&self.time_scale)) {
            return Err((
                "network.time_scale",
                format!("must be in 0..=1000, got {}", self.time_scale),
            ));
        }
        if !(1..=MAX_ROUND_TIMEOUT_MS).contains(&self.round_timeout_ms) {
            return Err((
                "network.round_timeout_ms",
                format!(
                    "must be in 1..={MAX_ROUND_TIMEOUT_MS}, got {}",
                    self.round_timeout_ms
                ),
            ));
        }
        if !(self.compute_window_ms.is_finite()
            && (0.0..=60_000.0).contains(&self.compute_window_ms))
        {
            return Err((
                "network.compute_window_ms",
                format!("must be in 0..=60000, got {}", self.compute_window_ms),
            ));
        }
        if let Some(p) = &self.linkmodel
            && !p.is_file()
        {
            return Err((
                "network.linkmodel",
                format!("{} does not exist or is not a file", p.display()),
            ));
        }
        Ok(())
    }
}
