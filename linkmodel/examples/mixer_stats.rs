//! Delivery and radio cost of many rounds of a link-model config, every node
//! originating one message per round.
//!
//! ```text
//! cargo run --release -p rocknet-linkmodel --example mixer_stats -- \
//!     [CONFIG (configs/linkmodel-testbed20.toml)] [ROUNDS (1000)] [BYTES (100)]
//! ```
//!
//! Prints the delivery ratio over all (message, receiver ≠ origin) pairs,
//! the pairs lost, the mean radio-on / TX slots per live node and round,
//! the mean slots used, and the wall time per round (faults scheduled in
//! the config apply as in a run).

use std::time::Instant;

use rocknet_linkmodel::config::LinkModelConfig;
use rocknet_linkmodel::flood::Message;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "configs/linkmodel-testbed20.toml".into());
    let rounds: u64 = args.next().map_or(Ok(1000), |s| s.parse())?;
    let bytes: usize = args.next().map_or(Ok(100), |s| s.parse())?;
    let cfg: LinkModelConfig = toml::from_str(&std::fs::read_to_string(&path)?)?;
    let mut model = cfg.build()?;
    let n = model.topology().nodes();
    let msgs: Vec<Message> = (0..n).map(|o| Message::new(o, bytes)).collect();
    let (mut pairs, mut got, mut on, mut tx, mut used, mut live) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let start = Instant::now();
    for round in 0..rounds {
        let r = model.run_round(round, &msgs)?.result;
        for (m, msg) in msgs.iter().enumerate() {
            for node in (0..n).filter(|&i| i != msg.origin) {
                pairs += 1;
                got += u64::from(r.delivery(m, node).is_some());
            }
        }
        // A node with its radio on at all in the round counts as live.
        for radio in r.radio.iter().filter(|x| x.on_slots() > 0) {
            on += u64::from(radio.on_slots());
            tx += u64::from(radio.tx_slots);
            live += 1;
        }
        used += u64::from(r.slots_used);
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    println!(
        "{path}: mode {:?}, {n} nodes, {rounds} rounds, {bytes} B per message",
        model.params().mode
    );
    println!(
        "delivery ratio {:.6} ({} of {pairs} pairs lost)",
        got as f64 / pairs as f64,
        pairs - got
    );
    println!(
        "radio-on {:.2} slots per node and round (TX {:.2}), slots used {:.2}, {us:.1} µs per round",
        on as f64 / live as f64,
        tx as f64 / live as f64,
        used as f64 / rounds as f64
    );
    Ok(())
}
