//! What one round of an experiment carries, and whether the relay and the
//! link model can carry it — checked before any process starts (`rocknet
//! run`, `serve`, `relay`), so a config whose messages cannot travel is
//! refused with its numbers instead of training on silently lost packets.
//!
//! The largest round carries the host's beacon, one sample (from the device
//! that owns it) and every device's partial logits. Three limits apply:
//!
//! 1. **One packet, one datagram.** Every message travels as one wire packet
//!    in one UDP datagram, and the relay delivers it as an entry of a round
//!    bundle that must fit one datagram too: a packet may be at most
//!    [`MAX_MESSAGE_LEN`] = 65,480 bytes, and a sample at most 65,535 values
//!    (the wire's count field). The relay's packet limit is set to the
//!    experiment's largest packet ([`RoundLoad::max_packet_len`]).
//! 2. **Fragments per round.** The link model sends a message of `len` bytes
//!    as ⌈len / payload_bytes⌉ fragments. In Mixer a node receives at most
//!    one new fragment per slot, so a node that originates `F_r` of the
//!    round's `F` fragments needs at least `F − F_r` slots; in Glossy every
//!    fragment is a flood of its own lasting at least 2·N_tx slots once
//!    anyone receives it, so the last one starts no earlier than
//!    (F − 1)·2·N_tx. A round with fewer slots than that provably cannot
//!    deliver every message: refused.
//! 3. **Unlikely delivery.** The largest round is run
//!    [`PROBE_ROUNDS`] times through the link model with every link made
//!    lossless; if even that misses deliveries, the run will lose messages
//!    whatever its links: a loud warning.

use std::fmt::Write as _;
use std::path::Path;

use rocknet_core::wire::{self, SampleEncoding};
use rocknet_linkmodel::config::LinkModel;
use rocknet_linkmodel::flood::{FloodMode, FloodParams, FloodRound, MAX_FRAGMENTS, Message};
use rocknet_linkmodel::loss::{LinkLoss, LossProcess};
use rocknet_linkmodel::relay::MAX_MESSAGE_LEN;
use rocknet_linkmodel::topology::LinkTable;
use rocknet_linkmodel::units::Bytes;

use crate::experiment::Experiment;

/// The most values one sample packet can carry (the wire's `u16` count).
pub const MAX_SAMPLE_VALUES: usize = u16::MAX as usize;

/// The messages of an experiment's largest round, by encoded size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundLoad {
    /// Devices (radio nodes 1..=devices; the host is node 0).
    pub devices: usize,
    /// Values per sample (channels × padded length).
    pub sample_values: usize,
    /// How sample values are encoded.
    pub encoding: SampleEncoding,
    /// Channels and padded length, for messages.
    pub channels: usize,
    /// Padded series length.
    pub length: usize,
    /// Classes (partial logits carry one value per class).
    pub classes: usize,
}

impl RoundLoad {
    /// The largest round of `exp`.
    pub fn of(exp: &Experiment) -> Self {
        let encoding = match exp.int8_scale {
            Some(_) => SampleEncoding::Int8,
            None => SampleEncoding::F32,
        };
        Self {
            devices: exp.partition.devices(),
            sample_values: exp.train.n_channels * exp.train.length,
            encoding,
            channels: exp.train.n_channels,
            length: exp.train.length,
            classes: exp.n_classes(),
        }
    }

    /// A sample packet, bytes.
    pub fn sample_len(&self) -> usize {
        wire::sample_len(self.sample_values, self.encoding)
    }

    /// A device's contribution: partial logits (an `Absent` is shorter).
    pub fn logits_len(&self) -> usize {
        wire::partial_logits_len(self.classes).max(wire::absent_len())
    }

    /// The longest packet any node sends: what the relay must accept.
    pub fn max_packet_len(&self) -> usize {
        [
            wire::beacon_len(),
            wire::hello_len(),
            self.sample_len(),
            self.logits_len(),
        ]
        .into_iter()
        .max()
        .unwrap_or(wire::OVERHEAD)
    }

    /// The round's messages in the relay's order (by originator): the
    /// host's beacon, then every device's logits, and the sample from
    /// radio node `owner` (1..=devices).
    pub fn messages(&self, owner: usize) -> Vec<Message> {
        let mut m = vec![Message::new(0, wire::beacon_len())];
        for node in 1..=self.devices {
            if node == owner {
                m.push(Message::new(node, self.sample_len()));
            }
            m.push(Message::new(node, self.logits_len()));
        }
        m
    }

