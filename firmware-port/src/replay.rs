//! The QEMU radio: replays a recorded round stream as wire packets.
//!
//! Round `r` delivers, in this order: the host's beacon for item `r`, the
//! sample of item `r` from its owner (unless this device owns it and floods
//! it itself), and every other device's partial logits for item `r − 1`, as
//! `rocknet train` computed them. What the device sends is decoded and
//! checked against the record: its partial logits must equal the host's for
//! the same item and device, its own samples the recorded ones.

use rocknet_core::partition::PartitionPlan;
use rocknet_core::record::Record;
use rocknet_core::wire::{
    self, Beacon, Body, HOST_NODE, LogitsBody, Packet, Phase, Sample, WireError,
};

use crate::app::FwInput;
use crate::radio::{Radio, Rx};

/// Replay counters: what the device sent, compared with the record.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReplayChecks {
    /// Own partial logits equal to the host's.
    pub logits_equal: u32,
    /// Own partial logits that differ from the host's.
    pub logits_differ: u32,
    /// Own samples flooded, equal to the record's.
    pub samples_equal: u32,
    /// Anything else sent (unexpected).
    pub unexpected: u32,
}

/// A [`Radio`] that plays back a [`Record`].
pub struct ReplayRadio<'r, T: FwInput> {
    record: Record<'r>,
    partition: PartitionPlan,
    train: &'r [T],
    test: &'r [T],
    round: u32,
    stage: usize,
    /// Comparisons of what the device sent.
    pub checks: ReplayChecks,
}

/// The replay cannot go on.
#[derive(Debug)]
pub enum ReplayError {
    /// A packet could not be encoded.
    Wire(WireError),
    /// The record is inconsistent.
    Record(&'static str),
}

impl core::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ReplayError::Wire(e) => write!(f, "replay wire: {e}"),
            ReplayError::Record(what) => write!(f, "replay record: {what}"),
        }
    }
}

impl<'r, T: FwInput> ReplayRadio<'r, T> {
    /// Plays back `record`.
    pub fn new(record: Record<'r>, partition: PartitionPlan) -> Result<Self, ReplayError> {
        let view = |p| T::view(record.set(p).values()).ok_or(ReplayError::Record("misaligned"));
        Ok(Self {
            record,
            partition,
            train: view(Phase::Train)?,
            test: view(Phase::Eval)?,
            round: 0,
            stage: 0,
            checks: ReplayChecks::default(),
        })
    }

    fn me(&self) -> u16 {
        self.record.header().device + 1
    }

    fn encode(&self, source: u16, body: Body<'_>, buf: &mut [u8]) -> Result<Rx, ReplayError> {
        let p = Packet {
            cluster: self.record.header().cluster,
            source,
            round: self.round,
            body,
        };
        wire::encode(&p, buf)
            .map(Rx::Packet)
            .map_err(ReplayError::Wire)
    }

    fn owner(&self, phase: Phase, sample: u32) -> Option<u16> {
        let n = self.record.set(phase).len();
        self.partition
            .owner(n, sample as usize)
            .map(|d| d as u16 + 1)
    }

    fn values(&self, phase: Phase, sample: u32) -> &'r [T] {
        let len =
            usize::from(self.record.header().n_channels) * self.record.header().length as usize;
        let set = if phase == Phase::Eval {
            self.test
        } else {
            self.train
        };
        let i = sample as usize;
        set.get(i * len..(i + 1) * len).unwrap_or(&[])
    }
}

impl<T: FwInput> Radio for ReplayRadio<'_, T> {
    type Error = ReplayError;

    fn send(&mut self, packet: &[u8]) -> Result<(), ReplayError> {
        let Ok(p) = wire::decode(packet) else {
            self.checks.unexpected += 1;
            return Ok(());
        };
        let me = self.me();
        match p.body {
            Body::PartialLogits(l) if p.source == me && self.round >= 1 => {
                let host = self
                    .record
                    .item(self.round as usize - 1)
                    .filter(|it| it.sample == l.sample_index)
                    .and_then(|it| it.partial(usize::from(me - 1)));
                if host == Some(l.logits) {
                    self.checks.logits_equal += 1;
                } else {
                    self.checks.logits_differ += 1;
                }
            }
            Body::Sample(s) if p.source == me => {
                // SampleValues compare encoding and values bit for bit.
                let equal = self
                    .record
                    .item(self.round as usize)
                    .filter(|it| it.sample == s.sample_index)
                    .is_some_and(|it| s.values == T::wire(self.values(it.phase, it.sample)));
                if equal {
                    self.checks.samples_equal += 1;
                } else {
                    self.checks.unexpected += 1;
                }
            }
            _ => self.checks.unexpected += 1,
        }
        Ok(())
    }

    fn receive(&mut self, buf: &mut [u8]) -> Result<Rx, ReplayError> {
        let n_items = self.record.n_items() as u32;
        if self.round > n_items {
            return Ok(Rx::Done);
        }
        let me = self.me();
        let n_devices = self.record.header().n_devices;
        loop {
            let stage = self.stage;
            self.stage += 1;
            let r = self.round as usize;
            match stage {
                0 => {
                    if let Some(it) = self.record.item(r) {
                        let b = Beacon {
                            phase: it.phase,
                            sample_index: it.sample,
                            epoch: it.epoch,
                            config_hash: 0,
                        };
                        return self.encode(HOST_NODE, Body::Beacon(b), buf);
                    }
                }
                1 => {
                    if let Some(it) = self.record.item(r) {
                        let owner = self
                            .owner(it.phase, it.sample)
                            .ok_or(ReplayError::Record("sample without owner"))?;
                        if owner != me {
                            let set = self.record.set(it.phase);
                            let label = set
                                .label(it.sample as usize)
                                .ok_or(ReplayError::Record("label"))?;
                            let values = self.values(it.phase, it.sample);
                            let body = Body::Sample(Sample {
                                sample_index: it.sample,
                                label,
                                values: T::wire(values),
                            });
                            return self.encode(owner, body, buf);
                        }
                    }
                }
                s if s >= 2 && s - 2 < usize::from(n_devices) => {
                    let d = (s - 2) as u16;
                    if r >= 1 && d + 1 != me {
                        let it = self.record.item(r - 1).ok_or(ReplayError::Record("item"))?;
                        let logits = it
                            .partial(usize::from(d))
                            .ok_or(ReplayError::Record("partial"))?;
                        let body = Body::PartialLogits(LogitsBody {
                            sample_index: it.sample,
                            logits,
                        });
                        return self.encode(d + 1, body, buf);
                    }
                }
                _ => {
                    self.round += 1;
                    self.stage = 0;
                    return Ok(Rx::RoundEnd);
                }
            }
        }
    }
}
