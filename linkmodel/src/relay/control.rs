//! The control socket's command language (one command per UDP datagram, text,
//! words separated by whitespace):
//!
//! | command | fault |
//! |---|---|
//! | `link-down A B` | [`Fault::LinkDown`] both directions |
//! | `link-up A B` | [`Fault::LinkUp`] both directions |
//! | `node-down N` | [`Fault::NodeDown`] |
//! | `node-up N` | [`Fault::NodeUp`] |
//! | `partition G1 G2 …` | [`Fault::Partition`]; a group is a comma list of nodes and ranges, e.g. `1-10` or `0,2,5-7` |
//! | `heal` | [`Fault::Heal`] |
//! | `prr A B P` | [`Fault::SetPrr`] on `A → B` only, `P` in [0, 1] |
//! | `status` | no fault: the relay's state as JSON |
//! | `shutdown` | no fault: the relay sends what it owes, flushes its trace and exits (what `rocknet serve` sends when a deployed run is over) |
//!
//! Faults take effect from the next round the relay runs (the reply names it).

use crate::fault::Fault;
use crate::topology::NodeId;

/// A control command that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CtlError {
    /// No command word.
    #[error("empty command")]
    Empty,
    /// The command word is not known.
    #[error(
        "unknown command `{0}` (expected link-down, link-up, node-down, node-up, partition, heal, prr, status, shutdown)"
    )]
    UnknownCommand(String),
    /// Wrong number of arguments.
    #[error("`{command}` takes {expected}, got {found} argument(s)")]
    Arity {
        /// The command word.
        command: &'static str,
        /// What it takes.
        expected: &'static str,
        /// How many were given.
        found: usize,
    },
    /// A node id, range or PRR does not parse or is out of range.
    #[error("bad argument `{arg}`: {reason}")]
    BadArgument {
        /// The argument.
        arg: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// A parsed control command.
#[derive(Debug, Clone, PartialEq)]
pub enum CtlCommand {
    /// Apply a fault from the next round.
    Fault(Fault),
    /// Report the relay's state.
    Status,
    /// Stop serving: deliver what is owed, flush the trace, exit.
    Shutdown,
}

fn node(arg: &str, nodes: usize) -> Result<NodeId, CtlError> {
    let id = arg.parse::<NodeId>().map_err(|_| CtlError::BadArgument {
        arg: arg.to_string(),
        reason: "not a node id",
    })?;
    if id >= nodes {
        return Err(CtlError::BadArgument {
            arg: arg.to_string(),
            reason: "no such node in the topology",
        });
    }
    Ok(id)
}

/// Parses one partition group into `out`; `budget` is how many more members
/// (over all groups) may be added — at most the node count in total.
fn group(
    arg: &str,
    nodes: usize,
    budget: &mut usize,
    out: &mut Vec<NodeId>,
) -> Result<(), CtlError> {
    let bad = |reason| CtlError::BadArgument {
        arg: arg.to_string(),
        reason,
    };
    let too_many = "partition lists more members than the topology has nodes";
    for part in arg.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (node(a, nodes)?, node(b, nodes)?);
                if b < a {
                    return Err(bad("range ends before it starts"));
                }
                let len = b - a + 1;
                if len > *budget {
                    return Err(bad(too_many));
                }
                *budget -= len;
                out.extend(a..=b);
            }
            None => {
                let id = node(part, nodes)?;
                if *budget == 0 {
                    return Err(bad(too_many));
                }
                *budget -= 1;
                out.push(id);
            }
        }
    }
    Ok(())
}

fn arity(
    command: &'static str,
    expected: &'static str,
    args: &[&str],
    n: usize,
) -> Result<(), CtlError> {
    if args.len() == n {
        Ok(())
    } else {
        Err(CtlError::Arity {
            command,
            expected,
            found: args.len(),
        })
    }
}

