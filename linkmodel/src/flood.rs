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
//! # Message size and fragmentation
//!
//! A slot carries one frame of [`FloodParams::payload`] bytes (the
//! config's `payload_bytes`, which also sets the slot length). A message of
//! `len` bytes travels as [`FloodParams::fragments`]`(len)` =
//! ⌈len / payload⌉ fragments (at least one), each a packet of the flood in
//! its own right: in Mixer every fragment of every message joins the one
//! network-coded generation; in Glossy each fragment is a flood of its own,
//! a message's fragments back to back. A node has a message only when it has
//! every fragment of it (a lost fragment loses the message); its
//! [`Delivery`] is then the slot of the fragment that arrived last and the
//! largest hop count over the fragments. Results are per message; radio
//! slots count every fragment's transmissions and receptions.
//!
//! # Mixer (many-to-all, all fragments in one network-coded flood)
//!
//! * **What a reception carries:** one new fragment. A Mixer packet is a
//!   random linear combination of what its sender holds; it is innovative
//!   for the receiver iff the sender holds something the receiver lacks, and
//!   then raises the receiver's rank by exactly one. Modelling that as "one
//!   fragment, chosen uniformly from sender ∖ receiver" keeps Mixer's
//!   throughput (one innovative packet per reception, not a whole set — the
//!   latter would make the flood finish in about one diameter, far faster than
//!   Mixer can) while still giving every fragment a delivery slot and hop.
//!   Non-innovative random combinations (probability ≈ 2^−(missing) over
//!   GF(2)) are ignored.
//! * **Who transmits (the N_tx budget rule):** (1) a node that gained a
//!   fragment in slot s — or originates one, at slot 0 — transmits in slot
//!   s + 1 (Glossy-style immediate relay: the wave moves one hop per slot);
//!   (2) otherwise a node holding ≥ 1 fragment with credit > 0 transmits with
//!   probability ½ (Mixer's randomised schedule; breaks lock-step between
//!   neighbours). Every transmission uses one credit. A node starts with
//!   N_tx credits per fragment it originates; credit is raised to at least
//!   N_tx when a node gains a fragment, and re-armed to at least N_tx when
//!   it hears a neighbour whose packet (Mixer's info vector) shows it lacks
//!   something this node holds. (3) A node holding every fragment with no credit left
//!   is done: radio off for the rest of the round. Others listen when not
//!   transmitting, up to the end of the round.
//!
//! # Glossy (one flood per fragment, back to back)
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
//! Every draw is a pure function of its key ([`crate::draw`]): whether a
//! frame on `t → r` gets through in slot `s` of round `k` of
//! `(seed, k, s, t, r)`; a Gilbert–Elliott step likewise (see
//! [`crate::loss`]); a Mixer node's coin, a receiver's capture and its
//! fragment pick of `(seed, k, s, node)`, each with its own tag. No draw
//! depends on how many others were made before it, so a fault on one link
//! changes nothing that does not depend on that link, and the same seed,
//! topology, faults and inputs give identical results.

use std::hash::{Hash, Hasher};

use serde::Deserialize;

use crate::draw::{RoundKey, SlotKey, Tag};
use crate::loss::LinkLoss;
use crate::topology::{LinkTable, NodeId};
use crate::units::{Bytes, Micros};

/// The most fragments one round may carry, over all its messages (16 Mi):
/// the model's memory grows with fragments × nodes. The relay's defaults
/// stay far below it (65,536 messages of ≤ 2,048 bytes: ≈ 1.4 million
/// fragments of 100 bytes).
pub const MAX_FRAGMENTS: usize = 1 << 24;

/// How the messages of a round travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FloodMode {
    /// Many-to-all, all messages in one network-coded flood.
    #[default]
    Mixer,
    /// One Glossy flood per fragment, back to back.
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
    /// Payload of one frame; longer messages are fragmented.
    pub payload: Bytes,
    /// Experiment seed.
    pub seed: u64,
}

impl FloodParams {
    /// Frames a message of `len` bytes takes: ⌈len / payload⌉, at least one
    /// (an empty message still needs a frame). The one place this rule
    /// lives. A payload of 0 counts as 1 byte (configs reject 0).
    pub fn fragments(&self, len: Bytes) -> usize {
        len.0.div_ceil(self.payload.0.max(1)).max(1)
    }
}

