//! The host: radio node 0. It opens every round with a beacon (round, phase,
//! sample index, epoch, config hash), hears the round's floods like any
//! node, and scores evaluation samples from the partial logits it received.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rocknet_core::classifier::LogitTotals;
use rocknet_core::wire::{self, Beacon, Body, HOST_NODE, Hello, Packet, Phase, RELAY_NODE};
use rocknet_node::process::NO_ROUND;
use rocknet_node::schedule::Item;

/// The host's socket and identity.
pub struct Host {
    sock: UdpSocket,
    relay: SocketAddr,
    cluster: u16,
    config_hash: u64,
    n_devices: usize,
    n_classes: usize,
    buf: Vec<u8>,
}

/// What the host took from one round.
#[derive(Debug, Default)]
pub struct HostRound {
    /// The host's sum of the partial logits for the previous item and how
    /// many devices contributed, if any arrived.
    pub prediction: Option<(usize, usize)>,
    /// Devices whose logits (or absent) for the previous item it heard.
    pub heard: usize,
}

impl Host {
    /// Binds a socket for the host.
    pub fn bind(
        relay: SocketAddr,
        cluster: u16,
        config_hash: u64,
        n_devices: usize,
        n_classes: usize,
    ) -> Result<Self> {
        let bind = if relay.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let sock = UdpSocket::bind(bind).context("binding the host's UDP socket")?;
        Ok(Self {
            sock,
            relay,
            cluster,
            config_hash,
            n_devices,
            n_classes,
            buf: vec![0u8; 65_536],
        })
    }

    fn packet(&self, round: u32, body: Body<'_>) -> Result<Vec<u8>> {
        Ok(Packet {
            cluster: self.cluster,
            source: HOST_NODE,
            round,
            body,
        }
        .to_vec()?)
    }

    fn hello(&self, round: u32) -> Result<Vec<u8>> {
        self.packet(
            round,
            Body::Hello(Hello {
                node: HOST_NODE,
                config_hash: self.config_hash,
            }),
        )
    }

    /// Registers with the relay (retrying until `timeout`).
    pub fn register(&mut self, timeout: Duration) -> Result<()> {
        let hello = self.hello(NO_ROUND)?;
        self.sock
            .set_read_timeout(Some(Duration::from_millis(200)))?;
        let start = Instant::now();
        while start.elapsed() < timeout {
            let _ = self.sock.send_to(&hello, self.relay);
            if let Ok((n, from)) = self.sock.recv_from(&mut self.buf)
                && from == self.relay
                && let Ok(p) = wire::decode(&self.buf[..n])
                && p.source == RELAY_NODE
                && matches!(p.body, Body::Hello(h) if h.node == HOST_NODE)
            {
                return Ok(());
            }
        }
        bail!(
            "the relay at {} did not answer the host's registration",
            self.relay
        )
    }

    /// Runs round `round`: beacon for `this` (Idle past the end), end marker,
    /// then the deliveries until the relay's end-of-round marker. `prev` is
    /// the item whose logits travel in this round.
    pub fn round(
        &mut self,
        round: u32,
        this: Option<&Item>,
        prev: Option<&Item>,
        quiet: Duration,
        interrupted: &AtomicBool,
    ) -> Result<HostRound> {
        let beacon = Beacon {
            phase: this.map_or(Phase::Idle, |i| i.phase),
            sample_index: this.map_or(0, |i| i.sample as u32),
            epoch: this.map_or(0, |i| i.epoch as u32),
            config_hash: self.config_hash,
        };
        let b = self.packet(round, Body::Beacon(beacon))?;
        self.sock
            .send_to(&b, self.relay)
            .context("sending the beacon")?;
        let m = self.hello(round)?;
        self.sock
            .send_to(&m, self.relay)
            .context("sending the end marker")?;

        let mut totals = LogitTotals::new(self.n_classes);
        let mut seen = vec![false; self.n_devices];
        let (mut contributions, mut heard) = (0usize, 0usize);
        let mut last = Instant::now();
        loop {
            if interrupted.load(Ordering::SeqCst) {
                bail!("interrupted in round {round}");
            }
            let n = match self.sock.recv_from(&mut self.buf) {
                Ok((n, from)) if from == self.relay => n,
                Ok(_) => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if last.elapsed() > quiet {
                        bail!(
                            "the relay at {} stopped answering in round {round}",
                            self.relay
                        );
                    }
                    continue;
                }
                Err(e) => return Err(e).context("receiving from the relay"),
            };
            last = Instant::now();
            let Ok(p) = wire::decode(&self.buf[..n]) else {
                continue;
            };
            if p.cluster != self.cluster || p.source != RELAY_NODE || p.round != round {
                continue;
            }
            match p.body {
                Body::Hello(_) => break,
                Body::Delivery(d) => {
                    let Ok(inner) = wire::decode_checked(d.inner, self.cluster, round) else {
                        continue;
                    };
                    let Some(dev) = usize::from(inner.source).checked_sub(1) else {
                        continue;
                    };
                    if dev >= self.n_devices || seen[dev] {
                        continue;
                    }
                    match (inner.body, prev) {
                        (Body::PartialLogits(l), Some(it))
                            if l.sample_index as usize == it.sample
                                && l.logits.n_classes() == self.n_classes =>
                        {
                            seen[dev] = true;
                            heard += 1;
                            if totals.add(&l.logits).is_ok() {
                                contributions += 1;
                            }
                        }
                        (Body::Absent(a), Some(it)) if a.sample_index as usize == it.sample => {
                            seen[dev] = true;
                            heard += 1;
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        Ok(HostRound {
            prediction: (contributions > 0).then(|| (totals.argmax(), contributions)),
            heard,
        })
    }

    /// Sets how long a receive waits before checking the quiet timer.
    pub fn set_poll(&self, d: Duration) -> Result<()> {
        self.sock.set_read_timeout(Some(d))?;
        Ok(())
    }
}
