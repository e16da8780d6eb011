//! A radio node's UDP link to the relay (devices and the host use the same
//! one).
//!
//! Stopping and continuing the process (Ctrl-Z, `kill -STOP`/`-CONT`) is
//! survived: a receive or send interrupted by it (`EINTR`, which Linux
//! returns from a socket read with a timeout after a stop even without a
//! signal handler) is retried, and the relay's silence is counted in time
//! this process ran ([`Silence`]), so the stop itself is not mistaken for a
//! lost relay.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rocknet_core::wire::{self, Body, DropCounters, Hello, Packet, RELAY_NODE, WireError};

/// The header round of a registration Hello ("no round").
pub const NO_ROUND: u32 = u32::MAX;

/// One radio node's UDP socket to the relay (a device's, or the host's):
/// registration, a round's submission, and the round's deliveries in the
/// relay's round bundle, whose last piece ends the round — the node side of the relay's round
/// contract (`rocknet_linkmodel::relay`).
pub struct RelayLink {
    sock: UdpSocket,
    relay: SocketAddr,
    cluster: u16,
    node: u16,
    config_hash: u64,
    buf: Vec<u8>,
    /// Datagrams read while checking for lateness, not yet collected.
    early: std::collections::VecDeque<Vec<u8>>,
    drops: LinkDrops,
}

/// What a node's link discarded before the round protocol saw it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkDrops {
    /// Datagrams from an address other than the relay's.
    pub foreign_source: u64,
    /// Datagrams from the relay that did not decode, were of another
    /// cluster, or of a round already over (by wire reason).
    pub wire: DropCounters,
    /// Packets from the relay's address that the relay does not send
    /// (another source, or a kind other than a bundle or an ack).
    pub not_from_relay: u64,
    /// Registration acks after registration was done (answers to a retried
    /// Hello).
    pub stray_ack: u64,
    /// Bundle pieces received twice.
    pub duplicate_piece: u64,
}

impl LinkDrops {
    /// Every non-zero counter, by name (`foreign_source`, the wire
    /// reasons, `not_from_relay`, `stray_ack`, `duplicate_piece`).
    pub fn named(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = vec![("foreign_source".into(), self.foreign_source)];
        v.extend(self.wire.iter().map(|(r, n)| (r.name().to_string(), n)));
        v.push(("not_from_relay".into(), self.not_from_relay));
        v.push(("stray_ack".into(), self.stray_ack));
        v.push(("duplicate_piece".into(), self.duplicate_piece));
        v.retain(|(_, n)| *n > 0);
        v
    }
}

/// The receive buffer a link asks for: several rounds of bundles.
const RECV_BUFFER_BYTES: usize = 4 << 20;

/// How long a socket read waits before the caller looks at its stop flag
/// and the relay's silence.
const POLL: Duration = Duration::from_millis(200);

/// How long the relay has been silent, counting only time this process ran:
/// each check adds the time since the previous one, but at most
/// `2 × POLL` — a read that returns (data, timeout or `EINTR`) at least every
/// `POLL` while the process runs, so a longer gap is time it was stopped
/// (or starved of the CPU), which is not the relay's silence.
#[derive(Debug, Clone, Copy)]
pub struct Silence {
    counted: Duration,
    since: Instant,
}

impl Silence {
    /// Silent for no time yet.
    pub fn new() -> Self {
        Self {
            counted: Duration::ZERO,
            since: Instant::now(),
        }
    }

    /// The relay was heard: silent for no time.
    pub fn heard(&mut self) {
        *self = Self::new();
    }

    /// Counts the time since the last check (capped) and returns the total.
    pub fn waited(&mut self) -> Duration {
        let now = Instant::now();
        self.counted += now.duration_since(self.since).min(2 * POLL);
        self.since = now;
        self.counted
    }
}

impl Default for Silence {
    fn default() -> Self {
        Self::new()
    }
}

