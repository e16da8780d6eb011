//! What the link model's trace (`trace.jsonl.zst` or `trace.jsonl`) says about a run: radio time per
//! node, deliveries and losses, faults, the rounds each device contributed
//! nothing to.

use std::io::ErrorKind;
use std::path::Path;

use anyhow::{Context, Result};

use crate::run_report::{FaultRecord, RadioTotals, RoundSpan};

/// Totals over the trace.
#[derive(Debug, Clone, Default)]
pub struct TraceSummary {
    /// Round lines read.
    pub rounds: u64,
    /// Messages flooded.
    pub messages: u64,
    /// (message, receiver) pairs that could have been delivered.
    pub deliveries_expected: u64,
    /// Pairs delivered.
    pub deliveries_made: u64,
    /// Sum of the rounds' flood durations, µs.
    pub flood_us: u64,
    /// Rounds closed by timeout.
    pub timed_out: u64,
    /// Per node: radio slots [on, tx, rx] summed, and rounds with radio on.
    pub radio_slots: Vec<[u64; 4]>,
    /// Faults applied, with the round.
    pub faults: Vec<FaultRecord>,
    /// Per device: rounds ≥ 1 in which its partial logits (or `Absent`)
    /// for the previous item never reached the relay.
    pub missed: Vec<Vec<RoundSpan>>,
    /// The relay's final `drops` line: non-zero counters by kind (`rounds`
    /// left out). `None` if the trace has no such line (the relay did not
    /// shut down cleanly).
    pub relay_drops: Option<Vec<(String, u64)>>,
}

impl TraceSummary {
    /// Radio totals of node `node` with slots of `slot_us` µs.
    pub fn radio(&self, node: usize, slot_us: u64) -> RadioTotals {
        let s = self.radio_slots.get(node).copied().unwrap_or_default();
        RadioTotals {
            on_us: s[0] * slot_us,
            tx_us: s[1] * slot_us,
            rx_us: s[2] * slot_us,
            on_periods: s[3],
        }
    }
}

