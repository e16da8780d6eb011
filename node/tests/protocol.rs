//! The device round protocol without processes: several `DeviceNode`s
//! exchanging packets through an in-memory "radio", checked against each
//! other under duplicates, reordering, foreign and forged packets, and
//! losses.

use std::path::Path;

use rocknet_core::classifier::{DeviceBuffers, DeviceModel};
use rocknet_core::series::SeriesView;
use rocknet_core::storage::HeapStorage;
use rocknet_core::wire::{Absent, Body, Packet};
use rocknet_node::config::{ExperimentConfig, MissingPolicy};
use rocknet_node::experiment::Experiment;
use rocknet_node::protocol::{DeviceNode, NodeSetup, OwnedShard, PassStats};
use rocknet_node::schedule::Schedule;

const CLUSTER: u16 = 1;

fn experiment(devices: usize, epochs: usize) -> Experiment {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/quickstart.toml");
    let mut cfg = ExperimentConfig::load(&path).unwrap();
    cfg.training.devices = devices;
    cfg.training.epochs = epochs;
    cfg.training.eval_every = 1;
    cfg.model.num_features = 840;
    Experiment::prepare(cfg).unwrap()
}

fn nodes(exp: &Experiment, policy: MissingPolicy) -> Vec<DeviceNode<f32>> {
    let (ch, len) = (exp.train.n_channels, exp.train.length);
    let nv = ch * len;
    let set = SeriesView::new(&exp.train.values, exp.train.len(), ch, len).unwrap();
    (0..exp.partition.devices())
        .map(|d| {
            let spec = exp.device_spec(d).unwrap();
            let mut m =
                DeviceModel::<f32, HeapStorage>::new(spec, DeviceBuffers::allocate(&spec)).unwrap();
            m.fit(set).unwrap();
            DeviceNode::new(
                NodeSetup {
                    device: d,
                    n_devices: exp.partition.devices(),
                    n_classes: exp.n_classes(),
                    n_values: nv,
                    cluster: CLUSTER,
                    config_hash: exp.config.hash(),
                    policy,
                    n_train: exp.train.len(),
                    n_test: exp.test.len(),
                },
                exp.partition,
                m,
                Schedule::of(exp),
                OwnedShard::of(
                    exp.partition.shard(exp.train.len(), d).unwrap(),
                    &exp.train.values,
                    &exp.train.labels,
                    nv,
                ),
                OwnedShard::of(
                    exp.partition.shard(exp.test.len(), d).unwrap(),
                    &exp.test.values,
                    &exp.test.labels,
                    nv,
                ),
            )
        })
        .collect()
}

/// Runs every round; `radio(round, receiver, packets)` turns the round's
/// submissions (origin, bytes) into what `receiver` gets.
/// A round's submissions: (originating device, encoded packet).
type Submissions = [(usize, Vec<u8>)];

/// The in-memory radio: (round, receiver, submissions) → what it receives.
type Radio<'a> = dyn FnMut(u32, usize, &Submissions) -> Vec<Vec<u8>> + 'a;

fn run(nodes: &mut [DeviceNode<f32>], radio: &mut Radio<'_>) -> Vec<Vec<PassStats>> {
    let mut passes = vec![Vec::new(); nodes.len()];
    let rounds = nodes[0].rounds();
    for r in 0..rounds as u32 {
        let mut subs = Vec::new();
        for (d, n) in nodes.iter_mut().enumerate() {
            for p in n.submissions(r).unwrap() {
                subs.push((d, p));
            }
        }
        for (d, n) in nodes.iter_mut().enumerate() {
            let got = radio(r, d, &subs);
            n.finish_round(r, &got).unwrap();
            passes[d].extend(n.take_finished());
        }
    }
    passes
}

fn total(passes: &[PassStats], f: fn(&PassStats) -> u64) -> u64 {
    passes.iter().map(f).sum()
}

