//! The relay's round contract end to end over UDP on loopback (host + 20
//! fake devices on testbed20): exact bytes, live faults, interference,
//! killed and late nodes, pacing, oversize envelopes.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rocknet_core::classifier::PartialLogits;
use rocknet_core::wire::{
    self, Body, Fragmenter, Kind, LogitsBody, MAX_FRAME_802154, Reassembler, Sample, SampleValues,
};
use rocknet_linkmodel::config::LinkModelConfig;
use rocknet_linkmodel::fault::Fault;
use rocknet_linkmodel::relay::{MAX_DATAGRAM_LEN, RelayOptions};

fn sample_int8(node: usize, r: u32) -> Vec<u8> {
    let values: Vec<i8> = (0..131)
        .map(|k| ((k * 7 + node * 13 + r as usize) % 256) as u8 as i8)
        .collect();
    encode(
        CLUSTER,
        node as u16,
        r,
        Body::Sample(Sample {
            sample_index: r,
            label: node as u16,
            values: SampleValues::int8(&values),
        }),
    )
}

fn sample_f32(node: usize, r: u32, n: usize) -> Vec<u8> {
    let values: Vec<f32> = (0..n).map(|k| k as f32 * 0.25 - node as f32).collect();
    encode(
        CLUSTER,
        node as u16,
        r,
        Body::Sample(Sample {
            sample_index: r,
            label: 1,
            values: SampleValues::f32(&values),
        }),
    )
}

fn logits(node: usize, r: u32) -> Vec<u8> {
    let v: Vec<i32> = (0..14)
        .map(|c| (node as i32 * 1_000_003 + c * 7919 + r as i32) * if c % 2 == 0 { 1 } else { -1 })
        .collect();
    encode(
        CLUSTER,
        node as u16,
        r,
        Body::PartialLogits(LogitsBody {
            sample_index: r,
            logits: PartialLogits::from_wire(&v),
        }),
    )
}

/// A 265-byte f32 sample cut for IEEE 802.15.4 frames: 3 fragments.
fn fragments(node: usize, r: u32) -> Vec<Vec<u8>> {
    let whole = sample_f32(node, r, 60);
    let f = Fragmenter::new(&whole, r as u16, MAX_FRAME_802154).unwrap();
    assert_eq!(f.count(), 3);
    f.iter().map(|p| p.to_vec().unwrap()).collect()
}

/// Every kind a node sends: the host's beacon; devices by `i % 4` a sample
/// then partial logits, partial logits, an Absent, or fragments.
fn mixed(r: u32) -> Vec<Vec<Vec<u8>>> {
    (0..NODES)
        .map(|i| match (i, i % 4) {
            (0, _) => vec![beacon(r)],
            (_, 0) => vec![sample_int8(i, r), logits(i, r)],
            (_, 1) => vec![logits(i, r)],
            (_, 2) => vec![absent(i, r)],
            _ => fragments(i, r),
        })
        .collect()
}

/// `msgs` without anything from `node`.
fn without(mut msgs: Vec<Vec<Vec<u8>>>, node: usize) -> Vec<Vec<Vec<u8>>> {
    msgs[node].clear();
    msgs
}

#[tokio::test]
async fn delivered_inner_bytes_are_exactly_what_each_originator_sent() {
    let c = Cluster::start(17, None).await;
    let mut model = config(17).build().unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    let mut reassembled = 0;
    for r in 0..4 {
        let msgs = mixed(r);
        let got = c.round_with(r, &msgs).await;
        // Same envelopes, order, slots, hops and inner bytes as the model's
        // decision over the originators' own bytes.
        assert_eq!(got, expected_with(&mut model, r, &msgs), "round {r}");
        for (rx, envelopes) in got.iter().enumerate() {
            let mut re = Reassembler::<512, 8>::new();
            re.start_round(r);
            for g in envelopes {
                assert_ne!(g.origin, rx);
                assert!(
                    msgs[g.origin].contains(&g.inner),
                    "not what {} sent",
                    g.origin
                );
                let p = wire::decode(&g.inner).unwrap();
                kinds.insert(p.kind() as u8);
                if p.kind() == Kind::Fragment
                    && let Some(whole) = re.push(&p).unwrap()
                {
                    assert_eq!(whole, sample_f32(g.origin, r, 60), "reassembled");
                    reassembled += 1;
                }
            }
        }
    }
    let all = [
        Kind::Beacon,
        Kind::Sample,
        Kind::PartialLogits,
        Kind::Absent,
        Kind::Fragment,
    ];
    assert_eq!(kinds, all.iter().map(|&k| k as u8).collect());
    assert!(reassembled > 0, "some fragmented sample got through whole");
    let counters = c.stop().await;
    assert_eq!(counters.dropped(), 0, "{counters:?}");
}

