//! The host: radio node 0. It opens every round with a beacon (round, phase,
//! sample index, epoch, config hash), hears the round's floods like any
//! node, and scores evaluation samples from the partial logits it received.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Result, bail};
use rocknet_core::classifier::LogitTotals;
use rocknet_core::wire::{self, Beacon, Body, DropCounters, HOST_NODE, Phase};
use rocknet_node::relay_link::{RelayLink, RoundEnd};
use rocknet_node::schedule::Item;

/// The host's link to the relay and what it needs to read a round.
pub struct Host {
    link: RelayLink,
    cluster: u16,
    config_hash: u64,
    n_devices: usize,
    n_classes: usize,
    /// Delivered packets that did not decode or belong to another cluster
    /// or round.
    wire_drops: DropCounters,
    /// Delivered packets that decoded but made no sense: from no device,
    /// a second contribution from one, or logits for another sample.
    rejected: u64,
}

/// What the host took from one round.
#[derive(Debug, Default)]
pub struct HostRound {
    /// The host's sum of the partial logits for the previous item and how
    /// many devices contributed, if any arrived.
    pub prediction: Option<(usize, usize)>,
    /// Devices whose logits (or absent) for the previous item it heard.
    pub heard: usize,
}

impl Host {
    /// Binds a socket for the host.
    pub fn bind(
        relay: SocketAddr,
        cluster: u16,
        config_hash: u64,
        n_devices: usize,
        n_classes: usize,
    ) -> Result<Self> {
        Ok(Self {
            link: RelayLink::bind(relay, cluster, HOST_NODE, config_hash)?,
            cluster,
            config_hash,
            n_devices,
            n_classes,
            wire_drops: DropCounters::default(),
            rejected: 0,
        })
    }

    /// Everything the host discarded, by reason (non-zero counters only):
    /// its link's drops, then delivered packets it could not use.
    pub fn drops(&self) -> Vec<(String, u64)> {
        let mut v = self.link.drops().named();
        v.extend(
            self.wire_drops
                .iter()
                .filter(|&(_, n)| n > 0)
                .map(|(r, n)| (format!("delivered_{}", r.name()), n)),
        );
        if self.rejected > 0 {
            v.push(("rejected".into(), self.rejected));
        }
        v
    }

    /// Registers with the relay (retrying until `timeout`, or until `stop`
    /// is set).
    pub fn register(&mut self, timeout: Duration, stop: &AtomicBool) -> Result<()> {
        self.link.register(stop, Some(timeout)).map(|_| ())
    }

    /// Runs round `round`: beacon for `this` (Idle past the end), end marker,
    /// then the deliveries of the relay's round bundle. `prev` is
    /// the item whose logits travel in this round.
    pub fn round(
        &mut self,
        round: u32,
        this: Option<&Item>,
        prev: Option<&Item>,
        quiet: Duration,
        interrupted: &AtomicBool,
    ) -> Result<HostRound> {
        let beacon = Beacon {
            phase: this.map_or(Phase::Idle, |i| i.phase),
            sample_index: this.map_or(0, |i| i.sample as u32),
            epoch: this.map_or(0, |i| i.epoch as u32),
            config_hash: self.config_hash,
        };
        let b = self.link.packet(round, Body::Beacon(beacon))?;
        // The host opens every round, so it cannot be late for one.
        self.link.submit(round, &[b])?;
        let delivered = match self.link.collect(round, quiet, interrupted)? {
            RoundEnd::Done(d) => d,
            RoundEnd::Lost => bail!(
                "the relay at {} stopped answering in round {round}",
                self.link.relay()
            ),
        };

        let mut totals = LogitTotals::new(self.n_classes);
        let mut seen = vec![false; self.n_devices];
        let (mut contributions, mut heard) = (0usize, 0usize);
        for bytes in &delivered {
            let inner = match wire::decode_checked(bytes, self.cluster, round) {
                Ok(p) => p,
                Err(e) => {
                    self.wire_drops.record(&e);
                    continue;
                }
            };
            // Samples travel to the devices; the host has no use for them.
            if matches!(inner.body, Body::Sample(_)) {
                continue;
            }
            let Some(dev) = usize::from(inner.source)
                .checked_sub(1)
                .filter(|&d| d < self.n_devices && !seen[d])
            else {
                self.rejected += 1;
                continue;
            };
            match (inner.body, prev) {
                (Body::PartialLogits(l), Some(it))
                    if l.sample_index as usize == it.sample
                        && l.logits.n_classes() == self.n_classes =>
                {
                    seen[dev] = true;
                    heard += 1;
                    if totals.add(&l.logits).is_ok() {
                        contributions += 1;
                    }
                }
                (Body::Absent(a), Some(it)) if a.sample_index as usize == it.sample => {
                    seen[dev] = true;
                    heard += 1;
                }
                _ => self.rejected += 1,
            }
        }
        Ok(HostRound {
            prediction: (contributions > 0).then(|| (totals.argmax(), contributions)),
            heard,
        })
    }
}
