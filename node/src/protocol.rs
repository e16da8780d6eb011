//! One device's side of the RockNet round protocol (docs/method.md#rounds), free of
//! I/O: the process around it moves bytes, this decides what they mean.
//!
//! Round `r` carries item `r`'s sample (flooded by its owner) and every
//! device's partial logits for item `r − 1`. Before round `r` a device
//! submits [`DeviceNode::submissions`]; after it, [`DeviceNode::finish_round`]
//! takes what the radio delivered and:
//! 1. sums the partial logits of item `r − 1` (its own and every other
//!    device's; integers, so the order cannot matter), counting missing
//!    contributions; then trains on it (policy `zero`: missing ones count as
//!    zero; `skip`: no gradient) or scores it, and steps the optimizer at a
//!    batch end — every device steps on the same rounds, whatever it missed;
//! 2. computes its partial logits for item `r` if it holds that sample (it
//!    owns it or received it), else it will send an explicit `Absent`.
//!
//! Everything that arrives is checked: wrong cluster, wrong round, a sample
//! from a device that does not own it, logits for another sample, a second
//! copy from the same source — dropped and counted, never trusted.

use std::ops::Range;
use std::time::Instant;

use rocknet_core::classifier::{DeviceModel, LogitTotals, PartialLogits};
use rocknet_core::partition::PartitionPlan;
use rocknet_core::series::ConvInput;
use rocknet_core::storage::HeapStorage;
use rocknet_core::wire::{
    self, Absent, Beacon, Body, DropCounters, HOST_NODE, LogitsBody, Packet, Phase, Sample,
    SampleValues, WireError,
};
use serde::{Deserialize, Serialize};

use crate::network::MissingPolicy;
use crate::schedule::{Item, Schedule};

/// Sample types that travel on the wire (the core's f32 and int8 inputs).
pub trait WireInput: ConvInput {
    /// The values as a wire sample body.
    fn wire_values(values: &[Self]) -> SampleValues<'_>;
    /// Copies received values into `out` (same count and encoding).
    fn copy_from(values: &SampleValues<'_>, out: &mut [Self]) -> Result<(), WireError>;
}

impl WireInput for f32 {
    fn wire_values(values: &[f32]) -> SampleValues<'_> {
        SampleValues::f32(values)
    }
    fn copy_from(values: &SampleValues<'_>, out: &mut [f32]) -> Result<(), WireError> {
        values.copy_f32_into(out)
    }
}

impl WireInput for i8 {
    fn wire_values(values: &[i8]) -> SampleValues<'_> {
        SampleValues::int8(values)
    }
    fn copy_from(values: &SampleValues<'_>, out: &mut [i8]) -> Result<(), WireError> {
        values.copy_i8_into(out)
    }
}

/// The radio node id of device `d` (node 0 is the host).
pub fn node_of(device: usize) -> u16 {
    (device + 1) as u16
}

/// The samples of one set a device owns (and floods).
#[derive(Debug, Clone)]
pub struct OwnedShard<T> {
    /// Indices into the set.
    pub range: Range<usize>,
    /// Their values, `range.len() × n_values`.
    pub values: Vec<T>,
    /// Their labels.
    pub labels: Vec<u16>,
}

impl<T: Copy> OwnedShard<T> {
    /// The shard `range` of a set with `n_values` values per series.
    pub fn of(range: Range<usize>, values: &[T], labels: &[u16], n_values: usize) -> Self {
        Self {
            values: values[range.start * n_values..range.end * n_values].to_vec(),
            labels: labels[range.clone()].to_vec(),
            range,
        }
    }

    fn get(&self, index: usize, n_values: usize) -> Option<(&[T], u16)> {
        if !self.range.contains(&index) {
            return None;
        }
        let i = index - self.range.start;
        Some((
            &self.values[i * n_values..(i + 1) * n_values],
            self.labels[i],
        ))
    }
}

