//! The flood model against closed forms (DESIGN.md §3).

use rocknet_linkmodel::config::LinkModel;
use rocknet_linkmodel::fault::{Fault, FaultSet};
use rocknet_linkmodel::flood::{Delivery, FloodMode, FloodParams, FloodRound, RoundResult};
use rocknet_linkmodel::loss::{LinkLoss, LossProcess};
use rocknet_linkmodel::phy::Phy;
use rocknet_linkmodel::topology::{LinkTable, NodeId, Topology};

fn params(mode: FloodMode, slots: u32, n_tx: u32, seed: u64) -> FloodParams {
    FloodParams {
        mode,
        slots,
        n_tx,
        slot_length: Phy::BLE_2M.slot_length(100),
        seed,
    }
}

fn run(topo: &Topology, p: FloodParams, round: u64, origins: &[NodeId]) -> RoundResult {
    let down = vec![false; topo.nodes()];
    let mut loss = LinkLoss::new(LossProcess::Bernoulli, vec![], topo.nodes());
    FloodRound::new(topo.links(), &down, &mut loss, p, round)
        .run(origins)
        .unwrap()
}

/// Line of k hops, PRR 1, one message from node 0: node 0 transmits in slot
/// 0 and every node relays in the slot after its first reception, so node i
/// receives in slot i − 1 at hop i — in both modes.
#[test]
fn line_prr1_node_i_receives_in_slot_i_minus_1_at_hop_i() {
    let k = 10;
    let topo = Topology::line(k, 1.0);
    for mode in [FloodMode::Glossy, FloodMode::Mixer] {
        let r = run(&topo, params(mode, 100, 3, 1), 0, &[0]);
        assert_eq!(r.delivery(0, 0), Some(Delivery { slot: 0, hop: 0 }));
        for i in 1..=k {
            assert_eq!(
                r.delivery(0, i),
                Some(Delivery {
                    slot: i as u32 - 1,
                    hop: i as u32
                }),
                "{mode:?} node {i}"
            );
        }
    }
}

/// Glossy floods run back to back: on a PRR-1 line of k hops with budget
/// N_tx the last node receives in slot s₀+k−1 and transmits in s₀+k,
/// s₀+k+2, …, s₀+k+2(N_tx−1); so the next flood starts at s₀ + k + 2·N_tx − 1,
/// and each node transmits exactly N_tx times per flood.
#[test]
fn glossy_floods_are_sequential() {
    let (k, n_tx) = (6usize, 3u32);
    let topo = Topology::line(k, 1.0);
    let r = run(
        &topo,
        params(FloodMode::Glossy, 200, n_tx, 1),
        0,
        &[0, k, 2],
    );
    let len = k as u32 + 2 * n_tx - 1;
    assert_eq!(r.delivery(1, k).unwrap().slot, len);
    assert_eq!(r.delivery(2, 2).unwrap().slot, 2 * len);
    // The flood from node k reaches node 0 k − 1 slots later, at hop k.
    assert_eq!(
        r.delivery(1, 0),
        Some(Delivery {
            slot: len + k as u32 - 1,
            hop: k as u32
        })
    );
    for radio in &r.radio {
        assert_eq!(radio.tx_slots, 3 * n_tx);
    }
    assert_eq!(r.delivery_ratio(), 1.0);
}

/// A single link of PRR p with N_tx tries: P(delivered) = 1 − (1 − p)^N_tx.
#[test]
fn single_link_delivery_is_one_minus_q_to_the_n_tx() {
    let (p, n_tx, trials) = (0.3, 3u32, 20_000u64);
    let mut t = LinkTable::new(2);
    t.set_symmetric(0, 1, p);
    let topo = Topology::from_links(t);
    let expected = 1.0 - (1.0 - p).powi(n_tx as i32);
    let sigma = (expected * (1.0 - expected) / trials as f64).sqrt();
    for mode in [FloodMode::Glossy, FloodMode::Mixer] {
        let got = (0..trials)
            .filter(|&round| {
                run(&topo, params(mode, 64, n_tx, 11), round, &[0])
                    .delivery(0, 1)
                    .is_some()
            })
            .count();
        let rate = got as f64 / trials as f64;
        eprintln!(
            "{mode:?}: single link p={p}, N_tx={n_tx}: measured {rate:.4}, expected {expected:.4} \
             (σ {sigma:.4}, z {:.2})",
            (rate - expected) / sigma
        );
        assert!((rate - expected).abs() < 4.0 * sigma);
    }
}

