//! The UDP relay: nodes send their packets here instead of to a radio, the
//! [`LinkModel`] decides who hears what, and the relay hands every receiver
//! exactly those packets as [`Delivery`] envelopes (DESIGN.md §3).
//!
//! # Round contract
//!
//! All packets are [`rocknet_core::wire`] packets of the relay's cluster id,
//! one per UDP datagram, sent to the relay's data port.
//!
//! 1. **Registration.** A node `i` (0 = host) sends
//!    `Hello { node: i, config_hash }` with header source `i` and header
//!    round [`NO_ROUND`]. The relay records the sender's address for `i`
//!    (a later Hello moves it) and acks with a Hello from [`RELAY_NODE`],
//!    round [`NO_ROUND`]. With [`RelayOptions::config_hash`] set, a Hello
//!    with another hash is refused (counted as `config_mismatch`).
//! 2. **Opening.** Round `r` opens when the host's `Beacon` with header round
//!    `r` arrives, `r` greater than the last closed round. The beacon is the
//!    host's first message of the round.
//! 3. **Submissions.** Every registered node sends its messages of round `r`
//!    (any kind but `Hello` and `Delivery`; header round `r`), then an
//!    **end-of-submissions marker**: a Hello with header round `r`. Packets
//!    of a round that is not open yet (above the last closed one) are held
//!    back, in order, until it opens (bounded by
//!    [`RelayOptions::max_pending`]; overflow counts as `future_round`), so
//!    a node may submit before the host's beacon reaches the relay.
//! 4. **Closing.** Round `r` closes as soon as every registered node that is
//!    up (no `node-down` in force) has sent its marker — or, if some never
//!    do, [`RelayOptions::round_timeout`] after it opened (counted in
//!    `timeouts` and marked `timed_out` in the trace: only then can timing
//!    change the result). A node's packets after its own marker, and packets
//!    of closed rounds, are dropped as `stale_round`.
//! 5. **Flood.** The round's messages are ordered by originator (ascending),
//!    each node's in the order it sent them, and
//!    [`LinkModel::run_round`]`(r, origins)` decides the deliveries. So when
//!    all nodes follow the contract, the round's messages and results do not
//!    depend on timing.
//! 6. **Delivery.** After the round's emulated duration ×
//!    [`RelayOptions::time_scale`] (0 = at once; pacing never changes
//!    results), every receiver gets, receivers ascending and messages in
//!    round order, one `Delivery { slot, hops, inner }` per message the model
//!    delivered to it (not its own), from [`RELAY_NODE`] with header round
//!    `r`; then every registered node gets the **end-of-round marker**: a
//!    Hello from [`RELAY_NODE`] with header round `r`. Nodes submit round
//!    `r + 1` after it.
//!
//! Malformed, foreign-cluster, stale, oversize ([`RelayOptions::max_packet_len`])
//! packets are dropped and counted in [`DropCounters`]; packets from node
//! ids outside the topology, from unregistered nodes or from an address
//! other than the registered one count as `unknown_node`; a beacon from a
//! device or a `Delivery` sent to the relay as `rejected`. Nothing a peer
//! sends makes the relay panic or stop.
//!
//! # Faults
//!
//! A fault from the control socket ([`control`]) is checked at once (a bad
//! one gets an error reply) and queued; queued faults are applied, in
//! arrival order, when the next round opens — never to a round that is
//! already open — so a fault is in force from the next round. The reply
//! names it ("the round after r" while round r is open); the trace lists
//! the fault among that round's `faults_applied`.
//!
//! # Trace
//!
//! With [`RelayOptions::trace`], one JSON line per round
//! ([`TraceRound`]), plus one `{"drops": …}` line at shutdown with the
//! timing-independent counters (drop reasons, `undeliverable`, `rounds`;
//! datagram totals, send errors and timeouts are only in the `status`
//! reply). `status` writes nothing to the trace, so polling it never changes
//! the file: the same seed, config and inputs give a byte-identical file.

