//! The relay's state machine without sockets: registration acks, silence,
//! the outbox gate and unencodable deliveries.

use rocknet_core::wire::{Absent, Beacon, Phase, Sample, SampleValues};

use super::*;

const CLUSTER: u16 = 1;

/// A line of `devices` devices + host with PRR 1: every message reaches
/// every node.
fn state(devices: usize, opts: RelayOptions) -> State {
    state_slots(devices, 150, opts)
}

/// A PRR-1 line with `slots` slots per round.
fn state_slots(devices: usize, slots: u32, opts: RelayOptions) -> State {
    let cfg: LinkModelConfig = toml::from_str(&format!(
        "slots_per_round = {slots}\n[topology]\nkind = \"line\"\ndevices = {devices}\nprr = 1.0\n"
    ))
    .unwrap();
    State::new(cfg.build().unwrap(), opts, None)
}

fn addr(node: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 10_000 + node as u16))
}

fn packet(source: usize, round: u32, body: Body<'_>) -> Vec<u8> {
    Packet {
        cluster: CLUSTER,
        source: source as u16,
        round,
        body,
    }
    .to_vec()
    .unwrap()
}

fn hello(node: usize, round: u32) -> Vec<u8> {
    packet(
        node,
        round,
        Body::Hello(Hello {
            node: node as u16,
            config_hash: 0,
        }),
    )
}

fn beacon(round: u32) -> Vec<u8> {
    packet(
        0,
        round,
        Body::Beacon(Beacon {
            phase: Phase::Train,
            sample_index: round,
            epoch: 0,
            config_hash: 0,
        }),
    )
}

/// Registers `node` from its address and returns the round its ack names.
fn register(st: &mut State, node: usize) -> u32 {
    let (to, ack) = st.on_data(&hello(node, NO_ROUND), addr(node)).unwrap();
    assert_eq!(to, addr(node));
    let p = wire::decode(&ack).unwrap();
    assert_eq!(p.source, RELAY_NODE);
    assert!(matches!(p.body, Body::Hello(_)));
    p.round
}

fn marker(st: &mut State, node: usize, round: u32) {
    assert!(st.on_data(&hello(node, round), addr(node)).is_none());
}

/// Takes the outbox as the event loop would after its pacing time.
fn deliver(st: &mut State) -> Outbox {
    let o = st.outbox.take().expect("a closed round's outbox");
    st.delivered();
    o
}

#[test]
fn the_ack_names_the_first_round_the_node_is_waited_for_in() {
    let mut st = state(3, RelayOptions::default());
    for i in 0..3 {
        assert_eq!(register(&mut st, i), 0, "before any round");
    }
    st.on_data(&beacon(0), addr(0));
    assert_eq!(st.open.as_ref().map(|o| o.round), Some(0));
    // Node 3 registers while round 0 is open: first round 1.
    assert_eq!(register(&mut st, 3), 1);
    assert_eq!(st.waiting_for(), vec![0, 1, 2]);
    for i in 0..3 {
        marker(&mut st, i, 0);
    }
    assert!(st.open.is_none(), "round 0 does not wait for node 3");
    // While round 0's deliveries wait for their time, round 1 cannot open
    // and a registration names it.
    st.on_data(&beacon(1), addr(0));
    assert!(st.open.is_none(), "the outbox holds round 1 back");
    assert_eq!(register(&mut st, 2), 1);
    let out = deliver(&mut st);
    assert_eq!(out.round, 0);
    // Every registered node, node 3 included, gets round 0's bundle, which
    // ends the round for it.
    let bundles: Vec<SocketAddr> = out
        .datagrams
        .iter()
        .filter(
            |(_, b)| matches!(wire::decode(b).unwrap().body, Body::Bundle(b) if b.pieces() == 1),
        )
        .map(|(a, _)| *a)
        .collect();
    assert_eq!(bundles, (0..4).map(addr).collect::<Vec<_>>());
    assert_eq!(out.datagrams.len(), 4, "one datagram per node");
    // Round 1 opened on delivery and waits for node 3 too.
    assert_eq!(st.open.as_ref().map(|o| o.round), Some(1));
    assert_eq!(st.waiting_for(), vec![0, 1, 2, 3]);
    assert_eq!(register(&mut st, 1), 2, "open round + 1");
    // Between rounds (nothing open, nothing paced): last closed + 1.
    for i in [0, 2, 3] {
        marker(&mut st, i, 1);
    }
    deliver(&mut st);
    assert_eq!(st.last_closed, Some(1));
    assert_eq!(register(&mut st, 1), 2);
}

