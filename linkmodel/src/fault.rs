//! Faults: link down/up, node down/up, partitions, PRR overrides, heal
//! (docs/linkmodel.md#faults). A [`FaultSet`] is the faults in force; it turns the
//! topology's link table into the effective one for a round.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::topology::{LinkTable, NodeId};

/// A fault names a node that does not exist, or a bad PRR.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultError {
    /// A node index ≥ the number of nodes.
    #[error("fault names node {node}, but the topology has nodes 0..{nodes}")]
    NoSuchNode {
        /// The node named.
        node: NodeId,
        /// Number of nodes.
        nodes: usize,
    },
    /// A PRR override outside [0, 1].
    #[error("PRR override {0} is not in [0, 1]")]
    BadPrr(f64),
    /// A node appears in two partition groups.
    #[error("node {0} appears in more than one partition group")]
    DuplicateInPartition(NodeId),
}

fn yes() -> bool {
    true
}

/// One fault event.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Link `from → to` (and, with `both`, the reverse; default true) loses
    /// every packet.
    LinkDown {
        /// Transmitter.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// Both directions.
        #[serde(default = "yes")]
        both: bool,
    },
    /// Undoes [`Fault::LinkDown`].
    LinkUp {
        /// Transmitter.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// Both directions.
        #[serde(default = "yes")]
        both: bool,
    },
    /// A down node neither sends, relays nor receives.
    NodeDown {
        /// The node.
        node: NodeId,
    },
    /// Undoes [`Fault::NodeDown`].
    NodeUp {
        /// The node.
        node: NodeId,
    },
    /// Links between different groups are down. Nodes listed in no group
    /// form one further group together. Replaces any earlier partition.
    Partition {
        /// The groups.
        groups: Vec<Vec<NodeId>>,
    },
    /// Overrides the PRR of `from → to` (and, with `both`, the reverse;
    /// default false).
    SetPrr {
        /// Transmitter.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// The new PRR.
        prr: f64,
        /// Both directions.
        #[serde(default)]
        both: bool,
    },
    /// Clears every fault.
    Heal {},
}

/// A fault applied at the start of round `at_round` (before it runs).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ScheduledFault {
    /// The round.
    pub at_round: u64,
    /// The fault.
    #[serde(flatten)]
    pub fault: Fault,
}

/// A serialisable description of the faults in force (for traces and
/// `status` replies); lists are in ascending node order.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct FaultSummary {
    /// Nodes that are down.
    pub nodes_down: Vec<NodeId>,
    /// Directed links that are down, `[from, to]`.
    pub links_down: Vec<[NodeId; 2]>,
    /// Partition group of every node, if a partition is in force.
    pub partition: Option<Vec<u32>>,
    /// PRR overrides, `(from, to, prr)`.
    pub prr: Vec<(NodeId, NodeId, f64)>,
}

/// The faults in force.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultSet {
    nodes: usize,
    node_down: Vec<bool>,
    link_down: Vec<bool>,
    group: Option<Vec<u32>>,
    prr_override: BTreeMap<(NodeId, NodeId), f64>,
}

impl FaultSet {
    /// No faults, for `nodes` nodes.
    pub fn new(nodes: usize) -> Self {
        Self {
            nodes,
            node_down: vec![false; nodes],
            link_down: vec![false; nodes * nodes],
            group: None,
            prr_override: BTreeMap::new(),
        }
    }

    fn check_node(&self, node: NodeId) -> Result<(), FaultError> {
        if node < self.nodes {
            Ok(())
        } else {
            Err(FaultError::NoSuchNode {
                node,
                nodes: self.nodes,
            })
        }
    }

    /// Checks that `fault` could be applied (nodes exist, PRR in range).
    pub fn check(&self, fault: &Fault) -> Result<(), FaultError> {
        match fault {
            Fault::LinkDown { from, to, .. } | Fault::LinkUp { from, to, .. } => {
                self.check_node(*from)?;
                self.check_node(*to)
            }
            Fault::SetPrr { from, to, prr, .. } => {
                self.check_node(*from)?;
                self.check_node(*to)?;
                if (0.0..=1.0).contains(prr) {
                    Ok(())
                } else {
                    Err(FaultError::BadPrr(*prr))
                }
            }
            Fault::NodeDown { node } | Fault::NodeUp { node } => self.check_node(*node),
            Fault::Partition { groups } => {
                let mut seen = vec![false; self.nodes];
                for &n in groups.iter().flatten() {
                    self.check_node(n)?;
                    if std::mem::replace(&mut seen[n], true) {
                        return Err(FaultError::DuplicateInPartition(n));
                    }
                }
                Ok(())
            }
            Fault::Heal {} => Ok(()),
        }
    }

