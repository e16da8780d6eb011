//! One round of synchronous-transmission flooding (DESIGN.md §3).
//!
//! A round is `K` slots of fixed length. In a slot a node transmits, listens
//! or has its radio off. A listening node receives if *any* concurrently
//! transmitting neighbour gets through — each link `t → r` succeeds
//! independently with its (fault-, interference- and burst-adjusted) PRR, so
//! `P(reception) = 1 − Π_t(1 − PRR_tr)`; when several get through, the
//! receiver captures one of them, uniformly at random. Transmitting nodes do
//! not receive (half duplex); down nodes do nothing.
//!
//! # Mixer (many-to-all, all messages in one network-coded flood)
//!
//! * **What a reception carries:** one new message. A Mixer packet is a
//!   random linear combination of what its sender holds; it is innovative
//!   for the receiver iff the sender holds something the receiver lacks, and
//!   then raises the receiver's rank by exactly one. Modelling that as "one
//!   message, chosen uniformly from sender ∖ receiver" keeps Mixer's
//!   throughput (one innovative packet per reception, not a whole set — the
//!   latter would make the flood finish in about one diameter, far faster than
//!   Mixer can) while still giving every message a delivery slot and hop.
//!   Non-innovative random combinations (probability ≈ 2^−(missing) over
//!   GF(2)) are ignored.
//! * **Who transmits (the N_tx budget rule):** (1) a node that gained a
//!   message in slot s — or originates one, at slot 0 — transmits in slot
//!   s + 1 (Glossy-style immediate relay: the wave moves one hop per slot);
//!   (2) otherwise a node holding ≥ 1 message with credit > 0 transmits with
//!   probability ½ (Mixer's randomised schedule; breaks lock-step between
//!   neighbours). Every transmission uses one credit. Credit is set to N_tx
//!   when a node gains a message, and re-armed to N_tx when it hears a
//!   neighbour whose packet (Mixer's info vector) shows it lacks something
//!   this node holds. (3) A node holding every message with no credit left is
//!   done: radio off for the rest of the round. Others listen when not
//!   transmitting, up to the end of the round.
//!
//! # Glossy (one flood per message, back to back)
//!
//! The originator transmits in the flood's first slot s₀ and then every
//! other slot, N_tx times; a node first receiving in slot s transmits in
//! s + 1, s + 3, …, N_tx times, listening in between, then switches off.
//! Nodes that have not received listen. A flood ends when no node has
//! transmissions left; the next starts in the following slot. Floods that do
//! not fit in the K slots are not sent. Only first receptions are drawn and
//! counted in Glossy.
//!
//! # Randomness
//!
//! Slot `s` of round `r` draws from `keyed_rng(seed, LinkLoss, r, s)` in a
//! fixed order (Mixer coin words for all nodes; then receivers ascending,
//! their in-neighbours ascending; a capture choice only when several got
//! through; a message choice only when several are innovative), so the same
//! seed, topology, faults and inputs give identical results.

use std::hash::{Hash, Hasher};

use rand_core::Rng;
use rocknet_core::rng::{Purpose, keyed_rng, uniform_inclusive};
use serde::Deserialize;

use crate::loss::LinkLoss;
use crate::topology::{LinkTable, NodeId};
use crate::units::Micros;

/// How the messages of a round travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FloodMode {
    /// Many-to-all, all messages in one network-coded flood.
    #[default]
    Mixer,
    /// One Glossy flood per message, back to back.
    Glossy,
}

/// The fixed parameters of every round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FloodParams {
    /// Mixer or Glossy.
    pub mode: FloodMode,
    /// Slots per round (K).
    pub slots: u32,
    /// Transmission budget per node (N_tx), ≥ 1.
    pub n_tx: u32,
    /// Length of one slot.
    pub slot_length: Micros,
    /// Experiment seed.
    pub seed: u64,
}

/// When and over how many hops a message reached a node. The originator's
/// own entry has hop 0 and the slot its flood started (0 in Mixer; for a
/// Glossy flood that did not fit in the round, K).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Delivery {
    /// Slot of the round in which the message arrived.
    pub slot: u32,
    /// Hops from the originator.
    pub hop: u32,
}

