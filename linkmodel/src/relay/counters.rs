//! What the relay has dropped, refused or could not send.

use rocknet_core::wire::DropCounters;

/// What the relay has dropped or refused, beyond the wire's own reasons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayCounters {
    /// Wire-level drops (decode errors, foreign cluster, stale, oversize…).
    pub wire: DropCounters,
    /// Packets from node ids outside the topology, unregistered nodes or
    /// unregistered addresses.
    pub unknown_node: u64,
    /// Hellos with the wrong config hash.
    pub config_mismatch: u64,
    /// Packets of a kind the sender may not send (device beacons, deliveries,
    /// Hellos naming another node), or beyond a round's message limit.
    pub rejected: u64,
    /// Deliveries to receivers that never registered.
    pub undeliverable: u64,
    /// Deliveries the relay decided to send but could not encode — one
    /// whose bundle entry would exceed the entry's length field or, alone in
    /// a bundle piece, a UDP datagram
    /// ([`MAX_DATAGRAM_LEN`](super::MAX_DATAGRAM_LEN)) — and so did not send. The trace still lists such a delivery under its
    /// message's `to`: the model delivered it, the relay could not.
    pub unencodable: u64,
    /// Messages of rounds the link model could not run (none of them was
    /// delivered).
    pub unflooded: u64,
    /// Datagrams received on the data port.
    pub received: u64,
    /// Datagrams sent (bundle pieces, acks).
    pub sent: u64,
    /// Sends that failed.
    pub send_errors: u64,
    /// Rounds closed by the timeout.
    pub timeouts: u64,
    /// Times a node was marked silent (it missed a timed-out round).
    pub silenced: u64,
    /// Rounds run.
    pub rounds: u64,
}

impl RelayCounters {
    /// All dropped incoming packets (wire drops + unknown node + config
    /// mismatch + rejected); outgoing losses are `undeliverable`,
    /// `unencodable` and `unflooded`.
    pub fn dropped(&self) -> u64 {
        self.wire.total() + self.unknown_node + self.config_mismatch + self.rejected
    }

    /// All counters (the `status` reply).
    pub(super) fn to_json(&self) -> serde_json::Value {
        let mut m = self.trace_map();
        for (k, v) in [
            ("received", self.received),
            ("sent", self.sent),
            ("send_errors", self.send_errors),
            ("timeouts", self.timeouts),
            ("silenced", self.silenced),
        ] {
            m.insert(k.to_string(), v.into());
        }
        serde_json::Value::Object(m)
    }

    /// The counters that do not depend on timing (for the trace): no
    /// datagram totals, send errors, timeouts or silenced nodes (timed-out
    /// rounds and their missing nodes are on their own trace lines).
    pub(super) fn trace_json(&self) -> serde_json::Value {
        serde_json::Value::Object(self.trace_map())
    }

    fn trace_map(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        for (reason, n) in self.wire.iter() {
            m.insert(reason.name().to_string(), n.into());
        }
        for (k, v) in [
            ("unknown_node", self.unknown_node),
            ("config_mismatch", self.config_mismatch),
            ("rejected", self.rejected),
            ("undeliverable", self.undeliverable),
            ("unencodable", self.unencodable),
            ("unflooded", self.unflooded),
            ("rounds", self.rounds),
        ] {
            m.insert(k.to_string(), v.into());
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_counters_leave_out_the_timing_dependent_ones() {
        let c = RelayCounters {
            unencodable: 3,
            timeouts: 2,
            silenced: 1,
            ..RelayCounters::default()
        };
        let t = c.trace_json();
        assert_eq!(t["unencodable"], 3);
        for k in ["received", "sent", "send_errors", "timeouts", "silenced"] {
            assert!(t.get(k).is_none(), "{k} in the trace");
        }
        let s = c.to_json();
        assert_eq!(
            (s["unencodable"].clone(), s["timeouts"].clone()),
            (3.into(), 2.into())
        );
        assert_eq!(s["silenced"], 1);
        assert_eq!(c.dropped(), 0, "outgoing losses are not incoming drops");
    }
}
