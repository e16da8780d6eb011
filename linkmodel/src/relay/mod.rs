//! The UDP relay: nodes send their packets here instead of to a radio, the
//! [`LinkModel`] decides who hears what, and the relay hands every receiver
//! exactly those packets in one [`Bundle`] per round (docs/relay.md).
//!
//! # Round contract
//!
//! All packets are [`rocknet_core::wire`] packets of the relay's cluster id,
//! one per UDP datagram, sent to the relay's data port. Node 0 is the host
//! (the coordinator, which opens the rounds); the others are devices. Any
//! node may be killed and restarted at any time.
//!
//! 1. **Registration.** A node `i` sends `Hello { node: i, config_hash }`
//!    with header source `i` and header round [`NO_ROUND`]. The relay
//!    records the sender's address for `i` — a later registration moves it,
//!    so a restarted node simply registers again from its new socket — and
//!    acks with a Hello `{ node: i }` from [`RELAY_NODE`] whose
//!    header round is the node's **first round**: the first round it must submit for, and the first
//!    that waits for it. That is the open round + 1 if a round is open, else
//!    the next round to open (last closed + 1, or 0 before any round). So a
//!    node registering while round `r` is open is not waited for in `r`
//!    (what it still submits for `r` is flooded), only from `r + 1`; for the
//!    host, the ack names the lowest round it may open. Bundles of rounds
//!    before its first round may still reach a node that registered during
//!    them; it ignores them. With
//!    [`RelayOptions::config_hash`] set, a Hello with another hash is refused
//!    (counted as `config_mismatch`, no ack). Only this Hello registers:
//!    every other packet counts only from the node's registered address.
//! 2. **Opening.** Round `r` opens when the host's `Beacon` with header round
//!    `r` has arrived, `r` greater than the last closed round, and the
//!    previous round's deliveries have gone out (point 6). The beacon is the
//!    host's first message of the round.
//! 3. **Submissions.** A node sends its messages of round `r` (any kind but
//!    `Hello`, `Delivery` and `Bundle`; header round `r`), then an
//!    **end-of-submissions marker**: a Hello with header round `r`. Packets
//!    of a round that is not open yet (above the last closed one) are held
//!    back, in order, until it opens (bounded by
//!    [`RelayOptions::max_pending`]; overflow counts as `future_round`), so
//!    a node may submit before the host's beacon reaches the relay or while
//!    the previous round's deliveries are still being paced.
//! 4. **Closing.** Round `r` waits for the marker of every **expected**
//!    node: registered, up (no `node-down` in force), not silent, and `r` at
//!    or after the first round of its latest registration. It closes as soon
//!    as all of them have sent it — or, if some never do,
//!    [`RelayOptions::round_timeout`] after it opened (counted in `timeouts`
//!    and marked `timed_out` in the trace: only then can timing change the
//!    result). The timeout counts only time the relay ran: while a round is
//!    open the relay wakes at least every [`TICK`], so a longer gap between
//!    two turns of its loop (the relay was stopped — Ctrl-Z, `kill -STOP` —
//!    or starved of the CPU) postpones the deadline by that gap, and what
//!    the nodes sent meanwhile is read before the round can time out. The expected nodes whose marker never came are the trace
//!    line's `missing`, and become **silent**: no later round waits for them,
//!    so a killed node costs one timeout, not one per round. A silent node
//!    stays registered — it still gets its round bundles, and what it
//!    submits while a round is open is still flooded — and is waited for
//!    again only once it registers again, from the round its ack names. So a
//!    node that receives a bundle of a round at or after its first round
//!    before it has sent its own marker for that round knows the round timed out without it (or it was down) and should
//!    register again. A node's packets after its own marker, and packets of
//!    closed rounds, are dropped as `stale_round`.
//! 5. **Flood.** The round's messages are ordered by originator (ascending),
//!    each node's in the order it sent them, and
//!    [`LinkModel::run_round`]`(r, origins)` decides the deliveries. So when
//!    all expected nodes follow the contract and no other node submits, the
//!    round's messages and results do not depend on timing.
//! 6. **Delivery.** The round's emulated duration ×
//!    [`RelayOptions::time_scale`] after it closed (0 = at once; pacing never
//!    changes results), every registered node, ascending, gets its **round
//!    bundle**: a [`Bundle`] from [`RELAY_NODE`] with header round `r` whose
//!    entries are `{ slot, hops, inner }` for each message the model
//!    delivered to it (not its own; `inner` is the originator's packet, byte
//!    for byte), in round order — none if nothing reached it. The bundle
//!    ends the round for its node: the node knows round `r` is over once it
//!    holds every piece of it. Only a bundle above one UDP datagram
//!    ([`MAX_DATAGRAM_LEN`]) is cut, between entries, into pieces numbered
//!    `0..pieces`, each saying its index, the piece count and the round; the
//!    deliveries are the pieces' entries in index order. So the relay sends
//!    one datagram per node and round, not one per delivery. Pacing is a
//!    timer, not a pause: control commands, `status` and registrations are
//!    served meanwhile. The next round opens only after these datagrams went
//!    out (its packets, beacon included, are held back until then), and its
//!    timeout counts from its opening, so pacing never eats into it. A
//!    delivery the relay cannot encode (its entry would not fit the entry's
//!    length field, or alone in a piece one UDP datagram: packets above
//!    [`MAX_MESSAGE_LEN`]) is left out and counted as `unencodable`. At
//!    shutdown, bundles still being paced go out at once.
//!
//! A round the link model cannot run (more fragments than
//! [`MAX_FRAGMENTS`](crate::flood::MAX_FRAGMENTS)) delivers nothing: its
//! messages are counted as `unflooded` (its bundles are empty).
//!
//! Malformed, foreign-cluster, stale, oversize ([`RelayOptions::max_packet_len`])
//! packets are dropped and counted in
//! [`DropCounters`](rocknet_core::wire::DropCounters); packets from node
//! ids outside the topology, from unregistered nodes or from an address
//! other than the registered one count as `unknown_node`; a beacon from a
//! device, a `Delivery` or `Bundle` sent to the relay, or a packet other than a Hello
//! with header round [`NO_ROUND`] as `rejected`. Nothing a peer sends makes
//! the relay panic or stop.
//!
//! # Faults
//!
//! A fault from the control socket ([`control`]) is checked at once (a bad
//! one gets an error reply) and queued; queued faults are applied, in
//! arrival order, when the next round opens — never to a round that is
//! already open — so a fault is in force from the next round. The reply
//! names it ("the round after r" while round r is open or being delivered);
//! the trace lists the fault among that round's `faults_applied`.
//!
//! # Trace
//!
//! With [`RelayOptions::trace`], one JSON line per round
//! ([`TraceRound`], written when the round closes, before its deliveries go
//! out; a plain trace is flushed then, so a reader that got round r's
//! deliveries finds its line), plus one
//! `{"drops": …}` line at shutdown with the timing-independent counters
//! (drop reasons, `undeliverable`, `unencodable`, `rounds`; datagram totals,
//! send errors, timeouts and silenced nodes are only in the `status`
//! reply). `status` writes nothing to the trace, so polling it never changes
//! the file: the same seed, config and inputs give a byte-identical file.
//! A name ending in `.zst` gets the lines zstd-compressed
//! ([`crate::trace_file`]).
//! A failed trace write (a full disk) stops the relay at once with an error
//! naming the file and the OS error: a trace with rounds missing would make
//! every figure drawn from it wrong.