pub mod control;

use std::collections::BTreeMap;
use std::fs::File;
use std::future::Future;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use rocknet_core::wire::{
    self, Body, Delivery, DropCounters, HOST_NODE, Hello, Kind, Packet, RELAY_NODE, WireError,
};
use serde::Serialize;
use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::config::{ConfigError, LinkModel, LinkModelConfig};
use crate::fault::{Fault, FaultSummary};
use crate::topology::NodeId;
use control::{CtlCommand, parse_command};

/// Size of the control socket's receive buffer: larger than any UDP
/// datagram's payload, so a datagram that fills it was truncated.
pub const CONTROL_BUF_LEN: usize = 65_536;

/// The command text of a control datagram of `n` bytes received into `buf`,
/// or the error reply if it filled the buffer (and so may be truncated).
fn control_datagram(buf: &[u8], n: usize) -> Result<&[u8], String> {
    if n >= buf.len() {
        Err(format!(
            "error: command fills the {}-byte control buffer and may be truncated; ignored",
            buf.len()
        ))
    } else {
        Ok(&buf[..n])
    }
}

/// The most `[from, to, count]` delivery pairs a `status` reply lists.
pub const STATUS_MAX_PAIRS: usize = 500;

/// A `status` reply is never longer than this (it must fit one datagram).
pub const STATUS_MAX_BYTES: usize = 60_000;

/// The header round of a registration Hello (and of the relay's ack): "no
/// round".
pub const NO_ROUND: u32 = u32::MAX;

/// The relay cannot start or its trace cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The link-model config is invalid.
    #[error("link-model config: {0}")]
    Config(#[from] ConfigError),
    /// An option is out of range.
    #[error("relay option {0}")]
    Option(&'static str),
    /// A socket or the trace file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RelayError {
    move |source| RelayError::Io {
        context: context.into(),
        source,
    }
}

/// How the relay runs.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Cluster id of the packets it accepts and sends.
    pub cluster: u16,
    /// If set, Hellos must carry this config hash.
    pub config_hash: Option<u64>,
    /// Emulated time × this = wall-clock pacing (0 = as fast as possible).
    pub time_scale: f64,
    /// A round closes at the latest this long after it opened.
    pub round_timeout: Duration,
    /// Larger datagrams are dropped as `too_large`.
    pub max_packet_len: usize,
    /// Packets of rounds not open yet held back, at most; also the most
    /// messages one round takes (more count as `rejected`).
    pub max_pending: usize,
    /// Where to write the trace (JSON lines), if anywhere.
    pub trace: Option<PathBuf>,
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            cluster: 1,
            config_hash: None,
            time_scale: 0.0,
            round_timeout: Duration::from_secs(5),
            max_packet_len: 2048,
            max_pending: 65_536,
            trace: None,
        }
    }
}

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
    /// Datagrams received on the data port.
    pub received: u64,
    /// Datagrams sent (deliveries, markers, acks).
    pub sent: u64,
    /// Sends that failed.
    pub send_errors: u64,
    /// Rounds closed by the timeout.
    pub timeouts: u64,
    /// Rounds run.
    pub rounds: u64,
}

impl RelayCounters {
    /// All dropped packets (wire drops + unknown node + config mismatch + rejected).
    pub fn dropped(&self) -> u64 {
        self.wire.total() + self.unknown_node + self.config_mismatch + self.rejected
    }

    /// All counters (the `status` reply).
    fn to_json(&self) -> serde_json::Value {
        let mut m = self.trace_json();
        for (k, v) in [
            ("received", self.received),
            ("sent", self.sent),
            ("send_errors", self.send_errors),
            ("timeouts", self.timeouts),
        ] {
            if let serde_json::Value::Object(m) = &mut m {
                m.insert(k.to_string(), v.into());
            }
        }
        m
    }

