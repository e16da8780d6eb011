//! Keyed random draws of the flood model: every random decision of a round is
//! a pure function of `(seed, round, slot, transmitter, receiver)` — or of
//! `(seed, round, slot, node)` for a node's own choices — and of a [`Tag`]
//! naming the decision (docs/linkmodel.md#keyed-randomness).
//!
//! The draws are not the n-th word of a stream: adding or removing one (a
//! link taken down, a node that stops listening, a PRR that lets one more
//! frame through) leaves every other draw exactly as it was, so a fault only
//! changes what depends on it, and traces replay exactly.
//!
//! # How a draw is computed
//!
//! SplitMix64's finaliser `mix64` (a bijection on 64-bit words with full
//! avalanche) folds the key in three stages: `(seed, round)` once per round
//! ([`RoundKey::new`]), the slot once per slot ([`RoundKey::slot`]), then the
//! draw's `(tag, a, b)` packed into one word `tag·2⁵⁶ + a·2²⁸ + b`:
//! `mix64(slot_key + packed·γ)`, γ the golden-ratio increment. Within a slot
//! the draws are therefore SplitMix64 outputs at distinct counter values
//! (the packing is injective because node ids are below 2²⁸, see
//! [`crate::topology::MAX_NODES`]); draws of different slots, rounds or seeds
//! start from unrelated 64-bit keys. Three multiplications per draw once the
//! slot key is known — the 20-node Mixer round's budget is microseconds.

use crate::topology::{MAX_NODES, NodeId};

/// Bits per node id in a packed draw key.
const NODE_BITS: u32 = 28;
const _: () = assert!(MAX_NODES <= 1 << NODE_BITS);

/// The golden-ratio increment of SplitMix64 (odd, so `x ↦ x·γ` is a bijection).
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// Separates these draws from any other use of the same seed.
const DOMAIN: u64 = 0x4c49_4e4b_4452_4157; // "LINKDRAW"

/// What a draw decides; part of its key, so that two decisions about the
/// same link or node in the same slot never share a draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Tag {
    /// Whether a frame on link `tx → rx` gets through.
    Link = 1,
    /// The Gilbert–Elliott transition of link `tx → rx` into this slot.
    Burst = 2,
    /// A Mixer node's random transmit decision (per node).
    Coin = 3,
    /// Which of several frames that got through a receiver captures (per
    /// receiver).
    Capture = 4,
    /// Which innovative fragment a Mixer reception carries (per receiver).
    Pick = 5,
}

