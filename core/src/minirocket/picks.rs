//! NumPy's legacy `RandomState` draws on MT19937, bit for bit.
//!
//! The reference seeds MT19937 with `init_genrand(seed)` (`np.random.seed`)
//! and draws with NumPy's legacy algorithms; reproducing them exactly makes
//! our bias fit pick the same training examples as the reference.

use rand_mt::Mt;

/// The subset of NumPy's legacy `RandomState` that MiniRocket uses, on
/// MT19937 seeded by `init_genrand(seed)`.
#[derive(Clone, Debug)]
pub struct LegacyRandomState {
    mt: Mt,
}

impl LegacyRandomState {
    /// `np.random.seed(seed)`: MT19937 `init_genrand(seed)`.
    pub fn new(seed: u32) -> Self {
        Self { mt: Mt::new(seed) }
    }

    /// The next raw 32-bit MT19937 output.
    pub fn next_u32(&mut self) -> u32 {
        self.mt.next_u32()
    }

    /// Legacy `random_interval(max)`: uniform in `0..=max` by masked
    /// rejection (draws nothing when `max == 0`). Used by `shuffle`.
    pub fn interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mask = mask_for(max);
        if max <= u32::MAX as u64 {
            let mask = mask as u32;
            loop {
                let v = (self.mt.next_u32() & mask) as u64;
                if v <= max {
                    return v;
                }
            }
        } else {
            loop {
                let v = self.next_u64() & mask;
                if v <= max {
                    return v;
                }
            }
        }
    }

    /// Legacy `randint(n)`: uniform in `0..n`, i.e. `interval(n − 1)`
    /// (NumPy's masked bounded draw; `n ≤ 1` draws nothing and gives 0).
    pub fn randint(&mut self, n: u64) -> u64 {
        self.interval(n.saturating_sub(1))
    }

    /// Legacy `random_sample()`: a double in [0, 1) with 53 random bits from
    /// two words, `((a >> 5)·2^26 + (b >> 6)) / 2^53`.
    pub fn random_sample(&mut self) -> f64 {
        let a = (self.mt.next_u32() >> 5) as f64;
        let b = (self.mt.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// Skips `n` 32-bit outputs.
    pub fn discard(&mut self, n: usize) {
        for _ in 0..n {
            self.mt.next_u32();
        }
    }

    /// NumPy's MT19937 `next_uint64`: high word first.
    fn next_u64(&mut self) -> u64 {
        let hi = self.mt.next_u32() as u64;
        (hi << 32) | self.mt.next_u32() as u64
    }
}

/// The smallest `2^k − 1 ≥ max`.
fn mask_for(max: u64) -> u64 {
    let mut m = max;
    m |= m >> 1;
    m |= m >> 2;
    m |= m >> 4;
    m |= m >> 8;
    m |= m >> 16;
    m |= m >> 32;
    m
}

/// Picks the training example of each (dilation, kernel) block, exactly as
/// the reference: `randint(n)` per block, in reference block order, on
/// MT19937 `init_genrand(seed)`.
#[derive(Clone, Debug)]
pub struct ExamplePicker {
    rng: LegacyRandomState,
}

impl ExamplePicker {
    /// A picker seeded like `np.random.seed(seed)`.
    pub fn new(seed: u32) -> Self {
        Self {
            rng: LegacyRandomState::new(seed),
        }
    }

    /// The next pick, uniform in `0..n` (`randint(n)`). `n ≤ 1` gives 0
    /// without drawing, as NumPy does for a one-value range.
    pub fn pick(&mut self, n: usize) -> usize {
        self.rng.randint(n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picks(seed: u32, n: usize) -> [usize; 10] {
        let mut p = ExamplePicker::new(seed);
        core::array::from_fn(|_| p.pick(n))
    }

    #[test]
    fn mt19937_first_word() {
        assert_eq!(LegacyRandomState::new(0).next_u32(), 0x8c7f_0aac);
    }

    #[test]
    fn design_picks() {
        assert_eq!(picks(0, 50), [44, 47, 0, 3, 3, 39, 9, 19, 21, 36]);
        assert_eq!(
            picks(0, 560),
            [559, 192, 359, 9, 277, 70, 472, 396, 314, 486]
        );
        assert_eq!(picks(42, 50), [38, 28, 14, 42, 7, 20, 38, 18, 22, 10]);
    }

    #[test]
    fn one_example_draws_nothing() {
        let mut p = ExamplePicker::new(0);
        assert_eq!(p.pick(1), 0);
        assert_eq!(p.pick(0), 0);
        assert_eq!(p.pick(50), 44);
    }

    #[test]
    fn random_sample_matches_numpy() {
        // np.random.seed(0); np.random.random_sample(2)
        let mut r = LegacyRandomState::new(0);
        assert_eq!(r.random_sample(), 0.548_813_503_927_324_8);
        assert_eq!(r.random_sample(), 0.715_189_366_372_419_5);
    }

    #[test]
    fn shuffle_matches_numpy_permutation() {
        // np.random.seed(0); np.random.permutation(10): legacy shuffle draws
        // interval(i) for i = n−1 down to 1 and swaps.
        let mut r = LegacyRandomState::new(0);
        let mut a: [u32; 10] = core::array::from_fn(|i| i as u32);
        for i in (1..a.len()).rev() {
            let j = r.interval(i as u64) as usize;
            a.swap(i, j);
        }
        assert_eq!(a, [2, 8, 4, 9, 1, 6, 7, 3, 0, 5]);
    }

    #[test]
    fn mask() {
        assert_eq!(mask_for(1), 1);
        assert_eq!(mask_for(49), 63);
        assert_eq!(mask_for(64), 127);
        assert_eq!(mask_for(u32::MAX as u64), u32::MAX as u64);
    }
}
