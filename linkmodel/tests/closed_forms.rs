//! The flood model against closed forms (docs/linkmodel.md#closed-form-checks). Statistical tests
//! are seeded and bound the error by 4.5 binomial standard errors (widened
//! where draws are correlated in time); run with `--nocapture` to see the
//! figures.

use rocknet_linkmodel::config::LinkModel;
use rocknet_linkmodel::fault::{Fault, FaultSet};
use rocknet_linkmodel::flood::{
    Delivery, FloodMode, FloodParams, FloodRound, Message, RoundResult,
};
use rocknet_linkmodel::loss::{LinkLoss, LossProcess};
use rocknet_linkmodel::phy::Phy;
use rocknet_linkmodel::topology::{LinkTable, NodeId, Topology};
use rocknet_linkmodel::units::Bytes;

/// Frame payload of every test round: RockNet's 100 bytes.
const PAYLOAD: usize = 100;

fn params(mode: FloodMode, slots: u32, n_tx: u32, seed: u64) -> FloodParams {
    FloodParams {
        mode,
        slots,
        n_tx,
        slot_length: Phy::BLE_2M.slot_length(PAYLOAD as u32),
        payload: Bytes(PAYLOAD),
        seed,
    }
}

/// One single-frame message from each of `origins`.
fn frames(origins: &[NodeId]) -> Vec<Message> {
    origins.iter().map(|&o| Message::new(o, PAYLOAD)).collect()
}

fn run_msgs(topo: &Topology, p: FloodParams, round: u64, msgs: &[Message]) -> RoundResult {
    let down = vec![false; topo.nodes()];
    let mut loss = LinkLoss::new(LossProcess::Bernoulli, vec![], topo.nodes());
    FloodRound::new(topo.links(), &down, &mut loss, p, round)
        .run(msgs)
        .unwrap()
}

fn run(topo: &Topology, p: FloodParams, round: u64, origins: &[NodeId]) -> RoundResult {
    run_msgs(topo, p, round, &frames(origins))
}

/// `assert!(|measured − expected| < 4.5σ)`, σ the binomial standard error
/// of `trials` independent trials, times `inflation` (≥ 1) for correlated
/// ones; prints the figures.
fn check_rate(what: &str, hits: u64, trials: u64, expected: f64, inflation: f64) {
    let rate = hits as f64 / trials as f64;
    let sigma = (expected * (1.0 - expected) / trials as f64).sqrt() * inflation;
    eprintln!(
        "{what}: measured {rate:.4}, expected {expected:.4} over {trials} trials \
         (σ {sigma:.4}, z {:.2})",
        (rate - expected) / sigma
    );
    assert!((rate - expected).abs() < 4.5 * sigma, "{what}");
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
    for mode in [FloodMode::Glossy, FloodMode::Mixer] {
        let got = (0..trials)
            .filter(|&round| {
                run(&topo, params(mode, 64, n_tx, 11), round, &[0])
                    .delivery(0, 1)
                    .is_some()
            })
            .count();
        check_rate(
            &format!("{mode:?}: single link p={p}, N_tx={n_tx}"),
            got as u64,
            trials,
            expected,
            1.0,
        );
    }
}

/// Concurrent transmitters: the source S reaches relays A, B (, C) with PRR 1
/// in slot 0 and nobody else; the relays, not linked to each other, all
/// transmit in slot 1 (both modes relay in the slot after a first
/// reception) to R, which has no link to S — so slot 1 is R's first chance,
/// and P(R receives in slot 1) = 1 − Π_i(1 − p_i) over the relays' links.
#[test]
fn concurrent_transmitters_reach_with_one_minus_product() {
    let trials = 20_000u64;
    for prrs in [&[0.3, 0.5][..], &[0.3, 0.5, 0.2][..]] {
        let k = prrs.len();
        let (s, r) = (0, k + 1);
        let mut t = LinkTable::new(k + 2);
        for (i, &p) in prrs.iter().enumerate() {
            t.set_symmetric(s, i + 1, 1.0);
            t.set_symmetric(i + 1, r, p);
        }
        let topo = Topology::from_links(t);
        let expected = 1.0 - prrs.iter().map(|p| 1.0 - p).product::<f64>();
        // A seed per mode: both modes read slot 1 off the same keyed draws,
        // so one seed would make the two checks one.
        for (seed, mode) in [(17, FloodMode::Glossy), (18, FloodMode::Mixer)] {
            let got = (0..trials)
                .filter(|&round| {
                    let res = run(&topo, params(mode, 40, 3, seed), round, &[s]);
                    for relay in 1..=k {
                        assert_eq!(res.delivery(0, relay), Some(Delivery { slot: 0, hop: 1 }));
                    }
                    let d = res.delivery(0, r);
                    assert!(d.is_none_or(|d| d.slot >= 1 && d.hop == 2), "{d:?}");
                    d.is_some_and(|d| d.slot == 1)
                })
                .count();
            check_rate(
                &format!("{mode:?}: {k} concurrent transmitters {prrs:?}, reception in slot 1"),
                got as u64,
                trials,
                expected,
                1.0,
            );
        }
    }
}

