//! Mixer must not strand a node: on lossless topologies where every node
//! originates a message, every live node ends the round holding every
//! message. A complete node that switched off while a neighbour still
//! lacked fragments only it could supply used to starve that neighbour
//! (a 6-node PRR-1 line lost ≈ 15 % of its (message, receiver) pairs).

use rocknet_linkmodel::flood::{FloodMode, FloodParams, FloodRound, Message, RoundResult};
use rocknet_linkmodel::loss::{LinkLoss, LossProcess};
use rocknet_linkmodel::phy::Phy;
use rocknet_linkmodel::topology::{LinkTable, Topology, USABLE_PRR};
use rocknet_linkmodel::units::Bytes;

const PAYLOAD: usize = 100;

fn params(slots: u32, n_tx: u32, seed: u64) -> FloodParams {
    FloodParams {
        mode: FloodMode::Mixer,
        slots,
        n_tx,
        slot_length: Phy::BLE_2M.slot_length(PAYLOAD as u32),
        payload: Bytes(PAYLOAD),
        seed,
    }
}

fn run(topo: &Topology, p: FloodParams, round: u64, msgs: &[Message]) -> RoundResult {
    let down = vec![false; topo.nodes()];
    let mut loss = LinkLoss::new(LossProcess::Bernoulli, vec![], topo.nodes());
    FloodRound::new(topo.links(), &down, &mut loss, p, round)
        .run(msgs)
        .unwrap()
}

/// Every (message, node) pair is delivered, and no fragment reached a node
/// before the slot its flood could have carried it there (one hop per
/// slot at most).
fn assert_all_delivered(what: &str, topo: &Topology, r: &RoundResult) {
    for (m, msg) in r.messages.iter().enumerate() {
        let hops = topo.hop_distances(msg.origin);
        for (node, h) in hops.into_iter().enumerate() {
            let d = r
                .delivery(m, node)
                .unwrap_or_else(|| panic!("{what}: message {m} never reached node {node}"));
            let h = h.expect("connected");
            assert!(d.hop >= h, "{what}: {m}→{node} {d:?}, distance {h}");
            if node != msg.origin {
                assert!(d.slot + 1 >= h, "{what}: {m}→{node} {d:?}, distance {h}");
            }
        }
    }
    assert_eq!(r.delivery_ratio(), 1.0, "{what}");
}

/// PRR-1 lines of 2..=8 hops, every node originating one message of 1, 2
/// or 3 fragments, N_tx 1..=3, several rounds (the coins differ per round):
/// everything arrives. The round is 300 slots so that only stranding can
/// fail this, not throughput: the largest generation here (9 nodes × 3
/// fragments over 8 hops) needed up to 160 slots with N_tx ≥ 2 and 194 with
/// N_tx = 1 over 1,000 rounds each (Glossy would need 27 floods of 8 + 2·N_tx
/// − 1 slots); with N_tx ≥ 2 it fits RockNet's 150 in all but ≤ 3 of 1,000.
#[test]
fn mixer_prr1_lines_deliver_every_message_to_every_node() {
    for hops in 2..=8usize {
        let topo = Topology::line(hops, 1.0);
        for len in [1usize, 100, 156, 250] {
            let msgs: Vec<Message> = (0..=hops).map(|o| Message::new(o, len)).collect();
            for n_tx in 1..=3 {
                for round in 0..20 {
                    let r = run(&topo, params(300, n_tx, 5), round, &msgs);
                    let what = format!("{hops} hops, {len} B, N_tx {n_tx}, round {round}");
                    assert_all_delivered(&what, &topo, &r);
                }
            }
        }
    }
}

/// Mixed sizes on one line (RockNet's round: one two-fragment sample and
/// single-frame partial logits), and a line where only the two ends speak.
#[test]
fn mixer_prr1_line_mixed_sizes_and_end_origins() {
    let topo = Topology::line(5, 1.0);
    let mixed: Vec<Message> = (0..=5)
        .map(|o| Message::new(o, if o == 2 { 156 } else { 58 }))
        .collect();
    let ends = [Message::new(0, 300), Message::new(5, 300)];
    for round in 0..50 {
        let r = run(&topo, params(150, 3, 9), round, &mixed);
        assert_all_delivered(&format!("mixed sizes, round {round}"), &topo, &r);
        let r = run(&topo, params(150, 3, 9), round, &ends);
        assert_all_delivered(&format!("ends, round {round}"), &topo, &r);
    }
}