/// `recv_from`, retried when a signal (a stop and continue) interrupts it.
fn recv_from(sock: &UdpSocket, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    loop {
        match sock.recv_from(buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// `send_to`, retried when a signal interrupts it.
fn send_to(sock: &UdpSocket, bytes: &[u8], to: SocketAddr) -> std::io::Result<usize> {
    loop {
        match sock.send_to(bytes, to) {
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// What the relay said about a round.
pub enum RoundEnd {
    /// Every piece of the round's bundle: these inner packets were delivered.
    Done(Vec<Vec<u8>>),
    /// Nothing for too long, or the relay is at another round: register
    /// again.
    Lost,
}

impl RelayLink {
    /// Binds a socket for radio node `node` (any local port).
    pub fn bind(relay: SocketAddr, cluster: u16, node: u16, config_hash: u64) -> Result<Self> {
        let bind = if relay.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let sock = UdpSocket::bind(bind).context("binding a UDP socket toward the relay")?;
        // A round's bundle (or its pieces) arrives as one burst; a larger
        // buffer than the default keeps the kernel from dropping pieces. The
        // OS may cap it (net.core.rmem_max): best effort.
        let _ = socket2::SockRef::from(&sock).set_recv_buffer_size(RECV_BUFFER_BYTES);
        Ok(Self {
            sock,
            relay,
            cluster,
            node,
            config_hash,
            buf: vec![0u8; 65_536],
            early: std::collections::VecDeque::new(),
            drops: LinkDrops::default(),
        })
    }

    /// This node's packet: its header around `body`.
    pub fn packet(&self, round: u32, body: Body<'_>) -> Result<Vec<u8>> {
        Ok(Packet {
            cluster: self.cluster,
            source: self.node,
            round,
            body,
        }
        .to_vec()?)
    }

    fn hello(&self, round: u32) -> Result<Vec<u8>> {
        self.packet(
            round,
            Body::Hello(Hello {
                node: self.node,
                config_hash: self.config_hash,
            }),
        )
    }

    /// The relay's address.
    pub fn relay(&self) -> SocketAddr {
        self.relay
    }

    /// What this link has discarded so far.
    pub fn drops(&self) -> &LinkDrops {
        &self.drops
    }

    /// Registers (retrying every 250 ms until `stop`, or for at most
    /// `patience` if given) and returns the first round the relay will wait
    /// for this node in.
    pub fn register(&mut self, stop: &AtomicBool, patience: Option<Duration>) -> Result<u32> {
        let hello = self.hello(NO_ROUND)?;
        self.sock
            .set_read_timeout(Some(Duration::from_millis(250)))
            .context("socket timeout")?;
        let mut waited = Silence::new();
        loop {
            if stop.load(Ordering::SeqCst) {
                bail!("stopped while registering with the relay");
            }
            if patience.is_some_and(|p| waited.waited() > p) {
                bail!("the relay at {} did not answer registration", self.relay);
            }
            // Relay not up yet: send errors (ICMP refused) are retried.
            let _ = send_to(&self.sock, &hello, self.relay);
            let deadline = Instant::now() + Duration::from_millis(250);
            while Instant::now() < deadline {
                let Ok((n, from)) = recv_from(&self.sock, &mut self.buf) else {
                    break;
                };
                if from != self.relay {
                    self.drops.foreign_source += 1;
                    continue;
                }
                if let Ok(p) = wire::decode(&self.buf[..n])
                    && p.cluster == self.cluster
                    && p.source == RELAY_NODE
                    && let Body::Hello(h) = p.body
                    && h.node == self.node
                {
                    // An ack naming no round (an older relay) means "from the start".
                    return Ok(if p.round == NO_ROUND { 0 } else { p.round });
                }
            }
        }
    }

    /// Sends this node's packets of `round` and its end marker. Returns
    /// whether the node is late: a piece of the relay's bundle for `round`
    /// (or a later one) was already waiting, so the round closed by timeout
    /// without it and the relay no longer waits for it (it must register
    /// again).
    pub fn submit(&mut self, round: u32, packets: &[Vec<u8>]) -> Result<bool> {
        let mut late = false;
        self.sock.set_nonblocking(true).context("socket mode")?;
        loop {
            let (n, from) = match recv_from(&self.sock, &mut self.buf) {
                Ok(got) => got,
                // An ICMP error from an earlier send: reported once, then
                // the queue goes on.
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => continue,
                Err(_) => break,
            };
            if from != self.relay {
                self.drops.foreign_source += 1;
                continue;
            }
            // Any bundle of the round (or a later one) means it closed.
            if let Ok(p) = wire::decode(&self.buf[..n])
                && p.source == RELAY_NODE
                && p.round != NO_ROUND
                && p.round >= round
                && matches!(p.body, Body::Bundle(_))
            {
                late = true;
            }
            self.early.push_back(self.buf[..n].to_vec());
        }
        self.sock.set_nonblocking(false).context("socket mode")?;
        for p in packets {
            send_to(&self.sock, p, self.relay).context("sending to the relay")?;
        }
        let marker = self.hello(round)?;
        send_to(&self.sock, &marker, self.relay).context("sending to the relay")?;
        Ok(late)
    }

    /// The next datagram from the relay: one read early, else the socket.
    fn next_datagram(&mut self) -> std::io::Result<usize> {
        if let Some(d) = self.early.pop_front() {
            self.buf[..d.len()].copy_from_slice(&d);
            return Ok(d.len());
        }
        loop {
            let (n, from) = recv_from(&self.sock, &mut self.buf)?;
            if from == self.relay {
                return Ok(n);
            }
            self.drops.foreign_source += 1;
        }
    }

    /// Collects round `round`'s bundle until all its pieces are in;
    /// `Lost` if nothing arrives for `quiet` (of this process's running
    /// time, see [`Silence`]) or the relay is already past the round (the
    /// pieces already in are then counted as `incomplete`).
    pub fn collect(&mut self, round: u32, quiet: Duration, stop: &AtomicBool) -> Result<RoundEnd> {
        self.sock
            .set_read_timeout(Some(POLL))
            .context("socket timeout")?;
        let mut bundle = PiecesOf::default();
        let mut silence = Silence::new();
        loop {
            if stop.load(Ordering::SeqCst) {
                bail!("stopped");
            }
            let n = match self.next_datagram() {
                Ok(n) => n,
                // The read timeout: nothing from the relay for `POLL`.
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if silence.waited() > quiet {
                        return Ok(self.lost(&bundle));
                    }
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    // The relay is gone (restarting?): ICMP from an earlier send.
                    if silence.waited() > quiet {
                        return Ok(self.lost(&bundle));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                Err(e) => return Err(e).context("receiving from the relay"),
            };
            silence.heard();
            let p = match wire::decode(&self.buf[..n]) {
                Ok(p) => p,
                Err(e) => {
                    self.drops.wire.record(&e);
                    continue;
                }
            };
            if let Err(e) = p.check_cluster(self.cluster) {
                self.drops.wire.record(&e);
                continue;
            }
            if p.source != RELAY_NODE {
                self.drops.not_from_relay += 1;
                continue;
            }
            if p.round < round {
                // A round this node has left (it registered again).
                self.drops.wire.record(&WireError::StaleRound {
                    expected: round,
                    found: p.round,
                });
                continue;
            }
            let b = match p.body {
                Body::Bundle(b) => b,
                Body::Hello(h) if h.node == self.node => {
                    self.drops.stray_ack += 1;
                    continue;
                }
                _ => {
                    self.drops.not_from_relay += 1;
                    continue;
                }
            };
            if p.round > round {
                return Ok(self.lost(&bundle));
            }
            match bundle.add(&b) {
                Piece::New => {}
                Piece::Duplicate => self.drops.duplicate_piece += 1,
                Piece::Inconsistent => self.drops.wire.record(&WireError::Malformed),
            }
            if bundle.is_complete() {
                return Ok(RoundEnd::Done(bundle.into_deliveries()));
            }
        }
    }

    /// `Lost`, counting the deliveries of a partly received bundle as
    /// `incomplete`.
    fn lost(&mut self, partial: &PiecesOf) -> RoundEnd {
        self.drops.wire.record_incomplete(partial.deliveries());
        RoundEnd::Lost
    }
}

/// What a received bundle piece was to the round's bundle.
enum Piece {
    New,
    Duplicate,
    /// Its piece count differs from the first piece's.
    Inconsistent,
}

/// The pieces of one round's bundle received so far, by index.
#[derive(Default)]
struct PiecesOf {
    pieces: Vec<Option<Vec<Vec<u8>>>>,
    have: usize,
}

impl PiecesOf {
    fn add(&mut self, b: &wire::Bundle<'_>) -> Piece {
        let pieces = usize::from(b.pieces());
        if self.pieces.is_empty() {
            self.pieces = vec![None; pieces];
        } else if self.pieces.len() != pieces {
            return Piece::Inconsistent;
        }
        // `Bundle` guarantees piece < pieces.
        let Some(slot) = self.pieces.get_mut(usize::from(b.piece())) else {
            return Piece::Inconsistent;
        };
        if slot.is_some() {
            return Piece::Duplicate;
        }
        *slot = Some(b.entries().map(|d| d.inner.to_vec()).collect());
        self.have += 1;
        Piece::New
    }

    fn is_complete(&self) -> bool {
        !self.pieces.is_empty() && self.have == self.pieces.len()
    }

    /// Deliveries held so far.
    fn deliveries(&self) -> u64 {
        self.pieces.iter().flatten().map(|p| p.len() as u64).sum()
    }

    /// The inner packets, piece by piece, in order.
    fn into_deliveries(self) -> Vec<Vec<u8>> {
        self.pieces.into_iter().flatten().flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocknet_core::wire::{Absent, Bundle, Delivery};

    const CLUSTER: u16 = 7;

    fn relay_packet(round: u32, body: Body<'_>) -> Vec<u8> {
        Packet {
            cluster: CLUSTER,
            source: RELAY_NODE,
            round,
            body,
        }
        .to_vec()
        .unwrap()
    }

    fn piece(round: u32, piece: u16, pieces: u16, inner: &[&[u8]]) -> Vec<u8> {
        let mut entries = Vec::new();
        for (k, i) in inner.iter().enumerate() {
            let at = entries.len();
            entries.resize(at + Bundle::entry_len(i.len()), 0);
            let d = Delivery {
                slot: k as u16,
                hops: 1,
                inner: i,
            };
            Bundle::encode_entry(&d, &mut entries[at..]).unwrap();
        }
        let b = Bundle::new(piece, pieces, &entries).unwrap();
        relay_packet(round, Body::Bundle(b))
    }

    /// A fake relay and a registered link to it.
    fn linked() -> (UdpSocket, RelayLink, SocketAddr) {
        let relay = UdpSocket::bind("127.0.0.1:0").unwrap();
        relay
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut link = RelayLink::bind(relay.local_addr().unwrap(), CLUSTER, 3, 0).unwrap();
        let serve = relay.try_clone().unwrap();
        let ack = std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            let (_, from) = serve.recv_from(&mut buf).unwrap();
            let hello = Body::Hello(Hello {
                node: 3,
                config_hash: 0,
            });
            serve.send_to(&relay_packet(5, hello), from).unwrap();
            from
        });
        let stop = AtomicBool::new(false);
        assert_eq!(
            link.register(&stop, Some(Duration::from_secs(5))).unwrap(),
            5
        );
        let at = ack.join().unwrap();
        (relay, link, at)
    }

    fn inner(n: u32) -> Vec<u8> {
        Packet {
            cluster: CLUSTER,
            source: 1,
            round: 5,
            body: Body::Absent(Absent { sample_index: n }),
        }
        .to_vec()
        .unwrap()
    }

    /// The round ends only once every piece is in, whatever their order;
    /// deliveries come in piece order; strays are counted by kind.
    #[test]
    fn a_round_ends_with_the_last_piece_and_strays_are_counted() {
        let (relay, mut link, at) = linked();
        let (a, b, c) = (inner(1), inner(2), inner(3));
        let mut bad = piece(5, 0, 3, &[&a]);
        let body_at = wire::HEADER_LEN + 4;
        bad[body_at] = 9; // entry count 9: malformed (CRC resealed below)
        let crc_at = bad.len() - wire::CRC_LEN;
        let crc = wire::crc16(&bad[..crc_at]);
        bad[crc_at..].copy_from_slice(&crc.to_le_bytes());
        let foreign = UdpSocket::bind("127.0.0.1:0").unwrap();
        foreign.send_to(&piece(5, 0, 1, &[]), at).unwrap();
        for d in [
            piece(4, 0, 1, &[&a]), // stale round
            bad,
            piece(5, 2, 3, &[&c]),
            piece(5, 0, 3, &[&a]),
            piece(5, 0, 3, &[&a]), // duplicate
            piece(5, 1, 2, &[&b]), // another piece count
            relay_packet(
                5,
                Body::Hello(Hello {
                    node: 3,
                    config_hash: 0,
                }),
            ),
            piece(5, 1, 3, &[&b]),
        ] {
            relay.send_to(&d, at).unwrap();
        }
        let stop = AtomicBool::new(false);
        match link.collect(5, Duration::from_secs(5), &stop).unwrap() {
            RoundEnd::Done(got) => assert_eq!(got, vec![a, b, c]),
            RoundEnd::Lost => panic!("round lost"),
        }
        let d = link.drops();
        assert_eq!(d.foreign_source, 1);
        assert_eq!(d.duplicate_piece, 1);
        assert_eq!(d.stray_ack, 1);
        assert_eq!(d.wire.get(wire::DropReason::StaleRound), 1);
        assert_eq!(
            d.wire.get(wire::DropReason::Malformed),
            2,
            "bad count, other piece count"
        );
        assert_eq!(d.wire.total(), 3);
    }

    /// A later round's bundle while pieces are missing: the round is lost
    /// and the deliveries already in count as incomplete.
    #[test]
    fn a_later_round_before_the_last_piece_loses_the_partial_bundle() {
        let (relay, mut link, at) = linked();
        let (a, b) = (inner(1), inner(2));
        relay.send_to(&piece(5, 0, 2, &[&a, &b]), at).unwrap();
        relay.send_to(&piece(6, 0, 1, &[]), at).unwrap();
        let stop = AtomicBool::new(false);
        let end = link.collect(5, Duration::from_secs(5), &stop).unwrap();
        assert!(matches!(end, RoundEnd::Lost));
        assert_eq!(link.drops().wire.get(wire::DropReason::Incomplete), 2);
        let named = link.drops().named();
        assert!(named.contains(&("incomplete".to_string(), 2)), "{named:?}");
    }
}
