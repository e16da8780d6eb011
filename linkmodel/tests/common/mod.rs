//! Fake nodes around a relay on loopback, shared by the relay's UDP tests:
//! a host + 20 devices on `testbed20`, each a real UDP socket.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use rocknet_core::wire::{self, Absent, Beacon, Body, HOST_NODE, Hello, Packet, Phase, RELAY_NODE};
use rocknet_linkmodel::config::{LinkModel, LinkModelConfig};
use rocknet_linkmodel::flood::Message;
use rocknet_linkmodel::relay::{NO_ROUND, Relay, RelayCounters, RelayOptions};
use rocknet_linkmodel::topology::NodeId;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

pub const CLUSTER: u16 = 3;
pub const NODES: usize = 21;
pub const WAIT: Duration = Duration::from_secs(5);

/// testbed20 with Gilbert–Elliott bursts.
pub fn config(seed: u64) -> LinkModelConfig {
    config_with(seed, "")
}

/// [`config`] with `extra` TOML appended (e.g. `[[interference]]` tables).
pub fn config_with(seed: u64, extra: &str) -> LinkModelConfig {
    toml::from_str(&format!(
        "seed = {seed}\n[topology]\nkind = \"testbed20\"\n[loss]\nkind = \"gilbert_elliott\"\n\
         p_gb = 0.01\np_bg = 0.2\nloss_good = 0.0\nloss_bad = 0.9\n{extra}"
    ))
    .unwrap()
}

pub fn encode(cluster: u16, source: u16, round: u32, body: Body<'_>) -> Vec<u8> {
    let p = Packet {
        cluster,
        source,
        round,
        body,
    };
    p.to_vec().unwrap()
}

pub fn hello(node: u16, round: u32) -> Vec<u8> {
    encode(
        CLUSTER,
        node,
        round,
        Body::Hello(Hello {
            node,
            config_hash: 0,
        }),
    )
}

pub fn beacon(r: u32) -> Vec<u8> {
    encode(
        CLUSTER,
        HOST_NODE,
        r,
        Body::Beacon(Beacon {
            phase: Phase::Train,
            sample_index: r,
            epoch: 0,
            config_hash: 0,
        }),
    )
}

pub fn absent(node: usize, r: u32) -> Vec<u8> {
    encode(
        CLUSTER,
        node as u16,
        r,
        Body::Absent(Absent { sample_index: r }),
    )
}

/// What every node sends in round `r` (before its marker): the host its
/// beacon, each device one Absent.
pub fn standard(r: u32) -> Vec<Vec<Vec<u8>>> {
    (0..NODES)
        .map(|i| vec![if i == 0 { beacon(r) } else { absent(i, r) }])
        .collect()
}

/// One delivery as a receiver got it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Got {
    /// The inner packet's source.
    pub origin: NodeId,
    pub slot: u32,
    pub hops: u32,
    /// The inner packet's bytes.
    pub inner: Vec<u8>,
}

/// One delivery as a node saw it: (origin, slot, hops).
pub type Seen = BTreeSet<(NodeId, u32, u32)>;

pub fn seen(got: &[Got]) -> Seen {
    let s: Seen = got.iter().map(|g| (g.origin, g.slot, g.hops)).collect();
    assert_eq!(s.len(), got.len(), "duplicate delivery");
    s
}

/// The relay's registration ack: checks it and returns its round (the
/// node's first round).
pub fn ack_round(bytes: &[u8]) -> u32 {
    let p = wire::decode(bytes).unwrap();
    assert_eq!(p.source, RELAY_NODE, "ack source");
    assert!(matches!(p.body, Body::Hello(_)), "ack kind");
    p.round
}

pub struct Cluster {
    /// Node sockets; `None` for a node killed or not registered.
    pub nodes: Vec<Option<UdpSocket>>,
    pub data: SocketAddr,
    pub ctl: UdpSocket,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<RelayCounters>,
}

impl Cluster {
    pub async fn start(seed: u64, trace: Option<&Path>) -> Self {
        Self::start_with(
            seed,
            RelayOptions {
                trace: trace.map(Path::to_path_buf),
                ..RelayOptions::default()
            },
        )
        .await
    }

    pub async fn start_with(seed: u64, opts: RelayOptions) -> Self {
        Self::start_config(&config(seed), opts, NODES).await
    }

