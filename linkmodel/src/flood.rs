//! One round of synchronous-transmission flooding (docs/linkmodel.md#flood-model).
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
//! * **What else a packet carries** (as Mixer's header does, Herrmann et
//!   al. 2018): the sender's info vector (which fragments it holds) and its
//!   *full-rank map*, the set of nodes it knows to hold every fragment. A
//!   node is *complete* when it holds every fragment of the round (a down
//!   node's too, so with an originator down nobody is); a complete node is
//!   in its own map. On every reception the receiver adds the sender to the
//!   neighbours it has *heard*, merges the sender's map into its own (maps
//!   spread transitively), and notes whether that map lacks the receiver.
//!   A node's *usable neighbours* are those it reaches with PRR >
//!   [`USABLE_PRR`] (after faults and round-wide interference).
//! * **Who transmits:** a node holding ≥ 1 fragment, in this order:
//!   (1) a node that gained a fragment in slot s — or originates one, at
//!   slot 0 — transmits in slot s + 1 (Glossy-style immediate relay: the
//!   wave moves one hop per slot); (2) otherwise it transmits with
//!   probability ½ (Mixer's randomised schedule; breaks lock-step between
//!   neighbours) if it is *eligible*: it has credit left; or it is complete
//!   and *needed* — some usable neighbour it has heard is not in its map
//!   (it serves that neighbour), or it is *lacked*: some neighbour's latest
//!   packet it heard had a map lacking it, and the last such map arrived
//!   fewer than [`HISTORY_SLOTS`] slots ago (it tells that neighbour); or it
//!   is incomplete and has gained nothing for [`HISTORY_SLOTS`] slots (it
//!   stays eligible until it gains: two neighbours that each lack what the
//!   other holds and have spent their budget must keep trying until one
//!   hears the other — a single retry per period collides with the other's
//!   in lock-step about a third of the time, and then stalls a lossless
//!   line for the whole round). Credit: a node starts with N_tx per
//!   fragment it originates; every transmission uses one; it is raised to
//!   at least N_tx when a node gains a fragment, and re-armed to at least
//!   N_tx when it hears a neighbour whose info vector shows it lacks
//!   something this node holds.
//! * **Who switches off:** a node that is complete, has no credit left and
//!   no relay pending, has every usable neighbour in its map, and is not
//!   lacked (as above) is done: radio off for the rest of the round. Others
//!   listen when not transmitting, up to the end of the round. A usable
//!   neighbour never heard is waited for (the node stays on to learn, maybe
//!   transitively, that it is complete) but not served: a node transmits
//!   only once it holds something, so one never heard may hold nothing yet
//!   and be reachable only by luck, and serving it blindly would keep every
//!   node next to it transmitting for the whole round; the N_tx budget is
//!   what reaches it. So over one link 0 → 1 of PRR p, node 0 sends a
//!   k-fragment message k·N_tx times before node 1 has anything, and node 1
//!   gets all of it with probability 1 − (1 − p)^(k·N_tx) if the round is
//!   long enough for node 0 to serve it once heard.
//! * **Why:** a complete node used to switch off as soon as its credit ran
//!   out, stranding a neighbour that lacked fragments only it could supply
//!   (a lossless 5-hop line lost ≈ 15 % of its pairs). Real Mixer keeps a
//!   complete node helping until its neighbours are known complete.
//! * **Cost:** once no node can ever transmit again (nobody relays, has
//!   credit, is needed, or is incomplete holding something), the rest of
//!   the round is accounted in closed form: whoever is still on listens to
//!   its end.
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
use crate::topology::{LinkTable, NodeId, USABLE_PRR};
use crate::units::{Bytes, Micros};

/// The most fragments one round may carry, over all its messages (16 Mi):
/// the model's memory grows with fragments × nodes. An experiment's rounds
/// stay far below it (checked before a run starts); a round beyond it fails,
/// and the relay counts its messages as `unflooded`.
pub const MAX_FRAGMENTS: usize = 1 << 24;

/// How long a Mixer node remembers: a complete node stays on (and
/// transmits) while a neighbour's latest map lacks it and the last map
/// lacking it arrived fewer than `HISTORY_SLOTS` slots ago, and an
/// incomplete node that has gained nothing for this many slots transmits
/// again (see the module doc).
pub const HISTORY_SLOTS: u32 = 24;

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

