//! Who is registered, from which address, from which round on the relay
//! waits for them, and who went silent (contract points 1 and 4 of
//! [`super`]).

use std::net::SocketAddr;

use crate::topology::NodeId;

/// The relay's view of every node of the topology.
#[derive(Debug, Clone)]
pub(super) struct Registry {
    /// The address of the node's latest registration.
    addr: Vec<Option<SocketAddr>>,
    /// The first round the node must submit for (named in its latest ack).
    first_round: Vec<u32>,
    /// Timed out without its marker, and not registered since.
    silent: Vec<bool>,
}

impl Registry {
    /// `nodes` nodes, none registered.
    pub(super) fn new(nodes: usize) -> Self {
        Self {
            addr: vec![None; nodes],
            first_round: vec![0; nodes],
            silent: vec![false; nodes],
        }
    }

    /// The registered address of `node`.
    pub(super) fn addr(&self, node: NodeId) -> Option<SocketAddr> {
        self.addr[node]
    }

    /// Whether `node` is registered from `from`: a node's packets count only
    /// from the address of its latest registration.
    pub(super) fn is_from(&self, node: NodeId, from: SocketAddr) -> bool {
        self.addr[node] == Some(from)
    }

    /// (Re-)registers `node` at `from`; the relay waits for it from round
    /// `first_round` on. A registration ends silence: a restarted node
    /// (or one that noticed it was skipped) registers again.
    pub(super) fn register(&mut self, node: NodeId, from: SocketAddr, first_round: u32) {
        self.addr[node] = Some(from);
        self.first_round[node] = first_round;
        self.silent[node] = false;
    }

    /// Whether round `round` waits for `node`'s end marker, given whether
    /// the node is up: registered, not silent, and `round` at or after the
    /// first round its ack named.
    pub(super) fn expected(&self, node: NodeId, round: u32, up: bool) -> bool {
        up && self.addr[node].is_some() && !self.silent[node] && round >= self.first_round[node]
    }

    /// `node` missed a round's deadline: later rounds stop waiting for it
    /// until it registers again.
    pub(super) fn silence(&mut self, node: NodeId) {
        self.silent[node] = true;
    }

    /// Registered nodes, ascending.
    pub(super) fn registered(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.addr.len()).filter(|&i| self.addr[i].is_some())
    }

    /// Silent nodes, ascending.
    pub(super) fn silent(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.silent.len()).filter(|&i| self.silent[i])
    }

    /// `[node, first round]` of registered nodes whose first round is after
    /// `round` (those a registration has announced but no round has waited
    /// for yet), ascending.
    pub(super) fn joining_after(&self, round: Option<u32>) -> Vec<[u64; 2]> {
        self.registered()
            .filter(|&i| round.is_none_or(|r| self.first_round[i] > r))
            .map(|i| [i as u64, u64::from(self.first_round[i])])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_silence_and_first_round() {
        let a: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2000".parse().unwrap();
        let mut r = Registry::new(3);
        assert!(!r.expected(1, 0, true), "unregistered");
        r.register(1, a, 5);
        assert!(r.is_from(1, a) && !r.is_from(1, b));
        assert!(!r.expected(1, 4, true), "before its first round");
        assert!(r.expected(1, 5, true) && r.expected(1, 9, true));
        assert!(!r.expected(1, 5, false), "down");
        r.silence(1);
        assert!(!r.expected(1, 6, true), "silent");
        assert_eq!(r.silent().collect::<Vec<_>>(), vec![1]);
        // A restart registers from a new address and ends the silence.
        r.register(1, b, 8);
        assert!(r.is_from(1, b) && !r.is_from(1, a));
        assert!(!r.expected(1, 7, true) && r.expected(1, 8, true));
        assert_eq!(r.silent().count(), 0);
        r.register(0, a, 0);
        assert_eq!(r.registered().collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(r.joining_after(Some(6)), vec![[1, 8]]);
        assert_eq!(r.joining_after(None), vec![[0, 0], [1, 8]]);
        assert_eq!((r.addr(0), r.addr(1)), (Some(a), Some(b)));
    }
}
