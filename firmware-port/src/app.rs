//! The device's round loop (docs/method.md#rounds), over any [`Radio`].
//!
//! Round `r` opens with the host's beacon (phase, sample, epoch); the owner
//! of that sample floods it; every device floods its partial logits for item
//! `r − 1`. After the round the device adds its own partial logits to those
//! it received (integers: the order cannot matter), trains on item `r − 1`
//! (gradient, and an optimizer step at a batch end) or scores it, then
//! transforms item `r`'s sample and computes its partial logits, which it
//! sends at the start of round `r + 1`. Which rounds end a batch follows from
//! the beacon's epoch and phase, the batch size and the training-set size,
//! as the host's schedule decides it.

use rocknet_core::classifier::{DeviceError, DeviceModel, LogitTotals, PartialLogits};
use rocknet_core::partition::PartitionPlan;
use rocknet_core::record::{Record, RecordValue};
use rocknet_core::series::ConvInput;
use rocknet_core::storage::StaticStorage;
use rocknet_core::wire::{
    self, Body, HOST_NODE, LogitsBody, Packet, Phase, Sample, SampleValues, WireError,
};

use crate::meter::{self, Clock};
use crate::radio::{Radio, Rx};

/// Sample types the firmware handles (f32 and int8).
pub trait FwInput: ConvInput + RecordValue {
    /// The values as a wire sample body.
    fn wire(values: &[Self]) -> SampleValues<'_>;
    /// Copies received values into `out`.
    fn copy_from(values: &SampleValues<'_>, out: &mut [Self]) -> Result<(), WireError>;
    /// The record's little-endian bytes viewed in place as values (`None`
    /// if misaligned).
    fn view(bytes: &[u8]) -> Option<&[Self]>;
}

impl FwInput for f32 {
    fn wire(values: &[f32]) -> SampleValues<'_> {
        SampleValues::f32(values)
    }
    fn copy_from(values: &SampleValues<'_>, out: &mut [f32]) -> Result<(), WireError> {
        values.copy_f32_into(out)
    }
    fn view(bytes: &[u8]) -> Option<&[f32]> {
        // SAFETY: every bit pattern is an f32; alignment and length are
        // checked; both targets are little-endian like the record.
        let (head, body, tail) = unsafe { bytes.align_to::<f32>() };
        (head.is_empty() && tail.is_empty()).then_some(body)
    }
}

impl FwInput for i8 {
    fn wire(values: &[i8]) -> SampleValues<'_> {
        SampleValues::int8(values)
    }
    fn copy_from(values: &SampleValues<'_>, out: &mut [i8]) -> Result<(), WireError> {
        values.copy_i8_into(out)
    }
    fn view(bytes: &[u8]) -> Option<&[i8]> {
        // SAFETY: i8 and u8 have the same size and alignment.
        Some(unsafe { core::slice::from_raw_parts(bytes.as_ptr().cast(), bytes.len()) })
    }
}

/// Why the loop stopped.
#[derive(Debug)]
pub enum AppError<E> {
    /// The model refused an operation.
    Device(DeviceError),
    /// A packet could not be encoded.
    Wire(WireError),
    /// The radio failed.
    Radio(E),
    /// The record's data is not where the firmware can read it.
    Record(&'static str),
}

impl<E: core::fmt::Debug> core::fmt::Display for AppError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AppError::Device(e) => write!(f, "device model: {e}"),
            AppError::Wire(e) => write!(f, "wire: {e}"),
            AppError::Radio(e) => write!(f, "radio: {e:?}"),
            AppError::Record(what) => write!(f, "record: {what}"),
        }
    }
}

impl<E> From<DeviceError> for AppError<E> {
    fn from(e: DeviceError) -> Self {
        AppError::Device(e)
    }
}

impl<E> From<WireError> for AppError<E> {
    fn from(e: WireError) -> Self {
        AppError::Wire(e)
    }
}