    fn encoding_name(&self) -> &'static str {
        match self.encoding {
            SampleEncoding::F32 => "f32",
            SampleEncoding::Int8 => "int8",
        }
    }

    /// The largest sample (values) that fits one packet with this encoding.
    fn max_values(&self) -> usize {
        let by_bytes =
            (MAX_MESSAGE_LEN - wire::sample_len(0, self.encoding)) / self.encoding.width();
        by_bytes.min(MAX_SAMPLE_VALUES)
    }
}

/// A round the relay or link model cannot carry, with the numbers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CapacityError(String);

/// Limit 1: every packet fits one datagram, and so does a bundle piece
/// carrying it.
pub fn check_packets(load: &RoundLoad) -> Result<(), CapacityError> {
    let values = load.sample_values;
    let len = load.sample_len();
    if values > MAX_SAMPLE_VALUES || len > MAX_MESSAGE_LEN {
        return Err(CapacityError(format!(
            "a sample of {} channel(s) × {} values = {values} {} values is a {len}-byte packet, but a cluster run sends every \
             sample as one packet of at most {MAX_MESSAGE_LEN} bytes and {MAX_SAMPLE_VALUES} values (a {}-byte bundle \
             carrying it must fit one {}-byte UDP datagram): at most {} {} values per sample. `rocknet train` has no such limit; \
             shorten the series{}",
            load.channels,
            load.length,
            load.encoding_name(),
            wire::bundle_len(wire::Bundle::entry_len(len)),
            rocknet_linkmodel::relay::MAX_DATAGRAM_LEN,
            load.max_values(),
            load.encoding_name(),
            int8_hint(load)
        )));
    }
    Ok(())
}

/// For an f32 sample that would fit as int8: the suggestion to use it.
fn int8_hint(load: &RoundLoad) -> String {
    let int8 = RoundLoad {
        encoding: SampleEncoding::Int8,
        ..*load
    };
    if load.encoding == SampleEncoding::F32 && load.sample_values <= int8.max_values() {
        format!(
            " or use `model.input = \"int8\"` (up to {} values)",
            int8.max_values()
        )
    } else {
        String::new()
    }
}

/// The fragments of a round's messages under `params`.
fn fragments(params: &FloodParams, messages: &[Message]) -> Vec<usize> {
    messages.iter().map(|m| params.fragments(m.len)).collect()
}

/// Limit 2: slots a round needs at the least, and whether the model has them.
pub fn check_slots(load: &RoundLoad, model: &LinkModel) -> Result<(), CapacityError> {
    let p = model.params();
    let messages = load.messages(1);
    let frags = fragments(p, &messages);
    let total: usize = frags.iter().sum();
    let sizes = describe(load, p, &frags);
    if total > MAX_FRAGMENTS {
        return Err(CapacityError(format!(
            "{sizes}: {total} fragments in one round, more than the link model's limit of {MAX_FRAGMENTS}"
        )));
    }
    // The node originating the fewest fragments must receive the most.
    let mut own = vec![0usize; load.devices + 1];
    for (m, f) in messages.iter().zip(&frags) {
        own[m.origin] += f;
    }
    let fewest = own.iter().copied().min().unwrap_or(0);
    let (needed, why) = match p.mode {
        FloodMode::Mixer => (
            total - fewest,
            format!(
                "a node receives at most one fragment per slot, so a node must listen for at least {} slots",
                total - fewest
            ),
        ),
        FloodMode::Glossy => {
            let per_flood = 2 * p.n_tx as usize;
            let needed = (total - 1).saturating_mul(per_flood).saturating_add(1);
            (
                needed,
                format!(
                    "Glossy floods them one after another, each at least 2 × n_tx = {per_flood} slots, so the last one cannot be \
                     delivered before slot {needed}"
                ),
            )
        }
    };
    if needed > p.slots as usize {
        return Err(CapacityError(format!(
            "{sizes}; {why}, but `slots_per_round` is {}: no round could deliver every message. Raise `slots_per_round` to at \
             least {needed} or `payload_bytes`, or send less per round (fewer devices, shorter series, int8 input)",
            p.slots
        )));
    }
    Ok(())
}