/// Reads `path`; `devices` devices are nodes 1..=devices; logits are due
/// in rounds `1..=items`. With `partial_tail` (an aborted run: the relay
/// may have been killed mid-write), a last line without its newline that is
/// not JSON, and a compressed trace's unfinished last block, are left out;
/// anywhere else they are errors naming the file (and line).
pub fn summarize(
    path: &Path,
    devices: usize,
    items: u64,
    partial_tail: bool,
) -> Result<TraceSummary> {
    let mut reader = rocknet_linkmodel::trace_file::open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let mut s = TraceSummary {
        missed: vec![Vec::new(); devices],
        ..TraceSummary::default()
    };
    let mut contributed = vec![false; devices];
    let mut raw = Vec::new();
    for i in 0.. {
        raw.clear();
        let n = match reader.read_until(b'\n', &mut raw) {
            Ok(n) => n,
            Err(e) if partial_tail && e.kind() == ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        if n == 0 {
            break;
        }
        let complete = raw.ends_with(b"\n");
        let v: serde_json::Value = match serde_json::from_slice(&raw) {
            Ok(v) => v,
            Err(_) if partial_tail && !complete => break,
            Err(e) => {
                return Err(e).with_context(|| format!("{}:{}: not JSON", path.display(), i + 1));
            }
        };
        if let Some(d) = v.get("drops").and_then(|d| d.as_object()) {
            s.relay_drops = Some(
                d.iter()
                    .filter(|(k, _)| k.as_str() != "rounds")
                    .filter_map(|(k, n)| Some((k.clone(), n.as_u64()?)))
                    .filter(|&(_, n)| n > 0)
                    .collect(),
            );
            continue;
        }
        let Some(round) = v.get("round").and_then(|r| r.as_u64()) else {
            continue;
        };
        s.rounds += 1;
        s.flood_us += v.get("duration_us").and_then(|d| d.as_u64()).unwrap_or(0);
        s.timed_out += u64::from(
            v.get("timed_out")
                .and_then(|t| t.as_bool())
                .unwrap_or(false),
        );
        let radio = v
            .get("radio")
            .and_then(|r| r.as_array())
            .cloned()
            .unwrap_or_default();
        let n_nodes = radio.len();
        if s.radio_slots.len() < n_nodes {
            s.radio_slots.resize(n_nodes, [0; 4]);
        }
        for (node, r) in radio.iter().enumerate() {
            let get = |k: usize| r.get(k).and_then(|x| x.as_u64()).unwrap_or(0);
            let slots = &mut s.radio_slots[node];
            slots[0] += get(0);
            slots[1] += get(1);
            slots[2] += get(2);
            slots[3] += u64::from(get(0) > 0);
        }
        contributed.iter_mut().for_each(|c| *c = false);
        for m in v
            .get("messages")
            .and_then(|m| m.as_array())
            .into_iter()
            .flatten()
        {
            s.messages += 1;
            s.deliveries_expected += n_nodes.saturating_sub(1) as u64;
            s.deliveries_made += m
                .get("to")
                .and_then(|t| t.as_array())
                .map_or(0, |t| t.len()) as u64;
            let kind = m.get("kind").and_then(|k| k.as_str()).unwrap_or("");
            if let Some(origin) = m.get("origin").and_then(|o| o.as_u64())
                && (kind == "partial_logits" || kind == "absent")
                && let Some(d) = (origin as usize).checked_sub(1)
                && d < devices
            {
                contributed[d] = true;
            }
        }
        if (1..=items).contains(&round) {
            for (d, c) in contributed.iter().enumerate() {
                if !c {
                    push_round(&mut s.missed[d], round);
                }
            }
        }
        for f in v
            .get("faults_applied")
            .and_then(|f| f.as_array())
            .into_iter()
            .flatten()
        {
            s.faults.push(FaultRecord {
                round,
                fault: f.clone(),
            });
        }
    }
    Ok(s)
}

/// Appends `round` to `spans`, extending the last span if contiguous.
fn push_round(spans: &mut Vec<RoundSpan>, round: u64) {
    match spans.last_mut() {
        Some(last) if last.last + 1 == round => last.last = round,
        _ => spans.push(RoundSpan {
            first: round,
            last: round,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_merge_contiguous_rounds() {
        let mut v = Vec::new();
        for r in [3, 4, 5, 9, 11, 12] {
            push_round(&mut v, r);
        }
        let got: Vec<(u64, u64)> = v.iter().map(|s| (s.first, s.last)).collect();
        assert_eq!(got, [(3, 5), (9, 9), (11, 12)]);
    }

    #[test]
    fn a_small_trace_is_summed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("trace.jsonl");
        // Round 1: device 0 (node 1) sends logits, device 1 (node 2) nothing.
        let lines = [
            r#"{"round":0,"duration_us":100,"slots_used":1,"timed_out":false,"messages":[{"origin":0,"kind":"beacon","len":31,"to":[[1,1,1],[2,2,2]]}],"radio":[[2,1,1,0],[2,1,1,1],[1,0,1,1]],"faults_applied":[],"faults":{}}"#,
            r#"{"round":1,"duration_us":200,"slots_used":2,"timed_out":true,"messages":[{"origin":1,"kind":"partial_logits","len":31,"to":[[0,1,1]]}],"radio":[[0,0,0,0],[3,2,1,0],[3,1,2,1]],"faults_applied":[{"kind":"node_down","node":2}],"faults":{}}"#,
            r#"{"drops":{"too_large":2,"stale_round":0,"rounds":2}}"#,
        ];
        std::fs::write(&p, lines.join("\n")).unwrap();
        let s = summarize(&p, 2, 1, false).unwrap();
        assert_eq!(
            (s.rounds, s.messages, s.timed_out, s.flood_us),
            (2, 2, 1, 300)
        );
        assert_eq!((s.deliveries_expected, s.deliveries_made), (4, 3));
        assert_eq!(s.radio_slots[1], [5, 3, 2, 2]);
        assert_eq!(s.radio_slots[0], [2, 1, 1, 1]);
        assert!(s.missed[0].is_empty());
        assert_eq!(s.missed[1], [RoundSpan { first: 1, last: 1 }]);
        assert_eq!(s.faults.len(), 1);
        assert_eq!(s.faults[0].round, 1);
        assert_eq!(s.radio(1, 10).on_us, 50);
        assert_eq!(s.relay_drops, Some(vec![("too_large".to_string(), 2)]));
    }

    #[test]
    fn a_compressed_trace_cut_off_mid_block_reads_to_its_last_flush() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("trace.jsonl.zst");
        let round = r#"{"round":0,"duration_us":100,"messages":[],"radio":[[1,1,0,0]]}"#;
        let mut w = rocknet_linkmodel::trace_file::TraceWriter::create(&p).unwrap();
        writeln!(w, "{round}").unwrap();
        w.flush().unwrap();
        // Written but never flushed: lost with the killed relay.
        writeln!(w, "{round}").unwrap();
        std::mem::forget(w);
        let s = summarize(&p, 0, 1, true).unwrap();
        assert_eq!((s.rounds, s.flood_us), (1, 100));
        let e = format!("{:#}", summarize(&p, 0, 1, false).unwrap_err());
        assert!(
            e.contains("reading") && e.contains("trace.jsonl.zst"),
            "{e}"
        );
    }

    #[test]
    fn a_partial_last_line_is_left_out_only_when_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("trace.jsonl");
        let round = r#"{"round":0,"duration_us":100,"messages":[],"radio":[[1,1,0,0]]}"#;
        std::fs::write(&p, format!("{round}\n{{\"round\":1,\"dur")).unwrap();
        let s = summarize(&p, 0, 1, true).unwrap();
        assert_eq!((s.rounds, s.flood_us), (1, 100));
        let e = format!("{:#}", summarize(&p, 0, 1, false).unwrap_err());
        assert!(e.contains("trace.jsonl:2: not JSON"), "{e}");
        // A complete line that is not JSON is an error either way.
        std::fs::write(&p, format!("{round}\nnot json\n{round}\n")).unwrap();
        let e = format!("{:#}", summarize(&p, 0, 1, true).unwrap_err());
        assert!(e.contains("trace.jsonl:2: not JSON"), "{e}");
    }
}