/// Radio activity of one node in one round, in slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NodeRadio {
    /// Slots spent transmitting.
    pub tx_slots: u32,
    /// Slots spent listening (whether or not anything arrived).
    pub rx_slots: u32,
    /// Listening slots in which a frame was received.
    pub receptions: u32,
}

impl NodeRadio {
    /// Slots with the radio on (TX + RX).
    pub fn on_slots(&self) -> u32 {
        self.tx_slots + self.rx_slots
    }
}

/// A round's origins name a node that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FloodError {
    /// Origin outside the topology.
    #[error("message {message} originates at node {node}, but there are only {nodes} nodes")]
    NoSuchNode {
        /// The message index.
        message: usize,
        /// The node named.
        node: NodeId,
        /// Number of nodes.
        nodes: usize,
    },
}

/// The outcome of one round.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoundResult {
    /// Round number.
    pub round: u64,
    /// Flood mode.
    pub mode: FloodMode,
    /// Number of nodes.
    pub nodes: usize,
    /// Slots in the round (K).
    pub slots: u32,
    /// Slots up to and including the last one anybody transmitted in.
    pub slots_used: u32,
    /// Length of one slot.
    pub slot_length: Micros,
    /// Originating node of each message.
    pub origins: Vec<NodeId>,
    /// `deliveries[message · nodes + node]`.
    pub deliveries: Vec<Option<Delivery>>,
    /// Radio activity per node.
    pub radio: Vec<NodeRadio>,
}

impl RoundResult {
    /// When `message` reached `node`, if it did.
    pub fn delivery(&self, message: usize, node: NodeId) -> Option<Delivery> {
        self.deliveries[message * self.nodes + node]
    }

    /// The round's emulated duration: K × slot length (rounds have a fixed
    /// schedule; a node's radio-on time is in [`RoundResult::radio`]).
    pub fn duration(&self) -> Micros {
        self.slot_length * u64::from(self.slots)
    }

    /// Fraction of (message, node ≠ originator) pairs delivered.
    pub fn delivery_ratio(&self) -> f64 {
        let pairs = self.origins.len() * (self.nodes - 1);
        if pairs == 0 {
            return 1.0;
        }
        let got = self
            .origins
            .iter()
            .enumerate()
            .map(|(m, &o)| {
                (0..self.nodes)
                    .filter(|&i| i != o && self.delivery(m, i).is_some())
                    .count()
            })
            .sum::<usize>();
        got as f64 / pairs as f64
    }

    /// A 64-bit digest of the whole result (FNV-1a over the `Hash` stream;
    /// stable across builds and runs on one architecture, for replay checks).
    pub fn digest(&self) -> u64 {
        let mut h = Fnv1a::default();
        self.hash(&mut h);
        h.finish()
    }
}

/// 64-bit FNV-1a: a stable hasher (std's `DefaultHasher` may change between
/// releases).
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// Inbound links of every node as a compressed table, thresholds on 32-bit
/// draws.
struct Inbound {
    start: Vec<usize>,
    from: Vec<u32>,
    prr: Vec<f64>,
    thr: Vec<u64>,
}

fn threshold(p: f64) -> u64 {
    (p.clamp(0.0, 1.0) * 4_294_967_296.0).round() as u64
}

/// One round over an effective link table (faults already applied).
pub struct FloodRound<'a> {
    links: &'a LinkTable,
    down: &'a [bool],
    loss: &'a mut LinkLoss,
    params: FloodParams,
    round: u64,
}

impl<'a> FloodRound<'a> {
    /// A round `round` over `links` (PRRs after faults), with `down` the
    /// node-down flags and `loss` the persistent loss state.
    pub fn new(
        links: &'a LinkTable,
        down: &'a [bool],
        loss: &'a mut LinkLoss,
        params: FloodParams,
        round: u64,
    ) -> Self {
        Self {
            links,
            down,
            loss,
            params,
            round,
        }
    }

    fn inbound(&self) -> Inbound {
        let n = self.links.nodes();
        let mut ib = Inbound {
            start: Vec::with_capacity(n + 1),
            from: Vec::new(),
            prr: Vec::new(),
            thr: Vec::new(),
        };
        for r in 0..n {
            ib.start.push(ib.from.len());
            if self.down[r] {
                continue;
            }
            for t in 0..n {
                let p = self.links.prr(t, r);
                if p > 0.0 && !self.down[t] {
                    let p = p * self.loss.round_factor(self.round, t, r);
                    ib.from.push(t as u32);
                    ib.prr.push(p);
                    ib.thr.push(threshold(p));
                }
            }
        }
        ib.start.push(ib.from.len());
        ib
    }