/// A live command, the fault it means, the round from which it is in force,
/// and whether it is sent while the round before is open (else between
/// rounds).
struct Step {
    at: u32,
    cmd: &'static str,
    fault: Fault,
    during_previous: bool,
}

#[tokio::test]
async fn live_faults_take_effect_from_the_next_round_as_in_an_independent_model() {
    let steps = [
        Step {
            at: 8,
            cmd: "link-down 3 7",
            fault: Fault::LinkDown {
                from: 3,
                to: 7,
                both: true,
            },
            during_previous: false,
        },
        Step {
            at: 16,
            cmd: "link-up 3 7",
            fault: Fault::LinkUp {
                from: 3,
                to: 7,
                both: true,
            },
            during_previous: true,
        },
        Step {
            at: 22,
            cmd: "node-down 5",
            fault: Fault::NodeDown { node: 5 },
            during_previous: false,
        },
        Step {
            at: 28,
            cmd: "node-up 5",
            fault: Fault::NodeUp { node: 5 },
            during_previous: true,
        },
        Step {
            at: 34,
            cmd: "partition 0-10 11-20",
            fault: Fault::Partition {
                groups: vec![(0..=10).collect(), (11..=20).collect()],
            },
            during_previous: true,
        },
        Step {
            at: 40,
            cmd: "heal",
            fault: Fault::Heal {},
            during_previous: false,
        },
        Step {
            at: 46,
            cmd: "prr 3 7 0.1",
            fault: Fault::SetPrr {
                from: 3,
                to: 7,
                prr: 0.1,
                both: false,
            },
            during_previous: true,
        },
    ];
    let end = 52;
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.jsonl");
    let c = Cluster::start(23, Some(&trace)).await;
    let mut model = config(23).build().unwrap();
    // The model as it would be without the latest fault, to show each one
    // mattered.
    let mut shadow: Option<rocknet_linkmodel::config::LinkModel> = None;
    let mut mattered = vec![false; steps.len()];
    for r in 0..end {
        let between = steps.iter().find(|s| s.at == r && !s.during_previous);
        if let Some(s) = between {
            let reply = c.ctl(s.cmd).await;
            assert!(reply.starts_with("ok"), "{reply}");
            assert!(reply.contains(&format!("after round {}", r - 1)), "{reply}");
        }
        let during = steps.iter().find(|s| s.at == r + 1 && s.during_previous);
        let mut msgs = standard(r);
        if let Some(s) = during {
            // Round r is open (only the beacon is in) when the command comes.
            c.send_from(0, &beacon(r)).await;
            c.wait_open(r).await;
            let reply = c.ctl(s.cmd).await;
            assert!(reply.starts_with("ok"), "{reply}");
            assert!(reply.contains(&format!("after round {r}")), "{reply}");
            msgs[0].clear();
        }
        if let Some(i) = steps.iter().position(|s| s.at == r) {
            shadow = Some(model.clone());
            model.apply_fault(&steps[i].fault).unwrap();
        }
        c.send(r, &msgs, |_| true).await;
        let got: Vec<Seen> = c.collect(r).await.iter().map(|g| seen(g)).collect();
        let want = expected(&mut model, r);
        assert_eq!(got, want, "round {r}");
        if let (Some(sh), Some(i)) = (&mut shadow, steps.iter().rposition(|s| s.at <= r)) {
            mattered[i] |= expected(sh, r) != want;
        }
    }
    for (s, m) in steps.iter().zip(&mattered) {
        assert!(m, "`{}` changed nothing", s.cmd);
    }
    let status = c.status().await;
    assert_eq!(status["faults"]["prr"], serde_json::json!([[3, 7, 0.1]]));
    assert_eq!(status["faults"]["nodes_down"], serde_json::json!([]));
    c.stop().await;
    let rounds = trace_rounds(&trace);
    assert_eq!(rounds.len(), end as usize);
    for s in &steps {
        let at = s.at as usize;
        assert_eq!(
            rounds[at]["faults_applied"],
            serde_json::json!([serde_json::to_value(&s.fault).unwrap()]),
            "`{}` applied in round {at}",
            s.cmd
        );
        assert_eq!(rounds[at - 1]["faults_applied"], serde_json::json!([]));
    }
    assert_eq!(rounds[30]["faults"]["nodes_down"], serde_json::json!([]));
    assert_eq!(rounds[25]["faults"]["nodes_down"], serde_json::json!([5]));
    assert!(rounds[37]["faults"]["partition"].is_array());
    assert!(rounds[43]["faults"]["partition"].is_null());
}