    /// Applies `fault` (after [`FaultSet::check`]ing it).
    pub fn apply(&mut self, fault: &Fault) -> Result<(), FaultError> {
        self.check(fault)?;
        let n = self.nodes;
        match fault {
            Fault::LinkDown { from, to, both } | Fault::LinkUp { from, to, both } => {
                let down = matches!(fault, Fault::LinkDown { .. });
                self.link_down[from * n + to] = down;
                if *both {
                    self.link_down[to * n + from] = down;
                }
            }
            Fault::NodeDown { node } => self.node_down[*node] = true,
            Fault::NodeUp { node } => self.node_down[*node] = false,
            Fault::Partition { groups } => {
                let rest = groups.len() as u32;
                let mut group = vec![rest; n];
                for (g, members) in groups.iter().enumerate() {
                    for &m in members {
                        group[m] = g as u32;
                    }
                }
                self.group = Some(group);
            }
            Fault::SetPrr {
                from,
                to,
                prr,
                both,
            } => {
                self.prr_override.insert((*from, *to), *prr);
                if *both {
                    self.prr_override.insert((*to, *from), *prr);
                }
            }
            Fault::Heal {} => *self = Self::new(n),
        }
        Ok(())
    }

    /// Whether `node` is up.
    pub fn is_up(&self, node: NodeId) -> bool {
        !self.node_down[node]
    }

    /// A description of the faults in force.
    pub fn summary(&self) -> FaultSummary {
        let n = self.nodes;
        FaultSummary {
            nodes_down: (0..n).filter(|&i| self.node_down[i]).collect(),
            links_down: (0..n * n)
                .filter(|&k| self.link_down[k])
                .map(|k| [k / n, k % n])
                .collect(),
            partition: self.group.clone(),
            prr: self
                .prr_override
                .iter()
                .map(|(&(a, b), &p)| (a, b, p))
                .collect(),
        }
    }

    /// The node-down flags.
    pub fn node_down(&self) -> &[bool] {
        &self.node_down
    }

    /// Whether no fault is in force.
    pub fn is_empty(&self) -> bool {
        !self.node_down.iter().any(|&d| d)
            && !self.link_down.iter().any(|&d| d)
            && self.group.is_none()
            && self.prr_override.is_empty()
    }

    /// The PRR of `from → to` under these faults: 0 if either node is down,
    /// the link is down or crosses a partition; else the override if any;
    /// else `base`'s.
    pub fn effective_prr(&self, base: &LinkTable, from: NodeId, to: NodeId) -> f64 {
        let n = self.nodes;
        if self.node_down[from] || self.node_down[to] || self.link_down[from * n + to] {
            return 0.0;
        }
        if let Some(g) = &self.group
            && g[from] != g[to]
        {
            return 0.0;
        }
        self.prr_override
            .get(&(from, to))
            .copied()
            .unwrap_or_else(|| base.prr(from, to))
    }

    /// `base` with these faults applied.
    pub fn effective_table(&self, base: &LinkTable) -> LinkTable {
        let mut t = LinkTable::new(self.nodes);
        for from in 0..self.nodes {
            for to in 0..self.nodes {
                if from != to {
                    t.set(from, to, self.effective_prr(base, from, to));
                }
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::Topology;

    #[test]
    fn faults_compose_and_heal() {
        let base = Topology::line(4, 0.9);
        let l = base.links();
        let mut f = FaultSet::new(5);
        f.apply(&Fault::NodeDown { node: 2 }).unwrap();
        assert_eq!(f.effective_prr(l, 1, 2), 0.0);
        assert_eq!(f.effective_prr(l, 3, 2), 0.0);
        assert_eq!(f.effective_prr(l, 0, 1), 0.9);
        f.apply(&Fault::NodeUp { node: 2 }).unwrap();
        f.apply(&Fault::LinkDown {
            from: 0,
            to: 1,
            both: false,
        })
        .unwrap();
        assert_eq!(f.effective_prr(l, 0, 1), 0.0);
        assert_eq!(f.effective_prr(l, 1, 0), 0.9);
        f.apply(&Fault::SetPrr {
            from: 3,
            to: 4,
            prr: 0.5,
            both: false,
        })
        .unwrap();
        assert_eq!(f.effective_prr(l, 3, 4), 0.5);
        f.apply(&Fault::Partition {
            groups: vec![vec![0, 1, 2]],
        })
        .unwrap();
        assert_eq!(f.effective_prr(l, 2, 3), 0.0);
        assert_eq!(
            f.effective_prr(l, 3, 4),
            0.5,
            "3 and 4 share the rest group"
        );
        f.apply(&Fault::Heal {}).unwrap();
        assert!(f.is_empty());
        assert_eq!(f.effective_table(l), *l);
        assert_eq!(
            f.apply(&Fault::NodeDown { node: 5 }),
            Err(FaultError::NoSuchNode { node: 5, nodes: 5 })
        );
    }

    #[test]
    fn scheduled_fault_from_toml() {
        #[derive(Deserialize)]
        struct Doc {
            faults: Vec<ScheduledFault>,
        }
        let d: Doc = toml::from_str(
            "[[faults]]\nat_round = 3\nkind = \"node_down\"\nnode = 2\n\
             [[faults]]\nat_round = 5\nkind = \"partition\"\ngroups = [[0, 1], [2]]\n\
             [[faults]]\nat_round = 9\nkind = \"heal\"\n",
        )
        .unwrap();
        assert_eq!(d.faults[0].fault, Fault::NodeDown { node: 2 });
        assert_eq!(d.faults[2].at_round, 9);
        assert_eq!(d.faults[2].fault, Fault::Heal {});
    }
}