#[cfg(target_os = "linux")]
mod batch;
pub mod control;
mod counters;
mod nodes;
mod status;
mod trace;

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use rocknet_core::wire::{
    self, Body, Bundle, Delivery, HOST_NODE, Hello, Kind, Packet, RELAY_NODE, WireError,
};
use serde::Serialize;
use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::config::{ConfigError, LinkModel, LinkModelConfig, RoundOutcome};
use crate::fault::Fault;
use crate::flood::RoundResult;
use crate::topology::NodeId;
use crate::trace_file::TraceWriter;
use control::{CtlCommand, parse_command};
pub use counters::RelayCounters;
use nodes::Registry;
use trace::kind_name;
pub use trace::{TraceMessage, TraceRound};

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

/// While a round is open the relay's loop turns at least this often.
pub const TICK: Duration = Duration::from_millis(100);

/// A gap between two turns of the relay's loop longer than this, while a
/// round is open, is time the relay did not run: it does not count toward
/// the round's timeout.
pub const STALL: Duration = Duration::from_millis(300);

/// The largest UDP payload over IPv4 (65,535 − 8 − 20 bytes): the relay
/// sends nothing longer.
pub const MAX_DATAGRAM_LEN: usize = 65_507;

/// The largest packet the relay can deliver: a bundle piece carrying only
/// its entry ([`wire::bundle_len`] of [`Bundle::entry_len`]) must fit one
/// UDP datagram ([`MAX_DATAGRAM_LEN`]), so 65,480 bytes.
pub const MAX_MESSAGE_LEN: usize = MAX_DATAGRAM_LEN - wire::bundle_len(0) - Bundle::ENTRY_FIXED_LEN;