/// Counters of a run.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    /// Rounds completed.
    pub rounds: u32,
    /// Training items closed (gradients taken).
    pub train_items: u32,
    /// Evaluation items scored.
    pub eval_items: u32,
    /// Optimizer steps taken.
    pub steps: u32,
    /// Correct predictions among the scored evaluation items.
    pub eval_correct: u32,
    /// Packets that failed to decode or were dropped by a check.
    pub dropped: u32,
    /// Packets decoded but not accepted (wrong source, sample, duplicate).
    pub rejected: u32,
    /// Partial-logit contributions of other devices missing from a total.
    pub missing: u32,
    /// Items without a sample (none received).
    pub no_sample: u32,
}

/// The item in flight between its round and the next.
struct InFlight {
    phase: Phase,
    sample: u32,
    label: u16,
    step_after: bool,
    own: PartialLogits,
}

/// The device: model, data, identity.
pub struct Device<'r, T: FwInput> {
    /// The model in static buffers.
    pub model: DeviceModel<T, StaticStorage>,
    /// The record (plan inputs and data).
    pub record: Record<'r>,
    /// The partition (sample owners).
    pub partition: PartitionPlan,
    /// Predicted class per test series (from the latest evaluation pass).
    pub predictions: &'static mut [u16],
}

impl<'r, T: FwInput> Device<'r, T> {
    fn node(&self) -> u16 {
        self.record.header().device + 1
    }

    fn owner_node(&self, phase: Phase, sample: u32) -> Option<u16> {
        let n = self.record.set(phase).len();
        self.partition
            .owner(n, sample as usize)
            .map(|d| d as u16 + 1)
    }