    /// The counters that do not depend on timing (for the trace): no
    /// datagram totals, send errors or timeouts (timed-out rounds are
    /// flagged on their own trace lines).
    fn trace_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (reason, n) in self.wire.iter() {
            m.insert(reason.name().to_string(), n.into());
        }
        for (k, v) in [
            ("unknown_node", self.unknown_node),
            ("config_mismatch", self.config_mismatch),
            ("rejected", self.rejected),
            ("undeliverable", self.undeliverable),
            ("rounds", self.rounds),
        ] {
            m.insert(k.to_string(), v.into());
        }
        serde_json::Value::Object(m)
    }
}

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
    /// Messages in round order.
    pub messages: Vec<TraceMessage>,
    /// Per node: `[radio-on, tx, rx, receptions]` slots.
    pub radio: Vec<[u32; 4]>,
    /// Faults applied before this round (live, then scheduled).
    pub faults_applied: Vec<Fault>,
    /// Faults in force during this round.
    pub faults: FaultSummary,
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Beacon => "beacon",
        Kind::Sample => "sample",
        Kind::PartialLogits => "partial_logits",
        Kind::Absent => "absent",
        Kind::Hello => "hello",
        Kind::Delivery => "delivery",
        Kind::Fragment => "fragment",
    }
}

#[derive(Debug, Clone)]
struct Submission {
    origin: NodeId,
    kind: Kind,
    bytes: Vec<u8>,
}

/// A held-back or open-round item: a message, or a node's end marker.
#[derive(Debug, Clone)]
enum Item {
    Msg(Submission),
    Done(NodeId),
}

#[derive(Debug)]
struct OpenRound {
    round: u32,
    msgs: Vec<Submission>,
    done: Vec<bool>,
    deadline: Instant,
}

/// The relay: sockets and state. Build with [`Relay::bind`], run with
/// [`Relay::run`].
pub struct Relay {
    data: UdpSocket,
    control: UdpSocket,
    st: State,
}

struct State {
    model: LinkModel,
    nodes: usize,
    opts: RelayOptions,
    addrs: Vec<Option<SocketAddr>>,
    counters: RelayCounters,
    open: Option<OpenRound>,
    last_closed: Option<u32>,
    pending: BTreeMap<u32, Vec<Item>>,
    pending_len: usize,
    live: Vec<Fault>,
    queued: Vec<Fault>,
    pair_counts: Vec<u64>,
    trace: Option<BufWriter<File>>,
}

fn udp_socket(addr: SocketAddr, what: &str) -> Result<UdpSocket, RelayError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let ctx = || format!("{what} socket on {addr}");
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(io_err(ctx()))?;
    // Large buffers: a round's submissions and deliveries arrive in bursts.
    let _ = s.set_recv_buffer_size(8 << 20);
    let _ = s.set_send_buffer_size(8 << 20);
    s.set_nonblocking(true).map_err(io_err(ctx()))?;
    s.bind(&addr.into()).map_err(io_err(ctx()))?;
    UdpSocket::from_std(s.into()).map_err(io_err(ctx()))
}

enum Event {
    Shutdown,
    Data(usize, SocketAddr),
    Control(usize, SocketAddr),
    Timeout,
    RecvError(std::io::Error),
}