/// Inbound links of every node, as bitsets of in-neighbours plus their
/// PRRs in 64-entry blocks indexed by bit position: a listener visits only
/// the neighbours that transmit in the slot (`mask & tx`), and finds each
/// one's PRR without ranking the bit (no popcount: the default x86-64
/// target has no POPCNT instruction, and a software count per draw cost as
/// much as the draw). Only words with some in-neighbour get a block, so a
/// sparse large topology stays small.
struct Inbound {
    /// 64-bit words per node set.
    words: usize,
    /// `mask[r · words + w]`: bit b set iff node 64·w + b is an in-neighbour
    /// of r.
    mask: Vec<u64>,
    /// `block[r · words + w]`: where that word's block starts in `prr`
    /// (meaningful only where the mask word is non-zero).
    block: Vec<u32>,
    /// PRR after faults and round-wide interference of link `64·w + b → r`
    /// at `block[r · words + w] + b`.
    prr: Vec<f64>,
}

/// `set[i / 64] & (1 << i % 64) != 0`.
fn has(set: &[u64], i: usize) -> bool {
    set[i / 64] >> (i % 64) & 1 != 0
}

/// Sets bit `i` of `set`.
fn put(set: &mut [u64], i: usize) {
    set[i / 64] |= 1 << (i % 64);
}

/// Clears bit `i` of `set`.
fn take(set: &mut [u64], i: usize) {
    set[i / 64] &= !(1 << (i % 64));
}

/// Calls `f` with every set bit of `set`, ascending.
fn each_bit(set: &[u64], mut f: impl FnMut(usize)) {
    for (w, &word) in set.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            f(w * 64 + bits.trailing_zeros() as usize);
            bits &= bits - 1;
        }
    }
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
        let words = n.div_ceil(64).max(1);
        let mut ib = Inbound {
            words,
            mask: vec![0; n * words],
            block: vec![0; n * words],
            prr: Vec::new(),
        };
        for r in (0..n).filter(|&r| !self.down[r]) {
            for w in 0..words {
                let base = ib.prr.len();
                let mut bits = 0u64;
                for t in w * 64..n.min(w * 64 + 64) {
                    let p = self.links.prr(t, r);
                    if p > 0.0 && !self.down[t] {
                        if bits == 0 {
                            ib.prr.resize(base + 64, 0.0);
                        }
                        bits |= 1 << (t % 64);
                        ib.prr[base + t % 64] = p * self.loss.round_factor(self.round, t, r);
                    }
                }
                ib.mask[r * words + w] = bits;
                ib.block[r * words + w] = base as u32;
            }
        }
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
            succ: vec![0; n.div_ceil(64).max(1)],
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

/// Per-node state of a Mixer round. Node sets are bitsets of
/// [`Inbound::words`] words per node (`set[i · words ..]`), fragment sets
/// of ⌈fragments / 64⌉ words.
struct MixerState {
    /// Fragments each node holds.
    held: Vec<u64>,
    /// Fragments held, per node.
    count: Vec<u32>,
    /// Transmissions left in the N_tx budget.
    credit: Vec<u32>,
    /// Slot in which the node last gained a fragment (0 for all at the
    /// start: originating counts as gaining).
    last_gain: Vec<u32>,
    /// Slot in which the node last heard a map lacking it.
    last_lacking: Vec<u32>,
    /// Nodes that gained a fragment (or originate) and relay next slot.
    relay: Vec<u64>,
    /// Nodes transmitting in the current slot.
    tx: Vec<u64>,
    /// Live nodes not switched off.
    awake: Vec<u64>,
    /// Full-rank map per node: the nodes it knows hold every fragment.
    known: Vec<u64>,
    /// Per node, the neighbours it has received a packet from.
    heard: Vec<u64>,
    /// Per node, its usable out-neighbours (PRR > [`USABLE_PRR`]).
    usable: Vec<u64>,
    /// Per node, the neighbours whose latest packet it heard had a map
    /// lacking it.
    lacking: Vec<u64>,
    /// Summaries of the sets above, refreshed when they change.
    flags: Vec<Flags>,
}

/// What a Mixer node's sets imply, cached so the per-slot decisions do not
/// rescan them.
#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    /// Some usable neighbour is not known to be complete.
    pending: bool,
    /// Some usable neighbour that has been heard is not known complete.
    serve: bool,
    /// Some neighbour's latest packet had a map lacking this node (whether
    /// that was recent is [`MixerState::last_lacking`]'s to say).
    lacked: bool,
}

