//! The serde [`LinkModelConfig`] (validated up front, errors naming the
//! field) and the stateful [`LinkModel`] that runs round after round.
//!
//! ```toml
//! seed = 7
//! mode = "mixer"          # or "glossy"
//! slots_per_round = 150
//! n_tx = 3
//! payload_bytes = 100
//! [topology]
//! kind = "testbed20"
//! [phy]
//! preset = "ble2m"
//! [loss]
//! kind = "gilbert_elliott"
//! p_gb = 0.01
//! p_bg = 0.2
//! loss_good = 0.0
//! loss_bad = 0.9
//! [[interference]]
//! from_round = 10
//! to_round = 12
//! extra_loss = 0.3
//! [[faults]]
//! at_round = 20
//! kind = "node_down"
//! node = 5
//! ```

use serde::Deserialize;

use crate::fault::{Fault, FaultError, FaultSet, ScheduledFault};
use crate::flood::{FloodError, FloodMode, FloodParams, FloodRound, Message, RoundResult};
use crate::loss::{InterferenceWindow, LinkLoss, LossProcess};
use crate::phy::{Phy, PhyKind};
use crate::topology::{LinkTable, Topology, TopologyConfig};
use crate::units::{Bytes, Micros};

/// A config value is out of range; `field` is its path in the TOML.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConfigError {
    /// Path of the offending field, e.g. `loss.p_gb` or `faults[2]`.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

fn field_err(field: impl Into<String>, reason: impl ToString) -> ConfigError {
    ConfigError {
        field: field.into(),
        reason: reason.to_string(),
    }
}

/// The `[phy]` section.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhyConfig {
    /// Preset (default BLE 2M).
    #[serde(default = "ble2m")]
    pub preset: PhyKind,
    /// Override of the per-slot processing margin, µs.
    #[serde(default)]
    pub margin_us: Option<u64>,
}

/// The largest `phy.margin_us` accepted: one second.
pub const MAX_MARGIN_US: u64 = 1_000_000;

fn ble2m() -> PhyKind {
    PhyKind::Ble2M
}

impl Default for PhyConfig {
    fn default() -> Self {
        Self {
            preset: PhyKind::Ble2M,
            margin_us: None,
        }
    }
}

impl PhyConfig {
    /// The PHY this section describes.
    pub fn phy(&self) -> Phy {
        let mut phy = Phy::preset(self.preset);
        if let Some(m) = self.margin_us {
            phy.margin = Micros(m);
        }
        phy
    }
}

fn default_slots() -> u32 {
    150
}
fn default_n_tx() -> u32 {
    3
}
fn default_payload() -> u32 {
    100
}

/// The link model's part of an experiment config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkModelConfig {
    /// Experiment seed (link-loss draws; topology generators unless they
    /// name their own).
    #[serde(default)]
    pub seed: u64,
    /// `[topology]`.
    pub topology: TopologyConfig,
    /// `[phy]`.
    #[serde(default)]
    pub phy: PhyConfig,
    /// Mixer (default) or Glossy.
    #[serde(default)]
    pub mode: FloodMode,
    /// Slots per round, K (default 150, RockNet's).
    #[serde(default = "default_slots")]
    pub slots_per_round: u32,
    /// Transmission budget per node, N_tx (default 3).
    #[serde(default = "default_n_tx")]
    pub n_tx: u32,
    /// Payload per frame, bytes (default 100, RockNet's); sets the slot
    /// length, and longer messages travel as ⌈len / payload⌉ fragments.
    #[serde(default = "default_payload")]
    pub payload_bytes: u32,
    /// `[loss]` (default Bernoulli).
    #[serde(default)]
    pub loss: LossProcess,
    /// `[[interference]]` windows.
    #[serde(default)]
    pub interference: Vec<InterferenceWindow>,
    /// `[[faults]]` scheduled faults.
    #[serde(default)]
    pub faults: Vec<ScheduledFault>,
}

