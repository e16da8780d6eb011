//! Packets per second through the relay on loopback: testbed20 (host + 20
//! devices), every node submits one packet and its end marker per round, the
//! relay runs the Mixer round and sends every node its round bundle (the
//! deliveries and the round's end: one datagram each here); `time_scale = 0`.
//! Counts datagrams in + out of the relay, and the deliveries the bundles
//! carried (messages in + deliveries out: what per-message datagrams would
//! have been). Target: ≥ 20k packets/s.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use rocknet_core::wire::{self, Absent, Beacon, Body, HOST_NODE, Hello, Packet, Phase};
use rocknet_linkmodel::config::LinkModelConfig;
use rocknet_linkmodel::relay::{NO_ROUND, Relay, RelayOptions};

const CLUSTER: u16 = 1;
const NODES: usize = 21;

fn encode(source: u16, round: u32, body: Body<'_>) -> Vec<u8> {
    let p = Packet {
        cluster: CLUSTER,
        source,
        round,
        body,
    };
    p.to_vec().unwrap()
}

fn hello(node: u16, round: u32) -> Vec<u8> {
    encode(
        node,
        round,
        Body::Hello(Hello {
            node,
            config_hash: 0,
        }),
    )
}

struct Bench {
    nodes: Vec<UdpSocket>,
    data: SocketAddr,
    next_round: u32,
    buf: Vec<u8>,
    /// Bundle datagrams and the deliveries they carried so far.
    bundles: u64,
    deliveries: u64,
}

impl Bench {
    fn start() -> Self {
        let cfg: LinkModelConfig =
            toml::from_str("seed = 1\n[topology]\nkind = \"testbed20\"\n").expect("config");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
                let relay = Relay::bind(&cfg, RelayOptions::default(), any, any)
                    .await
                    .unwrap();
                tx.send(relay.data_addr().unwrap()).unwrap();
                relay.run(std::future::pending()).await.unwrap();
            });
        });
        let data = rx.recv().unwrap();
        let mut buf = vec![0u8; 65_536];
        let nodes = (0..NODES)
            .map(|i| {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                s.send_to(&hello(i as u16, NO_ROUND), data).unwrap();
                s.recv(&mut buf).unwrap();
                s
            })
            .collect();
        Self {
            nodes,
            data,
            next_round: 0,
            buf,
            bundles: 0,
            deliveries: 0,
        }
    }

    /// One round; returns the datagrams that went through the relay.
    fn round(&mut self) -> u64 {
        let r = self.next_round;
        self.next_round += 1;
        let mut packets = 0;
        for (i, s) in self.nodes.iter().enumerate().skip(1) {
            let p = encode(i as u16, r, Body::Absent(Absent { sample_index: r }));
            s.send_to(&p, self.data).unwrap();
            s.send_to(&hello(i as u16, r), self.data).unwrap();
            packets += 2;
        }
        let beacon = encode(
            HOST_NODE,
            r,
            Body::Beacon(Beacon {
                phase: Phase::Train,
                sample_index: r,
                epoch: 0,
                config_hash: 0,
            }),
        );
        self.nodes[0].send_to(&beacon, self.data).unwrap();
        self.nodes[0].send_to(&hello(0, r), self.data).unwrap();
        packets += 2;
        for s in &self.nodes {
            let mut pieces = 0;
            loop {
                let n = s.recv(&mut self.buf).unwrap();
                packets += 1;
                let Body::Bundle(b) = wire::decode(&self.buf[..n]).unwrap().body else {
                    panic!("not a bundle");
                };
                self.deliveries += b.len() as u64;
                self.bundles += 1;
                pieces += 1;
                if pieces == b.pieces() {
                    break;
                }
            }
        }
        packets
    }
}

fn bench(c: &mut Criterion) {
    let mut b = Bench::start();
    // The headline figure.
    let t = Instant::now();
    let rounds = 500;
    let packets: u64 = (0..rounds).map(|_| b.round()).sum();
    let secs = t.elapsed().as_secs_f64();
    // Submissions in (every datagram but the bundles) plus deliveries out.
    let messages = packets - b.bundles + b.deliveries;
    println!(
        "relay testbed20: {rounds} rounds, {packets} packets in {secs:.3} s = {:.0} packets/s \
         ({:.0} rounds/s; {:.0} messages/s in + deliveries/s out; target ≥ 20000 packets/s)",
        packets as f64 / secs,
        f64::from(rounds) / secs,
        messages as f64 / secs,
    );
    let mut g = c.benchmark_group("relay");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.bench_function("testbed20_round", |bch| bch.iter(|| b.round()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
