//! The relay over real UDP sockets on loopback: 20 fake devices + a host.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use rocknet_core::wire::{self, Absent, Beacon, Body, Phase};
use rocknet_linkmodel::fault::Fault;
use rocknet_linkmodel::relay::RelayOptions;
use tokio::net::UdpSocket;

#[tokio::test]
async fn relay_delivers_exactly_what_the_model_decides() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.jsonl");
    let c = Cluster::start(7, Some(&trace)).await;
    let mut model = config(7).build().unwrap();
    let mut unfaulted = None;
    let mut differs = false;
    for r in 0..200u32 {
        if r == 100 {
            let reply = c.ctl("link-down 3 7").await;
            assert!(reply.starts_with("ok"), "{reply}");
            unfaulted = Some(model.clone());
            model
                .apply_fault(&Fault::LinkDown {
                    from: 3,
                    to: 7,
                    both: true,
                })
                .unwrap();
        }
        let got = c.round(r).await;
        let want = expected(&mut model, r);
        if let Some(u) = &mut unfaulted {
            differs |= expected(u, r) != want;
        }
        assert_eq!(got, want, "round {r}");
    }
    assert!(differs, "link 3–7 should matter in testbed20");
    let status: serde_json::Value = serde_json::from_str(&c.ctl("status").await).unwrap();
    assert_eq!(
        status["faults"]["links_down"],
        serde_json::json!([[3, 7], [7, 3]])
    );
    assert_eq!(status["last_closed"], 199);
    assert!(status["deliveries"].as_array().unwrap().len() > 100);
    let counters = c.stop().await;
    assert_eq!(counters.rounds, 200);
    assert_eq!(counters.dropped(), 0, "{counters:?}");
    let text = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rounds: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l.get("round").is_some()).collect();
    assert_eq!(rounds.len(), 200);
    assert_eq!(rounds[99]["faults_applied"], serde_json::json!([]));
    assert_eq!(
        rounds[100]["faults_applied"],
        serde_json::json!([{"kind": "link_down", "from": 3, "to": 7, "both": true}])
    );
    assert_eq!(rounds[99]["faults"]["links_down"], serde_json::json!([]));
    assert_eq!(
        rounds[150]["faults"]["links_down"],
        serde_json::json!([[3, 7], [7, 3]])
    );
    assert_eq!(rounds[0]["duration_us"], 150 * 681);
    assert_eq!(rounds[0]["radio"].as_array().unwrap().len(), NODES);
    assert!(lines.last().unwrap().get("drops").is_some());
}

async fn traced_run(seed: u64, path: &Path) -> Vec<u8> {
    traced_run_polling(seed, path, false).await
}

/// A 30-round run; with `poll`, `status` is asked before every round.
async fn traced_run_polling(seed: u64, path: &Path, poll: bool) -> Vec<u8> {
    let c = Cluster::start(seed, Some(path)).await;
    for r in 0..30 {
        if poll {
            assert!(c.ctl("status").await.starts_with('{'));
        }
        if r == 10 {
            assert!(c.ctl("node-down 5").await.starts_with("ok"));
        }
        c.round(r).await;
    }
    c.stop().await;
    std::fs::read(path).unwrap()
}

#[tokio::test]
async fn polling_status_does_not_change_the_trace() {
    let dir = tempfile::tempdir().unwrap();
    let quiet = traced_run_polling(13, &dir.path().join("quiet.jsonl"), false).await;
    let polled = traced_run_polling(13, &dir.path().join("polled.jsonl"), true).await;
    assert_eq!(quiet, polled);
    let text = String::from_utf8(quiet).unwrap();
    let drops: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("{\"drops\""))
        .collect();
    assert_eq!(drops.len(), 1, "one drops line, at the end");
    assert!(text.lines().last().unwrap().starts_with("{\"drops\""));
    let d: serde_json::Value = serde_json::from_str(drops[0]).unwrap();
    for timing in ["received", "sent", "send_errors", "timeouts"] {
        assert!(d["drops"].get(timing).is_none(), "{timing} in the trace");
    }
    assert_eq!(d["drops"]["rounds"], 30);
}