/// SplitMix64's finaliser: a bijective 64-bit mix with full avalanche.
const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The 53 high bits of `h` as a uniform value in [0, 1). Converted through
/// `i64` (exact: they are below 2⁵³): x86-64 converts a signed integer in
/// one instruction, an unsigned one in about ten, and this runs once per
/// link per slot.
fn unit(h: u64) -> f64 {
    ((h >> 11) as i64) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The draw key of one round: `(seed, round)` folded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoundKey(u64);

impl RoundKey {
    /// The key of round `round` under `seed`.
    pub fn new(seed: u64, round: u64) -> Self {
        let s = mix64(seed ^ DOMAIN);
        Self(mix64(s.wrapping_add(mix64(round.wrapping_mul(GAMMA)))))
    }

    /// The key of slot `slot` of this round.
    pub fn slot(self, slot: u32) -> SlotKey {
        // `+ 1` keeps slot 0 from reusing the round key unchanged.
        SlotKey(mix64(
            self.0 ^ (u64::from(slot) + 1).wrapping_mul(0xd1b5_4a32_d192_ed03),
        ))
    }
}

/// The draw key of one slot of one round; [`SlotKey::link`] and
/// [`SlotKey::node`] are the draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SlotKey(u64);

impl SlotKey {
    fn bits(self, tag: Tag, a: usize, b: usize) -> u64 {
        debug_assert!(a < 1 << NODE_BITS && b < 1 << NODE_BITS);
        let packed = (tag as u64) << (2 * NODE_BITS) | (a as u64) << NODE_BITS | b as u64;
        mix64(self.0.wrapping_add(packed.wrapping_mul(GAMMA)))
    }

    /// The uniform draw in [0, 1) of decision `tag` about link `tx → rx`.
    pub fn link(self, tag: Tag, tx: NodeId, rx: NodeId) -> f64 {
        unit(self.bits(tag, tx, rx))
    }

    /// The draws of decision `tag` about the links into `rx` in this slot
    /// ([`LinkRow::link`]), with the receiver's part of the key folded once
    /// for all its transmitters.
    pub fn to_rx(self, tag: Tag, rx: NodeId) -> LinkRow {
        debug_assert!(rx < 1 << NODE_BITS);
        let packed = (tag as u64) << (2 * NODE_BITS) | rx as u64;
        LinkRow(self.0.wrapping_add(packed.wrapping_mul(GAMMA)))
    }

    /// The uniform draw in [0, 1) of decision `tag` of node `node`.
    pub fn node(self, tag: Tag, node: NodeId) -> f64 {
        unit(self.bits(tag, node, 0))
    }

    /// A uniform integer in `0..n` (n ≥ 1) for decision `tag` of `node`:
    /// the high word of `draw · n`, biased by at most n / 2⁶⁴ (negligible
    /// next to any statistic the model reports, and no rejection loop).
    pub fn node_below(self, tag: Tag, node: NodeId, n: u32) -> u32 {
        ((u128::from(self.bits(tag, node, 0)) * u128::from(n)) >> 64) as u32
    }
}

/// The draws of one decision about the links into one receiver in one slot
/// ([`SlotKey::to_rx`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkRow(u64);

impl LinkRow {
    /// The draw about link `tx → rx`: exactly [`SlotKey::link`]`(tag, tx,
    /// rx)` (the packed key's fields do not overlap, so its multiple of γ
    /// is the sum of theirs, modulo 2⁶⁴).
    pub fn link(self, tx: NodeId) -> f64 {
        debug_assert!(tx < 1 << NODE_BITS);
        unit(mix64(self.0.wrapping_add(
            ((tx as u64) << NODE_BITS).wrapping_mul(GAMMA),
        )))
    }
}

/// The draw of decision `tag` about link `tx → rx` in `slot` of `round`
/// under `seed` — the same value [`SlotKey::link`] gives.
pub fn link_draw(seed: u64, round: u64, slot: u32, tag: Tag, tx: NodeId, rx: NodeId) -> f64 {
    RoundKey::new(seed, round).slot(slot).link(tag, tx, rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Changing any one component of the key changes the draw.
    #[test]
    fn every_key_component_matters() {
        let base = link_draw(7, 3, 10, Tag::Link, 4, 5);
        assert_eq!(base, link_draw(7, 3, 10, Tag::Link, 4, 5));
        for other in [
            link_draw(8, 3, 10, Tag::Link, 4, 5),
            link_draw(7, 4, 10, Tag::Link, 4, 5),
            link_draw(7, 3, 11, Tag::Link, 4, 5),
            link_draw(7, 3, 10, Tag::Burst, 4, 5),
            link_draw(7, 3, 10, Tag::Link, 5, 4),
            link_draw(7, 3, 10, Tag::Link, 4, 6),
            link_draw(7, 3, 10, Tag::Link, 3, 5),
        ] {
            assert_ne!(base, other);
        }
        let k = RoundKey::new(7, 3).slot(10);
        assert_ne!(k.node(Tag::Coin, 4), k.node(Tag::Capture, 4));
        assert_ne!(k.node(Tag::Coin, 4), k.node(Tag::Coin, 5));
    }

    /// Draws over many (round, slot, tx, rx) keys are uniform (10 bins,
    /// χ² with 9 degrees of freedom) and neighbouring keys are uncorrelated.
    #[test]
    fn draws_are_uniform_and_neighbours_uncorrelated() {
        let mut bins = [0u64; 10];
        let (mut sum_xy, mut sum_x, mut n) = (0.0, 0.0, 0u64);
        for round in 0..20 {
            let rk = RoundKey::new(1, round);
            for slot in 0..50 {
                let sk = rk.slot(slot);
                for tx in 0..10 {
                    for rx in 0..10 {
                        let x = sk.link(Tag::Link, tx, rx);
                        let y = sk.link(Tag::Link, tx, rx + 1);
                        assert!((0.0..1.0).contains(&x));
                        bins[(x * 10.0) as usize] += 1;
                        sum_xy += (x - 0.5) * (y - 0.5);
                        sum_x += x;
                        n += 1;
                    }
                }
            }
        }
        let expect = n as f64 / 10.0;
        let chi2: f64 = bins
            .iter()
            .map(|&b| (b as f64 - expect).powi(2) / expect)
            .sum();
        // Var of a uniform = 1/12; the covariance estimate has σ = (1/12)/√n.
        let cov = sum_xy / n as f64;
        let sigma = (1.0 / 12.0) / (n as f64).sqrt();
        eprintln!(
            "{n} draws: mean {:.5}, χ²(9) {chi2:.2}, neighbour covariance {cov:.6} (σ {sigma:.6})",
            sum_x / n as f64
        );
        // P(χ²(9) > 27.9) = 0.001.
        assert!(chi2 < 27.9, "{bins:?}");
        assert!(cov.abs() < 4.5 * sigma);
    }

    /// A receiver's row of draws is the same as drawing each link alone, for
    /// every tag and for ids in all bit positions of the packed key.
    #[test]
    fn link_row_equals_link() {
        let k = RoundKey::new(9, 4).slot(17);
        let ids = [0, 1, 2, 63, 64, 1000, 4095, (1 << NODE_BITS) - 1];
        for tag in [Tag::Link, Tag::Burst, Tag::Coin, Tag::Capture, Tag::Pick] {
            for &rx in &ids {
                let row = k.to_rx(tag, rx);
                for &tx in &ids {
                    assert_eq!(row.link(tx), k.link(tag, tx, rx), "{tag:?} {tx}→{rx}");
                }
            }
        }
    }

    /// `unit` is `(h >> 11) · 2⁻⁵³` at both ends of the range.
    #[test]
    fn unit_is_the_high_53_bits_scaled() {
        assert_eq!(unit(0), 0.0);
        assert_eq!(unit(u64::MAX), 1.0 - f64::EPSILON / 2.0);
        assert_eq!(unit(1 << 11), 1.0 / (1u64 << 53) as f64);
    }

    /// `node_below` covers 0..n evenly.
    #[test]
    fn node_below_is_uniform() {
        let mut counts = [0u32; 3];
        for slot in 0..30_000 {
            let v = RoundKey::new(2, 0).slot(slot).node_below(Tag::Pick, 1, 3);
            counts[v as usize] += 1;
        }
        // Each expects 10,000, σ ≈ 81.6; 4.5σ ≈ 367.
        assert!(
            counts.iter().all(|&c| c.abs_diff(10_000) < 367),
            "{counts:?}"
        );
    }
}