#[test]
fn a_reregistration_ends_the_wait_for_the_previous_incarnation() {
    let mut st = state(2, RelayOptions::default());
    for i in 0..3 {
        register(&mut st, i);
    }
    st.on_data(&beacon(0), addr(0));
    marker(&mut st, 0, 0);
    marker(&mut st, 1, 0);
    assert_eq!(st.waiting_for(), vec![2]);
    // Node 2 restarts on a new port: its old address no longer counts, and
    // round 0 stops waiting for it.
    let new = SocketAddr::from(([127, 0, 0, 1], 20_002));
    let (_, ack) = st.on_data(&hello(2, NO_ROUND), new).unwrap();
    assert_eq!(wire::decode(&ack).unwrap().round, 1);
    assert!(st.open.is_none(), "round 0 closed");
    assert_eq!(st.counters.timeouts, 0);
    deliver(&mut st);
    let unknown = st.counters.unknown_node;
    st.on_data(&hello(2, 1), addr(2));
    assert_eq!(st.counters.unknown_node, unknown + 1, "old address");
}

#[test]
fn a_timeout_silences_the_missing_nodes_until_they_register_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.jsonl");
    let trace = TraceWriter::create(&path).unwrap();
    let cfg: LinkModelConfig =
        toml::from_str("[topology]\nkind = \"line\"\ndevices = 3\nprr = 1.0\n").unwrap();
    let mut st = State::new(cfg.build().unwrap(), RelayOptions::default(), Some(trace));
    for i in 0..4 {
        register(&mut st, i);
    }
    // Round 0: nodes 2 and 3 never send their marker; node 3's message
    // still goes out.
    st.on_data(&beacon(0), addr(0));
    marker(&mut st, 0, 0);
    marker(&mut st, 1, 0);
    let absent = packet(3, 0, Body::Absent(Absent { sample_index: 0 }));
    st.on_data(&absent, addr(3));
    assert_eq!(st.waiting_for(), vec![2, 3]);
    st.close_round(true);
    assert_eq!(st.registry.silent().collect::<Vec<_>>(), vec![2, 3]);
    assert_eq!((st.counters.timeouts, st.counters.silenced), (1, 2));
    deliver(&mut st);
    // Round 1 waits for nobody but 0 and 1; a silent node's message is
    // still flooded.
    st.on_data(&beacon(1), addr(0));
    assert_eq!(st.waiting_for(), vec![0, 1]);
    st.on_data(
        &packet(2, 1, Body::Absent(Absent { sample_index: 1 })),
        addr(2),
    );
    marker(&mut st, 0, 1);
    marker(&mut st, 1, 1);
    assert!(st.open.is_none(), "round 1 closed without a timeout");
    deliver(&mut st);
    // Node 2 registers again: waited for from the round its ack names.
    assert_eq!(register(&mut st, 2), 2);
    st.on_data(&beacon(2), addr(0));
    assert_eq!(st.waiting_for(), vec![0, 1, 2]);
    assert_eq!(st.status()["silent"], serde_json::json!([3]));
    for i in 0..3 {
        marker(&mut st, i, 2);
    }
    deliver(&mut st);
    st.write_drops().unwrap();
    drop(st);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["timed_out"], true);
    assert_eq!(lines[0]["missing"], serde_json::json!([2, 3]));
    assert_eq!(lines[0]["messages"][1]["origin"], 3, "silent's message");
    assert_eq!(lines[1]["timed_out"], false);
    assert_eq!(lines[1]["missing"], serde_json::json!([]));
    assert_eq!(lines[1]["messages"][1]["origin"], 2, "silent's message");
    assert_eq!(lines[2]["missing"], serde_json::json!([]));
}