#[tokio::test]
async fn traces_are_byte_identical_for_the_same_seed() {
    let dir = tempfile::tempdir().unwrap();
    let a = traced_run(11, &dir.path().join("a.jsonl")).await;
    let b = traced_run(11, &dir.path().join("b.jsonl")).await;
    let c = traced_run(12, &dir.path().join("c.jsonl")).await;
    assert!(!a.is_empty());
    assert_eq!(a, b, "same seed, same inputs");
    assert_ne!(a, c, "different seed");
}

#[tokio::test]
async fn bad_packets_are_counted_and_the_relay_keeps_serving() {
    let c = Cluster::start(5, None).await;
    let s = c.node(1);
    let absent = |cluster, source, round| {
        encode(
            cluster,
            source,
            round,
            Body::Absent(Absent { sample_index: 0 }),
        )
    };
    // Random bytes (short and long), a wrong cluster, a bad CRC, an unknown
    // node id, a valid id from an unregistered address, an oversize datagram.
    s.send_to(&[1, 2, 3], c.data).await.unwrap();
    let junk: Vec<u8> = (0..200u32).map(|i| (i * 37 % 251) as u8).collect();
    s.send_to(&junk, c.data).await.unwrap();
    s.send_to(&absent(CLUSTER + 1, 1, 0), c.data).await.unwrap();
    let mut bad_crc = absent(CLUSTER, 1, 0);
    *bad_crc.last_mut().unwrap() ^= 0xff;
    s.send_to(&bad_crc, c.data).await.unwrap();
    s.send_to(&absent(CLUSTER, 50, 0), c.data).await.unwrap();
    let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    stranger
        .send_to(&absent(CLUSTER, 2, 0), c.data)
        .await
        .unwrap();
    s.send_to(&vec![0u8; 5000], c.data).await.unwrap();
    // A device may not open a round.
    let fake_beacon = encode(
        CLUSTER,
        1,
        0,
        Body::Beacon(Beacon {
            phase: Phase::Train,
            sample_index: 0,
            epoch: 0,
            config_hash: 0,
        }),
    );
    s.send_to(&fake_beacon, c.data).await.unwrap();
    // Bad control commands get an error reply, not a crash.
    assert!(c.ctl("node-down 99").await.starts_with("error"));
    assert!(c.ctl("frobnicate").await.starts_with("error"));
    assert!(c.ctl("\u{0}\u{1}garbage").await.starts_with("error"));
    // A command longer than the old 4 KiB buffer is read whole, not truncated.
    let long = format!("node-up{}7", " ".repeat(10_000));
    let reply = c.ctl(&long).await;
    assert!(reply.starts_with("ok"), "{reply}");

    let mut model = config(5).build().unwrap();
    for r in 0..3 {
        assert_eq!(c.round(r).await, expected(&mut model, r));
    }
    // A late packet for a closed round is stale.
    s.send_to(&absent(CLUSTER, 1, 1), c.data).await.unwrap();
    // (The next round's packets from the same socket arrive after it.)
    assert_eq!(c.round(3).await, expected(&mut model, 3));
    let status: serde_json::Value = serde_json::from_str(&c.ctl("status").await).unwrap();
    let d = &status["drops"];
    assert_eq!(d["bad_crc"], 1, "{d}");
    assert_eq!(d["foreign_cluster"], 1, "{d}");
    assert_eq!(d["too_short"], 1, "{d}");
    assert_eq!(d["too_large"], 1, "{d}");
    assert_eq!(d["unknown_node"], 2, "{d}");
    assert_eq!(d["rejected"], 1, "{d}");
    assert_eq!(d["stale_round"], 1, "{d}");
    let counters = c.stop().await;
    assert_eq!(counters.wire.get(wire::DropReason::BadCrc), 1);
    // The junk datagram fails some decode check.
    let decode_fail = counters.wire.total()
        - counters.wire.get(wire::DropReason::BadCrc)
        - counters.wire.get(wire::DropReason::ForeignCluster)
        - counters.wire.get(wire::DropReason::TooShort)
        - counters.wire.get(wire::DropReason::TooLarge)
        - counters.wire.get(wire::DropReason::StaleRound);
    assert_eq!(decode_fail, 1, "{counters:?}");
}

