//! Seeded randomness keyed by purpose.
//!
//! Every random choice in rocknet comes from a ChaCha8 stream whose key is
//! derived from `(seed, purpose, a, b)` — e.g. (seed, shuffle, epoch, 0) or
//! (seed, weight init, block, 0) — never from time or from how many draws an
//! earlier stage happened to make. Two processes that need the same numbers
//! derive the same key, whatever the deployment (threads, processes,
//! containers, firmware).
//!
//! MiniRocket's example picks are the exception: they reproduce NumPy's legacy
//! MT19937 stream exactly (see [`crate::minirocket`]).

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// What a random stream is used for; part of its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Purpose {
    /// Initial classifier weights, one stream per (dilation, kernel) block.
    WeightInit = 1,
    /// The training-set order of one epoch.
    Shuffle = 2,
    /// Link-loss decisions of the link model.
    LinkLoss = 3,
    /// Topology generators (random geometric layouts, shadowing).
    Topology = 4,
}

/// SplitMix64's finaliser: a bijective 64-bit mix with good avalanche.
const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The 32-byte ChaCha key of `(seed, purpose, a, b)`.
pub fn derive_key(seed: u64, purpose: Purpose, a: u64, b: u64) -> [u8; 32] {
    let mut state = mix64(seed ^ 0x5252_4f43_4b4e_4554); // "RROCKNET"
    let mut key = [0u8; 32];
    let words = [purpose as u64, a, b, 0x9e37_79b9_7f4a_7c15];
    for (chunk, w) in key.chunks_exact_mut(8).zip(words) {
        state = mix64(state.wrapping_add(mix64(w)));
        chunk.copy_from_slice(&state.to_le_bytes());
    }
    key
}

/// A fresh ChaCha8 stream for `(seed, purpose, a, b)`.
pub fn keyed_rng(seed: u64, purpose: Purpose, a: u64, b: u64) -> ChaCha8Rng {
    ChaCha8Rng::from_seed(derive_key(seed, purpose, a, b))
}

/// A uniform integer in `0..=max` (rejection sampling on 32-bit words, so
/// no modulo bias).
pub fn uniform_inclusive<R: Rng + ?Sized>(rng: &mut R, max: u32) -> u32 {
    if max == u32::MAX {
        return rng.next_u32();
    }
    let range = max + 1;
    // The largest multiple of `range` that fits in 2^32, minus one.
    let zone = u32::MAX - (u32::MAX - max) % range;
    loop {
        let x = rng.next_u32();
        if x <= zone {
            return x % range;
        }
    }
}

/// Fisher–Yates shuffle. Written out here (rather than taken from `rand`) so
/// that the order for a given key never changes with a dependency's version.
pub fn shuffle<T, R: Rng + ?Sized>(items: &mut [T], rng: &mut R) {
    for i in (1..items.len()).rev() {
        let j = uniform_inclusive(rng, i as u32) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_a_permutation_and_uniform_enough() {
        let mut counts = [[0u32; 5]; 5];
        for trial in 0..20_000u64 {
            let mut v = [0usize, 1, 2, 3, 4];
            shuffle(&mut v, &mut keyed_rng(1, Purpose::Shuffle, trial, 0));
            let mut sorted = v;
            sorted.sort_unstable();
            assert_eq!(sorted, [0, 1, 2, 3, 4]);
            for (pos, &x) in v.iter().enumerate() {
                counts[x][pos] += 1;
            }
        }
        // Each cell expects 4000; 5 sigma ≈ 280.
        for row in counts {
            for n in row {
                assert!((3700..4300).contains(&n), "{counts:?}");
            }
        }
    }

    #[test]
    fn same_key_same_stream_and_keys_differ() {
        let a: [u32; 4] = core::array::from_fn({
            let mut r = keyed_rng(7, Purpose::Shuffle, 3, 0);
            move |_| r.next_u32()
        });
        let b: [u32; 4] = core::array::from_fn({
            let mut r = keyed_rng(7, Purpose::Shuffle, 3, 0);
            move |_| r.next_u32()
        });
        assert_eq!(a, b);
        let keys = [
            derive_key(7, Purpose::Shuffle, 3, 0),
            derive_key(8, Purpose::Shuffle, 3, 0),
            derive_key(7, Purpose::WeightInit, 3, 0),
            derive_key(7, Purpose::Shuffle, 4, 0),
            derive_key(7, Purpose::Shuffle, 3, 1),
            derive_key(7, Purpose::Shuffle, 0, 3),
        ];
        for i in 0..keys.len() {
            for j in i + 1..keys.len() {
                assert_ne!(keys[i], keys[j], "keys {i} and {j} collide");
            }
        }
    }
}