/// The round's messages and fragments in words.
fn describe(load: &RoundLoad, p: &FloodParams, frags: &[usize]) -> String {
    let mut s = String::new();
    let f = |len: usize| p.fragments(Bytes(len));
    let _ = write!(
        s,
        "the largest round carries a {} B beacon ({} fragment(s)), a {} B sample ({} fragment(s)) and {} × {} B partial logits \
         ({} fragment(s) each): {} fragments of {} B (`payload_bytes`)",
        wire::beacon_len(),
        f(wire::beacon_len()),
        load.sample_len(),
        f(load.sample_len()),
        load.devices,
        load.logits_len(),
        f(load.logits_len()),
        frags.iter().sum::<usize>(),
        p.payload.0
    );
    s
}

/// Rounds of the largest kind [`probe_lossless`] runs (each with its own
/// random draws, as the rounds of a run have, and the sample from each
/// device in turn).
pub const PROBE_ROUNDS: u64 = 32;

/// Limit 3: [`PROBE_ROUNDS`] largest rounds over the model's links made
/// lossless; a warning if even then some (message, receiver) pairs are
/// missed.
pub fn probe_lossless(load: &RoundLoad, model: &LinkModel) -> Option<String> {
    let links = model.topology().links();
    let n = links.nodes();
    let mut ideal: LinkTable = links.clone();
    for a in 0..n {
        for b in 0..n {
            if a != b && links.prr(a, b) > 0.0 {
                ideal.set(a, b, 1.0);
            }
        }
    }
    let down = vec![false; n];
    let mut loss = LinkLoss::new(LossProcess::Bernoulli, Vec::new(), n);
    let p = *model.params();
    let messages = load.messages(1);
    let pairs = messages.len() * (n - 1);
    let (mut short_rounds, mut worst) = (0u64, pairs);
    for round in 0..PROBE_ROUNDS {
        let messages = load.messages(1 + round as usize % load.devices);
        let result = match FloodRound::new(&ideal, &down, &mut loss, p, round).run(&messages) {
            Ok(r) => r,
            Err(e) => return Some(format!("the link model cannot run the largest round: {e}")),
        };
        let made = (0..messages.len())
            .map(|m| {
                (0..n)
                    .filter(|&r| r != messages[m].origin && result.delivery(m, r).is_some())
                    .count()
            })
            .sum::<usize>();
        if made < pairs {
            short_rounds += 1;
            worst = worst.min(made);
        }
    }
    (short_rounds > 0).then(|| {
        format!(
            "{}; even with every link lossless, the link model missed deliveries in {short_rounds} of {PROBE_ROUNDS} such \
             rounds of {} slots (`slots_per_round`), the worst delivering {worst} of {pairs} (message, receiver) pairs, so \
             messages will be lost whatever the link quality. Consider more `slots_per_round` or a larger `payload_bytes`",
            describe(load, &p, &fragments(&p, &messages)),
            p.slots
        )
    })
}