/// The most entry bytes one bundle piece carries.
const MAX_PIECE_ENTRIES_LEN: usize = MAX_DATAGRAM_LEN - wire::bundle_len(0);

/// One receiver's bundle of a round being built: encoded entries, cut into
/// pieces that each fit one UDP datagram, and each piece's entry count.
#[derive(Debug)]
struct BundlePieces {
    pieces: Vec<(Vec<u8>, u64)>,
}

impl Default for BundlePieces {
    fn default() -> Self {
        // Even without deliveries there is one (empty) piece: the round's end.
        Self {
            pieces: vec![(Vec::new(), 0)],
        }
    }
}

impl BundlePieces {
    /// Appends a delivery; false (nothing appended) if its entry alone
    /// would not fit a datagram.
    fn push(&mut self, d: &Delivery<'_>) -> bool {
        let len = Bundle::entry_len(d.inner.len());
        if len > MAX_PIECE_ENTRIES_LEN {
            return false;
        }
        if self
            .pieces
            .last()
            .is_none_or(|(p, _)| p.len() + len > MAX_PIECE_ENTRIES_LEN)
        {
            self.pieces.push((Vec::new(), 0));
        }
        let Some((piece, count)) = self.pieces.last_mut() else {
            return false;
        };
        let at = piece.len();
        piece.resize(at + len, 0);
        if Bundle::encode_entry(d, &mut piece[at..]).is_err() {
            piece.truncate(at);
            return false;
        }
        *count += 1;
        true
    }

    /// The pieces as packets of `round`, and how many deliveries could not
    /// be encoded (only those beyond 65,535 pieces, which the piece fields
    /// cannot number: those pieces are not sent).
    fn encode(mut self, cluster: u16, round: u32) -> (Vec<Vec<u8>>, u64) {
        let max = usize::from(u16::MAX);
        let mut lost: u64 = self.pieces.iter().skip(max).map(|(_, n)| n).sum();
        self.pieces.truncate(max);
        let total = self.pieces.len() as u16;
        let mut out = Vec::with_capacity(self.pieces.len());
        for (i, (entries, count)) in self.pieces.iter().enumerate() {
            let packet = Bundle::new(i as u16, total, entries).and_then(|b| {
                Packet {
                    cluster,
                    source: RELAY_NODE,
                    round,
                    body: Body::Bundle(b),
                }
                .to_vec()
            });
            match packet {
                Ok(b) => out.push(b),
                Err(_) => lost += count,
            }
        }
        (out, lost)
    }
}

/// [`RelayOptions::max_packet_len`]'s default, for a relay started without
/// an experiment (`rocknet run` and `rocknet relay` set it to the
/// experiment's largest message).
pub const DEFAULT_MAX_PACKET_LEN: usize = 2048;

