//! `rocknet trace`: reads a run's trace (plain or zstd), selects round lines
//! and prints them as JSON lines or exports the deliveries as pcapng.
//!
//! Selection: `rounds` keeps round lines in the range; `node` and `kind`
//! keep the round lines with at least one matching message (origin or a
//! receiver is the node; the kind matches). JSON lines are printed
//! unchanged; the final `drops` line only when nothing is selected. The
//! pcapng export holds one frame per matching delivery (docs/relay.md#pcapng).

use std::io::{BufRead, ErrorKind, Write};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rocknet_linkmodel::trace_file::TraceFormat;
use serde_json::Value;

/// A message kind as the trace names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceKind {
    /// `beacon`.
    Beacon,
    /// `sample`.
    Sample,
    /// `partial_logits`.
    #[value(name = "partial_logits")]
    PartialLogits,
    /// `absent`.
    Absent,
    /// `hello`.
    Hello,
    /// `delivery`.
    Delivery,
    /// `fragment`.
    Fragment,
    /// `bundle`.
    Bundle,
}

impl TraceKind {
    const ALL: [Self; 8] = [
        Self::Beacon,
        Self::Sample,
        Self::PartialLogits,
        Self::Absent,
        Self::Hello,
        Self::Delivery,
        Self::Fragment,
        Self::Bundle,
    ];

    /// The trace's name of the kind.
    pub fn name(self) -> &'static str {
        match self {
            Self::Beacon => "beacon",
            Self::Sample => "sample",
            Self::PartialLogits => "partial_logits",
            Self::Absent => "absent",
            Self::Hello => "hello",
            Self::Delivery => "delivery",
            Self::Fragment => "fragment",
            Self::Bundle => "bundle",
        }
    }

    /// The kind named `name` in a trace.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The kind's code in a pcapng frame header (its index in the list
    /// in docs/relay.md#pcapng).
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Which round lines and messages to keep.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Rounds in this range.
    pub rounds: Option<RangeInclusive<u64>>,
    /// Messages this node sent or received.
    pub node: Option<u64>,
    /// Messages of this kind.
    pub kind: Option<TraceKind>,
}

impl Selection {
    fn is_everything(&self) -> bool {
        self.rounds.is_none() && self.node.is_none() && self.kind.is_none()
    }

    fn keeps_message(&self, m: &Value) -> bool {
        let kind_ok = self
            .kind
            .is_none_or(|k| m.get("kind").and_then(Value::as_str) == Some(k.name()));
        let node_ok = self.node.is_none_or(|n| {
            m.get("origin").and_then(Value::as_u64) == Some(n)
                || deliveries(m).any(|[r, _, _]| r == n)
        });
        kind_ok && node_ok
    }

    /// Whether receiver `r` of a kept message is kept (with `node`, only
    /// the node's own deliveries, sent or received).
    fn keeps_delivery(&self, m: &Value, r: u64) -> bool {
        self.node
            .is_none_or(|n| r == n || m.get("origin").and_then(Value::as_u64) == Some(n))
    }
}

/// Parses `A..B` (inclusive), `A..` or `A`.
pub fn parse_rounds(s: &str) -> Result<RangeInclusive<u64>, String> {
    let num = |t: &str| {
        t.trim()
            .parse::<u64>()
            .map_err(|_| format!("`{t}` is not a round number (give A..B, A.. or A)"))
    };
    match s.split_once("..") {
        Some((a, "")) => Ok(num(a)?..=u64::MAX),
        Some((a, b)) => Ok(num(a)?..=num(b)?),
        None => num(s).map(|r| r..=r),
    }
}

/// The trace of a run directory (`trace.jsonl.zst`, else `trace.jsonl`), or
/// `path` itself if it is a file.
pub fn resolve(path: &Path) -> Result<PathBuf> {
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    [TraceFormat::Zstd, TraceFormat::Jsonl]
        .into_iter()
        .map(|f| path.join(f.file_name()))
        .find(|p| p.is_file())
        .with_context(|| format!("{}: no trace.jsonl.zst or trace.jsonl", path.display()))
}

/// Calls `each` with every selected line (newline included) and its JSON.
/// A compressed trace cut off mid-block ends with an error naming the file.
pub fn for_each_line(
    path: &Path,
    sel: &Selection,
    mut each: impl FnMut(&[u8], &Value) -> Result<()>,
) -> Result<()> {
    let mut reader = rocknet_linkmodel::trace_file::open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let mut raw = Vec::new();
    for line in 1.. {
        raw.clear();
        match reader.read_until(b'\n', &mut raw) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                bail!(
                    "{}: ends after line {} in an unfinished block (the relay did not shut down cleanly)",
                    path.display(),
                    line - 1
                )
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
        let v: Value = serde_json::from_slice(&raw)
            .with_context(|| format!("{}:{line}: not JSON", path.display()))?;
        let keep = match v.get("round").and_then(Value::as_u64) {
            None => sel.is_everything(),
            Some(r) => {
                sel.rounds.as_ref().is_none_or(|rs| rs.contains(&r))
                    && (sel.node.is_none() && sel.kind.is_none()
                        || messages(&v).any(|m| sel.keeps_message(m)))
            }
        };
        if keep {
            each(&raw, &v)?;
        }
    }
    Ok(())
}