/// Gilbert–Elliott through the whole model: one link of PRR 1, N_tx = 1,
/// one single-frame message per round, so each round is one frame in its
/// slot 0 and the long-run delivery ratio is 1 − (π_b·loss_bad +
/// π_g·loss_good). The rounds are K slots apart on the same chain, so
/// their outcomes are correlated: the lag-j covariance of the loss
/// indicators is Δ²·π_b·π_g·λ^{jK} (Δ = loss_bad − loss_good,
/// λ = 1 − p_gb − p_bg), which inflates the variance of the mean by
/// 1 + 2Δ²π_bπ_g·ρ/((1 − ρ)·q(1 − q)), ρ = λ^K. K = 10 keeps ρ ≈ 0.28,
/// so the inflation (≈ 1.2 in σ) is not negligible and is applied.
#[test]
fn gilbert_elliott_link_loses_the_stationary_fraction() {
    let (p_gb, p_bg, loss_good, loss_bad) = (0.02, 0.1, 0.05, 0.8);
    let loss = LossProcess::GilbertElliott {
        p_gb,
        p_bg,
        loss_good,
        loss_bad,
    };
    let q = loss.stationary_loss();
    let pi_b = p_gb / (p_gb + p_bg);
    assert!((q - (pi_b * loss_bad + (1.0 - pi_b) * loss_good)).abs() < 1e-15);
    let (slots, rounds) = (10u32, 40_000u64);
    let rho = (1.0 - p_gb - p_bg).powi(slots as i32);
    let d = loss_bad - loss_good;
    let inflation =
        (1.0 + 2.0 * d * d * pi_b * (1.0 - pi_b) * rho / ((1.0 - rho) * q * (1.0 - q))).sqrt();
    let mut t = LinkTable::new(2);
    t.set_symmetric(0, 1, 1.0);
    // A seed per mode, as in the concurrent-transmitter test.
    for (seed, mode) in [(23, FloodMode::Glossy), (24, FloodMode::Mixer)] {
        let mut m = LinkModel::new(
            Topology::from_links(t.clone()),
            Phy::BLE_2M,
            params(mode, slots, 1, seed),
            loss,
            vec![],
            vec![],
        );
        let mut got = 0u64;
        for round in 0..rounds {
            let res = m.run_round(round, &frames(&[0])).unwrap().result;
            if let Some(d) = res.delivery(0, 1) {
                assert_eq!(d, Delivery { slot: 0, hop: 1 });
                got += 1;
            }
        }
        check_rate(
            &format!("{mode:?}: GE link, stationary delivery 1 − {q:.4} (σ ×{inflation:.3})"),
            got,
            rounds,
            1.0 - q,
            inflation,
        );
    }
}

/// Glossy, one link of PRR p, N_tx = 1: a message of k fragments needs each
/// of its k floods (one try each) to get through: P = p^k.
#[test]
fn glossy_k_fragments_over_one_link_arrive_with_p_to_the_k() {
    let (p, trials) = (0.8, 20_000u64);
    let mut t = LinkTable::new(2);
    t.set_symmetric(0, 1, p);
    let topo = Topology::from_links(t);
    for k in [2usize, 3] {
        // k − 1 full frames and a partial one.
        let msg = Message::new(0, (k - 1) * PAYLOAD + 1);
        let expected = p.powi(k as i32);
        let got = (0..trials)
            .filter(|&round| {
                let res = run_msgs(&topo, params(FloodMode::Glossy, 40, 1, 29), round, &[msg]);
                assert_eq!(res.fragments, vec![k]);
                // Every fragment flood is sent: k transmissions by the source.
                assert_eq!(res.radio[0].tx_slots, k as u32);
                res.delivery(0, 1).is_some()
            })
            .count();
        check_rate(
            &format!("Glossy: {k} fragments over one link p={p}, N_tx=1"),
            got as u64,
            trials,
            expected,
            1.0,
        );
    }
}