/// A receiver's deliveries above one datagram are cut into pieces at entry
/// boundaries: each piece fits, numbers itself, and the pieces in order give
/// the deliveries in round order.
#[test]
fn a_bundle_above_a_datagram_is_cut_into_self_describing_pieces() {
    let mut st = state_slots(
        2,
        20_000,
        RelayOptions {
            max_packet_len: 40_000,
            ..RelayOptions::default()
        },
    );
    for i in 0..3 {
        register(&mut st, i);
    }
    st.on_data(&beacon(0), addr(0));
    let samples: Vec<Vec<u8>> = (0..3u32)
        .map(|k| {
            let values = vec![k as f32; 7_000];
            packet(
                1,
                0,
                Body::Sample(Sample {
                    sample_index: k,
                    label: 1,
                    values: SampleValues::f32(&values),
                }),
            )
        })
        .collect();
    for s in &samples {
        st.on_data(s, addr(1));
    }
    for i in 0..3 {
        marker(&mut st, i, 0);
    }
    let out = deliver(&mut st);
    assert_eq!(st.counters.unencodable, 0);
    let beacon0 = beacon(0);
    for node in [0, 2] {
        let pieces: Vec<Bundle<'_>> = out
            .datagrams
            .iter()
            .filter(|(a, _)| *a == addr(node))
            .map(|(_, b)| {
                assert!(b.len() <= MAX_DATAGRAM_LEN);
                let p = wire::decode(b).unwrap();
                assert_eq!((p.source, p.round), (RELAY_NODE, 0));
                match p.body {
                    Body::Bundle(b) => b,
                    other => panic!("{other:?}"),
                }
            })
            .collect();
        // 3 × 28,025-byte samples (+ the beacon for node 2) need 2 pieces.
        assert_eq!(pieces.len(), 2, "node {node}");
        for (i, b) in pieces.iter().enumerate() {
            assert_eq!((usize::from(b.piece()), b.pieces()), (i, 2));
        }
        let inner: Vec<&[u8]> = pieces
            .iter()
            .flat_map(|b| b.entries())
            .map(|d| d.inner)
            .collect();
        let mut want: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
        if node == 2 {
            want.insert(0, &beacon0);
        }
        assert_eq!(inner, want, "node {node}");
    }
}