fn messages(round: &Value) -> impl Iterator<Item = &Value> {
    round
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// A message's `[receiver, slot, hop]` triples.
fn deliveries(m: &Value) -> impl Iterator<Item = [u64; 3]> + '_ {
    m.get("to")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| {
            let at = |i: usize| t.get(i).and_then(Value::as_u64).unwrap_or(0);
            [at(0), at(1), at(2)]
        })
}

/// Writes the selected lines to `out` as they are.
pub fn write_jsonl(path: &Path, sel: &Selection, out: &mut impl Write) -> Result<()> {
    for_each_line(path, sel, |raw, _| {
        out.write_all(raw).context("writing the lines")
    })
}

/// pcapng's LINKTYPE_USER0: a private frame format, documented in
/// docs/relay.md#pcapng.
pub const LINKTYPE_USER0: u16 = 147;

/// Bytes of the frame header (the whole frame: the trace has no payloads).
pub const FRAME_LEN: usize = 16;

/// One delivery as a pcapng frame: round u32, slot u16, hop u8, kind u8,
/// origin u16, receiver u16, message length u32; little-endian.
pub fn frame(
    round: u64,
    slot: u64,
    hop: u64,
    kind: u8,
    origin: u64,
    to: u64,
    len: u64,
) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[0..4].copy_from_slice(&(round as u32).to_le_bytes());
    f[4..6].copy_from_slice(&(slot as u16).to_le_bytes());
    f[6] = hop as u8;
    f[7] = kind;
    f[8..10].copy_from_slice(&(origin as u16).to_le_bytes());
    f[10..12].copy_from_slice(&(to as u16).to_le_bytes());
    f[12..16].copy_from_slice(&(len as u32).to_le_bytes());
    f
}

/// Writes a pcapng block: type, total length, body padded to 4 bytes,
/// total length again.
fn block(out: &mut impl Write, kind: u32, body: &[u8]) -> std::io::Result<()> {
    let pad = (4 - body.len() % 4) % 4;
    let total = (12 + body.len() + pad) as u32;
    out.write_all(&kind.to_le_bytes())?;
    out.write_all(&total.to_le_bytes())?;
    out.write_all(body)?;
    out.write_all(&[0u8; 3][..pad])?;
    out.write_all(&total.to_le_bytes())
}

/// Exports the selected deliveries as pcapng: a Section Header Block, one
/// Interface Description Block (LINKTYPE_USER0, µs timestamps) and one
/// Enhanced Packet Block per delivery, stamped with emulated time: the
/// round's start (the rounds' `duration_us` back to back from 0) plus slot ×
/// `slot_us`. Returns the number of frames.
pub fn write_pcapng(
    path: &Path,
    sel: &Selection,
    slot_us: u64,
    out: &mut impl Write,
) -> Result<u64> {
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(out, 0x0A0D_0D0A, &shb).context("writing pcapng")?;
    let mut idb = Vec::new();
    idb.extend_from_slice(&LINKTYPE_USER0.to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&(FRAME_LEN as u32).to_le_bytes());
    block(out, 1, &idb).context("writing pcapng")?;
    let mut frames = 0u64;
    // Every round line counts for the clock, selected or not.
    let mut start_us = 0u64;
    let everything = Selection::default();
    for_each_line(path, &everything, |_, v| {
        let Some(round) = v.get("round").and_then(Value::as_u64) else {
            return Ok(());
        };
        let round_start = start_us;
        start_us += v.get("duration_us").and_then(Value::as_u64).unwrap_or(0);
        if !sel.rounds.as_ref().is_none_or(|rs| rs.contains(&round)) {
            return Ok(());
        }
        for m in messages(v).filter(|m| sel.keeps_message(m)) {
            let kind = m.get("kind").and_then(Value::as_str).unwrap_or("");
            let code = TraceKind::from_name(kind).map_or(u8::MAX, TraceKind::code);
            let origin = m.get("origin").and_then(Value::as_u64).unwrap_or(0);
            let len = m.get("len").and_then(Value::as_u64).unwrap_or(0);
            for [to, slot, hop] in deliveries(m).filter(|d| sel.keeps_delivery(m, d[0])) {
                let t = round_start + slot * slot_us;
                let mut epb = Vec::with_capacity(20 + FRAME_LEN);
                epb.extend_from_slice(&0u32.to_le_bytes());
                epb.extend_from_slice(&((t >> 32) as u32).to_le_bytes());
                epb.extend_from_slice(&(t as u32).to_le_bytes());
                epb.extend_from_slice(&(FRAME_LEN as u32).to_le_bytes());
                epb.extend_from_slice(&(FRAME_LEN as u32).to_le_bytes());
                epb.extend_from_slice(&frame(round, slot, hop, code, origin, to, len));
                block(out, 6, &epb).context("writing pcapng")?;
                frames += 1;
            }
        }
        Ok(())
    })?;
    out.flush().context("writing pcapng")?;
    Ok(frames)
}