/// testbed20's usable links (PRR > USABLE_PRR) at PRR 1, the rest removed:
/// a lossless multi-hop mesh.
fn lossless_testbed20() -> Topology {
    let tb = Topology::testbed20();
    let n = tb.nodes();
    let mut t = LinkTable::new(n);
    for a in 0..n {
        for b in 0..n {
            if a != b && tb.links().prr(a, b) > USABLE_PRR {
                t.set(a, b, 1.0);
            }
        }
    }
    Topology::from_links(t)
}

/// Lossless testbed20; every node originates a message.
#[test]
fn mixer_lossless_testbed20_delivers_every_message_to_every_node() {
    let topo = lossless_testbed20();
    let n = topo.nodes();
    assert!(topo.diameter().unwrap() >= 3);
    for len in [58usize, 156] {
        let msgs: Vec<Message> = (0..n).map(|o| Message::new(o, len)).collect();
        for round in 0..20 {
            let r = run(&topo, params(150, 3, 13), round, &msgs);
            assert_all_delivered(
                &format!("testbed20 PRR 1, {len} B, round {round}"),
                &topo,
                &r,
            );
        }
    }
}

/// A down node takes its message and its links with it; every other live
/// node still gets every other message (testbed20 at PRR 1 stays connected
/// without any one device), and the down node's radio stays off.
#[test]
fn mixer_lossless_testbed20_with_a_node_down_delivers_the_rest() {
    let topo = lossless_testbed20();
    let n = topo.nodes();
    let msgs: Vec<Message> = (0..n).map(|o| Message::new(o, 58)).collect();
    for dead in [3usize, 11, 20] {
        let mut down = vec![false; n];
        down[dead] = true;
        for round in 0..10 {
            let mut loss = LinkLoss::new(LossProcess::Bernoulli, vec![], n);
            let r = FloodRound::new(topo.links(), &down, &mut loss, params(150, 3, 17), round)
                .run(&msgs)
                .unwrap();
            for m in (0..n).filter(|&m| m != dead) {
                for node in (0..n).filter(|&i| i != dead) {
                    assert!(
                        r.delivery(m, node).is_some(),
                        "node {dead} down, round {round}: {m} → {node}"
                    );
                }
                assert_eq!(r.delivery(m, dead), None);
            }
            assert_eq!(r.radio[dead].on_slots(), 0);
        }
    }
}

/// More than 64 nodes (node sets span several 64-bit words): on a PRR-1
/// line of 129 hops a message from either end reaches node i exactly one
/// hop per slot, in both modes, and messages from the ends and the middle
/// (node 64, the first bit of the second word) all arrive everywhere.
#[test]
fn lines_longer_than_one_word_flood_one_hop_per_slot() {
    let hops = 129;
    let topo = Topology::line(hops, 1.0);
    for mode in [FloodMode::Mixer, FloodMode::Glossy] {
        let p = FloodParams {
            mode,
            ..params(600, 3, 21)
        };
        for origin in [0, hops] {
            let r = run(&topo, p, 0, &[Message::new(origin, 100)]);
            for i in 0..=hops {
                let h = i.abs_diff(origin) as u32;
                let d = r.delivery(0, i).unwrap();
                assert_eq!(
                    (d.hop, d.slot),
                    (h, h.saturating_sub(1)),
                    "{mode:?} {origin}→{i}"
                );
            }
        }
    }
    let msgs = [0, 63, 64, hops].map(|o| Message::new(o, 100));
    for round in 0..5 {
        let r = run(&topo, params(600, 3, 21), round, &msgs);
        assert_all_delivered(&format!("129 hops, round {round}"), &topo, &r);
    }
}

/// More than 64 fragments (fragment sets span several words): four
/// 20-fragment messages on a 3-hop line all arrive everywhere.
#[test]
fn generations_larger_than_one_word_deliver() {
    let topo = Topology::line(3, 1.0);
    let msgs: Vec<Message> = (0..=3).map(|o| Message::new(o, 20 * PAYLOAD)).collect();
    for round in 0..5 {
        let r = run(&topo, params(600, 3, 23), round, &msgs);
        assert_eq!(r.fragments, vec![20; 4]);
        assert_all_delivered(&format!("80 fragments, round {round}"), &topo, &r);
    }
}
