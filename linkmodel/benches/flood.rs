//! Rounds per second of a Mixer round (RockNet's 150 slots, N_tx 3, one
//! 100-byte message — one frame — per node) on testbed20 (21 nodes) and a
//! 100-device random geometric layout. Target: a 20-device round < 200 µs.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use rocknet_linkmodel::flood::{FloodMode, FloodParams, FloodRound, Message};
use rocknet_linkmodel::loss::{LinkLoss, LossProcess};
use rocknet_linkmodel::phy::Phy;
use rocknet_linkmodel::topology::Topology;
use rocknet_linkmodel::units::Bytes;

fn topologies() -> Vec<(&'static str, Topology)> {
    // The first connected 100-device layout in a 400 m square.
    let random = (0..)
        .map(|seed| Topology::random_geometric(100, 400.0, seed))
        .find(|t| t.validate().is_ok())
        .expect("some seed is connected");
    vec![("testbed20", Topology::testbed20()), ("random100", random)]
}

fn bench(c: &mut Criterion) {
    let params = FloodParams {
        mode: FloodMode::Mixer,
        slots: 150,
        n_tx: 3,
        slot_length: Phy::BLE_2M.slot_length(100),
        payload: Bytes(100),
        seed: 1,
    };
    for (name, topo) in topologies() {
        let n = topo.nodes();
        let down = vec![false; n];
        let origins: Vec<Message> = (0..n).map(|o| Message::new(o, 100)).collect();
        let mut loss = LinkLoss::new(LossProcess::Bernoulli, vec![], n);
        let mut round = 0u64;
        c.bench_function(&format!("mixer_round_{name}"), |b| {
            b.iter(|| {
                round += 1;
                FloodRound::new(topo.links(), &down, &mut loss, params, round)
                    .run(black_box(&origins))
                    .unwrap()
            })
        });
        // A plain figure next to criterion's, for docs/results.md.
        let reps = 200;
        let start = Instant::now();
        let mut ratio = 0.0;
        for r in 0..reps {
            let res = FloodRound::new(topo.links(), &down, &mut loss, params, r)
                .run(&origins)
                .unwrap();
            ratio += res.delivery_ratio();
        }
        let us = start.elapsed().as_secs_f64() * 1e6 / reps as f64;
        println!(
            "{name}: {n} nodes, {us:.1} µs per Mixer round ({:.0} rounds/s), mean delivery {:.4}",
            1e6 / us,
            ratio / reps as f64
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