#[tokio::test]
async fn an_interference_window_lowers_delivery_in_its_rounds() {
    // 95 % extra loss: Mixer's complete nodes keep serving neighbours they
    // know to lack fragments, which rides out 90 % (≈ 0.997 delivered on
    // testbed20) too well for a clear drop.
    let cfg = config_with(
        7,
        "[[interference]]\nfrom_round = 10\nto_round = 19\nextra_loss = 0.95\n",
    );
    let c = Cluster::start_config(&cfg, RelayOptions::default(), NODES).await;
    let mut model = cfg.build().unwrap();
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    for r in 0..30 {
        let got = c.round(r).await;
        assert_eq!(got, expected(&mut model, r), "round {r}");
        // What the nodes actually received, over every (message, receiver).
        let ratio =
            got.iter().map(|s| s.len()).sum::<usize>() as f64 / (NODES * (NODES - 1)) as f64;
        if (10..=19).contains(&r) {
            inside.push(ratio);
        } else {
            outside.push(ratio);
        }
    }
    c.stop().await;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let max_in = inside.iter().cloned().fold(0.0, f64::max);
    let min_out = outside.iter().cloned().fold(1.0, f64::min);
    assert!(
        mean(&inside) + 0.02 < mean(&outside),
        "inside {inside:?} outside {outside:?}"
    );
    assert!(max_in < min_out, "inside {inside:?} outside {outside:?}");
}

/// `got` equals `want` at every node but `skip`.
fn assert_same_but(got: &[Vec<Got>], want: &[Vec<Got>], skip: usize, r: u32) {
    for i in (0..NODES).filter(|&i| i != skip) {
        assert_eq!(got[i], want[i], "round {r}, node {i}");
    }
}