impl MixerState {
    fn refresh(&mut self, i: usize, nw: usize) {
        let range = i * nw..(i + 1) * nw;
        let (mut pending, mut serve, mut lacked) = (0, 0, 0);
        for w in range {
            let unknown = self.usable[w] & !self.known[w];
            pending |= unknown;
            serve |= unknown & self.heard[w];
            lacked |= self.lacking[w];
        }
        self.flags[i] = Flags {
            pending: pending != 0,
            serve: serve != 0,
            lacked: lacked != 0,
        };
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
    /// Scratch of [`Sim::receive`]: the transmitters that got through.
    succ: Vec<u64>,
    /// Originating node of each fragment.
    origin: Vec<NodeId>,
    /// `frag[fragment · n + node]`: when the fragment reached the node.
    frag: Vec<Option<Delivery>>,
    res: RoundResult,
}

impl Sim<'_> {
    /// Draws, for listener `r` in `slot`, which transmitting in-neighbours
    /// (`tx`, a node bitset) got through, and returns the captured one: the
    /// `j`-th of the `len` that got through in ascending order, `j` drawn
    /// uniformly.
    fn receive(&mut self, key: SlotKey, r: usize, tx: &[u64], slot: u32) -> Option<usize> {
        let words = self.ib.words;
        let row = key.to_rx(Tag::Link, r);
        let mut len = 0u32;
        for (w, &tx) in tx.iter().enumerate() {
            let mut hot = self.ib.mask[r * words + w] & tx;
            let block = self.ib.block[r * words + w] as usize;
            let mut got = 0u64;
            while hot != 0 {
                let b = hot.trailing_zeros() as usize;
                hot &= hot - 1;
                let t = w * 64 + b;
                let u = row.link(t);
                // One draw against PRR × window × burst factors. The factors
                // are ≤ 1, so a draw at or above the PRR fails whatever they
                // are and they need not be computed (no other draw depends
                // on it).
                let mut p = self.ib.prr[block + b];
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
                    got |= 1 << b;
                    len += 1;
                }
            }
            self.succ[w] = got;
        }
        let mut j = match len {
            0 => return None,
            1 => 0,
            len => key.node_below(Tag::Capture, r, len),
        };
        for (w, &got) in self.succ.iter().enumerate() {
            let mut bits = got;
            while bits != 0 {
                if j == 0 {
                    return Some(w * 64 + bits.trailing_zeros() as usize);
                }
                j -= 1;
                bits &= bits - 1;
            }
        }
        unreachable!("the capture index is below the number that got through")
    }

    fn mixer(&mut self) {
        let (n, k, n_tx) = (self.n, self.p.slots, self.p.n_tx);
        let frags = self.origin.len() as u32;
        if frags == 0 {
            // Nothing to send: nobody's radio comes on.
            return;
        }
        let fw = (frags as usize).div_ceil(64);
        let nw = self.ib.words;
        let mut m = MixerState {
            held: vec![0; n * fw],
            count: vec![0; n],
            credit: vec![0; n],
            last_gain: vec![0; n],
            last_lacking: vec![0; n],
            relay: vec![0; nw],
            tx: vec![0; nw],
            awake: vec![0; nw],
            known: vec![0; n * nw],
            heard: vec![0; n * nw],
            usable: vec![0; n * nw],
            lacking: vec![0; n * nw],
            flags: vec![Flags::default(); n],
        };
        for r in 0..n {
            for w in 0..nw {
                let block = self.ib.block[r * nw + w] as usize;
                each_bit(&[self.ib.mask[r * nw + w]], |b| {
                    if self.ib.prr[block + b] > USABLE_PRR {
                        put(&mut m.usable[(w * 64 + b) * nw..], r);
                    }
                });
            }
        }
        for i in (0..n).filter(|&i| !self.down[i]) {
            put(&mut m.awake, i);
        }
        for (f, &o) in self.origin.iter().enumerate() {
            if self.down[o] {
                continue;
            }
            put(&mut m.held[o * fw..], f);
            m.count[o] += 1;
            self.frag[f * n + o] = Some(Delivery { slot: 0, hop: 0 });
            // N_tx per fragment originated: every packet a node injects gets
            // the budget a received one would (else a node originating a
            // k-fragment message with N_tx < k could switch off before
            // sending it all).
            m.credit[o] = m.credit[o].saturating_add(n_tx);
            put(&mut m.relay, o);
        }
        for i in 0..n {
            if m.count[i] == frags {
                put(&mut m.known[i * nw..], i);
            }
            m.refresh(i, nw);
        }
        for s in 0..k {
            let key = self.key.slot(s);
            // Who switches off, who transmits.
            let mut capable = false;
            let mut any_tx = false;
            for w in 0..nw {
                let mut awake = m.awake[w];
                let mut tx = 0u64;
                let relay = m.relay[w];
                while awake != 0 {
                    let b = awake.trailing_zeros();
                    awake &= awake - 1;
                    let i = w * 64 + b as usize;
                    let f = m.flags[i];
                    let recent = f.lacked && s - m.last_lacking[i] < HISTORY_SLOTS;
                    let relaying = relay >> b & 1 != 0;
                    let complete = m.count[i] == frags;
                    if complete && m.credit[i] == 0 && !relaying && !f.pending && !recent {
                        // Everything held, every usable neighbour known to
                        // hold everything, nobody recently unaware of it.
                        m.awake[w] &= !(1 << b);
                        continue;
                    }
                    if m.count[i] == 0 {
                        continue;
                    }
                    let eligible = m.credit[i] > 0
                        || if complete {
                            f.serve || recent
                        } else {
                            s - m.last_gain[i] >= HISTORY_SLOTS
                        };
                    capable |= relaying || eligible || !complete;
                    if relaying || (eligible && key.node(Tag::Coin, i) < 0.5) {
                        tx |= 1 << b;
                        m.credit[i] = m.credit[i].saturating_sub(1);
                        self.res.radio[i].tx_slots += 1;
                    }
                }
                m.tx[w] = tx;
                m.relay[w] = 0;
                any_tx |= tx != 0;
            }
            if any_tx {
                self.res.slots_used = s + 1;
            } else if !capable {
                // Nobody can ever transmit again: whoever is still awake
                // listens to the end of the round.
                each_bit(&m.awake, |i| self.res.radio[i].rx_slots += k - s);
                break;
            }
            for w in 0..nw {
                let mut listen = m.awake[w] & !m.tx[w];
                while listen != 0 {
                    let r = w * 64 + listen.trailing_zeros() as usize;
                    listen &= listen - 1;
                    self.res.radio[r].rx_slots += 1;
                    let Some(t) = self.receive(key, r, &m.tx, s) else {
                        continue;
                    };
                    self.res.radio[r].receptions += 1;
                    self.mixer_hear(&mut m, key, s, r, t);
                }
            }
        }
    }

    /// Listener `r` received `t`'s packet in slot `s`: one innovative
    /// fragment if `t` holds any `r` lacks, and `t`'s full-rank map.
    fn mixer_hear(&mut self, m: &mut MixerState, key: SlotKey, s: u32, r: usize, t: usize) {
        let n = self.n;
        let frags = self.origin.len() as u32;
        let fw = (frags as usize).div_ceil(64);
        let nw = self.ib.words;
        let (hr, ht) = (r * fw, t * fw);
        let innovative: u32 = if m.count[r] == frags || m.count[t] == 0 {
            0
        } else {
            (0..fw)
                .map(|w| (m.held[ht + w] & !m.held[hr + w]).count_ones())
                .sum()
        };
        if innovative > 0 {
            let mut pick = if innovative > 1 {
                key.node_below(Tag::Pick, r, innovative)
            } else {
                0
            };
            let mut f = 0;
            for w in 0..fw {
                let mut bits = m.held[ht + w] & !m.held[hr + w];
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
            put(&mut m.held[hr..], f);
            m.count[r] += 1;
            m.last_gain[r] = s;
            let hop = self.frag[f * n + t].map_or(0, |d| d.hop) + 1;
            self.frag[f * n + r] = Some(Delivery { slot: s, hop });
            m.credit[r] = m.credit[r].max(self.p.n_tx);
            put(&mut m.relay, r);
            if m.count[r] == frags {
                put(&mut m.known[r * nw..], r);
            }
        } else if m.count[t] < m.count[r] {
            // Not innovative, so t holds a subset of r's fragments; fewer
            // means t lacks something r can give.
            m.credit[r] = m.credit[r].max(self.p.n_tx);
        }
        put(&mut m.heard[r * nw..], t);
        // Merge t's map; note whether it lacks r (t may wait for r).
        let (kr, kt) = (r * nw, t * nw);
        for w in 0..nw {
            m.known[kr + w] |= m.known[kt + w];
        }
        if has(&m.known[kt..], r) {
            take(&mut m.lacking[kr..], t);
        } else {
            put(&mut m.lacking[kr..], t);
            m.last_lacking[r] = s;
        }
        m.refresh(r, nw);
    }

    fn glossy(&mut self) {
        let (n, k, n_tx) = (self.n, self.p.slots, self.p.n_tx);
        let mut got = vec![false; n];
        let mut hop = vec![0u32; n];
        let mut left = vec![0u32; n];
        let mut next = vec![0u32; n];
        let mut tx = vec![0u64; self.ib.words];
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
                tx.fill(0);
                for i in 0..n {
                    if left[i] > 0 && next[i] == s {
                        put(&mut tx, i);
                        left[i] -= 1;
                        next[i] += 2;
                        self.res.radio[i].tx_slots += 1;
                        self.res.slots_used = s + 1;
                    }
                }
                for r in 0..n {
                    if self.down[r] || has(&tx, r) || (got[r] && left[r] == 0) {
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