/// One pass's tallies on one device (telemetry).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PassStats {
    /// 1-based epoch.
    pub epoch: usize,
    /// `"train"` or `"eval"`.
    pub phase: String,
    /// Items of the pass this device processed (it may have joined late).
    pub samples: u64,
    /// Items it had features for (received or owned the sample).
    pub scored: u64,
    /// Of those, predicted right (from its own sum of partial logits).
    pub correct: u64,
    /// Sum of its cross-entropy losses (train).
    pub loss_sum: f64,
    /// Partial logits of other devices that never arrived (or were absent).
    pub missing_contributions: u64,
    /// Samples it never received (it sent `Absent`).
    pub samples_missed: u64,
    /// Training samples with no gradient under the `skip` policy.
    pub skipped: u64,
    /// Samples trained with missing contributions counted as zero.
    pub zero_filled: u64,
    /// Optimizer steps.
    pub steps: u64,
    /// Wall-clock time spent computing (transform, logits, gradient, step), µs.
    pub compute_us: u64,
    /// Bytes this device submitted to the radio.
    pub bytes_sent: u64,
    /// Bytes delivered to it.
    pub bytes_received: u64,
    /// Partial logits clamped to i32.
    pub saturated: u64,
}

/// The previous round's item, waiting for everyone's partial logits.
#[derive(Debug, Clone)]
struct InFlight {
    index: u64,
    item: Item,
    label: u16,
    /// This device's partial logits, if it held the sample.
    own: Option<PartialLogits>,
}

/// One device running the round protocol.
pub struct DeviceNode<T: WireInput> {
    device: usize,
    n_devices: usize,
    n_classes: usize,
    n_values: usize,
    cluster: u16,
    config_hash: u64,
    policy: MissingPolicy,
    n_train: usize,
    n_test: usize,
    partition: PartitionPlan,
    model: DeviceModel<T, HeapStorage>,
    schedule: Schedule,
    train: OwnedShard<T>,
    test: OwnedShard<T>,
    in_flight: Option<InFlight>,
    current: PassStats,
    finished: Vec<PassStats>,
    drops: DropCounters,
    /// Packets that decoded but made no sense (wrong source, sample, kind).
    pub rejected: u64,
    /// Beacons whose fields disagree with the schedule.
    pub beacon_mismatch: u64,
}

/// The fixed facts of a device.
#[derive(Debug, Clone, Copy)]
pub struct NodeSetup {
    /// Device index (0-based; radio node `device + 1`).
    pub device: usize,
    /// Devices in the cluster.
    pub n_devices: usize,
    /// Classes.
    pub n_classes: usize,
    /// Values per series (channels × length).
    pub n_values: usize,
    /// Cluster id.
    pub cluster: u16,
    /// The config hash beacons carry.
    pub config_hash: u64,
    /// Missing-contribution policy.
    pub policy: MissingPolicy,
    /// Training-set size.
    pub n_train: usize,
    /// Test-set size.
    pub n_test: usize,
}

impl<T: WireInput> DeviceNode<T> {
    /// A device with a fitted model, its schedule and its shards.
    pub fn new(
        setup: NodeSetup,
        partition: PartitionPlan,
        model: DeviceModel<T, HeapStorage>,
        schedule: Schedule,
        train: OwnedShard<T>,
        test: OwnedShard<T>,
    ) -> Self {
        Self {
            device: setup.device,
            n_devices: setup.n_devices,
            n_classes: setup.n_classes,
            n_values: setup.n_values,
            cluster: setup.cluster,
            config_hash: setup.config_hash,
            policy: setup.policy,
            n_train: setup.n_train,
            n_test: setup.n_test,
            partition,
            model,
            schedule,
            train,
            test,
            in_flight: None,
            current: PassStats::default(),
            finished: Vec::new(),
            drops: DropCounters::default(),
            rejected: 0,
            beacon_mismatch: 0,
        }
    }

    /// The model (for the final weights and footprint).
    pub fn model(&self) -> &DeviceModel<T, HeapStorage> {
        &self.model
    }

    /// Rounds in the run.
    pub fn rounds(&mut self) -> u64 {
        self.schedule.rounds()
    }

    /// Wire packets dropped by reason.
    pub fn drops(&self) -> &DropCounters {
        &self.drops
    }

    /// Passes completed since the last call.
    pub fn take_finished(&mut self) -> Vec<PassStats> {
        std::mem::take(&mut self.finished)
    }

    /// The pass in progress (for a final flush).
    pub fn current(&self) -> &PassStats {
        &self.current
    }

    fn shard(&self, phase: Phase) -> &OwnedShard<T> {
        if phase == Phase::Eval {
            &self.test
        } else {
            &self.train
        }
    }

