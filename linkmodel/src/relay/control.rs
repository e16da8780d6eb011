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
        "unknown command `{0}` (expected link-down, link-up, node-down, node-up, partition, heal, prr, status)"
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
}

fn node(arg: &str) -> Result<NodeId, CtlError> {
    arg.parse::<NodeId>().map_err(|_| CtlError::BadArgument {
        arg: arg.to_string(),
        reason: "not a node id",
    })
}

fn group(arg: &str) -> Result<Vec<NodeId>, CtlError> {
    let bad = |reason| CtlError::BadArgument {
        arg: arg.to_string(),
        reason,
    };
    let mut out = Vec::new();
    for part in arg.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (node(a)?, node(b)?);
                if b < a {
                    return Err(bad("range ends before it starts"));
                }
                if b - a > 65_535 {
                    return Err(bad("range too large"));
                }
                out.extend(a..=b);
            }
            None => out.push(node(part)?),
        }
    }
    Ok(out)
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

/// Parses one command line (see the module documentation). Node ids are
/// checked against the topology by the relay, not here.
pub fn parse_command(line: &str) -> Result<CtlCommand, CtlError> {
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
            let (from, to) = (node(args[0])?, node(args[1])?);
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
                node: node(args[0])?,
            }
        }
        "node-up" => {
            arity("node-up", "1 (N)", args, 1)?;
            Fault::NodeUp {
                node: node(args[0])?,
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
            Fault::Partition {
                groups: args.iter().map(|a| group(a)).collect::<Result<_, _>>()?,
            }
        }
        "heal" => {
            arity("heal", "none", args, 0)?;
            Fault::Heal {}
        }
        "prr" => {
            arity("prr", "3 (A B P)", args, 3)?;
            let (from, to) = (node(args[0])?, node(args[1])?);
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
        other => return Err(CtlError::UnknownCommand(other.to_string())),
    };
    Ok(CtlCommand::Fault(fault))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(s: &str) -> Fault {
        match parse_command(s).unwrap() {
            CtlCommand::Fault(f) => f,
            CtlCommand::Status => panic!("{s}: status"),
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
        assert_eq!(parse_command("status").unwrap(), CtlCommand::Status);
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
            "prr 1 2",
            "prr 1 2 1.5",
            "prr 1 2 -0.1",
            "prr 1 2 NaN",
            "prr 1 2 x",
            "prr x 2 0.5",
            "status please",
        ];
        for b in bad {
            assert!(parse_command(b).is_err(), "`{b}` should be rejected");
        }
        assert_eq!(parse_command(""), Err(CtlError::Empty));
        assert!(matches!(
            parse_command("link-down 1"),
            Err(CtlError::Arity { found: 1, .. })
        ));
    }
}