/// Every check, naming the link-model file: `Err` if the experiment's
/// messages cannot travel, else the warnings (possibly none).
pub fn check(
    load: &RoundLoad,
    model: &LinkModel,
    linkmodel: &Path,
) -> Result<Vec<String>, CapacityError> {
    check_packets(load)?;
    let named = |e: CapacityError| CapacityError(format!("{}: {}", linkmodel.display(), e.0));
    check_slots(load, model).map_err(named)?;
    Ok(probe_lossless(load, model)
        .map(|w| format!("{}: {w}", linkmodel.display()))
        .into_iter()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(devices: usize, values: usize, encoding: SampleEncoding, classes: usize) -> RoundLoad {
        RoundLoad {
            devices,
            sample_values: values,
            encoding,
            channels: 1,
            length: values,
            classes,
        }
    }

    fn model(doc: &str) -> LinkModel {
        toml::from_str::<rocknet_linkmodel::config::LinkModelConfig>(doc)
            .unwrap()
            .build()
            .unwrap()
    }

    const LINE6: &str = "seed = 1\nmode = \"mixer\"\nslots_per_round = 300\nn_tx = 3\npayload_bytes = 100\n\
                         [topology]\nkind = \"line\"\ndevices = 5\nprr = 1.0\n";

    #[test]
    fn packet_sizes_follow_the_wire_layout() {
        // BasicMotions: 6 × 100 f32 → 16 + 9 + 2,400 bytes; 4 classes.
        let l = load(5, 600, SampleEncoding::F32, 4);
        assert_eq!(l.sample_len(), 2425);
        assert_eq!(l.logits_len(), 16 + 5 + 16);
        assert_eq!(l.max_packet_len(), 2425);
        // Tiny samples: the Hello (26 B) or beacon (33 B) is the longest.
        let tiny = load(1, 1, SampleEncoding::Int8, 2);
        assert_eq!(tiny.max_packet_len(), wire::beacon_len());
        let m = l.messages(1);
        assert_eq!(m.len(), 1 + 1 + 5);
        assert_eq!(m[0], Message::new(0, 33));
        assert_eq!(m[1], Message::new(1, 2425));
    }

    #[test]
    fn the_largest_sample_that_fits_a_datagram_is_accepted_one_more_is_not() {
        // 65,480 − 25 = 65,455 bytes of values: 16,363 f32 (65,452 bytes).
        assert!(check_packets(&load(5, 16_363, SampleEncoding::F32, 2)).is_ok());
        let e = check_packets(&load(5, 16_364, SampleEncoding::F32, 2)).unwrap_err();
        assert!(e.0.contains("65480") && e.0.contains("16363 f32"), "{e}");
        assert!(
            e.0.contains("int8\"` (up to 65455 values)"),
            "int8 alternative: {e}"
        );
        assert!(check_packets(&load(5, 65_455, SampleEncoding::Int8, 2)).is_ok());
        let e = check_packets(&load(5, 100_000, SampleEncoding::Int8, 2)).unwrap_err();
        assert!(e.0.contains("100000 int8 values"), "{e}");
    }

    #[test]
    fn basicmotions_fits_line6_and_is_delivered_without_loss() {
        let m = model(LINE6);
        let l = load(5, 600, SampleEncoding::F32, 4);
        assert_eq!(check(&l, &m, Path::new("line6.toml")), Ok(vec![]));
    }

    #[test]
    fn too_few_slots_are_refused_with_the_numbers() {
        // 1-byte frames: the 33 B beacon alone is 33 fragments.
        let m = model(
            &LINE6
                .replace("slots_per_round = 300", "slots_per_round = 1")
                .replace("payload_bytes = 100", "payload_bytes = 1"),
        );
        let l = load(5, 150, SampleEncoding::F32, 2);
        let e = check_slots(&l, &m).unwrap_err().0;
        // beacon 33 + sample 625 + 5 × 29 = 803 fragments; a node owning
        // only its 29 must receive 774.
        assert!(e.contains("803 fragments"), "{e}");
        assert!(e.contains("at least 774 slots"), "{e}");
        assert!(e.contains("`slots_per_round` is 1"), "{e}");
        // Exactly enough slots for Mixer's bound passes it.
        let m = model(
            &LINE6
                .replace("slots_per_round = 300", "slots_per_round = 774")
                .replace("payload_bytes = 100", "payload_bytes = 1"),
        );
        assert!(check_slots(&l, &m).is_ok());
    }

    #[test]
    fn glossy_needs_two_n_tx_slots_per_fragment() {
        // GunPoint f32 (625 B = 7 fragments) + beacon + 5 logits: 13
        // fragments; the 13th flood starts at slot ≥ 12 × 6 = 72.
        let glossy = LINE6.replace("mixer", "glossy");
        let l = load(5, 150, SampleEncoding::F32, 2);
        let ok = model(&glossy.replace("slots_per_round = 300", "slots_per_round = 73"));
        assert!(check_slots(&l, &ok).is_ok());
        let short = model(&glossy.replace("slots_per_round = 300", "slots_per_round = 72"));
        let e = check_slots(&l, &short).unwrap_err().0;
        assert!(e.contains("13 fragments") && e.contains("slot 73"), "{e}");
        // And the bound is tight against the model itself: with 73 slots a
        // lossless line still cannot carry 13 floods over 5 hops.
        assert!(probe_lossless(&l, &ok).is_some());
        // 150 slots do.
        assert_eq!(
            probe_lossless(
                &l,
                &model(&glossy.replace("slots_per_round = 300", "slots_per_round = 150"))
            ),
            None
        );
    }

    #[test]
    fn a_round_that_fits_the_bound_but_not_the_flood_is_warned_about() {
        // BasicMotions: 31 fragments; Mixer's bound needs 30 slots, but five
        // hops of pipelining do not fit in 31.
        let m = model(&LINE6.replace("slots_per_round = 300", "slots_per_round = 31"));
        let l = load(5, 600, SampleEncoding::F32, 4);
        assert!(check_slots(&l, &m).is_ok());
        let w = probe_lossless(&l, &m).expect("a warning");
        assert!(
            w.contains("31 fragments") && w.contains("of 35 (message, receiver) pairs"),
            "{w}"
        );
    }
}