    /// Simulates the round; message `m` originates at `origins[m]`.
    pub fn run(self, origins: &[NodeId]) -> Result<RoundResult, FloodError> {
        let n = self.links.nodes();
        if let Some((message, &node)) = origins.iter().enumerate().find(|(_, o)| **o >= n) {
            return Err(FloodError::NoSuchNode {
                message,
                node,
                nodes: n,
            });
        }
        let mut sim = Sim {
            ib: self.inbound(),
            per_slot: self.loss.needs_per_slot(self.round),
            loss: self.loss,
            down: self.down,
            p: self.params,
            round: self.round,
            n,
            succ: Vec::with_capacity(n),
            res: RoundResult {
                round: self.round,
                mode: self.params.mode,
                nodes: n,
                slots: self.params.slots,
                slots_used: 0,
                slot_length: self.params.slot_length,
                origins: origins.to_vec(),
                deliveries: vec![None; origins.len() * n],
                radio: vec![NodeRadio::default(); n],
            },
        };
        match self.params.mode {
            FloodMode::Mixer => sim.mixer(),
            FloodMode::Glossy => sim.glossy(),
        }
        Ok(sim.res)
    }
}

struct Sim<'a> {
    ib: Inbound,
    per_slot: bool,
    loss: &'a mut LinkLoss,
    down: &'a [bool],
    p: FloodParams,
    round: u64,
    n: usize,
    succ: Vec<u32>,
    res: RoundResult,
}