/// Parses one command line (see the module documentation) for a topology of
/// `nodes` nodes: node ids must be below `nodes`, and a partition may list
/// at most `nodes` members over all its groups (so one datagram cannot make
/// the relay allocate more than that).
pub fn parse_command(line: &str, nodes: usize) -> Result<CtlCommand, CtlError> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&cmd, args)) = words.split_first() else {
        return Err(CtlError::Empty);
    };
    let fault = match cmd {
        "link-down" | "link-up" => {
            let name = if cmd == "link-down" {
                "link-down"
            } else {
                "link-up"
            };
            arity(name, "2 (A B)", args, 2)?;
            let (from, to) = (node(args[0], nodes)?, node(args[1], nodes)?);
            if from == to {
                return Err(CtlError::BadArgument {
                    arg: args[1].to_string(),
                    reason: "a link needs two different nodes",
                });
            }
            if cmd == "link-down" {
                Fault::LinkDown {
                    from,
                    to,
                    both: true,
                }
            } else {
                Fault::LinkUp {
                    from,
                    to,
                    both: true,
                }
            }
        }
        "node-down" => {
            arity("node-down", "1 (N)", args, 1)?;
            Fault::NodeDown {
                node: node(args[0], nodes)?,
            }
        }
        "node-up" => {
            arity("node-up", "1 (N)", args, 1)?;
            Fault::NodeUp {
                node: node(args[0], nodes)?,
            }
        }
        "partition" => {
            if args.is_empty() {
                return Err(CtlError::Arity {
                    command: "partition",
                    expected: "≥ 1 group",
                    found: 0,
                });
            }
            let mut budget = nodes;
            let mut groups = Vec::with_capacity(args.len().min(nodes));
            for a in args {
                let mut g = Vec::new();
                group(a, nodes, &mut budget, &mut g)?;
                groups.push(g);
            }
            Fault::Partition { groups }
        }
        "heal" => {
            arity("heal", "none", args, 0)?;
            Fault::Heal {}
        }
        "prr" => {
            arity("prr", "3 (A B P)", args, 3)?;
            let (from, to) = (node(args[0], nodes)?, node(args[1], nodes)?);
            if from == to {
                return Err(CtlError::BadArgument {
                    arg: args[1].to_string(),
                    reason: "a link needs two different nodes",
                });
            }
            let prr: f64 = args[2].parse().map_err(|_| CtlError::BadArgument {
                arg: args[2].to_string(),
                reason: "not a number",
            })?;
            if !(0.0..=1.0).contains(&prr) {
                return Err(CtlError::BadArgument {
                    arg: args[2].to_string(),
                    reason: "PRR must be in [0, 1]",
                });
            }
            Fault::SetPrr {
                from,
                to,
                prr,
                both: false,
            }
        }
        "status" => {
            arity("status", "none", args, 0)?;
            return Ok(CtlCommand::Status);
        }
        "shutdown" => {
            arity("shutdown", "none", args, 0)?;
            return Ok(CtlCommand::Shutdown);
        }
        other => return Err(CtlError::UnknownCommand(other.to_string())),
    };
    Ok(CtlCommand::Fault(fault))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(s: &str) -> Fault {
        match parse_command(s, 21).unwrap() {
            CtlCommand::Fault(f) => f,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn valid_commands() {
        assert_eq!(
            fault("link-down 3 7"),
            Fault::LinkDown {
                from: 3,
                to: 7,
                both: true
            }
        );
        assert_eq!(
            fault("  link-up\t3 7\n"),
            Fault::LinkUp {
                from: 3,
                to: 7,
                both: true
            }
        );
        assert_eq!(fault("node-down 5"), Fault::NodeDown { node: 5 });
        assert_eq!(fault("node-up 5"), Fault::NodeUp { node: 5 });
        assert_eq!(
            fault("partition 1-10 11-20"),
            Fault::Partition {
                groups: vec![(1..=10).collect(), (11..=20).collect()]
            }
        );
        assert_eq!(
            fault("partition 0,2,5-7"),
            Fault::Partition {
                groups: vec![vec![0, 2, 5, 6, 7]]
            }
        );
        assert_eq!(fault("heal"), Fault::Heal {});
        assert_eq!(
            fault("prr 1 2 0.25"),
            Fault::SetPrr {
                from: 1,
                to: 2,
                prr: 0.25,
                both: false
            }
        );
        assert_eq!(parse_command("status", 21).unwrap(), CtlCommand::Status);
        assert_eq!(
            parse_command(" shutdown\n", 21).unwrap(),
            CtlCommand::Shutdown
        );
    }

    #[test]
    fn invalid_commands() {
        let bad = [
            "",
            "   ",
            "frobnicate",
            "LINK-DOWN 1 2",
            "link-down",
            "link-down 1",
            "link-down 1 2 3",
            "link-down 1 1",
            "link-down a 2",
            "link-down -1 2",
            "link-up 1",
            "node-down",
            "node-down x",
            "node-down 1 2",
            "node-up",
            "node-up 1.5",
            "partition",
            "partition 1-",
            "partition 5-3",
            "partition 1,,2",
            "partition 0-99999999",
            "heal now",
            "shutdown now",
            "prr 1 2",
            "prr 1 1 0.5",
            "prr 0 0 1",
            "prr 1 2 1.5",
            "prr 1 2 -0.1",
            "prr 1 2 NaN",
            "prr 1 2 x",
            "prr x 2 0.5",
            "status please",
            "node-down 21",
            "link-down 1 21",
            "partition 0-21",
            "partition 0-65535",
        ];
        for b in bad {
            assert!(parse_command(b, 21).is_err(), "`{b}` should be rejected");
        }
        assert_eq!(parse_command("", 21), Err(CtlError::Empty));
        assert!(matches!(
            parse_command("link-down 1", 21),
            Err(CtlError::Arity { found: 1, .. })
        ));
    }

    #[test]
    fn prr_and_link_down_reject_a_self_link_alike() {
        for cmd in ["link-down 4 4", "link-up 4 4", "prr 4 4 0.5"] {
            assert_eq!(
                parse_command(cmd, 21),
                Err(CtlError::BadArgument {
                    arg: "4".to_string(),
                    reason: "a link needs two different nodes",
                }),
                "{cmd}"
            );
        }
        assert!(parse_command("prr 4 5 0.5", 21).is_ok());
    }

    #[test]
    fn partition_members_are_capped_at_the_node_count() {
        // Within the topology: fine, even as one group of every node.
        assert_eq!(
            fault("partition 0-20"),
            Fault::Partition {
                groups: vec![(0..=20).collect()]
            }
        );
        // Ids past the topology are rejected.
        assert!(parse_command("partition 0-65535", 21).is_err());
        assert!(parse_command("partition 21", 21).is_err());
        // Repeating in-range ranges cannot blow up: total members ≤ nodes.
        assert!(parse_command("partition 0-10 0-10", 21).is_err());
        let many = vec!["0-20"; 3000].join(" ");
        assert!(parse_command(&format!("partition {many}"), 21).is_err());
        let singles = vec!["1"; 22].join(" ");
        assert!(parse_command(&format!("partition {singles}"), 21).is_err());
        let singles = vec!["1"; 21].join(" ");
        assert!(parse_command(&format!("partition {singles}"), 21).is_ok());
    }
}