impl LinkModelConfig {
    /// Validates every field and builds the model.
    pub fn build(&self) -> Result<LinkModel, ConfigError> {
        let topology = self
            .topology
            .build(self.seed)
            .map_err(|e| field_err("topology", e))?;
        if let Some(m) = self.phy.margin_us
            && m > MAX_MARGIN_US
        {
            return Err(field_err(
                "phy.margin_us",
                format!("{m} exceeds the maximum of {MAX_MARGIN_US} µs (1 s)"),
            ));
        }
        let phy = self.phy.phy();
        if self.payload_bytes == 0 || self.payload_bytes > phy.max_payload {
            return Err(field_err(
                "payload_bytes",
                format!(
                    "{} is not in 1..={} for {:?}",
                    self.payload_bytes, phy.max_payload, phy.kind
                ),
            ));
        }
        if self.slots_per_round == 0 {
            return Err(field_err("slots_per_round", "must be ≥ 1"));
        }
        if self.n_tx == 0 {
            return Err(field_err("n_tx", "must be ≥ 1"));
        }
        if let Some(f) = self.loss.invalid_field() {
            return Err(field_err(format!("loss.{f}"), "out of range"));
        }
        let n = topology.nodes();
        for (i, w) in self.interference.iter().enumerate() {
            let at = |f: &str| format!("interference[{i}].{f}");
            if !(0.0..=1.0).contains(&w.extra_loss) {
                return Err(field_err(at("extra_loss"), "must be in [0, 1]"));
            }
            if w.to_round < w.from_round {
                return Err(field_err(at("to_round"), "before from_round"));
            }
            if let (Some(a), Some(b)) = (w.from_slot, w.to_slot)
                && b < a
            {
                return Err(field_err(at("to_slot"), "before from_slot"));
            }
            if let Some(l) = &w.links
                && let Some(bad) = l.iter().find(|[a, b]| *a >= n || *b >= n)
            {
                return Err(field_err(
                    at("links"),
                    format!("link {bad:?} names a node outside 0..{n}"),
                ));
            }
        }
        let probe = FaultSet::new(n);
        for (i, f) in self.faults.iter().enumerate() {
            probe
                .check(&f.fault)
                .map_err(|e| field_err(format!("faults[{i}]"), e))?;
        }
        let params = FloodParams {
            mode: self.mode,
            slots: self.slots_per_round,
            n_tx: self.n_tx,
            slot_length: phy.slot_length(self.payload_bytes),
            payload: Bytes(self.payload_bytes as usize),
            seed: self.seed,
        };
        Ok(LinkModel::new(
            topology,
            phy,
            params,
            self.loss,
            self.interference.clone(),
            self.faults.clone(),
        ))
    }
}

/// One round's result and the faults applied at its start.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundOutcome {
    /// The flood result.
    pub result: RoundResult,
    /// Scheduled faults applied before the round ran (for the trace).
    pub faults_applied: Vec<Fault>,
}

/// The link model's state across rounds: topology, faults in force,
/// per-link loss state, and the fault schedule.
#[derive(Debug, Clone)]
pub struct LinkModel {
    topology: Topology,
    phy: Phy,
    params: FloodParams,
    faults: FaultSet,
    loss: LinkLoss,
    schedule: Vec<ScheduledFault>,
    next_fault: usize,
    effective: LinkTable,
}

impl LinkModel {
    /// A model over `topology`; `schedule` is applied in `at_round` order
    /// (stable for equal rounds).
    pub fn new(
        topology: Topology,
        phy: Phy,
        params: FloodParams,
        loss: LossProcess,
        interference: Vec<InterferenceWindow>,
        mut schedule: Vec<ScheduledFault>,
    ) -> Self {
        let n = topology.nodes();
        schedule.sort_by_key(|f| f.at_round);
        Self {
            effective: topology.links().clone(),
            faults: FaultSet::new(n),
            loss: LinkLoss::new(loss, interference, n),
            topology,
            phy,
            params,
            schedule,
            next_fault: 0,
        }
    }

    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The PHY.
    pub fn phy(&self) -> &Phy {
        &self.phy
    }

    /// The round parameters.
    pub fn params(&self) -> &FloodParams {
        &self.params
    }

    /// The faults in force.
    pub fn faults(&self) -> &FaultSet {
        &self.faults
    }

    /// Applies a fault now (live control).
    pub fn apply_fault(&mut self, fault: &Fault) -> Result<(), FaultError> {
        self.faults.apply(fault)?;
        self.effective = self.faults.effective_table(self.topology.links());
        Ok(())
    }