impl Sim<'_> {
    fn rng(&self, slot: u32) -> rand_chacha::ChaCha8Rng {
        keyed_rng(self.p.seed, Purpose::LinkLoss, self.round, u64::from(slot))
    }

    /// Draws, for listener `r`, which transmitting in-neighbours got through
    /// (into `self.succ`), and returns the captured one.
    fn receive<R: Rng>(&mut self, rng: &mut R, r: usize, tx: &[bool], slot: u32) -> Option<usize> {
        self.succ.clear();
        for k in self.ib.start[r]..self.ib.start[r + 1] {
            let t = self.ib.from[k] as usize;
            if !tx[t] {
                continue;
            }
            let ok = if self.per_slot {
                let f = self.loss.slot_factor(self.round, slot, t, r);
                let thr = if f < 1.0 {
                    threshold(self.ib.prr[k] * f)
                } else {
                    self.ib.thr[k]
                };
                let global = self.round * u64::from(self.p.slots) + u64::from(slot);
                u64::from(rng.next_u32()) < thr && self.loss.burst_survives(rng, t, r, global)
            } else {
                u64::from(rng.next_u32()) < self.ib.thr[k]
            };
            if ok {
                self.succ.push(t as u32);
            }
        }
        match self.succ.len() {
            0 => None,
            1 => Some(self.succ[0] as usize),
            len => Some(self.succ[uniform_inclusive(rng, len as u32 - 1) as usize] as usize),
        }
    }

    fn mixer(&mut self) {
        let (n, k) = (self.n, self.p.slots);
        let m = self.res.origins.len();
        let words = m.div_ceil(64).max(1);
        let mut held = vec![0u64; n * words];
        let mut count = vec![0usize; n];
        let mut credit = vec![0u32; n];
        let mut relay = vec![false; n];
        let mut tx = vec![false; n];
        let mut coins = vec![0u64; n.div_ceil(64)];
        for (msg, &o) in self.res.origins.iter().enumerate() {
            if self.down[o] {
                continue;
            }
            held[o * words + msg / 64] |= 1 << (msg % 64);
            count[o] += 1;
            self.res.deliveries[msg * n + o] = Some(Delivery { slot: 0, hop: 0 });
            credit[o] = self.p.n_tx;
            relay[o] = true;
        }
        let done = |count: &[usize], credit: &[u32], i: usize| count[i] == m && credit[i] == 0;
        for s in 0..k {
            let mut rng = self.rng(s);
            for c in &mut coins {
                *c = rng.next_u64();
            }
            let mut any_tx = false;
            for i in 0..n {
                let coin = coins[i / 64] >> (i % 64) & 1 == 1;
                tx[i] = !self.down[i] && count[i] > 0 && (relay[i] || (credit[i] > 0 && coin));
                relay[i] = false;
                if tx[i] {
                    credit[i] = credit[i].saturating_sub(1);
                    self.res.radio[i].tx_slots += 1;
                    any_tx = true;
                }
            }
            if any_tx {
                self.res.slots_used = s + 1;
            } else if credit.iter().all(|&c| c == 0) {
                // Nobody will ever transmit again: the rest of the round is
                // listening by whoever is still waiting.
                for i in 0..n {
                    if !self.down[i] && !done(&count, &credit, i) {
                        self.res.radio[i].rx_slots += k - s;
                    }
                }
                break;
            }
            for r in 0..n {
                if self.down[r] || tx[r] || done(&count, &credit, r) {
                    continue;
                }
                self.res.radio[r].rx_slots += 1;
                let Some(t) = self.receive(&mut rng, r, &tx, s) else {
                    continue;
                };
                self.res.radio[r].receptions += 1;
                let (hr, ht) = (r * words, t * words);
                let innovative: u32 = (0..words)
                    .map(|w| (held[ht + w] & !held[hr + w]).count_ones())
                    .sum();
                if innovative > 0 {
                    let mut pick = if innovative > 1 {
                        uniform_inclusive(&mut rng, innovative - 1)
                    } else {
                        0
                    };
                    let mut msg = 0;
                    for w in 0..words {
                        let mut bits = held[ht + w] & !held[hr + w];
                        let c = bits.count_ones();
                        if pick >= c {
                            pick -= c;
                            continue;
                        }
                        for _ in 0..pick {
                            bits &= bits - 1;
                        }
                        msg = w * 64 + bits.trailing_zeros() as usize;
                        break;
                    }
                    held[hr + msg / 64] |= 1 << (msg % 64);
                    count[r] += 1;
                    let hop = self.res.deliveries[msg * n + t].map_or(0, |d| d.hop) + 1;
                    self.res.deliveries[msg * n + r] = Some(Delivery { slot: s, hop });
                    credit[r] = self.p.n_tx;
                    relay[r] = true;
                } else if count[t] < count[r] {
                    credit[r] = self.p.n_tx;
                }
            }
        }
    }

    fn glossy(&mut self) {
        let (n, k, n_tx) = (self.n, self.p.slots, self.p.n_tx);
        let mut got = vec![false; n];
        let mut hop = vec![0u32; n];
        let mut left = vec![0u32; n];
        let mut next = vec![0u32; n];
        let mut tx = vec![false; n];
        let mut s = 0u32;
        for msg in 0..self.res.origins.len() {
            let o = self.res.origins[msg];
            if self.down[o] {
                continue;
            }
            if s >= k {
                self.res.deliveries[msg * n + o] = Some(Delivery { slot: k, hop: 0 });
                continue;
            }
            got.fill(false);
            left.fill(0);
            got[o] = true;
            hop[o] = 0;
            left[o] = n_tx;
            next[o] = s;
            self.res.deliveries[msg * n + o] = Some(Delivery { slot: s, hop: 0 });
            while s < k && left.iter().any(|&l| l > 0) {
                let mut rng = self.rng(s);
                for i in 0..n {
                    tx[i] = left[i] > 0 && next[i] == s;
                    if tx[i] {
                        left[i] -= 1;
                        next[i] += 2;
                        self.res.radio[i].tx_slots += 1;
                        self.res.slots_used = s + 1;
                    }
                }
                for r in 0..n {
                    if self.down[r] || tx[r] || (got[r] && left[r] == 0) {
                        continue;
                    }
                    self.res.radio[r].rx_slots += 1;
                    if got[r] {
                        continue;
                    }
                    if let Some(t) = self.receive(&mut rng, r, &tx, s) {
                        self.res.radio[r].receptions += 1;
                        got[r] = true;
                        hop[r] = hop[t] + 1;
                        left[r] = n_tx;
                        next[r] = s + 1;
                        self.res.deliveries[msg * n + r] = Some(Delivery {
                            slot: s,
                            hop: hop[r],
                        });
                    }
                }
                s += 1;
            }
        }
    }
}