async fn deadline(d: Option<Instant>) {
    match d {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

impl Relay {
    /// Builds the model from `config` and binds the data and control sockets
    /// (port 0 picks a free port; see [`Relay::data_addr`]). Must be called
    /// inside a tokio runtime.
    pub async fn bind(
        config: &LinkModelConfig,
        opts: RelayOptions,
        data: SocketAddr,
        control: SocketAddr,
    ) -> Result<Self, RelayError> {
        if !(opts.time_scale.is_finite() && opts.time_scale >= 0.0) {
            return Err(RelayError::Option("time_scale must be finite and ≥ 0"));
        }
        if opts.max_packet_len < wire::OVERHEAD {
            return Err(RelayError::Option(
                "max_packet_len is below the header size",
            ));
        }
        let model = config.build()?;
        let trace = match &opts.trace {
            Some(p) => Some(BufWriter::new(
                File::create(p).map_err(io_err(format!("creating trace {}", p.display())))?,
            )),
            None => None,
        };
        let data = udp_socket(data, "data")?;
        let control = udp_socket(control, "control")?;
        Ok(Self {
            data,
            control,
            st: State::new(model, opts, trace),
        })
    }

    /// The data socket's address.
    pub fn data_addr(&self) -> Result<SocketAddr, RelayError> {
        self.data
            .local_addr()
            .map_err(io_err("data socket address"))
    }

    /// The control socket's address.
    pub fn control_addr(&self) -> Result<SocketAddr, RelayError> {
        self.control
            .local_addr()
            .map_err(io_err("control socket address"))
    }

    /// Serves until `shutdown` completes, then writes the final drop counters
    /// to the trace and returns the counters.
    pub async fn run(
        mut self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<RelayCounters, RelayError> {
        tokio::pin!(shutdown);
        let mut buf = vec![0u8; 65_536];
        let mut cbuf = vec![0u8; CONTROL_BUF_LEN];
        loop {
            let d = self.st.open.as_ref().map(|o| o.deadline);
            let ev = tokio::select! {
                biased;
                _ = &mut shutdown => Event::Shutdown,
                r = self.control.recv_from(&mut cbuf) => match r {
                    Ok((n, a)) => Event::Control(n, a),
                    Err(e) => Event::RecvError(e),
                },
                r = self.data.recv_from(&mut buf) => match r {
                    Ok((n, a)) => Event::Data(n, a),
                    Err(e) => Event::RecvError(e),
                },
                _ = deadline(d) => Event::Timeout,
            };
            match ev {
                Event::Shutdown => break,
                Event::Data(n, a) => {
                    let sends = self.st.on_data(&buf[..n], a);
                    self.flush(sends).await;
                }
                Event::Control(n, a) => {
                    let reply = match control_datagram(&cbuf, n) {
                        Ok(cmd) => self.st.on_control(cmd),
                        Err(e) => e,
                    };
                    if self.control.send_to(reply.as_bytes(), a).await.is_err() {
                        self.st.counters.send_errors += 1;
                    }
                }
                Event::Timeout => {
                    self.st.counters.timeouts += 1;
                    let sends = self.st.close_round(true);
                    self.flush(sends).await;
                }
                Event::RecvError(e) => {
                    // E.g. ICMP errors reported on the socket: keep serving.
                    tracing::debug!("recv error: {e}");
                }
            }
        }
        self.st.write_drops()?;
        if let Some(t) = &mut self.st.trace {
            t.flush().map_err(io_err("flushing the trace"))?;
        }
        Ok(self.st.counters.clone())
    }

    /// Sends the outcome of zero or more closed rounds, paced.
    async fn flush(&mut self, batches: Vec<Batch>) {
        for b in batches {
            if self.st.opts.time_scale > 0.0 && b.duration_us > 0 {
                let wall = b.duration_us as f64 * self.st.opts.time_scale;
                tokio::time::sleep(Duration::from_nanos((wall * 1000.0) as u64)).await;
            }
            for (addr, bytes) in &b.datagrams {
                match self.data.send_to(bytes, *addr).await {
                    Ok(_) => self.st.counters.sent += 1,
                    Err(e) => {
                        tracing::debug!("send to {addr}: {e}");
                        self.st.counters.send_errors += 1;
                    }
                }
            }
        }
    }
}

/// Datagrams to send after a round's emulated duration (or at once).
struct Batch {
    duration_us: u64,
    datagrams: Vec<(SocketAddr, Vec<u8>)>,
}

impl State {
    fn new(model: LinkModel, opts: RelayOptions, trace: Option<BufWriter<File>>) -> Self {
        let nodes = model.topology().nodes();
        Self {
            model,
            nodes,
            opts,
            addrs: vec![None; nodes],
            counters: RelayCounters::default(),
            open: None,
            last_closed: None,
            pending: BTreeMap::new(),
            pending_len: 0,
            live: Vec::new(),
            queued: Vec::new(),
            pair_counts: vec![0; nodes * nodes],
            trace,
        }
    }

    fn encode(&mut self, round: u32, body: Body<'_>) -> Option<Vec<u8>> {
        let p = Packet {
            cluster: self.opts.cluster,
            source: RELAY_NODE,
            round,
            body,
        };
        p.to_vec().ok()
    }

    fn marker(&mut self, round: u32) -> Option<Vec<u8>> {
        let config_hash = self.opts.config_hash.unwrap_or(0);
        self.encode(
            round,
            Body::Hello(Hello {
                node: RELAY_NODE,
                config_hash,
            }),
        )
    }

    fn drop_wire(&mut self, e: &WireError) {
        self.counters.wire.record(e);
    }

    fn on_data(&mut self, bytes: &[u8], from: SocketAddr) -> Vec<Batch> {
        self.counters.received += 1;
        if bytes.len() > self.opts.max_packet_len {
            self.drop_wire(&WireError::TooLarge);
            return Vec::new();
        }
        let p = match wire::decode(bytes) {
            Ok(p) => p,
            Err(e) => {
                self.drop_wire(&e);
                return Vec::new();
            }
        };
        if let Err(e) = p.check_cluster(self.opts.cluster) {
            self.drop_wire(&e);
            return Vec::new();
        }
        let src = usize::from(p.source);
        if src >= self.nodes {
            self.counters.unknown_node += 1;
            return Vec::new();
        }
        let mut out = Vec::new();
        let item = match p.body {
            Body::Hello(h) => {
                if usize::from(h.node) != src {
                    self.counters.rejected += 1;
                    return out;
                }
                if self.opts.config_hash.is_some_and(|c| c != h.config_hash) {
                    self.counters.config_mismatch += 1;
                    return out;
                }
                self.addrs[src] = Some(from);
                if p.round == NO_ROUND {
                    if let Some(ack) = self.marker(NO_ROUND) {
                        out.push(Batch {
                            duration_us: 0,
                            datagrams: vec![(from, ack)],
                        });
                    }
                    return out;
                }
                Item::Done(src)
            }
            Body::Delivery(_) => {
                self.counters.rejected += 1;
                return out;
            }
            Body::Beacon(_) if p.source != HOST_NODE => {
                self.counters.rejected += 1;
                return out;
            }
            body => {
                if self.addrs[src] != Some(from) {
                    self.counters.unknown_node += 1;
                    return out;
                }
                Item::Msg(Submission {
                    origin: src,
                    kind: body.kind(),
                    bytes: bytes.to_vec(),
                })
            }
        };
        let is_beacon = matches!(&item, Item::Msg(s) if s.kind == Kind::Beacon);
        self.place(p.round, item);
        if is_beacon && self.open.is_none() {
            self.try_open();
        }
        self.close_if_complete(&mut out);
        out
    }

    fn stale(&mut self, expected: u32, found: u32) {
        self.drop_wire(&WireError::StaleRound { expected, found });
    }

    /// Puts an item into the open round, the held-back set, or the bin.
    fn place(&mut self, round: u32, item: Item) {
        let next = self.last_closed.map_or(0, |c| c.saturating_add(1));
        if let Some(o) = &mut self.open {
            if round == o.round {
                match item {
                    Item::Msg(_) if o.msgs.len() >= self.opts.max_pending => {
                        self.counters.rejected += 1;
                    }
                    Item::Msg(s) if !o.done[s.origin] => o.msgs.push(s),
                    Item::Done(n) => o.done[n] = true,
                    Item::Msg(_) => {
                        let r = o.round;
                        self.stale(r, round);
                    }
                }
                return;
            }
            if round < o.round {
                let r = o.round;
                self.stale(r, round);
                return;
            }
        } else if round < next || self.last_closed.is_some_and(|c| round <= c) {
            self.stale(next, round);
            return;
        }
        if self.pending_len >= self.opts.max_pending {
            self.drop_wire(&WireError::FutureRound {
                expected: next,
                found: round,
            });
            return;
        }
        self.pending_len += 1;
        self.pending.entry(round).or_default().push(item);
    }

    /// Opens the lowest held-back round that has a host beacon.
    fn try_open(&mut self) {
        let Some(r) = self
            .pending
            .iter()
            .find(|(_, items)| {
                items
                    .iter()
                    .any(|i| matches!(i, Item::Msg(s) if s.kind == Kind::Beacon))
            })
            .map(|(&r, _)| r)
        else {
            return;
        };
        let older: Vec<u32> = self.pending.range(..r).map(|(&k, _)| k).collect();
        for k in older {
            let items = self.pending.remove(&k).unwrap_or_default();
            self.pending_len -= items.len();
            for i in items {
                if matches!(i, Item::Msg(_)) {
                    self.stale(r, k);
                }
            }
        }
        let items = self.pending.remove(&r).unwrap_or_default();
        self.pending_len -= items.len();
        // Live faults queued since the last round opened take effect now.
        for f in std::mem::take(&mut self.queued) {
            match self.model.apply_fault(&f) {
                Ok(()) => self.live.push(f),
                Err(e) => tracing::warn!("round {r}: live fault {f:?}: {e}"),
            }
        }
        self.open = Some(OpenRound {
            round: r,
            msgs: Vec::new(),
            done: vec![false; self.nodes],
            deadline: Instant::now() + self.opts.round_timeout,
        });
        for i in items {
            self.place(r, i);
        }
    }

    fn close_if_complete(&mut self, out: &mut Vec<Batch>) {
        while let Some(o) = &self.open {
            let faults = self.model.faults();
            let complete =
                (0..self.nodes).all(|i| o.done[i] || self.addrs[i].is_none() || !faults.is_up(i));
            if !complete {
                return;
            }
            out.extend(self.close_round(false));
        }
    }

    /// Runs the open round through the model; returns its datagrams (and
    /// those of any held-back round that then opens and completes).
    fn close_round(&mut self, timed_out: bool) -> Vec<Batch> {
        let Some(mut o) = self.open.take() else {
            return Vec::new();
        };
        self.last_closed = Some(o.round);
        o.msgs.sort_by_key(|s| s.origin);
        // Each message floods as its encoded length (fragmented as needed).
        let messages: Vec<crate::flood::Message> = o
            .msgs
            .iter()
            .map(|s| crate::flood::Message::new(s.origin, s.bytes.len()))
            .collect();
        let mut out = Vec::new();
        match self.model.run_round(u64::from(o.round), &messages) {
            Ok(outcome) => {
                self.counters.rounds += 1;
                let res = &outcome.result;
                let n = self.nodes;
                let mut messages = Vec::with_capacity(o.msgs.len());
                for (m, s) in o.msgs.iter().enumerate() {
                    let to: Vec<[u32; 3]> = (0..n)
                        .filter(|&r| r != s.origin)
                        .filter_map(|r| res.delivery(m, r).map(|d| [r as u32, d.slot, d.hop]))
                        .collect();
                    for t in &to {
                        self.pair_counts[s.origin * n + t[0] as usize] += 1;
                    }
                    messages.push(TraceMessage {
                        origin: s.origin,
                        kind: kind_name(s.kind),
                        len: s.bytes.len(),
                        to,
                    });
                }
                let mut faults_applied = std::mem::take(&mut self.live);
                faults_applied.extend(outcome.faults_applied.iter().cloned());
                let line = TraceRound {
                    round: u64::from(o.round),
                    duration_us: res.duration().0,
                    slots_used: res.slots_used,
                    timed_out,
                    messages,
                    radio: res
                        .radio
                        .iter()
                        .map(|r| [r.on_slots(), r.tx_slots, r.rx_slots, r.receptions])
                        .collect(),
                    faults_applied,
                    faults: self.model.faults().summary(),
                };
                self.write_trace(&line);
                let mut datagrams = Vec::new();
                for r in 0..n {
                    for (m, s) in o.msgs.iter().enumerate() {
                        if r == s.origin {
                            continue;
                        }
                        let Some(d) = res.delivery(m, r) else {
                            continue;
                        };
                        let Some(addr) = self.addrs[r] else {
                            self.counters.undeliverable += 1;
                            continue;
                        };
                        let body = Body::Delivery(Delivery {
                            slot: u16::try_from(d.slot).unwrap_or(u16::MAX),
                            hops: u8::try_from(d.hop).unwrap_or(u8::MAX),
                            inner: &s.bytes,
                        });
                        if let Some(b) = self.encode(o.round, body) {
                            datagrams.push((addr, b));
                        }
                    }
                }
                if let Some(marker) = self.marker(o.round) {
                    for a in self.addrs.iter().flatten() {
                        datagrams.push((*a, marker.clone()));
                    }
                }
                out.push(Batch {
                    duration_us: res.duration().0,
                    datagrams,
                });
            }
            Err(e) => tracing::warn!("round {}: {e}", o.round),
        }
        self.try_open();
        self.close_if_complete(&mut out);
        out
    }

    fn write_trace<T: Serialize>(&mut self, line: &T) {
        if let Some(t) = &mut self.trace {
            let ok = serde_json::to_writer(&mut *t, line).is_ok() && t.write_all(b"\n").is_ok();
            if !ok {
                tracing::warn!("trace write failed; trace disabled");
                self.trace = None;
            }
        }
    }

    /// The trace's last line, written once at shutdown.
    fn write_drops(&mut self) -> Result<(), RelayError> {
        let v = serde_json::json!({ "drops": self.counters.trace_json() });
        self.write_trace(&v);
        if let Some(t) = &mut self.trace {
            t.flush().map_err(io_err("flushing the trace"))?;
        }
        Ok(())
    }

    fn on_control(&mut self, bytes: &[u8]) -> String {
        let Ok(line) = std::str::from_utf8(bytes) else {
            return "error: command is not UTF-8".to_string();
        };
        match parse_command(line, self.nodes) {
            Err(e) => format!("error: {e}"),
            Ok(CtlCommand::Status) => self.status().to_string(),
            Ok(CtlCommand::Fault(f)) => {
                if let Err(e) = self.model.faults().check(&f) {
                    return format!("error: {e}");
                }
                self.queued.push(f);
                let from = match (&self.open, self.last_closed) {
                    (Some(o), _) => format!("the next round to open (after round {})", o.round),
                    (None, Some(c)) => format!("the next round to open (after round {c})"),
                    (None, None) => "the first round".to_string(),
                };
                format!("ok: {} in force from {from}", line.trim())
            }
        }
    }

    /// The `status` reply. It always fits one UDP datagram
    /// ([`STATUS_MAX_BYTES`]): `deliveries` lists at most
    /// [`STATUS_MAX_PAIRS`] `[from, to, count]` pairs, most deliveries first
    /// (`deliveries_pairs` is the full number, `deliveries_truncated` says
    /// whether some were left out); if the reply is still too long, the
    /// fault and registration lists are replaced by their lengths
    /// (`lists_truncated`).
    fn status(&self) -> serde_json::Value {
        let n = self.nodes;
        let topo = self.model.topology();
        let mut pairs: Vec<[u64; 3]> = (0..n * n)
            .filter(|&k| self.pair_counts[k] > 0)
            .map(|k| [(k / n) as u64, (k % n) as u64, self.pair_counts[k]])
            .collect();
        let total_pairs = pairs.len();
        let truncated = total_pairs > STATUS_MAX_PAIRS;
        if truncated {
            pairs.sort_by(|a, b| b[2].cmp(&a[2]).then(a.cmp(b)));
            pairs.truncate(STATUS_MAX_PAIRS);
            pairs.sort();
        }
        let mut v = serde_json::json!({
            "topology": {
                "nodes": n,
                "diameter": topo.diameter(),
                "mode": format!("{:?}", self.model.params().mode),
                "slots": self.model.params().slots,
                "slot_us": self.model.params().slot_length.0,
            },
            "registered": (0..n).filter(|&i| self.addrs[i].is_some()).collect::<Vec<_>>(),
            "open_round": self.open.as_ref().map(|o| o.round),
            "last_closed": self.last_closed,
            "faults": self.model.faults().summary(),
            "deliveries": pairs,
            "deliveries_pairs": total_pairs,
            "deliveries_truncated": truncated,
            "lists_truncated": false,
            "drops": self.counters.to_json(),
        });
        if v.to_string().len() > STATUS_MAX_BYTES {
            let f = self.model.faults().summary();
            v["faults"] = serde_json::json!({
                "nodes_down": f.nodes_down.len(),
                "links_down": f.links_down.len(),
                "partition": f.partition.is_some(),
                "prr": f.prr.len(),
            });
            v["registered"] = self.addrs.iter().flatten().count().into();
            v["lists_truncated"] = true.into();
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fits_a_datagram_on_a_200_device_line() {
        let cfg: LinkModelConfig =
            toml::from_str("[topology]\nkind = \"line\"\ndevices = 200\nprr = 0.9\n").unwrap();
        let mut st = State::new(cfg.build().unwrap(), RelayOptions::default(), None);
        let n = st.nodes;
        assert_eq!(n, 201);
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        st.addrs = vec![Some(addr); n];
        // Every ordered pair has deliveries; pair (k / n, k % n) got k + 1.
        for (k, c) in st.pair_counts.iter_mut().enumerate() {
            *c = k as u64 + 1;
        }
        let v = st.status();
        let text = v.to_string();
        assert!(text.len() <= STATUS_MAX_BYTES, "{} bytes", text.len());
        assert_eq!(v["deliveries_truncated"], true);
        assert_eq!(v["deliveries_pairs"], n * n);
        let d = v["deliveries"].as_array().unwrap();
        assert_eq!(d.len(), STATUS_MAX_PAIRS);
        // The largest counts are kept: the last 500 pairs.
        let min = d.iter().map(|p| p[2].as_u64().unwrap()).min().unwrap();
        assert_eq!(min, (n * n - STATUS_MAX_PAIRS) as u64 + 1);
        // With a partition of every node in force it still fits.
        let links = format!(
            "partition {}",
            (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(" ")
        );
        assert!(st.on_control(links.as_bytes()).starts_with("ok"));
        let text = st.status().to_string();
        assert!(text.len() <= STATUS_MAX_BYTES, "{} bytes", text.len());
        // Small topologies are not truncated.
        let cfg: LinkModelConfig =
            toml::from_str("[topology]\nkind = \"line\"\ndevices = 3\nprr = 0.9\n").unwrap();
        let mut st = State::new(cfg.build().unwrap(), RelayOptions::default(), None);
        st.pair_counts[1] = 4;
        let v = st.status();
        assert_eq!(v["deliveries_truncated"], false);
        assert_eq!(v["lists_truncated"], false);
        assert_eq!(v["deliveries"], serde_json::json!([[0, 1, 4]]));
    }

    #[test]
    fn a_control_datagram_that_fills_the_buffer_is_refused() {
        let buf = vec![b' '; CONTROL_BUF_LEN];
        assert_eq!(control_datagram(&buf, 10).unwrap().len(), 10);
        assert_eq!(
            control_datagram(&buf, CONTROL_BUF_LEN - 1).unwrap().len(),
            CONTROL_BUF_LEN - 1
        );
        let e = control_datagram(&buf, CONTROL_BUF_LEN).unwrap_err();
        assert!(e.starts_with("error:") && e.contains("truncated"), "{e}");
    }
}