/// Polls `status` until the open round `r` waits for `nodes` only.
async fn wait_waiting_for(c: &Cluster, r: u32, nodes: &[usize]) {
    let want = serde_json::json!(nodes);
    for _ in 0..400 {
        let st = c.status().await;
        if st["open_round"] == r && st["waiting_for"] == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("round {r} never came to wait for {nodes:?} only");
}

#[tokio::test]
async fn a_killed_node_costs_one_timeout_and_is_waited_for_again_once_it_registers() {
    let timeout = Duration::from_millis(1500);
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.jsonl");
    let mut c = Cluster::start_with(
        31,
        RelayOptions {
            round_timeout: timeout,
            trace: Some(trace.clone()),
            ..RelayOptions::default()
        },
    )
    .await;
    let mut model = config(31).build().unwrap();
    assert_eq!(c.round(0).await, expected(&mut model, 0));
    // Node 20 dies: round 1 waits for it until the timeout.
    c.kill(20);
    let t = Instant::now();
    let got = c.round_with(1, &without(standard(1), 20)).await;
    assert!(t.elapsed() >= timeout.mul_f64(0.9), "{:?}", t.elapsed());
    let want = expected_with(&mut model, 1, &without(standard(1), 20));
    assert_same_but(&got, &want, 20, 1);
    let st = c.status().await;
    assert_eq!(st["silent"], serde_json::json!([20]));
    assert_eq!(st["registered"].as_array().unwrap().len(), NODES);
    // Later rounds do not wait for it: each takes far less than the timeout.
    let t = Instant::now();
    for r in 2..=5 {
        let tr = Instant::now();
        let msgs = without(standard(r), 20);
        let got = c.round_with(r, &msgs).await;
        assert!(tr.elapsed() < timeout / 3, "round {r}: {:?}", tr.elapsed());
        assert_same_but(&got, &expected_with(&mut model, r, &msgs), 20, r);
    }
    assert!(t.elapsed() < timeout, "4 rounds: {:?}", t.elapsed());
    // It restarts on a new socket between rounds: the ack names round 6.
    assert_eq!(c.register(20).await, 6);
    let st = c.status().await;
    assert_eq!(st["silent"], serde_json::json!([]));
    assert_eq!(st["joining"], serde_json::json!([[20, 6]]));
    // Round 6 waits for it again: with everybody else done it stays open…
    c.send(6, &without(standard(6), 20), |i| i != 20).await;
    wait_waiting_for(&c, 6, &[20]).await;
    tokio::time::sleep(timeout / 5).await;
    assert_eq!(c.status().await["open_round"], 6);
    // …until its submission and marker arrive.
    c.send_from(20, &absent(20, 6)).await;
    c.send_from(20, &hello(20, 6)).await;
    let got = c.collect(6).await;
    assert_eq!(got, expected_with(&mut model, 6, &standard(6)));
    let counters = c.stop().await;
    assert_eq!((counters.timeouts, counters.silenced), (1, 1));
    let rounds = trace_rounds(&trace);
    assert_eq!(rounds.len(), 7);
    assert_eq!(rounds[1]["timed_out"], true);
    assert_eq!(rounds[1]["missing"], serde_json::json!([20]));
    for r in [0, 2, 3, 4, 5, 6] {
        assert_eq!(rounds[r]["timed_out"], false, "round {r}");
        assert_eq!(rounds[r]["missing"], serde_json::json!([]), "round {r}");
    }
}

#[tokio::test]
async fn a_node_registering_while_a_round_is_open_is_waited_for_from_the_next() {
    let timeout = Duration::from_secs(2);
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.jsonl");
    let opts = RelayOptions {
        round_timeout: timeout,
        trace: Some(trace.clone()),
        ..RelayOptions::default()
    };
    // Node 20 is not registered yet.
    let mut c = Cluster::start_config(&config(41), opts, NODES - 1).await;
    let mut model = config(41).build().unwrap();
    let msgs = without(standard(0), 20);
    let got = c.round_with(0, &msgs).await;
    assert_same_but(&got, &expected_with(&mut model, 0, &msgs), 20, 0);
    // Round 1 opens; node 20 registers while it is open: first round 2.
    c.send_from(0, &beacon(1)).await;
    c.wait_open(1).await;
    assert_eq!(c.register(20).await, 2);
    let st = c.status().await;
    assert_eq!(st["joining"], serde_json::json!([[20, 2]]));
    assert!(!st["waiting_for"].as_array().unwrap().contains(&20.into()));
    // The others finish round 1: it closes without waiting for node 20,
    // which, registered by then, still gets round 1's deliveries.
    let t = Instant::now();
    let mut msgs = without(standard(1), 20);
    c.send(1, &without(msgs.clone(), 0), |i| i != 20).await;
    let got = c.collect(1).await;
    assert!(t.elapsed() < timeout / 2, "{:?}", t.elapsed());
    msgs[0] = vec![beacon(1)];
    assert_eq!(got, expected_with(&mut model, 1, &msgs));
    // Round 2 waits for it.
    c.send(2, &without(standard(2), 20), |i| i != 20).await;
    wait_waiting_for(&c, 2, &[20]).await;
    c.send_from(20, &absent(20, 2)).await;
    c.send_from(20, &hello(20, 2)).await;
    assert_eq!(
        c.collect(2).await,
        expected_with(&mut model, 2, &standard(2))
    );
    let counters = c.stop().await;
    assert_eq!(counters.timeouts, 0);
    assert!(
        counters.undeliverable > 0,
        "round 0 had an unregistered node"
    );
    let rounds = trace_rounds(&trace);
    assert_eq!(rounds.len(), 3);
    for (r, line) in rounds.iter().enumerate() {
        assert_eq!(line["timed_out"], false, "round {r}");
        assert_eq!(line["missing"], serde_json::json!([]), "round {r}");
    }
}

#[tokio::test]
async fn pacing_neither_blocks_the_relay_nor_eats_the_next_rounds_timeout() {
    // testbed20's round lasts 150 × 681 µs: × 10 ≈ 1.02 s of pacing, longer
    // than the round timeout.
    let timeout = Duration::from_millis(700);
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.jsonl");
    let opts = RelayOptions {
        round_timeout: timeout,
        time_scale: 10.0,
        trace: Some(trace.clone()),
        ..RelayOptions::default()
    };
    let mut c = Cluster::start_config(&config(51), opts, NODES - 1).await;
    let mut model = config(51).build().unwrap();
    // Rounds 0 and 1 are submitted at once, except node 5's round-1 marker,
    // which it sends once it has round 0's end marker.
    let msgs0 = without(standard(0), 20);
    c.send(0, &msgs0, |_| true).await;
    c.send(1, &without(standard(1), 20), |i| i != 5).await;
    // While round 0's deliveries wait, status answers at once…
    let mut paced_since = None;
    for _ in 0..200 {
        let t = Instant::now();
        let st = c.status().await;
        assert!(
            t.elapsed() < Duration::from_millis(300),
            "{:?}",
            t.elapsed()
        );
        if st["delivering"] == 0 {
            assert!(st["open_round"].is_null(), "round 1 held back: {st}");
            paced_since = Some(Instant::now());
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let paced_since = paced_since.expect("round 0 closed");
    // …and so does a registration, naming round 1.
    let t = Instant::now();
    assert_eq!(c.register(20).await, 1);
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(c.status().await["delivering"], 0, "still pacing");
    c.send_from(20, &absent(20, 1)).await;
    c.send_from(20, &hello(20, 1)).await;
    // Round 0's deliveries arrive after the pacing (node 20 registered too
    // late for them).
    let want0 = expected_with(&mut model, 0, &msgs0);
    for (i, want) in want0.iter().enumerate().take(NODES - 1) {
        assert_eq!(&collect_one(c.node(i), 0).await, want, "node {i}");
    }
    assert!(
        paced_since.elapsed() >= Duration::from_millis(500),
        "{:?}",
        paced_since.elapsed()
    );
    // Round 1 opened only now: its timeout has not run, although the
    // pacing outlasted it.
    c.send_from(5, &hello(5, 1)).await;
    let got = c.collect(1).await;
    assert_eq!(got, expected_with(&mut model, 1, &standard(1)));
    let counters = c.stop().await;
    assert_eq!(counters.timeouts, 0);
    let rounds = trace_rounds(&trace);
    assert_eq!(rounds[1]["timed_out"], false);
    assert_eq!(rounds[1]["messages"].as_array().unwrap().len(), NODES);
}

#[tokio::test]
async fn an_envelope_too_large_for_a_datagram_is_counted_and_the_rest_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.jsonl");
    let opts = RelayOptions {
        max_packet_len: MAX_DATAGRAM_LEN,
        trace: Some(trace.clone()),
        ..RelayOptions::default()
    };
    // Enough slots for a 656-fragment message to get through the flood.
    let cfg: LinkModelConfig =
        toml::from_str("seed = 61\nslots_per_round = 20000\n[topology]\nkind = \"testbed20\"\n")
            .unwrap();
    let c = Cluster::start_config(&cfg, opts, NODES).await;
    let mut model = cfg.build().unwrap();
    // A 65,505-byte sample: it fits a datagram, its envelope (+21) does not.
    let big = sample_f32(1, 0, 16_370);
    assert_eq!(big.len(), 65_505);
    let mut msgs = standard(0);
    msgs[1].push(big.clone());
    let got = c.round_with(0, &msgs).await;
    let mut want = expected_with(&mut model, 0, &msgs);
    let mut lost = 0;
    for w in &mut want {
        let before = w.len();
        w.retain(|g| g.inner != big);
        lost += before - w.len();
    }
    assert!(lost > 0);
    assert_eq!(got, want);
    let status = c.status().await;
    assert_eq!(status["drops"]["unencodable"], lost);
    // The relay goes on.
    assert_eq!(c.round(1).await, expected(&mut model, 1));
    c.stop().await;
    let text = std::fs::read_to_string(&trace).unwrap();
    let drops: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(drops["drops"]["unencodable"], lost);
    let rounds = trace_rounds(&trace);
    let m = &rounds[0]["messages"][2];
    assert_eq!(
        (m["origin"].clone(), m["len"].clone()),
        (1.into(), 65_505.into())
    );
    assert_eq!(
        m["to"].as_array().unwrap().len(),
        lost,
        "the model's decision"
    );
}