/// The header round of a registration Hello: "no round". (The relay's ack
/// carries the node's first round instead.)
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
    /// Larger datagrams are dropped as `too_large`; at most
    /// [`MAX_DATAGRAM_LEN`]. Packets above [`MAX_MESSAGE_LEN`] are accepted
    /// but their deliveries are `unencodable`, so an experiment's relay
    /// stays at or below it (`rocknet run` checks that before it starts).
    pub max_packet_len: usize,
    /// Packets of rounds not open yet held back, at most; also the most
    /// messages one round takes (more count as `rejected`).
    pub max_pending: usize,
    /// Where to write the trace (JSON lines), if anywhere; zstd-compressed
    /// if the name ends in `.zst` ([`crate::trace_file`]).
    pub trace: Option<PathBuf>,
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            cluster: 1,
            config_hash: None,
            time_scale: 0.0,
            round_timeout: Duration::from_secs(5),
            max_packet_len: DEFAULT_MAX_PACKET_LEN,
            max_pending: 65_536,
            trace: None,
        }
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
    /// The last turn of the relay's loop while this round was open.
    turned: Instant,
}

/// A closed round's datagrams (every registered node's bundle), waiting for
/// their pacing time.
#[derive(Debug)]
struct Outbox {
    round: u32,
    due: Instant,
    datagrams: Vec<(SocketAddr, Vec<u8>)>,
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
    registry: Registry,
    counters: RelayCounters,
    open: Option<OpenRound>,
    last_closed: Option<u32>,
    /// The last closed round's datagrams until they are sent; while set, no
    /// round opens.
    outbox: Option<Outbox>,
    pending: BTreeMap<u32, Vec<Item>>,
    pending_len: usize,
    live: Vec<Fault>,
    queued: Vec<Fault>,
    pair_counts: Vec<u64>,
    trace: Option<TraceWriter>,
    /// The first failed trace write: the serve loop ends with it.
    trace_failed: Option<RelayError>,
    /// A `shutdown` command came: the serve loop ends after its reply.
    shutdown_requested: bool,
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
    /// A round deadline or a pacing time has come.
    Wake,
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
        if opts.max_packet_len > MAX_DATAGRAM_LEN {
            return Err(RelayError::Option(
                "max_packet_len exceeds MAX_DATAGRAM_LEN (65,507 bytes): no UDP datagram is longer",
            ));
        }
        let model = config.build()?;
        let trace = match &opts.trace {
            Some(p) => Some(
                TraceWriter::create(p)
                    .map_err(io_err(format!("creating trace {}", p.display())))?,
            ),
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

    /// Serves until `shutdown` completes or a `shutdown` control command
    /// comes, then sends any deliveries still being paced, writes the final
    /// drop counters to the trace and returns the counters.
    pub async fn run(
        mut self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<RelayCounters, RelayError> {
        tokio::pin!(shutdown);
        let mut buf = vec![0u8; 65_536];
        let mut cbuf = vec![0u8; CONTROL_BUF_LEN];
        loop {
            self.st.discount_stall(Instant::now());
            self.run_due().await;
            if let Some(e) = self.st.trace_failed.take() {
                return Err(e);
            }
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
                _ = deadline(self.st.next_wake()) => Event::Wake,
            };
            match ev {
                Event::Shutdown => break,
                Event::Data(n, a) => {
                    if let Some((to, ack)) = self.st.on_data(&buf[..n], a) {
                        self.send(to, &ack).await;
                    }
                    if let Some(e) = self.st.trace_failed.take() {
                        return Err(e);
                    }
                }
                Event::Control(n, a) => {
                    let reply = match control_datagram(&cbuf, n) {
                        Ok(cmd) => self.st.on_control(cmd),
                        Err(e) => e,
                    };
                    if self.control.send_to(reply.as_bytes(), a).await.is_err() {
                        self.st.counters.send_errors += 1;
                    }
                    if self.st.shutdown_requested {
                        break;
                    }
                }
                // Handled by `run_due` at the top of the loop.
                Event::Wake => {}
                Event::RecvError(e) => {
                    // E.g. ICMP errors reported on the socket: keep serving.
                    tracing::debug!("recv error: {e}");
                }
            }
        }
        // The round was decided: its nodes are owed its outcome.
        if let Some(o) = self.st.outbox.take() {
            self.send_all(&o.datagrams).await;
        }
        self.st.write_drops()?;
        Ok(self.st.counters.clone())
    }

    /// Runs whatever is due: closes a round whose deadline passed, sends a
    /// closed round's datagrams once their pacing time has come (which may
    /// open, and with time scale 0 close, the next round), until nothing is
    /// due. Checked on every loop turn, so a busy data socket cannot starve
    /// timeouts or deliveries.
    async fn run_due(&mut self) {
        loop {
            let now = Instant::now();
            if let Some(o) = self.st.outbox.take_if(|o| o.due <= now) {
                self.send_all(&o.datagrams).await;
                self.st.delivered();
            } else if self.st.open.as_ref().is_some_and(|o| o.deadline <= now) {
                self.st.close_round(true);
            } else {
                return;
            }
        }
    }

    /// Sends a round's datagrams, many per system call where the OS can.
    async fn send_all(&mut self, datagrams: &[(SocketAddr, Vec<u8>)]) {
        #[cfg(target_os = "linux")]
        self.send_batched(datagrams).await;
        #[cfg(not(target_os = "linux"))]
        for (addr, bytes) in datagrams {
            self.send(*addr, bytes).await;
        }
    }

    /// `sendmmsg` until every datagram went out or failed; a failed one
    /// counts in `send_errors` and the rest still go.
    #[cfg(target_os = "linux")]
    async fn send_batched(&mut self, mut rest: &[(SocketAddr, Vec<u8>)]) {
        use std::io::ErrorKind;
        use tokio::io::Interest;
        while let Some((addr, _)) = rest.first() {
            let sent = match self.data.writable().await {
                Ok(()) => self
                    .data
                    .try_io(Interest::WRITABLE, || batch::send_some(&self.data, rest)),
                Err(e) => Err(e),
            };
            match sent {
                Ok(n) if n > 0 => {
                    self.st.counters.sent += n as u64;
                    rest = &rest[n.min(rest.len())..];
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                other => {
                    tracing::debug!("send to {addr}: {other:?}");
                    self.st.counters.send_errors += 1;
                    rest = &rest[1..];
                }
            }
        }
    }

    async fn send(&mut self, addr: SocketAddr, bytes: &[u8]) {
        match self.data.send_to(bytes, addr).await {
            Ok(_) => self.st.counters.sent += 1,
            Err(e) => {
                tracing::debug!("send to {addr}: {e}");
                self.st.counters.send_errors += 1;
            }
        }
    }
}

impl State {
    fn new(model: LinkModel, opts: RelayOptions, trace: Option<TraceWriter>) -> Self {
        let nodes = model.topology().nodes();
        Self {
            model,
            nodes,
            opts,
            registry: Registry::new(nodes),
            counters: RelayCounters::default(),
            open: None,
            last_closed: None,
            outbox: None,
            pending: BTreeMap::new(),
            pending_len: 0,
            live: Vec::new(),
            queued: Vec::new(),
            pair_counts: vec![0; nodes * nodes],
            trace,
            trace_failed: None,
            shutdown_requested: false,
        }
    }

    /// Takes a gap in the loop's turns while a round is open (longer than
    /// [`STALL`]: the relay was stopped or starved) out of the round's
    /// timeout, so nodes are not declared silent for time the relay did not
    /// run.
    fn discount_stall(&mut self, now: Instant) {
        if let Some(o) = &mut self.open {
            let gap = now.saturating_duration_since(o.turned);
            if gap > STALL {
                o.deadline += gap - TICK;
                tracing::debug!("round {}: relay stalled {gap:?}", o.round);
            }
            o.turned = now;
        }
    }

    /// When the event loop must wake up without a datagram: the open round's
    /// deadline (at least every [`TICK`], so a stall can be told from a
    /// wait) or the outbox's pacing time (never both: no round opens while
    /// the outbox is full).
    fn next_wake(&self) -> Option<Instant> {
        match (&self.open, &self.outbox) {
            (_, Some(o)) => Some(o.due),
            (Some(o), None) => Some(o.deadline.min(Instant::now() + TICK)),
            (None, None) => None,
        }
    }

    /// Encodes a relay datagram; `None` (counted as `unencodable`) if it
    /// cannot be encoded or would not fit one UDP datagram.
    fn encode(&mut self, round: u32, body: Body<'_>) -> Option<Vec<u8>> {
        let p = Packet {
            cluster: self.opts.cluster,
            source: RELAY_NODE,
            round,
            body,
        };
        // Checked first so that an oversize envelope is never allocated.
        let bytes = if p.encoded_len() <= MAX_DATAGRAM_LEN {
            p.to_vec().ok()
        } else {
            None
        };
        if bytes.is_none() {
            self.counters.unencodable += 1;
        }
        bytes
    }

    /// A Hello from the relay with header round `round`: the ack of node
    /// `about`'s registration (naming its first round).
    fn ack(&mut self, round: u32, about: u16) -> Option<Vec<u8>> {
        let config_hash = self.opts.config_hash.unwrap_or(0);
        self.encode(
            round,
            Body::Hello(Hello {
                node: about,
                config_hash,
            }),
        )
    }

    fn drop_wire(&mut self, e: &WireError) {
        self.counters.wire.record(e);
    }

    /// The next round to open: last closed + 1, or 0 before any.
    fn next_round(&self) -> u32 {
        self.last_closed.map_or(0, |c| c.saturating_add(1))
    }

    /// Whether round `round` waits for `node`'s end marker (contract point 4).
    fn is_expected(&self, node: NodeId, round: u32) -> bool {
        self.registry
            .expected(node, round, self.model.faults().is_up(node))
    }

    /// The open round's expected nodes whose marker has not arrived.
    fn waiting_for(&self) -> Vec<NodeId> {
        let Some(o) = &self.open else {
            return Vec::new();
        };
        (0..self.nodes)
            .filter(|&i| !o.done[i] && self.is_expected(i, o.round))
            .collect()
    }

    /// Handles one datagram on the data port; returns the registration ack
    /// to send, if any. Everything else it causes goes through the outbox.
    fn on_data(&mut self, bytes: &[u8], from: SocketAddr) -> Option<(SocketAddr, Vec<u8>)> {
        self.counters.received += 1;
        if bytes.len() > self.opts.max_packet_len {
            self.drop_wire(&WireError::TooLarge);
            return None;
        }
        let p = match wire::decode(bytes) {
            Ok(p) => p,
            Err(e) => {
                self.drop_wire(&e);
                return None;
            }
        };
        if let Err(e) = p.check_cluster(self.opts.cluster) {
            self.drop_wire(&e);
            return None;
        }
        let src = usize::from(p.source);
        if src >= self.nodes {
            self.counters.unknown_node += 1;
            return None;
        }
        let item = match p.body {
            Body::Hello(h) => {
                if usize::from(h.node) != src {
                    self.counters.rejected += 1;
                    return None;
                }
                if self.opts.config_hash.is_some_and(|c| c != h.config_hash) {
                    self.counters.config_mismatch += 1;
                    return None;
                }
                if p.round == NO_ROUND {
                    return self.register(src, from);
                }
                Item::Done(src)
            }
            Body::Delivery(_) | Body::Bundle(_) => {
                self.counters.rejected += 1;
                return None;
            }
            Body::Beacon(_) if p.source != HOST_NODE => {
                self.counters.rejected += 1;
                return None;
            }
            // NO_ROUND is not a round: only registrations carry it.
            _ if p.round == NO_ROUND => {
                self.counters.rejected += 1;
                return None;
            }
            body => Item::Msg(Submission {
                origin: src,
                kind: body.kind(),
                bytes: bytes.to_vec(),
            }),
        };
        if !self.registry.is_from(src, from) {
            self.counters.unknown_node += 1;
            return None;
        }
        let is_beacon = matches!(&item, Item::Msg(s) if s.kind == Kind::Beacon);
        self.place(p.round, item);
        if is_beacon {
            self.try_open();
        }
        self.close_if_complete();
        None
    }

    /// Registers `node` at `from` (contract point 1) and returns its ack.
    fn register(&mut self, node: NodeId, from: SocketAddr) -> Option<(SocketAddr, Vec<u8>)> {
        let first = match &self.open {
            Some(o) => o.round.saturating_add(1),
            None => self.next_round(),
        };
        self.registry.register(node, from, first);
        // The open round may have been waiting only for this node's
        // previous incarnation, which it no longer does.
        self.close_if_complete();
        // Node ids are below MAX_NODES < u16::MAX (checked at registration).
        self.ack(first, node as u16).map(|ack| (from, ack))
    }

    fn stale(&mut self, expected: u32, found: u32) {
        self.drop_wire(&WireError::StaleRound { expected, found });
    }

    /// Puts an item into the open round, the held-back set, or the bin.
    fn place(&mut self, round: u32, item: Item) {
        let next = self.next_round();
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

    /// Opens the lowest held-back round that has a host beacon, unless a
    /// round is open or the last one's datagrams have not gone out yet.
    fn try_open(&mut self) {
        if self.open.is_some() || self.outbox.is_some() {
            return;
        }
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
        let now = Instant::now();
        self.open = Some(OpenRound {
            round: r,
            msgs: Vec::new(),
            done: vec![false; self.nodes],
            deadline: now + self.opts.round_timeout,
            turned: now,
        });
        for i in items {
            self.place(r, i);
        }
    }

    /// The last closed round's datagrams went out: the next round may open
    /// (and, if everything it waits for was held back, close).
    fn delivered(&mut self) {
        self.try_open();
        self.close_if_complete();
    }

    fn close_if_complete(&mut self) {
        let Some(o) = &self.open else {
            return;
        };
        let complete = (0..self.nodes).all(|i| o.done[i] || !self.is_expected(i, o.round));
        if complete {
            self.close_round(false);
        }
    }

    /// Runs the open round through the model, writes its trace line and
    /// fills the outbox with every registered node's round bundle, due
    /// after its paced duration. On a timeout, the expected nodes that did
    /// not send their marker become silent.
    fn close_round(&mut self, timed_out: bool) {
        let Some(mut o) = self.open.take() else {
            return;
        };
        self.last_closed = Some(o.round);
        let missing: Vec<NodeId> = (0..self.nodes)
            .filter(|&i| !o.done[i] && self.is_expected(i, o.round))
            .collect();
        if timed_out {
            self.counters.timeouts += 1;
        }
        for &i in &missing {
            self.registry.silence(i);
            self.counters.silenced += 1;
        }
        o.msgs.sort_by_key(|s| s.origin);
        // Each message floods as its encoded length (fragmented as needed).
        let messages: Vec<crate::flood::Message> = o
            .msgs
            .iter()
            .map(|s| crate::flood::Message::new(s.origin, s.bytes.len()))
            .collect();
        let mut duration_us = 0;
        let mut result = None;
        match self.model.run_round(u64::from(o.round), &messages) {
            Ok(outcome) => {
                self.counters.rounds += 1;
                duration_us = outcome.result.duration().0;
                self.trace_round(&o, &outcome, timed_out, missing);
                result = Some(outcome.result);
            }
            Err(e) => {
                // Nothing of this round is delivered: counted, not hidden.
                self.counters.unflooded += o.msgs.len() as u64;
                tracing::warn!("round {}: {e}", o.round);
            }
        }
        // Even if the model failed, every registered node gets its (empty)
        // bundle and so learns the round is over: nobody waits forever.
        let datagrams = self.bundles(&o, result.as_ref());
        self.outbox = Some(Outbox {
            round: o.round,
            due: self.paced(duration_us),
            datagrams,
        });
    }

    /// When a round of `duration_us` emulated µs that closes now is
    /// delivered: now + duration × time scale.
    fn paced(&self, duration_us: u64) -> Instant {
        let now = Instant::now();
        // `as` saturates; a pacing beyond the clock's range is "a year".
        let nanos = (duration_us as f64 * self.opts.time_scale * 1000.0) as u64;
        now.checked_add(Duration::from_nanos(nanos))
            .unwrap_or(now + Duration::from_secs(365 * 86_400))
    }

    /// Writes the trace line of a closed round and counts its deliveries
    /// per (origin, receiver) pair.
    fn trace_round(
        &mut self,
        o: &OpenRound,
        outcome: &RoundOutcome,
        timed_out: bool,
        missing: Vec<NodeId>,
    ) {
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
            missing,
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
        // A plain trace per round, so a process that shares the file reads
        // whole rounds while the relay runs; a compressed one in larger steps.
        if let Some(t) = &mut self.trace
            && let Err(e) = t.end_round()
        {
            self.fail_trace(e);
        }
    }

    /// Records the first failed trace write (the serve loop ends with it)
    /// and writes no more.
    fn fail_trace(&mut self, source: std::io::Error) {
        self.trace = None;
        if self.trace_failed.is_none() {
            let path = self
                .opts
                .trace
                .as_deref()
                .unwrap_or(std::path::Path::new("?"));
            self.trace_failed = Some(RelayError::Io {
                context: format!("writing the trace {}", path.display()),
                source,
            });
        }
    }

    /// The round's bundles (contract point 6): for every registered node,
    /// receivers ascending, its deliveries in round order (none if the model
    /// could not run the round), in as few pieces as fit a UDP datagram.
    fn bundles(&mut self, o: &OpenRound, res: Option<&RoundResult>) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut datagrams = Vec::new();
        for r in 0..self.nodes {
            let addr = self.registry.addr(r);
            let mut pieces = BundlePieces::default();
            for (m, s) in o.msgs.iter().enumerate() {
                if r == s.origin {
                    continue;
                }
                let Some(d) = res.and_then(|res| res.delivery(m, r)) else {
                    continue;
                };
                if addr.is_none() {
                    self.counters.undeliverable += 1;
                    continue;
                }
                let entry = Delivery {
                    slot: u16::try_from(d.slot).unwrap_or(u16::MAX),
                    hops: u8::try_from(d.hop).unwrap_or(u8::MAX),
                    inner: &s.bytes,
                };
                if !pieces.push(&entry) {
                    self.counters.unencodable += 1;
                }
            }
            let Some(addr) = addr else {
                continue;
            };
            let (encoded, lost) = pieces.encode(self.opts.cluster, o.round);
            self.counters.unencodable += lost;
            datagrams.extend(encoded.into_iter().map(|b| (addr, b)));
        }
        datagrams
    }

    fn write_trace<T: Serialize>(&mut self, line: &T) {
        if let Some(t) = &mut self.trace {
            let written = serde_json::to_writer(&mut *t, line)
                .map_err(std::io::Error::from)
                .and_then(|()| t.write_all(b"\n"));
            if let Err(e) = written {
                self.fail_trace(e);
            }
        }
    }

    /// The trace's last line, written once at shutdown.
    fn write_drops(&mut self) -> Result<(), RelayError> {
        let v = serde_json::json!({ "drops": self.counters.trace_json() });
        let mut line = v.to_string().into_bytes();
        line.push(b'\n');
        if let Some(t) = self.trace.take()
            && let Err(e) = t.finish_with(&line)
        {
            self.fail_trace(e);
        }
        self.trace_failed.take().map_or(Ok(()), Err)
    }

    fn on_control(&mut self, bytes: &[u8]) -> String {
        let Ok(line) = std::str::from_utf8(bytes) else {
            return "error: command is not UTF-8".to_string();
        };
        match parse_command(line, self.nodes) {
            Err(e) => format!("error: {e}"),
            Ok(CtlCommand::Status) => self.status().to_string(),
            Ok(CtlCommand::Shutdown) => {
                self.shutdown_requested = true;
                "ok: shutting down".to_string()
            }
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
}

#[cfg(test)]
mod tests;
