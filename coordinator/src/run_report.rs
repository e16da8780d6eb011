//! `report.json` of a cluster run (`rocknet run` / `serve`): every figure
//! the run produced, so plots and summaries can be re-rendered from it
//! alone (`rocknet report <run dir>`).

use rocknet_node::config::ExperimentConfig;
use rocknet_node::inputs::InputReport;
use rocknet_node::telemetry::MemoryReport;
use serde::{Deserialize, Serialize};

/// One epoch of a cluster run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEpoch {
    /// 1-based epoch.
    pub epoch: usize,
    /// Device 0's mean training cross-entropy (as `rocknet train` reports).
    pub train_loss: Option<f64>,
    /// Training samples predicted right, by device 0's own logit sums.
    pub train_accuracy: Option<f64>,
    /// Test accuracy from the host's view (the host hears every flood and
    /// sums the partial logits it received), if the epoch was evaluated.
    pub test_accuracy: Option<f64>,
    /// Test accuracy as each device saw it (its own sums), per device.
    pub device_test_accuracy: Vec<Option<f64>>,
}

/// A contiguous range of rounds, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundSpan {
    /// First round.
    pub first: u64,
    /// Last round.
    pub last: u64,
}

/// Radio activity of one device over the run (from the link model's trace).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RadioTotals {
    /// Time transmitting, µs.
    pub tx_us: u64,
    /// Time listening, µs.
    pub rx_us: u64,
    /// Radio on (TX + RX), µs.
    pub on_us: u64,
    /// Rounds in which the radio was switched on (ramp-ups).
    pub on_periods: u64,
}

/// Energy of one device over the run, by consumer, µJ.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnergyTotals {
    /// Radio TX.
    pub radio_tx_uj: f64,
    /// Radio RX.
    pub radio_rx_uj: f64,
    /// Radio ramp-ups.
    pub radio_rampup_uj: f64,
    /// CPU active (the cost model's cycles).
    pub cpu_uj: f64,
    /// Sleep for the rest of every round period.
    pub sleep_uj: f64,
    /// Sum.
    pub total_uj: f64,
}

/// One device's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceReport {
    /// Device index (radio node `device + 1`).
    pub device: usize,
    /// Features it computes.
    pub features: usize,
    /// Memory footprint (docs/method.md#memory-per-device).
    pub memory: MemoryReport,
    /// Wall-clock compute time on this machine, µs.
    pub compute_wall_us: u64,
    /// Cortex-M4F cycles per training sample (cost model): transform,
    /// partial logits, gradient, amortised optimizer step.
    pub cycles_per_train_sample: u64,
    /// Cortex-M4F cycles per evaluation sample (transform + logits).
    pub cycles_per_eval_sample: u64,
    /// Radio activity.
    pub radio: RadioTotals,
    /// Energy over the run.
    pub energy: EnergyTotals,
    /// Energy per sample (run total / items), µJ.
    pub energy_per_sample_uj: f64,
    /// Latency per sample on the device: flood + its compute, µs.
    pub latency_per_sample_us: f64,
    /// Bytes it submitted to the radio.
    pub bytes_sent: u64,
    /// Bytes delivered to it.
    pub bytes_received: u64,
    /// Other devices' partial logits it never got.
    pub missing_contributions: u64,
    /// Samples it never received (it sent `Absent`).
    pub samples_missed: u64,
    /// Training samples skipped (policy `skip`).
    pub skipped: u64,
    /// Training samples with missing contributions counted as zero.
    pub zero_filled: u64,
    /// Rounds in which it submitted nothing (dead, restarting, or late).
    pub missed_rounds: Vec<RoundSpan>,
    /// Times its process joined the coordinator (1 = never restarted).
    pub joins: u64,
    /// Its final classifier parameters arrived.
    pub finished: bool,
    /// Peak resident set size of its (last) process on this machine.
    pub peak_rss_bytes: Option<u64>,
    /// Delivered packets it dropped, by wire reason (non-zero only).
    pub drops: Vec<(String, u64)>,
    /// Packets that decoded but did not fit the protocol.
    pub rejected: u64,
    /// Beacons that disagreed with its schedule.
    #[serde(default)]
    pub beacon_mismatch: u64,
    /// Datagrams its relay link discarded, by reason (non-zero only): from
    /// another address than the relay's (`foreign_source`), undecodable or
    /// stale bundles, incomplete bundles, duplicate pieces, repeated acks,
    /// packets the relay does not send.
    #[serde(default)]
    pub link_drops: Vec<(String, u64)>,
}