    fn dataset(&self, phase: Phase) -> Result<&'r [T], AppError<()>> {
        T::view(self.record.set(phase).values()).ok_or(AppError::Record("misaligned series"))
    }

    /// Fits the device's MiniRocket biases on the record's training set,
    /// read in place.
    pub fn fit(&mut self, clock: &mut Clock) -> Result<(), AppError<()>> {
        let h = *self.record.header();
        let values = self.dataset(Phase::Train)?;
        let view = rocknet_core::series::SeriesView::new(
            values,
            h.n_train as usize,
            usize::from(h.n_channels),
            h.length as usize,
        )
        .map_err(|_| AppError::Record("training-set shape"))?;
        clock.measure(meter::Phase::Fit, || self.model.fit(view))?;
        Ok(())
    }

    /// Runs rounds until the radio says [`Rx::Done`].
    pub fn run<R: Radio>(
        &mut self,
        radio: &mut R,
        clock: &mut Clock,
        rx: &mut [u8],
        tx: &mut [u8],
    ) -> Result<Stats, AppError<R::Error>> {
        let h = *self.record.header();
        let (c, me, cluster) = (usize::from(h.n_classes), self.node(), h.cluster);
        let n_devices = usize::from(h.n_devices);
        let batch = (h.batch_size as usize).max(1);
        let mut stats = Stats::default();
        let mut in_flight: Option<InFlight> = None;
        // (epoch, phase) of the pass in progress and the position in it.
        let mut pass: Option<(u32, Phase, usize)> = None;
        let mut round: u32 = 0;
        loop {
            // Submissions: own partial logits for item r − 1.
            if let Some(f) = &in_flight {
                let p = Packet {
                    cluster,
                    source: me,
                    round,
                    body: Body::PartialLogits(LogitsBody {
                        sample_index: f.sample,
                        logits: f.own,
                    }),
                };
                let n = wire::encode(&p, tx)?;
                radio.send(&tx[..n]).map_err(AppError::Radio)?;
            }
            let mut totals = LogitTotals::new(c);
            let mut heard: u128 = 0;
            let mut beacon = None;
            let mut sample_in: Option<(u32, u16)> = None;
            loop {
                let n = match radio.receive(rx).map_err(AppError::Radio)? {
                    Rx::Done => return Ok(stats),
                    Rx::RoundEnd => break,
                    Rx::Packet(n) => n,
                };
                let p = match wire::decode_checked(&rx[..n.min(rx.len())], cluster, round) {
                    Ok(p) => p,
                    Err(_) => {
                        stats.dropped += 1;
                        continue;
                    }
                };
                match p.body {
                    Body::Beacon(b) if p.source == HOST_NODE && beacon.is_none() => {
                        beacon = Some(b);
                        // The owner floods its own sample.
                        if matches!(b.phase, Phase::Train | Phase::Eval)
                            && self.owner_node(b.phase, b.sample_index) == Some(me)
                        {
                            let set = self.record.set(b.phase);
                            let i = b.sample_index as usize;
                            let label = set.label(i).ok_or(AppError::Record("label"))?;
                            let values = T::view(set.values())
                                .ok_or(AppError::Record("misaligned series"))?;
                            let len = self.model.sample_mut().len();
                            let own = &values[i * len..(i + 1) * len];
                            self.model.sample_mut().copy_from_slice(own);
                            sample_in = Some((b.sample_index, label));
                            let s = Packet {
                                cluster,
                                source: me,
                                round,
                                body: Body::Sample(Sample {
                                    sample_index: b.sample_index,
                                    label,
                                    values: T::wire(own),
                                }),
                            };
                            let n = wire::encode(&s, tx)?;
                            radio.send(&tx[..n]).map_err(AppError::Radio)?;
                        }
                    }
                    Body::Sample(s)
                        if sample_in.is_none()
                            && s.values.len() == self.model.sample_mut().len() =>
                    {
                        if T::copy_from(&s.values, self.model.sample_mut()).is_ok() {
                            sample_in = Some((s.sample_index, s.label));
                        } else {
                            stats.rejected += 1;
                        }
                        // The source is checked against the owner below,
                        // once the beacon is known.
                        if let Some(b) = beacon.filter(|_| sample_in.is_some())
                            && self.owner_node(b.phase, s.sample_index) != Some(p.source)
                        {
                            sample_in = None;
                            stats.rejected += 1;
                        }
                    }
                    Body::PartialLogits(l) => {
                        let d = usize::from(p.source).wrapping_sub(1);
                        let ok = in_flight
                            .as_ref()
                            .is_some_and(|f| f.sample == l.sample_index)
                            && d < n_devices
                            && d < 128
                            && p.source != me
                            && heard & (1 << d) == 0
                            && l.logits.n_classes() == c;
                        if ok && totals.add(&l.logits).is_ok() {
                            heard |= 1 << d;
                        } else {
                            stats.rejected += 1;
                        }
                    }
                    _ => stats.rejected += 1,
                }
            }

            // 1. Item r − 1: own contribution, then train or score.
            if let Some(f) = in_flight.take() {
                stats.missing += (n_devices - 1).saturating_sub(heard.count_ones() as usize) as u32;
                totals
                    .add(&f.own)
                    .map_err(|_| AppError::Record("classes"))?;
                match f.phase {
                    Phase::Train => {
                        clock.measure(meter::Phase::Gradient, || {
                            self.model.accumulate(&totals, usize::from(f.label))
                        })?;
                        stats.train_items += 1;
                        if f.step_after {
                            clock.measure(meter::Phase::Step, || self.model.step())?;
                            stats.steps += 1;
                        }
                    }
                    _ => {
                        let pred = totals.argmax() as u16;
                        if let Some(slot) = self.predictions.get_mut(f.sample as usize) {
                            *slot = pred;
                        }
                        stats.eval_correct += u32::from(pred == f.label);
                        stats.eval_items += 1;
                    }
                }
            }

            // 2. Item r: transform and partial logits.
            if let Some(b) = beacon.filter(|b| matches!(b.phase, Phase::Train | Phase::Eval)) {
                let position = match pass {
                    Some((e, ph, pos)) if e == b.epoch && ph == b.phase => pos + 1,
                    _ => 0,
                };
                pass = Some((b.epoch, b.phase, position));
                let n_train = h.n_train as usize;
                let step_after = b.phase == Phase::Train
                    && ((position + 1) % batch == 0 || position + 1 == n_train);
                match sample_in.filter(|(i, _)| *i == b.sample_index) {
                    Some((_, label)) => {
                        clock.measure(meter::Phase::Transform, || self.model.compute_features())?;
                        let own = clock
                            .measure(meter::Phase::PartialLogits, || self.model.partial_logits());
                        in_flight = Some(InFlight {
                            phase: b.phase,
                            sample: b.sample_index,
                            label,
                            step_after,
                            own,
                        });
                    }
                    None => stats.no_sample += 1,
                }
            }
            round += 1;
            stats.rounds = round;
        }
    }
}