fn perfect(_: u32, d: usize, subs: &[(usize, Vec<u8>)]) -> Vec<Vec<u8>> {
    subs.iter()
        .filter(|(o, _)| *o != d)
        .map(|(_, p)| p.clone())
        .collect()
}

fn params(nodes: &[DeviceNode<f32>]) -> Vec<Vec<u32>> {
    nodes
        .iter()
        .map(|n| n.model().params().iter().map(|v| v.to_bits()).collect())
        .collect()
}

#[test]
fn duplicates_reordering_and_garbage_change_nothing_and_are_counted() {
    let exp = experiment(3, 2);
    let mut clean = nodes(&exp, MissingPolicy::Zero);
    run(&mut clean, &mut perfect);

    let mut noisy = nodes(&exp, MissingPolicy::Zero);
    run(&mut noisy, &mut |r, d, subs| {
        let mut got = perfect(r, d, subs);
        got.reverse(); // reordered
        let dup = got.clone();
        got.extend(dup); // every packet twice
        // A foreign cluster's copy of each packet and a corrupted one.
        for p in perfect(r, d, subs) {
            let mut foreign = p.clone();
            foreign[4] ^= 0x55; // cluster id byte: CRC now fails too
            got.push(foreign);
        }
        got.push(vec![0xde, 0xad, 0xbe, 0xef]);
        // A forged Absent claiming to be from a device that is not a peer.
        got.push(
            Packet {
                cluster: CLUSTER,
                source: 99,
                round: r,
                body: Body::Absent(Absent { sample_index: 0 }),
            }
            .to_vec()
            .unwrap(),
        );
        got
    });
    assert_eq!(params(&clean), params(&noisy));
    for (c, n) in clean.iter().zip(&noisy) {
        assert_eq!(c.drops().total(), 0);
        assert_eq!(c.rejected, 0);
        assert!(n.drops().total() > 0, "garbage not counted");
        assert!(n.rejected > 0, "duplicates/forgeries not counted");
    }
}

#[test]
fn lost_logits_are_zero_filled_or_skipped_as_configured() {
    let exp = experiment(3, 1);
    // Device 2's partial logits never reach device 0 in training rounds.
    let mut lossy = |r: u32, d: usize, subs: &[(usize, Vec<u8>)]| -> Vec<Vec<u8>> {
        subs.iter()
            .filter(|(o, p)| {
                *o != d && !(d == 0 && *o == 2 && p[3] == 3 /* kind PartialLogits */ && r < 40)
            })
            .map(|(_, p)| p.clone())
            .collect()
    };
    let mut zero = nodes(&exp, MissingPolicy::Zero);
    let z = run(&mut zero, &mut lossy);
    let mut skip = nodes(&exp, MissingPolicy::Skip);
    let s = run(&mut skip, &mut lossy);
    let mut clean = nodes(&exp, MissingPolicy::Zero);
    let c = run(&mut clean, &mut perfect);
    // Rounds 1..=39 carry the logits of items 0..=38, all training items
    // (GunPoint has 50 training series): device 0 misses device 2's
    // contribution for each of those 39 samples.
    assert_eq!(total(&z[0], |p| p.missing_contributions), 39);
    assert_eq!(total(&z[0], |p| p.zero_filled), 39);
    assert_eq!(total(&z[0], |p| p.skipped), 0);
    assert_eq!(total(&s[0], |p| p.skipped), 39);
    assert_eq!(total(&s[0], |p| p.zero_filled), 0);
    for d in 0..3 {
        assert_eq!(total(&c[d], |p| p.missing_contributions), 0);
        // Device 1 and 2 heard everything in every run.
        if d > 0 {
            assert_eq!(total(&z[d], |p| p.missing_contributions), 0);
        }
    }
    // Device 0 trained differently under each policy.
    let (pz, ps, pc) = (params(&zero), params(&skip), params(&clean));
    assert_ne!(pz[0], pc[0]);
    assert_ne!(ps[0], pc[0]);
    assert_ne!(pz[0], ps[0]);
}