/// A fault the link model applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    /// Applied before this round.
    pub round: u64,
    /// The fault, as the trace wrote it.
    pub fault: serde_json::Value,
}

/// Network-wide figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkReport {
    /// Messages flooded.
    pub messages: u64,
    /// (message, receiver) pairs that should have been delivered.
    pub deliveries_expected: u64,
    /// Pairs delivered.
    pub deliveries_made: u64,
    /// Pairs lost.
    pub messages_lost: u64,
    /// delivered / expected, drops included ([`crate::drops`]).
    pub delivery_ratio: f64,
    /// What the relay dropped or could not send, by kind (non-zero only;
    /// its trace's final `drops` line).
    #[serde(default)]
    pub relay_drops: Vec<(String, u64)>,
    /// What the host (radio node 0) discarded, by kind (non-zero only).
    #[serde(default)]
    pub host_drops: Vec<(String, u64)>,
    /// Every drop of the run: relay, host and devices, all kinds.
    #[serde(default)]
    pub drops_total: u64,
    /// Flood time per round (mean), µs.
    pub flood_us_mean: f64,
    /// Round period: flood slots + compute window, µs.
    pub round_period_us: f64,
    /// Emulated time of the whole run, s.
    pub emulated_seconds: f64,
    /// Rounds the relay closed by timeout.
    pub timed_out_rounds: u64,
    /// Faults applied.
    pub faults: Vec<FaultRecord>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every round ran and every device reported its final weights.
    Completed,
    /// Every round ran, but some device never reported its final weights
    /// (it died and was not replaced): there is no weights hash.
    Incomplete,
    /// The run stopped early ([`RunReport::abort_reason`] says why); the
    /// figures cover the rounds before.
    Aborted,
}

impl RunStatus {
    /// The name report.json uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Incomplete => "incomplete",
            Self::Aborted => "aborted",
        }
    }
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Experiment name.
    pub name: String,
    /// The config run.
    pub config: ExperimentConfig,
    /// Its hash.
    pub config_hash: u64,
    /// Seed.
    pub seed: u32,
    /// Devices.
    pub devices: usize,
    /// How the run ended.
    pub status: RunStatus,
    /// Why it stopped early (aborted runs only).
    pub abort_reason: Option<String>,
    /// Rounds run.
    pub rounds: u64,
    /// Rounds the schedule has (all of them run unless aborted).
    pub rounds_planned: u64,
    /// `status` is `completed`: every round ran and every device reported
    /// its final weights.
    pub completed: bool,
    /// Per epoch (an aborted run: the epochs it reached).
    pub epochs: Vec<RunEpoch>,
    /// Final test accuracy (host view); an aborted run: the last one
    /// measured.
    pub final_accuracy: f64,
    /// Mean over devices of their own final test accuracy.
    pub final_device_accuracy: f64,
    /// Host-view predictions of the last evaluation.
    pub predictions: Vec<u16>,
    /// Canonical weights hash (equal to `rocknet train`'s when lossless), if
    /// every device reported its weights.
    pub weights_hash: Option<String>,
    /// Per device.
    pub per_device: Vec<DeviceReport>,
    /// Network.
    pub network: NetworkReport,
    /// What the run was warned about before it started (messages the link
    /// model may not deliver) or while it ended (missing drop counters).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Wall-clock seconds of the round loop.
    pub wall_seconds: f64,
    /// Rounds per wall-clock second.
    pub rounds_per_second: f64,
    /// Emulated time / wall time.
    pub emulated_over_wall: f64,
    /// What preparing the inputs found or changed (padding, classes without
    /// training series, int8 scale and clipping).
    #[serde(default)]
    pub inputs: InputReport,
}

impl RunReport {
    /// Rounds in which a device contributed nothing, summed over devices.
    pub fn missed_device_rounds(&self) -> u64 {
        self.per_device
            .iter()
            .flat_map(|d| &d.missed_rounds)
            .map(|s| s.last - s.first + 1)
            .sum()
    }
}