/// Mixer, one link of PRR p, a k-fragment message, budget N_tx: node 1
/// holds nothing until a frame gets through, so it never transmits and
/// node 0 never hears it — node 0 waits for it but does not serve it, and
/// sends exactly its k·N_tx budget (no re-arming: nothing is heard). Each
/// of those frames is innovative for node 1 while it lacks fragments, so
/// node 1 gets a first fragment with probability 1 − (1 − p)^(k·N_tx).
/// From then on node 1 transmits (it relays what it gains), node 0 hears
/// it, and a complete node serves a heard neighbour until it knows it
/// complete: node 1 ends up with the whole message unless the round runs
/// out. So P(delivered) = 1 − (1 − p)^(k·N_tx) for a long round (K = 1000
/// slots; the round cut matters with probability far below σ), not p^k as
/// in Glossy. k = 1 is `single_link_delivery_is_one_minus_q_to_the_n_tx`.
#[test]
fn mixer_k_fragments_over_one_link_arrive_unless_the_budget_all_fails() {
    let (p, trials) = (0.3, 20_000u64);
    let mut t = LinkTable::new(2);
    t.set_symmetric(0, 1, p);
    let topo = Topology::from_links(t);
    for (k, n_tx) in [(2usize, 1u32), (3, 1), (2, 2)] {
        let msg = Message::new(0, (k - 1) * PAYLOAD + 1);
        let expected = 1.0 - (1.0 - p).powi((k as u32 * n_tx) as i32);
        let got = (0..trials)
            .filter(|&round| {
                let res = run_msgs(
                    &topo,
                    params(FloodMode::Mixer, 1000, n_tx, 37),
                    round,
                    &[msg],
                );
                assert_eq!(res.fragments, vec![k]);
                let d = res.delivery(0, 1);
                // Whoever got nothing cost node 0 exactly its budget.
                if res.radio[1].receptions == 0 {
                    assert_eq!(res.radio[0].tx_slots, k as u32 * n_tx);
                    assert_eq!(res.radio[1].tx_slots, 0);
                }
                d.is_some()
            })
            .count();
        check_rate(
            &format!("Mixer: {k} fragments over one link p={p}, N_tx={n_tx}"),
            got as u64,
            trials,
            expected,
            1.0,
        );
    }
}

/// Glossy on a PRR-1 line of h hops: each fragment's flood lasts
/// L = h + 2·N_tx − 1 slots (see `glossy_floods_are_sequential`), so
/// fragment j reaches node i in slot j·L + i − 1 and a k-fragment message is
/// complete at node i in slot (k − 1)·L + i − 1, at hop i; every node sends
/// k·N_tx frames.
#[test]
fn glossy_k_fragments_over_a_prr1_line_arrive_in_the_expected_slot() {
    let h = 5;
    let topo = Topology::line(h, 1.0);
    for (k, n_tx) in [(1usize, 1u32), (2, 1), (3, 3)] {
        let msg = Message::new(0, k * PAYLOAD);
        let res = run_msgs(&topo, params(FloodMode::Glossy, 200, n_tx, 31), 0, &[msg]);
        let len = h as u32 + 2 * n_tx - 1;
        for i in 1..=h {
            assert_eq!(
                res.delivery(0, i),
                Some(Delivery {
                    slot: (k as u32 - 1) * len + i as u32 - 1,
                    hop: i as u32
                }),
                "{k} fragments, N_tx {n_tx}, node {i}"
            );
        }
        assert!(res.radio.iter().all(|r| r.tx_slots == k as u32 * n_tx));
        assert_eq!(res.slots_used, k as u32 * len);
    }
    // N_tx = 1: L = 6. With K = 6 the second fragment's flood does not
    // start: the message reaches nobody, and its origin's entry says slot K.
    let two = [Message::new(0, 2 * PAYLOAD)];
    let res = run_msgs(&topo, params(FloodMode::Glossy, 6, 1, 31), 0, &two);
    assert_eq!(res.delivery(0, 0), Some(Delivery { slot: 6, hop: 0 }));
    assert!((1..=h).all(|i| res.delivery(0, i).is_none()));
    // With K = 8 it starts in slot 6 and is cut after two hops.
    let res = run_msgs(&topo, params(FloodMode::Glossy, 8, 1, 31), 0, &two);
    assert_eq!(res.delivery(0, 1), Some(Delivery { slot: 6, hop: 1 }));
    assert_eq!(res.delivery(0, 2), Some(Delivery { slot: 7, hop: 2 }));
    assert!((3..=h).all(|i| res.delivery(0, i).is_none()));
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
    let msgs = frames(&(0..=6).collect::<Vec<_>>());
    (0..50)
        .map(|r| m.run_round(r, &msgs).unwrap().result)
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
    // Partial logits (77 B, one frame) and a 156-byte int8 sample (two).
    let msgs: Vec<Message> = (0..21)
        .map(|o| Message::new(o, if o == 4 { 156 } else { 77 }))
        .collect();
    (0..100)
        .map(|r| m.run_round(r, &msgs).unwrap().result.digest())
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