/// One message of a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Message {
    /// The node that sends it.
    pub origin: NodeId,
    /// Its encoded length; all of it goes over the air, in fragments.
    pub len: Bytes,
}

impl Message {
    /// Message of `len` bytes from `origin`.
    pub fn new(origin: NodeId, len: usize) -> Self {
        Self {
            origin,
            len: Bytes(len),
        }
    }
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

/// A round's messages cannot be simulated.
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
    /// The messages need more fragments than [`MAX_FRAGMENTS`].
    #[error("the round's messages need {fragments} fragments, more than the {limit} allowed")]
    TooManyFragments {
        /// Fragments needed (saturating).
        fragments: usize,
        /// [`MAX_FRAGMENTS`].
        limit: usize,
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
    /// The messages, in round order.
    pub messages: Vec<Message>,
    /// Fragments of each message ([`FloodParams::fragments`]).
    pub fragments: Vec<usize>,
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
        let pairs = self.messages.len() * (self.nodes - 1);
        if pairs == 0 {
            return 1.0;
        }
        let got = self
            .messages
            .iter()
            .enumerate()
            .map(|(m, msg)| {
                let o = msg.origin;
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

/// Inbound links of every node as a compressed table.
struct Inbound {
    start: Vec<usize>,
    from: Vec<u32>,
    /// PRR after faults and round-wide interference.
    prr: Vec<f64>,
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
        };
        for r in 0..n {
            ib.start.push(ib.from.len());
            if self.down[r] {
                continue;
            }
            for t in 0..n {
                let p = self.links.prr(t, r);
                if p > 0.0 && !self.down[t] {
                    ib.from.push(t as u32);
                    ib.prr.push(p * self.loss.round_factor(self.round, t, r));
                }
            }
        }
        ib.start.push(ib.from.len());
        ib
    }

    /// Simulates the round over `messages` (message `m` is `messages[m]`).
    pub fn run(self, messages: &[Message]) -> Result<RoundResult, FloodError> {
        let n = self.links.nodes();
        if let Some((message, m)) = messages.iter().enumerate().find(|(_, m)| m.origin >= n) {
            return Err(FloodError::NoSuchNode {
                message,
                node: m.origin,
                nodes: n,
            });
        }
        let fragments: Vec<usize> = messages
            .iter()
            .map(|m| self.params.fragments(m.len))
            .collect();
        let total = fragments.iter().fold(0usize, |a, &f| a.saturating_add(f));
        if total > MAX_FRAGMENTS {
            return Err(FloodError::TooManyFragments {
                fragments: total,
                limit: MAX_FRAGMENTS,
            });
        }
        // Fragments are numbered message by message, in order.
        let origin: Vec<NodeId> = messages
            .iter()
            .zip(&fragments)
            .flat_map(|(m, &k)| std::iter::repeat_n(m.origin, k))
            .collect();
        let mut sim = Sim {
            ib: self.inbound(),
            per_slot: self.loss.needs_per_slot(self.round),
            loss: self.loss,
            down: self.down,
            p: self.params,
            round: self.round,
            key: RoundKey::new(self.params.seed, self.round),
            n,
            succ: Vec::with_capacity(n),
            frag: vec![None; total * n],
            origin,
            res: RoundResult {
                round: self.round,
                mode: self.params.mode,
                nodes: n,
                slots: self.params.slots,
                slots_used: 0,
                slot_length: self.params.slot_length,
                messages: messages.to_vec(),
                fragments,
                deliveries: vec![None; messages.len() * n],
                radio: vec![NodeRadio::default(); n],
            },
        };
        match self.params.mode {
            FloodMode::Mixer => sim.mixer(),
            FloodMode::Glossy => sim.glossy(),
        }
        sim.assemble();
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
    key: RoundKey,
    n: usize,
    succ: Vec<u32>,
    /// Originating node of each fragment.
    origin: Vec<NodeId>,
    /// `frag[fragment · n + node]`: when the fragment reached the node.
    frag: Vec<Option<Delivery>>,
    res: RoundResult,
}

impl Sim<'_> {
    /// Draws, for listener `r` in `slot`, which transmitting in-neighbours
    /// got through (into `self.succ`), and returns the captured one.
    fn receive(&mut self, key: SlotKey, r: usize, tx: &[bool], slot: u32) -> Option<usize> {
        self.succ.clear();
        for k in self.ib.start[r]..self.ib.start[r + 1] {
            let t = self.ib.from[k] as usize;
            if !tx[t] {
                continue;
            }
            let u = key.link(Tag::Link, t, r);
            // One draw against PRR × window × burst factors. The factors are
            // ≤ 1, so a draw at or above the PRR fails whatever they are and
            // they need not be computed (no other draw depends on it).
            let mut p = self.ib.prr[k];
            if u < p && self.per_slot {
                p *= self.loss.slot_factor(self.round, slot, t, r);
                if u < p {
                    let at = self
                        .round
                        .wrapping_mul(u64::from(self.p.slots))
                        .wrapping_add(u64::from(slot));
                    p *= self.loss.burst_factor(self.p.seed, self.p.slots, t, r, at);
                }
            }
            if u < p {
                self.succ.push(t as u32);
            }
        }
        match self.succ.len() {
            0 => None,
            1 => Some(self.succ[0] as usize),
            len => Some(self.succ[key.node_below(Tag::Capture, r, len as u32) as usize] as usize),
        }
    }

    fn mixer(&mut self) {
        let (n, k) = (self.n, self.p.slots);
        let frags = self.origin.len();
        let words = frags.div_ceil(64).max(1);
        let mut held = vec![0u64; n * words];
        let mut count = vec![0usize; n];
        let mut credit = vec![0u32; n];
        let mut relay = vec![false; n];
        let mut tx = vec![false; n];
        for (f, &o) in self.origin.iter().enumerate() {
            if self.down[o] {
                continue;
            }
            held[o * words + f / 64] |= 1 << (f % 64);
            count[o] += 1;
            self.frag[f * n + o] = Some(Delivery { slot: 0, hop: 0 });
            // N_tx per fragment originated: every packet a node injects gets
            // the budget a received one would (else a node originating a
            // k-fragment message with N_tx < k could switch off before
            // sending it all).
            credit[o] = credit[o].saturating_add(self.p.n_tx);
            relay[o] = true;
        }
        let done = |count: &[usize], credit: &[u32], i: usize| count[i] == frags && credit[i] == 0;
        for s in 0..k {
            let key = self.key.slot(s);
            let mut any_tx = false;
            for i in 0..n {
                tx[i] = !self.down[i]
                    && count[i] > 0
                    && (relay[i] || (credit[i] > 0 && key.node(Tag::Coin, i) < 0.5));
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
                let Some(t) = self.receive(key, r, &tx, s) else {
                    continue;
                };
                self.res.radio[r].receptions += 1;
                let (hr, ht) = (r * words, t * words);
                let innovative: u32 = (0..words)
                    .map(|w| (held[ht + w] & !held[hr + w]).count_ones())
                    .sum();
                if innovative > 0 {
                    let mut pick = if innovative > 1 {
                        key.node_below(Tag::Pick, r, innovative)
                    } else {
                        0
                    };
                    let mut f = 0;
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
                        f = w * 64 + bits.trailing_zeros() as usize;
                        break;
                    }
                    held[hr + f / 64] |= 1 << (f % 64);
                    count[r] += 1;
                    let hop = self.frag[f * n + t].map_or(0, |d| d.hop) + 1;
                    self.frag[f * n + r] = Some(Delivery { slot: s, hop });
                    credit[r] = credit[r].max(self.p.n_tx);
                    relay[r] = true;
                } else if count[t] < count[r] {
                    credit[r] = credit[r].max(self.p.n_tx);
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
        // Fragments are numbered message by message: one flood each, in
        // order, is each message's fragments back to back.
        for f in 0..self.origin.len() {
            let o = self.origin[f];
            if self.down[o] {
                continue;
            }
            if s >= k {
                self.frag[f * n + o] = Some(Delivery { slot: k, hop: 0 });
                continue;
            }
            got.fill(false);
            left.fill(0);
            got[o] = true;
            hop[o] = 0;
            left[o] = n_tx;
            next[o] = s;
            self.frag[f * n + o] = Some(Delivery { slot: s, hop: 0 });
            while s < k && left.iter().any(|&l| l > 0) {
                let key = self.key.slot(s);
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
                    if let Some(t) = self.receive(key, r, &tx, s) {
                        self.res.radio[r].receptions += 1;
                        got[r] = true;
                        hop[r] = hop[t] + 1;
                        left[r] = n_tx;
                        next[r] = s + 1;
                        self.frag[f * n + r] = Some(Delivery {
                            slot: s,
                            hop: hop[r],
                        });
                    }
                }
                s += 1;
            }
        }
    }

    /// Per message and node: delivered iff every fragment arrived; then the
    /// last fragment's slot and the largest hop count.
    fn assemble(&mut self) {
        let n = self.n;
        let mut first = 0;
        for (m, &k) in self.res.fragments.iter().enumerate() {
            for node in 0..n {
                self.res.deliveries[m * n + node] =
                    (first..first + k).try_fold(Delivery { slot: 0, hop: 0 }, |acc, f| {
                        self.frag[f * n + node].map(|d| Delivery {
                            slot: acc.slot.max(d.slot),
                            hop: acc.hop.max(d.hop),
                        })
                    });
            }
            first += k;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::LossProcess;

    fn params(mode: FloodMode, payload: usize) -> FloodParams {
        FloodParams {
            mode,
            slots: 100,
            n_tx: 2,
            slot_length: Micros(681),
            payload: Bytes(payload),
            seed: 1,
        }
    }

    #[test]
    fn fragments_are_ceil_len_over_payload_at_least_one() {
        let p = params(FloodMode::Mixer, 100);
        for (len, k) in [
            (0, 1),
            (1, 1),
            (100, 1),
            (101, 2),
            (156, 2),
            (200, 2),
            (201, 3),
        ] {
            assert_eq!(p.fragments(Bytes(len)), k, "{len} B");
        }
        assert_eq!(params(FloodMode::Mixer, 0).fragments(Bytes(3)), 3);
        assert_eq!(params(FloodMode::Mixer, 125).fragments(Bytes(135)), 2);
    }

    fn line(k: usize, mode: FloodMode, msgs: &[Message]) -> Result<RoundResult, FloodError> {
        let t = crate::topology::Topology::line(k, 1.0);
        let down = vec![false; k + 1];
        let mut loss = LinkLoss::new(LossProcess::Bernoulli, vec![], k + 1);
        FloodRound::new(t.links(), &down, &mut loss, params(mode, 100), 0).run(msgs)
    }

    /// A 156-byte message is two packets: twice the radio slots of a
    /// 100-byte one on a PRR-1 line, delivered when its second fragment is.
    #[test]
    fn a_two_fragment_message_costs_two_packets() {
        for mode in [FloodMode::Glossy, FloodMode::Mixer] {
            let one = line(4, mode, &[Message::new(0, 100)]).unwrap();
            let two = line(4, mode, &[Message::new(0, 156)]).unwrap();
            assert_eq!(two.fragments, vec![2]);
            let tx = |r: &RoundResult| r.radio.iter().map(|x| x.tx_slots).sum::<u32>();
            // Glossy: every node sends each fragment N_tx times.
            if mode == FloodMode::Glossy {
                assert_eq!(tx(&one), 5 * 2);
                assert_eq!(tx(&two), 2 * 5 * 2);
            }
            assert!(tx(&two) > tx(&one), "{mode:?}");
            for node in 1..=4 {
                let (a, b) = (
                    one.delivery(0, node).unwrap(),
                    two.delivery(0, node).unwrap(),
                );
                assert_eq!(b.hop, a.hop, "{mode:?}");
                assert!(b.slot > a.slot, "{mode:?} node {node}: {a:?} {b:?}");
            }
        }
    }

    #[test]
    fn too_many_fragments_is_an_error() {
        let err = line(2, FloodMode::Mixer, &[Message::new(0, usize::MAX)]).unwrap_err();
        assert!(matches!(err, FloodError::TooManyFragments { .. }), "{err}");
        let err = line(2, FloodMode::Glossy, &[Message::new(5, 1)]).unwrap_err();
        assert_eq!(
            err,
            FloodError::NoSuchNode {
                message: 0,
                node: 5,
                nodes: 3
            }
        );
    }
}