#[tokio::test]
async fn pacing_does_not_change_results() {
    let dir = tempfile::tempdir().unwrap();
    let mut traces = Vec::new();
    for (i, scale) in [0.0, 0.02].into_iter().enumerate() {
        let path = dir.path().join(format!("{i}.jsonl"));
        let c = Cluster::start_with(
            9,
            RelayOptions {
                time_scale: scale,
                trace: Some(path.clone()),
                ..RelayOptions::default()
            },
        )
        .await;
        for r in 0..5 {
            c.round(r).await;
        }
        c.stop().await;
        traces.push(std::fs::read(path).unwrap());
    }
    assert_eq!(traces[0], traces[1]);
}

#[tokio::test]
async fn a_silent_node_is_waited_for_until_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.jsonl");
    let mut c = Cluster::start_with(
        4,
        RelayOptions {
            round_timeout: Duration::from_millis(200),
            trace: Some(trace.clone()),
            ..RelayOptions::default()
        },
    )
    .await;
    // Node 20 registered, then died: round 0 closes by timeout, with
    // everyone else's messages.
    c.kill(20);
    let t = std::time::Instant::now();
    let got = c.round(0).await;
    assert!(t.elapsed() >= Duration::from_millis(150));
    assert!(got[20].is_empty());
    // Marking it down stops the relay waiting for it.
    assert!(c.ctl("node-down 20").await.starts_with("ok"));
    let t = std::time::Instant::now();
    c.round(1).await;
    assert!(t.elapsed() < Duration::from_millis(150));
    let counters = c.stop().await;
    assert_eq!(counters.timeouts, 1);
    let text = std::fs::read_to_string(&trace).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["timed_out"], true);
    assert_eq!(first["messages"].as_array().unwrap().len(), NODES - 1);
}

#[tokio::test]
async fn a_live_fault_sent_during_round_r_applies_from_r_plus_1() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.jsonl");
    let c = Cluster::start(21, Some(&trace)).await;
    c.round(0).await;
    // Open round 1 with the host's beacon only, then send the fault.
    c.send_from(0, &beacon(1)).await;
    c.wait_open(1).await;
    let reply = c.ctl("node-down 5").await;
    assert!(reply.starts_with("ok"), "{reply}");
    assert!(reply.contains("after round 1"), "{reply}");
    // Finish round 1: every device's message, every node's marker; collect.
    let mut msgs = standard(1);
    msgs[0].clear();
    c.send(1, &msgs, |_| true).await;
    c.collect(1).await;
    // Round 2 runs without node 5's submission mattering.
    c.round(2).await;
    c.stop().await;
    let rounds = trace_rounds(&trace);
    assert_eq!(rounds[1]["round"], 1);
    assert_eq!(rounds[1]["faults_applied"], serde_json::json!([]));
    assert_eq!(rounds[1]["faults"]["nodes_down"], serde_json::json!([]));
    assert!(
        rounds[1]["radio"][5][0].as_u64().unwrap() > 0,
        "node 5 up in round 1"
    );
    assert_eq!(rounds[2]["round"], 2);
    assert_eq!(rounds[2]["faults"]["nodes_down"], serde_json::json!([5]));
    assert_eq!(rounds[2]["faults_applied"].as_array().unwrap().len(), 1);
    assert_eq!(rounds[2]["radio"][5][0], 0, "node 5 down in round 2");
}