#[test]
fn deliveries_too_large_for_an_envelope_are_counted_not_sent() {
    // Enough slots for the two ~650-fragment samples to get through.
    let mut st = state_slots(
        2,
        20_000,
        RelayOptions {
            max_packet_len: 70_000,
            ..RelayOptions::default()
        },
    );
    for i in 0..3 {
        register(&mut st, i);
    }
    st.on_data(&beacon(0), addr(0));
    // The largest body the header allows (65,549-byte packet: its entry
    // overflows the entry's length field), and one whose bundle only
    // overflows a UDP datagram (65,505 + 27 > 65,507).
    for n in [(wire::MAX_BODY_LEN - Sample::FIXED_LEN) / 4, 16_370] {
        let values = vec![0.5f32; n];
        let big = packet(
            1,
            0,
            Body::Sample(Sample {
                sample_index: 0,
                label: 1,
                values: SampleValues::f32(&values),
            }),
        );
        assert!(big.len() > MAX_MESSAGE_LEN);
        assert!(wire::bundle_len(Bundle::entry_len(big.len())) > MAX_DATAGRAM_LEN);
        st.on_data(&big, addr(1));
    }
    for i in 0..3 {
        marker(&mut st, i, 0);
    }
    let out = deliver(&mut st);
    // Nodes 0 and 2 each miss both samples; the beacon still reaches 1 and
    // 2, and all three get their bundle.
    assert_eq!(st.counters.unencodable, 4);
    assert_eq!(out.datagrams.len(), 3);
    let entries: Vec<usize> = out
        .datagrams
        .iter()
        .map(|(_, b)| match wire::decode(b).unwrap().body {
            Body::Bundle(b) => b.len(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(entries, vec![0, 1, 1]);
    assert!(
        out.datagrams
            .iter()
            .all(|(_, b)| b.len() <= MAX_DATAGRAM_LEN)
    );
    assert_eq!(st.status()["drops"]["unencodable"], 4);
    assert_eq!(st.counters.trace_json()["unencodable"], 4);
}

#[test]
fn only_registrations_carry_no_round() {
    let mut st = state(2, RelayOptions::default());
    register(&mut st, 1);
    st.on_data(
        &packet(1, NO_ROUND, Body::Absent(Absent { sample_index: 0 })),
        addr(1),
    );
    assert_eq!(st.counters.rejected, 1);
    assert!(st.pending.is_empty());
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

#[test]
fn a_stall_of_the_relay_does_not_count_toward_the_round_timeout() {
    let opts = RelayOptions {
        round_timeout: Duration::from_secs(1),
        ..RelayOptions::default()
    };
    let mut st = state(2, opts);
    for i in 0..3 {
        register(&mut st, i);
    }
    st.on_data(&beacon(0), addr(0));
    let (opened, deadline) = {
        let o = st.open.as_ref().expect("round 0 open");
        (o.turned, o.deadline)
    };
    // Turns at most a tick apart: the relay ran, the deadline stands.
    st.discount_stall(opened + TICK);
    assert_eq!(st.open.as_ref().unwrap().deadline, deadline);
    // The relay was stopped for 2 s: the deadline moves by the gap less
    // the tick the relay would have waited anyway.
    let resumed = opened + TICK + Duration::from_secs(2);
    st.discount_stall(resumed);
    assert_eq!(
        st.open.as_ref().unwrap().deadline,
        deadline + Duration::from_secs(2) - TICK
    );
    // The markers sent meanwhile are read before the deadline: no timeout.
    for i in 0..3 {
        marker(&mut st, i, 0);
    }
    assert!(st.open.is_none(), "round 0 closed");
    assert_eq!((st.counters.timeouts, st.counters.silenced), (0, 0));
}

#[test]
fn a_failed_trace_write_is_an_error_naming_the_file_and_the_os_error() {
    // /dev/full: every write fails with ENOSPC, as on a full disk.
    for zstd in [false, true] {
        a_failed_trace_write_is_reported(zstd);
    }
}

fn a_failed_trace_write_is_reported(zstd: bool) {
    let path = std::path::PathBuf::from("/dev/full");
    let file = std::io::BufWriter::new(std::fs::File::create(&path).expect("/dev/full"));
    let trace = if zstd {
        TraceWriter::Zstd {
            encoder: zstd::stream::write::Encoder::new(file, 3).unwrap(),
            // The first round's line is flushed at once.
            unflushed: usize::MAX / 2,
        }
    } else {
        TraceWriter::Plain(file)
    };
    let cfg: LinkModelConfig =
        toml::from_str("[topology]\nkind = \"line\"\ndevices = 1\nprr = 1.0\n").unwrap();
    let opts = RelayOptions {
        trace: Some(path),
        ..RelayOptions::default()
    };
    let mut st = State::new(cfg.build().unwrap(), opts, Some(trace));
    for i in 0..2 {
        register(&mut st, i);
    }
    assert!(st.trace_failed.is_none());
    st.on_data(&beacon(0), addr(0));
    marker(&mut st, 0, 0);
    marker(&mut st, 1, 0);
    // The round closed and its trace line could not be written.
    assert_eq!(st.last_closed, Some(0));
    let e = st.trace_failed.take().expect("the failed write is kept");
    let msg = e.to_string();
    assert!(
        msg.contains("writing the trace /dev/full"),
        "{msg} (zstd: {zstd})"
    );
    assert!(msg.contains("os error 28"), "{msg} (zstd: {zstd})");
    // No more writes are tried, and shutdown reports no second error.
    assert!(st.trace.is_none());
    assert!(st.write_drops().is_ok());
}