fn rounds_with_fault(fault: Fault, mode: FloodMode) -> Vec<RoundResult> {
    let topo = Topology::line(6, 0.9);
    let mut m = LinkModel::new(
        topo,
        Phy::BLE_2M,
        params(mode, 150, 3, 5),
        LossProcess::Bernoulli,
        vec![],
        vec![],
    );
    m.apply_fault(&fault).unwrap();
    let origins: Vec<NodeId> = (0..=6).collect();
    (0..50)
        .map(|r| m.run_round(r, &origins).unwrap().result)
        .collect()
}

/// A down node in the middle of a line (or a partition) cuts it: nothing
/// crosses, in either direction; the near side still gets its messages.
#[test]
fn down_node_and_partition_cut_a_line() {
    for mode in [FloodMode::Mixer, FloodMode::Glossy] {
        for r in rounds_with_fault(Fault::NodeDown { node: 3 }, mode) {
            for msg in 0..=6 {
                for node in 0..=6 {
                    let crosses = (msg < 3) != (node < 3);
                    if msg == 3 || node == 3 || crosses {
                        assert_eq!(r.delivery(msg, node), None, "{mode:?} {msg}→{node}");
                    }
                }
            }
            assert_eq!(r.radio[3].on_slots(), 0);
        }
        let part = Fault::Partition {
            groups: vec![vec![0, 1, 2]],
        };
        let results = rounds_with_fault(part, mode);
        let mut near = 0;
        for r in &results {
            for msg in 0..=6 {
                for node in 0..=6 {
                    if (msg < 3) != (node < 3) {
                        assert_eq!(r.delivery(msg, node), None, "{mode:?} {msg}→{node}");
                    } else if r.delivery(msg, node).is_some() {
                        near += 1;
                    }
                }
            }
        }
        // 3² + 4² same-side pairs per round; nearly all delivered at PRR 0.9.
        assert!(near > 50 * 25 * 9 / 10, "{mode:?}: {near}");
    }
}

fn digests(seed: u64, mode: FloodMode) -> Vec<u64> {
    let loss = LossProcess::GilbertElliott {
        p_gb: 0.02,
        p_bg: 0.2,
        loss_good: 0.02,
        loss_bad: 0.7,
    };
    let mut m = LinkModel::new(
        Topology::testbed20(),
        Phy::BLE_2M,
        params(mode, 150, 3, seed),
        loss,
        vec![],
        vec![],
    );
    let origins: Vec<NodeId> = (0..21).collect();
    (0..100)
        .map(|r| m.run_round(r, &origins).unwrap().result.digest())
        .collect()
}

/// Same seed → identical results for 100 rounds; different seed → different.
#[test]
fn same_seed_same_rounds_different_seed_different() {
    for mode in [FloodMode::Mixer, FloodMode::Glossy] {
        let a = digests(42, mode);
        assert_eq!(a, digests(42, mode));
        let b = digests(43, mode);
        assert_ne!(a, b);
        assert!(a.iter().zip(&b).filter(|(x, y)| x != y).count() > 90);
    }
}

/// Mixer on the testbed delivers (nearly) everything in RockNet's 150 slots.
#[test]
fn mixer_testbed20_delivers() {
    let topo = Topology::testbed20();
    let origins: Vec<NodeId> = (0..21).collect();
    let mut ratio = 0.0;
    let mut last = 0;
    for round in 0..50 {
        let r = run(&topo, params(FloodMode::Mixer, 150, 3, 3), round, &origins);
        ratio += r.delivery_ratio() / 50.0;
        last = last.max(r.slots_used);
    }
    eprintln!("testbed20 Mixer: mean delivery ratio {ratio:.4}, max slots used {last}");
    assert!(ratio > 0.95, "{ratio}");
}

/// Faults apply to the effective table exactly as the FaultSet says.
#[test]
fn fault_set_matches_effective_table() {
    let topo = Topology::testbed20();
    let mut f = FaultSet::new(21);
    f.apply(&Fault::NodeDown { node: 4 }).unwrap();
    let t = f.effective_table(topo.links());
    assert!((0..21).all(|i| t.prr(i, 4) == 0.0 && t.prr(4, i) == 0.0));
}