    /// Applies the scheduled faults due at or before `round`, then runs it
    /// over `messages` (message `m` is `messages[m]`; each travels as
    /// [`FloodParams::fragments`] of its length).
    pub fn run_round(
        &mut self,
        round: u64,
        messages: &[Message],
    ) -> Result<RoundOutcome, FloodError> {
        let mut faults_applied = Vec::new();
        while let Some(f) = self.schedule.get(self.next_fault)
            && f.at_round <= round
        {
            let fault = f.fault.clone();
            self.next_fault += 1;
            // Checked in `LinkModelConfig::build`; a fault naming a missing
            // node is skipped if the model was built directly.
            if self.apply_fault(&fault).is_ok() {
                faults_applied.push(fault);
            }
        }
        let result = FloodRound::new(
            &self.effective,
            self.faults.node_down(),
            &mut self.loss,
            self.params,
            round,
        )
        .run(messages)?;
        Ok(RoundOutcome {
            result,
            faults_applied,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_from_toml_and_errors_name_the_field() {
        let doc = "seed = 7\nslots_per_round = 150\n[topology]\nkind = \"testbed20\"\n\
                   [phy]\npreset = \"ble2m\"\n[loss]\nkind = \"gilbert_elliott\"\n\
                   p_gb = 0.01\np_bg = 0.2\nloss_good = 0.0\nloss_bad = 0.9\n\
                   [[interference]]\nfrom_round = 1\nto_round = 2\nextra_loss = 0.3\n\
                   [[faults]]\nat_round = 2\nkind = \"node_down\"\nnode = 5\n";
        let cfg: LinkModelConfig = toml::from_str(doc).unwrap();
        let mut m = cfg.build().unwrap();
        assert_eq!(m.params().slot_length, Micros(681));
        let msgs: Vec<Message> = (0..21).map(|o| Message::new(o, 60)).collect();
        let r0 = m.run_round(0, &msgs).unwrap();
        assert!(r0.faults_applied.is_empty());
        let r2 = m.run_round(2, &msgs).unwrap();
        assert_eq!(r2.faults_applied, vec![Fault::NodeDown { node: 5 }]);
        assert_eq!(r2.result.radio[5].on_slots(), 0);
        // payload_bytes = 100 (the default): a 156-byte sample is 2 frames.
        let r3 = m.run_round(3, &[Message::new(0, 156)]).unwrap();
        assert_eq!(r3.result.fragments, vec![2]);
        assert_eq!(
            r2.result.duration(),
            Micros(150 * 681),
            "RockNet: 150 × 0.681 ms"
        );

        let bad = doc.replace("p_bg = 0.2", "p_bg = 2.0");
        let err = toml::from_str::<LinkModelConfig>(&bad)
            .unwrap()
            .build()
            .unwrap_err();
        assert_eq!(err.field, "loss.p_bg");
        let bad = doc.replace("node = 5", "node = 25");
        let err = toml::from_str::<LinkModelConfig>(&bad)
            .unwrap()
            .build()
            .unwrap_err();
        assert_eq!(err.field, "faults[0]");
        let bad = "[topology]\nkind = \"line\"\ndevices = 3\nprr = 0.05\n";
        let err = toml::from_str::<LinkModelConfig>(bad)
            .unwrap()
            .build()
            .unwrap_err();
        assert_eq!(err.field, "topology");
        assert!(err.to_string().contains("[1, 2, 3]"), "{err}");
        assert!(
            toml::from_str::<LinkModelConfig>("[topology]\nkind = \"testbed20\"\nslots = 3")
                .is_err()
        );
    }

    #[test]
    fn phy_margin_is_bounded_naming_the_field() {
        let base =
            "[topology]\nkind = \"line\"\ndevices = 2\nprr = 0.9\n[phy]\npreset = \"ble2m\"\n";
        for m in [u64::MAX, u64::MAX - 100, MAX_MARGIN_US + 1] {
            let doc = format!("{base}margin_us = {m}\n");
            let err = toml::from_str::<LinkModelConfig>(&doc)
                .unwrap()
                .build()
                .unwrap_err();
            assert_eq!(err.field, "phy.margin_us", "{m}");
        }
        let doc = format!("{base}margin_us = {MAX_MARGIN_US}\n");
        let m = toml::from_str::<LinkModelConfig>(&doc)
            .unwrap()
            .build()
            .unwrap();
        let slot = m.params().slot_length;
        assert!(slot > Micros(MAX_MARGIN_US), "{slot}");
        // slot_length itself never wraps.
        let mut phy = Phy::preset(PhyKind::Ble2M);
        phy.margin = Micros(u64::MAX);
        assert_eq!(phy.slot_length(100), Micros(u64::MAX));
    }
}