    fn packet<'a>(&self, round: u32, body: Body<'a>) -> Packet<'a> {
        Packet {
            cluster: self.cluster,
            source: node_of(self.device),
            round,
            body,
        }
    }

    /// The packets this device floods in round `round`: the sample of item
    /// `round` if it owns it, and its partial logits (or `Absent`) for item
    /// `round − 1`.
    pub fn submissions(&mut self, round: u32) -> Result<Vec<Vec<u8>>, WireError> {
        let mut out = Vec::new();
        if let Some(item) = self.schedule.item(u64::from(round))
            && let Some((values, label)) = self.shard(item.phase).get(item.sample, self.n_values)
        {
            let body = Body::Sample(Sample {
                sample_index: item.sample as u32,
                label,
                values: T::wire_values(values),
            });
            out.push(self.packet(round, body).to_vec()?);
        }
        if round > 0
            && let Some(f) = &self.in_flight
            && f.index == u64::from(round) - 1
        {
            let sample_index = f.item.sample as u32;
            let body = match f.own {
                Some(logits) => Body::PartialLogits(LogitsBody {
                    sample_index,
                    logits,
                }),
                None => Body::Absent(Absent { sample_index }),
            };
            out.push(self.packet(round, body).to_vec()?);
        }
        self.current.bytes_sent += out.iter().map(|p| p.len() as u64).sum::<u64>();
        Ok(out)
    }

    /// Processes round `round`'s deliveries (each an encoded inner packet).
    pub fn finish_round(&mut self, round: u32, delivered: &[Vec<u8>]) -> Result<(), RoundError> {
        let t0 = Instant::now();
        self.current.bytes_received += delivered.iter().map(|p| p.len() as u64).sum::<u64>();
        let r = u64::from(round);
        let this = self.schedule.item(r);
        let prev = self.in_flight.take().filter(|f| r >= 1 && f.index == r - 1);

        // Sort what arrived: logits for the previous item, the sample of this one.
        let mut from = vec![false; self.n_devices];
        let mut totals = LogitTotals::new(self.n_classes);
        let mut contributions = 0usize;
        let mut sample_in: Option<u16> = None;
        for bytes in delivered {
            let p = match wire::decode_checked(bytes, self.cluster, round) {
                Ok(p) => p,
                Err(e) => {
                    self.drops.record(&e);
                    continue;
                }
            };
            match p.body {
                Body::Beacon(b) => {
                    if p.source != HOST_NODE || !self.beacon_agrees(&b, this.as_ref()) {
                        self.beacon_mismatch += 1;
                    }
                }
                Body::PartialLogits(l) => {
                    let Some(d) = self.device_of(p.source) else {
                        self.rejected += 1;
                        continue;
                    };
                    let Some(f) = &prev else {
                        self.rejected += 1;
                        continue;
                    };
                    if d == self.device
                        || from[d]
                        || l.sample_index as usize != f.item.sample
                        || l.logits.n_classes() != self.n_classes
                    {
                        self.rejected += 1;
                        continue;
                    }
                    from[d] = true;
                    totals.add(&l.logits).map_err(|_| RoundError::Classes)?;
                    contributions += 1;
                }
                Body::Absent(a) => {
                    match (self.device_of(p.source), &prev) {
                        (Some(d), Some(f))
                            if d != self.device
                                && !from[d]
                                && a.sample_index as usize == f.item.sample =>
                        {
                            from[d] = true; // counted as missing below
                        }
                        _ => self.rejected += 1,
                    }
                }
                Body::Sample(s) => {
                    let ok = this.as_ref().is_some_and(|it| {
                        s.sample_index as usize == it.sample
                            && self.owner_node(it) == Some(p.source)
                            && s.values.len() == self.n_values
                    });
                    if !ok || sample_in.is_some() {
                        self.rejected += 1;
                        continue;
                    }
                    if T::copy_from(&s.values, self.model.sample_mut()).is_err() {
                        self.rejected += 1;
                        continue;
                    }
                    sample_in = Some(s.label);
                }
                Body::Hello(_) | Body::Delivery(_) | Body::Fragment(_) | Body::Bundle(_) => {
                    self.rejected += 1
                }
            }
        }

        // 1. The previous item: sum, train or score, step.
        if let Some(f) = prev {
            self.close_item(f, totals, contributions)?;
        }
        // 2. This item: own sample or the one received → partial logits.
        if let Some(item) = this {
            let label = match self.shard(item.phase).get(item.sample, self.n_values) {
                Some((values, label)) => {
                    let values = values.to_vec();
                    self.model.sample_mut().copy_from_slice(&values);
                    Some(label)
                }
                None => sample_in,
            };
            let own = match label {
                Some(_) => {
                    self.model.compute_features().map_err(RoundError::Model)?;
                    let p = self.model.partial_logits();
                    self.current.saturated += u64::from(p.saturated());
                    Some(p)
                }
                None => None,
            };
            self.in_flight = Some(InFlight {
                index: r,
                item,
                label: label.unwrap_or(0),
                own,
            });
        }
        self.current.compute_us += t0.elapsed().as_micros() as u64;
        Ok(())
    }

    fn close_item(
        &mut self,
        f: InFlight,
        mut totals: LogitTotals,
        contributions: usize,
    ) -> Result<(), RoundError> {
        let item = f.item;
        if self.current.epoch != item.epoch || self.current.phase != phase_name(item.phase) {
            self.flush_pass(item);
        }
        let st = &mut self.current;
        st.samples += 1;
        let missing = (self.n_devices - 1 - contributions) as u64;
        st.missing_contributions += missing;
        match f.own {
            None => st.samples_missed += 1,
            Some(own) => {
                totals.add(&own).map_err(|_| RoundError::Classes)?;
                st.scored += 1;
                let label = usize::from(f.label);
                st.correct += u64::from(totals.argmax() == label);
                if item.phase == Phase::Train {
                    if missing > 0 && self.policy == MissingPolicy::Skip {
                        st.skipped += 1;
                    } else {
                        if missing > 0 {
                            st.zero_filled += 1;
                        }
                        let loss = self
                            .model
                            .accumulate(&totals, label)
                            .map_err(RoundError::Model)?;
                        self.current.loss_sum += f64::from(loss);
                    }
                }
            }
        }
        if item.phase == Phase::Train && item.step_after {
            self.model.step().map_err(RoundError::Model)?;
            self.current.steps += 1;
        }
        if item.ends_pass {
            self.flush_pass(item);
        }
        Ok(())
    }

    /// Moves the pass in progress to `finished` (if it saw anything) and
    /// starts one for `item`'s pass.
    fn flush_pass(&mut self, item: Item) {
        let next = PassStats {
            epoch: item.epoch,
            phase: phase_name(item.phase).into(),
            ..PassStats::default()
        };
        let done = std::mem::replace(&mut self.current, next);
        if done.samples > 0 {
            self.finished.push(done);
        } else {
            // Carry traffic counted before the pass's first item.
            self.current.bytes_sent += done.bytes_sent;
            self.current.bytes_received += done.bytes_received;
            self.current.compute_us += done.compute_us;
            self.current.saturated += done.saturated;
        }
    }

    fn beacon_agrees(&self, b: &Beacon, item: Option<&Item>) -> bool {
        b.config_hash == self.config_hash
            && match item {
                Some(it) => {
                    b.phase == it.phase
                        && b.sample_index as usize == it.sample
                        && b.epoch as usize == it.epoch
                }
                None => b.phase == Phase::Idle,
            }
    }

    fn device_of(&self, source: u16) -> Option<usize> {
        let d = usize::from(source).checked_sub(1)?;
        (d < self.n_devices).then_some(d)
    }

    /// The radio node that owns (floods) `item`'s sample.
    fn owner_node(&self, item: &Item) -> Option<u16> {
        let n = if item.phase == Phase::Eval {
            self.n_test
        } else {
            self.n_train
        };
        self.partition.owner(n, item.sample).map(node_of)
    }
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Train => "train",
        Phase::Eval => "eval",
        Phase::Idle => "idle",
    }
}

/// A round could not be processed (a bug or a corrupt model, never the
/// network's doing: bad packets are dropped and counted instead).
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    /// Partial logits with another class count slipped through.
    #[error("partial logits with the wrong class count")]
    Classes,
    /// The model refused an operation.
    #[error("device model: {0}")]
    Model(rocknet_core::classifier::DeviceError),
}
