//! The `rocknet-linkmodel` binary: its flags, the addresses it prints, a
//! registration ack, `--round-timeout-ms` and a clean SIGTERM shutdown.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rocknet_core::wire::{self, Beacon, Body, Hello, Packet, Phase, RELAY_NODE};
use rocknet_linkmodel::relay::NO_ROUND;

const CLUSTER: u16 = 9;
const WAIT: Duration = Duration::from_secs(5);

fn packet(source: u16, round: u32, body: Body<'_>) -> Vec<u8> {
    Packet {
        cluster: CLUSTER,
        source,
        round,
        body,
    }
    .to_vec()
    .unwrap()
}

fn hello(node: u16, round: u32) -> Vec<u8> {
    packet(
        node,
        round,
        Body::Hello(Hello {
            node,
            config_hash: 0,
        }),
    )
}

fn node_socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

/// Registers `node` from `s`; returns the round the ack names.
fn register(s: &UdpSocket, relay: SocketAddr, node: u16) -> u32 {
    s.send_to(&hello(node, NO_ROUND), relay).unwrap();
    let mut buf = [0u8; 256];
    let n = s.recv(&mut buf).unwrap();
    let p = wire::decode(&buf[..n]).unwrap();
    assert_eq!(p.source, RELAY_NODE);
    assert!(matches!(p.body, Body::Hello(_)));
    p.round
}

/// The `data A control B` line the binary prints on start.
fn addresses(line: &str) -> (SocketAddr, SocketAddr) {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["rocknet-linkmodel:", "data", d, "control", c] => (d.parse().unwrap(), c.parse().unwrap()),
        _ => panic!("unexpected first line {line:?}"),
    }
}

/// The relay process; killed if the test ends without stopping it (a
/// failed assertion must not leave it running).
struct Relay(Child);

impl Drop for Relay {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Sends SIGTERM and waits for the exit.
fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let t = Instant::now();
    while t.elapsed() < WAIT {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no exit within {WAIT:?} of SIGTERM");
}

#[test]
fn the_binary_serves_the_contract_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.jsonl");
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/linkmodel-testbed20.toml"
    );
    let mut relay = Relay(
        Command::new(env!("CARGO_BIN_EXE_rocknet-linkmodel"))
            .args(["--config", config, "--listen", "127.0.0.1:0"])
            .args(["--control", "127.0.0.1:0", "--time-scale", "0"])
            .args([
                "--cluster",
                &CLUSTER.to_string(),
                "--round-timeout-ms",
                "300",
            ])
            .arg("--trace")
            .arg(&trace)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stderr = BufReader::new(relay.0.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let (data, control) = addresses(&first);
    assert_ne!(data.port(), 0);

    let host = node_socket();
    let device = node_socket();
    assert_eq!(register(&host, data, 0), 0);
    assert_eq!(register(&device, data, 1), 0);
    // Round 0 without the device's marker: closed by the 300 ms timeout.
    let beacon = packet(
        0,
        0,
        Body::Beacon(Beacon {
            phase: Phase::Idle,
            sample_index: 0,
            epoch: 0,
            config_hash: 0,
        }),
    );
    let t = Instant::now();
    host.send_to(&beacon, data).unwrap();
    host.send_to(&hello(0, 0), data).unwrap();
    let mut buf = [0u8; 4096];
    let n = host.recv(&mut buf).unwrap();
    let end = wire::decode(&buf[..n]).unwrap();
    // The host's bundle of round 0: nothing for it (its beacon is its own),
    // one piece, which ends the round.
    assert!(
        matches!(end.body, Body::Bundle(b) if b.is_empty() && b.pieces() == 1) && end.round == 0,
        "{end:?}"
    );
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    // The silent device still got the round: one bundle, the beacon in it.
    let n = device.recv(&mut buf).unwrap();
    let d = wire::decode(&buf[..n]).unwrap();
    assert_eq!(d.round, 0);
    match d.body {
        Body::Bundle(b) => {
            assert_eq!((b.piece(), b.pieces()), (0, 1));
            let inner: Vec<&[u8]> = b.entries().map(|e| e.inner).collect();
            assert_eq!(inner, vec![&beacon[..]]);
        }
        other => panic!("expected the round's bundle, got {other:?}"),
    }
    // Status: the device is silent; it registers again for round 1.
    let ctl = node_socket();
    ctl.send_to(b"status", control).unwrap();
    let n = ctl.recv(&mut buf).unwrap();
    let status: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
    assert_eq!(status["silent"], serde_json::json!([1]));
    assert_eq!(status["drops"]["timeouts"], 1);
    assert_eq!(register(&device, data, 1), 1);

    assert!(terminate(&mut relay.0).success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("1 rounds, 0 packets dropped"), "{rest}");
    let text = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["timed_out"], true);
    assert_eq!(lines[0]["missing"], serde_json::json!([1]));
    assert_eq!(lines[1]["drops"]["rounds"], 1);
}
