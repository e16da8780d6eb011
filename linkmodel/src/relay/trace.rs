//! The trace's round lines (JSON, one per round).

use rocknet_core::wire::Kind;
use serde::Serialize;

use crate::fault::{Fault, FaultSummary};
use crate::topology::NodeId;

/// One message of a round in the trace.
#[derive(Debug, Clone, Serialize)]
pub struct TraceMessage {
    /// Originating node.
    pub origin: NodeId,
    /// Packet kind (`beacon`, `sample`, …).
    pub kind: &'static str,
    /// Encoded length in bytes.
    pub len: usize,
    /// Receivers (not the originator): `[node, slot, hop]`, ascending.
    pub to: Vec<[u32; 3]>,
}

/// One line of the trace: a round.
#[derive(Debug, Clone, Serialize)]
pub struct TraceRound {
    /// Round number.
    pub round: u64,
    /// Emulated duration, µs.
    pub duration_us: u64,
    /// Slots up to the last transmission.
    pub slots_used: u32,
    /// Whether the round closed by timeout.
    pub timed_out: bool,
    /// Nodes the round waited for that never sent their end marker (the
    /// timeout's culprits; empty unless `timed_out`), ascending. They are
    /// silent from the next round until they register again.
    pub missing: Vec<NodeId>,
    /// Messages in round order.
    pub messages: Vec<TraceMessage>,
    /// Per node: `[radio-on, tx, rx, receptions]` slots.
    pub radio: Vec<[u32; 4]>,
    /// Faults applied before this round (live, then scheduled).
    pub faults_applied: Vec<Fault>,
    /// Faults in force during this round.
    pub faults: FaultSummary,
}

/// The trace's name of a packet kind.
pub(super) fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Beacon => "beacon",
        Kind::Sample => "sample",
        Kind::PartialLogits => "partial_logits",
        Kind::Absent => "absent",
        Kind::Hello => "hello",
        Kind::Delivery => "delivery",
        Kind::Fragment => "fragment",
        Kind::Bundle => "bundle",
    }
}