    /// A relay over `cfg`; nodes `0..registered` register (each ack must
    /// name round 0), the others stay unregistered.
    pub async fn start_config(
        cfg: &LinkModelConfig,
        opts: RelayOptions,
        registered: usize,
    ) -> Self {
        let opts = RelayOptions {
            cluster: CLUSTER,
            ..opts
        };
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let relay = Relay::bind(cfg, opts, any, any).await.unwrap();
        let data = relay.data_addr().unwrap();
        let control = relay.control_addr().unwrap();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            relay
                .run(async {
                    let _ = rx.await;
                })
                .await
                .unwrap()
        });
        let ctl = UdpSocket::bind(any).await.unwrap();
        ctl.connect(control).await.unwrap();
        let mut c = Self {
            nodes: (0..NODES).map(|_| None).collect(),
            data,
            ctl,
            stop: Some(tx),
            task,
        };
        for i in 0..registered {
            assert_eq!(c.register(i).await, 0, "ack of node {i}");
        }
        c
    }

    /// Node `i` (re)starts: a new socket registers; returns the round the
    /// ack names.
    pub async fn register(&mut self, i: usize) -> u32 {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        s.send_to(&hello(i as u16, NO_ROUND), self.data)
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let n = timeout(WAIT, s.recv(&mut buf)).await.unwrap().unwrap();
        self.nodes[i] = Some(s);
        ack_round(&buf[..n])
    }

    /// Node `i` dies: its socket closes without a word.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i] = None;
    }

    /// Node `i`'s socket (it must be alive).
    pub fn node(&self, i: usize) -> &UdpSocket {
        self.nodes[i].as_ref().expect("a live node")
    }

    /// Sends `bytes` from node `i`.
    pub async fn send_from(&self, i: usize, bytes: &[u8]) {
        self.node(i).send_to(bytes, self.data).await.unwrap();
    }

    pub async fn ctl(&self, cmd: &str) -> String {
        self.ctl.send(cmd.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 65_536];
        let n = timeout(WAIT, self.ctl.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    pub async fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.ctl("status").await).unwrap()
    }

    /// Round `r`'s submissions: every live node sends `msgs[i]` in order,
    /// then, if `marker(i)`, its end marker. Devices first, so their packets
    /// usually wait for the beacon; the host last.
    pub async fn send(&self, r: u32, msgs: &[Vec<Vec<u8>>], marker: impl Fn(usize) -> bool) {
        for i in (1..NODES).chain([0]) {
            let Some(s) = &self.nodes[i] else {
                continue;
            };
            for m in &msgs[i] {
                s.send_to(m, self.data).await.unwrap();
            }
            if marker(i) {
                s.send_to(&hello(i as u16, r), self.data).await.unwrap();
            }
        }
    }

    /// Every live node's deliveries of round `r`, from its round bundle
    /// (empty for dead nodes).
    pub async fn collect(&self, r: u32) -> Vec<Vec<Got>> {
        let mut out = Vec::new();
        for i in 0..NODES {
            out.push(match &self.nodes[i] {
                Some(s) => collect_one(s, r).await,
                None => Vec::new(),
            });
        }
        out
    }

    /// A whole round: `msgs` and every live node's marker; what each got.
    pub async fn round_with(&self, r: u32, msgs: &[Vec<Vec<u8>>]) -> Vec<Vec<Got>> {
        self.send(r, msgs, |_| true).await;
        self.collect(r).await
    }

    /// Round `r`: the host's beacon, one Absent per device, every node's end
    /// marker; returns what each node received (empty for dead nodes).
    pub async fn round(&self, r: u32) -> Vec<Seen> {
        let got = self.round_with(r, &standard(r)).await;
        got.iter().map(|g| seen(g)).collect()
    }

    /// Polls `status` until round `r` is open.
    pub async fn wait_open(&self, r: u32) {
        for _ in 0..200 {
            if self.status().await["open_round"] == r {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("round {r} never opened");
    }

    pub async fn stop(mut self) -> RelayCounters {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap()
    }
}

/// One socket's deliveries of round `r`: every piece of its bundle (which
/// must agree on the piece count and come once each), entries in piece order.
pub async fn collect_one(s: &UdpSocket, r: u32) -> Vec<Got> {
    let mut buf = vec![0u8; 65_536];
    let mut pieces: Vec<Option<Vec<Got>>> = Vec::new();
    loop {
        let n = timeout(WAIT, s.recv(&mut buf)).await.unwrap().unwrap();
        let p = wire::decode(&buf[..n]).unwrap();
        assert_eq!((p.source, p.round), (RELAY_NODE, r));
        let Body::Bundle(b) = p.body else {
            panic!("unexpected {:?}", p.body);
        };
        if pieces.is_empty() {
            pieces = vec![None; usize::from(b.pieces())];
        }
        assert_eq!(pieces.len(), usize::from(b.pieces()), "piece count changed");
        let slot = &mut pieces[usize::from(b.piece())];
        assert!(slot.is_none(), "piece {} twice", b.piece());
        let got = b
            .entries()
            .map(|d| {
                let inner = d.packet().unwrap();
                assert_eq!(inner.round, r);
                Got {
                    origin: usize::from(inner.source),
                    slot: u32::from(d.slot),
                    hops: u32::from(d.hops),
                    inner: d.inner.to_vec(),
                }
            })
            .collect();
        *slot = Some(got);
        if pieces.iter().all(Option::is_some) {
            return pieces.into_iter().flatten().flatten().collect();
        }
    }
}

/// What the independent `model` says each node receives in round `r` when
/// node `i` submits `msgs[i]`: per receiver, in the relay's order (messages
/// by originator, each node's in sending order).
pub fn expected_with(model: &mut LinkModel, r: u32, msgs: &[Vec<Vec<u8>>]) -> Vec<Vec<Got>> {
    let sent: Vec<(NodeId, &Vec<u8>)> = msgs
        .iter()
        .enumerate()
        .flat_map(|(i, m)| m.iter().map(move |b| (i, b)))
        .collect();
    // Each message floods as its encoded length, as the relay does.
    let messages: Vec<Message> = sent
        .iter()
        .map(|(i, b)| Message::new(*i, b.len()))
        .collect();
    let res = model.run_round(u64::from(r), &messages).unwrap().result;
    (0..NODES)
        .map(|rx| {
            sent.iter()
                .enumerate()
                .filter(|(_, (o, _))| *o != rx)
                .filter_map(|(m, (o, b))| {
                    res.delivery(m, rx).map(|d| Got {
                        origin: *o,
                        slot: d.slot,
                        hops: d.hop,
                        inner: b.to_vec(),
                    })
                })
                .collect()
        })
        .collect()
}

/// What the independent model says each node should receive in a
/// [`standard`] round `r`.
pub fn expected(model: &mut LinkModel, r: u32) -> Vec<Seen> {
    expected_with(model, r, &standard(r))
        .iter()
        .map(|g| seen(g))
        .collect()
}

/// The trace's round lines.
pub fn trace_rounds(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v.get("round").is_some())
        .collect()
}
