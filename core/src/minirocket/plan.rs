//! Dilations and features per dilation (docs/method.md#dilations), as the reference's
//! `_fit_dilations` computes them.

use super::kernels::NUM_KERNELS;

/// Most dilations a plan can have: the reference's default
/// `max_dilations_per_kernel`, and the largest value
/// [`MiniRocketPlan::with_max_dilations`] accepts.
pub const MAX_DILATIONS: usize = 32;

/// The reference's default number of features (gives 9,996 = 84 × 119).
pub const DEFAULT_NUM_FEATURES: usize = 10_000;

/// Most features a plan accepts (2^20 = 1,048,576).
///
/// Far beyond MiniRocket's usual 10,000–50,000, and small enough that every
/// count stays exact in `u32` (features per kernel ≤ 12,483) and every
/// buffer sized from the plan stays sane; larger requests are rejected
/// rather than saturating into a runaway remainder loop.
pub const MAX_NUM_FEATURES: usize = 1 << 20;

/// Longest series a plan accepts.
///
/// Keeps every count of positions exact in f32 (PPV = count / positions is
/// then computed identically in f32 and in the reference's f64), and every
/// dilation within `u32`.
pub const MAX_LENGTH: usize = 1 << 24;

/// Most channels a plan accepts (channel indices are stored as `u16`).
pub const MAX_CHANNELS: usize = u16::MAX as usize + 1;

/// Why a [`MiniRocketPlan`] cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The series is shorter than the kernel (9).
    #[error("series length {0} is shorter than the kernel length 9")]
    TooShort(usize),
    /// The series is longer than [`MAX_LENGTH`].
    #[error("series length {0} exceeds the supported maximum {MAX_LENGTH}")]
    TooLong(usize),
    /// No channels.
    #[error("a series needs at least one channel")]
    NoChannels,
    /// More channels than [`MAX_CHANNELS`].
    #[error("{0} channels exceed the supported maximum {MAX_CHANNELS}")]
    TooManyChannels(usize),
    /// `num_features` was 0.
    #[error("num_features must be positive")]
    NoFeatures,
    /// `num_features` exceeds [`MAX_NUM_FEATURES`].
    #[error("num_features {0} exceeds the supported maximum {MAX_NUM_FEATURES}")]
    TooManyFeatures(usize),
    /// `max_dilations_per_kernel` is outside `1..=`[`MAX_DILATIONS`].
    #[error("max_dilations_per_kernel {0} is outside 1..={MAX_DILATIONS}")]
    InvalidMaxDilations(usize),
}

/// The shape of a MiniRocket transform: series length, channels, dilations
/// and features per dilation.
///
/// A pure function of `(length, n_channels, num_features,
/// max_dilations_per_kernel)`, so every device computes the same plan.
/// Features are numbered in reference order:
/// dilation `j` → kernel `k` (0..84) → the `f_j` biases of block `(j, k)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MiniRocketPlan {
    length: usize,
    n_channels: usize,
    dilations: [u32; MAX_DILATIONS],
    features_per_dilation: [u32; MAX_DILATIONS],
    count: usize,
    max_dilations_per_kernel: usize,
    /// Prefix sums of `features_per_dilation` (`[j]` = `Σ_{j' < j} f_j'`),
    /// cached because the transform needs them per block.
    feature_offsets: [usize; MAX_DILATIONS + 1],
}

impl MiniRocketPlan {
    /// Computes the plan for series of `length` steps and `n_channels`
    /// channels, asking for `num_features` features (rounded down to a
    /// multiple of 84; fewer than 84 counts as 84), with the reference's
    /// default `max_dilations_per_kernel` of 32 ([`MAX_DILATIONS`]).
    ///
    /// Same as [`with_max_dilations`](Self::with_max_dilations)`(length,
    /// n_channels, num_features, 32)`.
    pub fn new(length: usize, n_channels: usize, num_features: usize) -> Result<Self, PlanError> {
        Self::with_max_dilations(length, n_channels, num_features, MAX_DILATIONS)
    }

    /// [`new`](Self::new) with the reference's `max_dilations_per_kernel`
    /// parameter: at most that many dilation points (fewer distinct
    /// dilations after deduplication), each carrying
    /// `features_per_kernel / points` features.
    ///
    /// RockNet's FaceAll configuration is `with_max_dilations(131, 1, 9_660,
    /// 5)`: dilations 1, 2, 4, 8, 16 with 23 features each.
    ///
    /// Errors: `length` outside `9..=`[`MAX_LENGTH`], `n_channels` outside
    /// `1..=`[`MAX_CHANNELS`], `num_features` outside
    /// `1..=`[`MAX_NUM_FEATURES`], `max_dilations_per_kernel` outside
    /// `1..=`[`MAX_DILATIONS`].
    pub fn with_max_dilations(
        length: usize,
        n_channels: usize,
        num_features: usize,
        max_dilations_per_kernel: usize,
    ) -> Result<Self, PlanError> {
        if length < 9 {
            return Err(PlanError::TooShort(length));
        }
        if length > MAX_LENGTH {
            return Err(PlanError::TooLong(length));
        }
        if n_channels == 0 {
            return Err(PlanError::NoChannels);
        }
        if n_channels > MAX_CHANNELS {
            return Err(PlanError::TooManyChannels(n_channels));
        }
        if num_features == 0 {
            return Err(PlanError::NoFeatures);
        }
        if num_features > MAX_NUM_FEATURES {
            return Err(PlanError::TooManyFeatures(num_features));
        }
        if !(1..=MAX_DILATIONS).contains(&max_dilations_per_kernel) {
            return Err(PlanError::InvalidMaxDilations(max_dilations_per_kernel));
        }
        let per_kernel = num_features.max(NUM_KERNELS) / NUM_KERNELS;
        let m = per_kernel.min(max_dilations_per_kernel);
        let multiplier = per_kernel as f64 / m as f64;

        // Points 2^(e·i/(m−1)) with a scalar f64 pow (libm's and glibc's
        // agree on every near-integer case for L < 20,000, m ≤ 32).
        let max_exponent = libm::log2((length - 1) as f64 / 8.0);
        let mut raw = [0u32; MAX_DILATIONS];
        if m == 1 {
            raw[0] = 1;
        } else {
            for (i, r) in raw.iter_mut().enumerate().take(m - 1) {
                let y = max_exponent * i as f64 / (m - 1) as f64;
                *r = libm::floor(libm::pow(2.0, y)) as u32;
            }
            // docs/method.md#dilations: the last dilation is exactly floor((L−1)/8). Computed,
            // 2^log2(N) lands one ulp below N for many integers N (L = 41:
            // 4.999…, with glibc as with libm), which would drop it.
            raw[m - 1] = ((length - 1) / 8) as u32;
        }
        // np.unique sorts; the points are already non-decreasing, but sorting
        // keeps the result well-defined even if pow were not monotone.
        let raw = &mut raw[..m];
        raw.sort_unstable();

        let mut dilations = [0u32; MAX_DILATIONS];
        let mut counts = [0u32; MAX_DILATIONS];
        let mut count = 0usize;
        for &d in raw.iter() {
            if count > 0 && dilations[count - 1] == d {
                counts[count - 1] += 1;
            } else {
                dilations[count] = d;
                counts[count] = 1;
                count += 1;
            }
        }

        let mut features_per_dilation = [0u32; MAX_DILATIONS];
        let mut total = 0usize;
        for (f, &c) in features_per_dilation.iter_mut().zip(&counts).take(count) {
            *f = libm::floor(c as f64 * multiplier) as u32;
            total += *f as usize;
        }
        // The remainder goes +1 at a time, round-robin from the first dilation.
        let mut remainder = per_kernel.saturating_sub(total);
        let mut i = 0;
        while remainder > 0 {
            features_per_dilation[i] += 1;
            remainder -= 1;
            i = (i + 1) % count;
        }

        let mut feature_offsets = [0usize; MAX_DILATIONS + 1];
        for j in 0..MAX_DILATIONS {
            feature_offsets[j + 1] = feature_offsets[j] + features_per_dilation[j] as usize;
        }

        Ok(Self {
            length,
            n_channels,
            dilations,
            features_per_dilation,
            count,
            max_dilations_per_kernel,
            feature_offsets,
        })
    }

    /// Series length (time steps per channel).
    pub fn length(&self) -> usize {
        self.length
    }

    /// Channels per series.
    pub fn n_channels(&self) -> usize {
        self.n_channels
    }

    /// Whether the plan is univariate (one channel: no channel subsets).
    pub fn is_univariate(&self) -> bool {
        self.n_channels == 1
    }

    /// The `max_dilations_per_kernel` the plan was built with (32 for
    /// [`new`](Self::new)); [`n_dilations`](Self::n_dilations) never exceeds it.
    pub fn max_dilations_per_kernel(&self) -> usize {
        self.max_dilations_per_kernel
    }

    /// Number of distinct dilations.
    pub fn n_dilations(&self) -> usize {
        self.count
    }

    /// The dilations, increasing.
    pub fn dilations(&self) -> &[u32] {
        &self.dilations[..self.count]
    }

    /// Features (biases) per kernel at each dilation.
    pub fn features_per_dilation(&self) -> &[u32] {
        &self.features_per_dilation[..self.count]
    }

    /// Largest dilation.
    pub fn max_dilation(&self) -> usize {
        self.dilations[self.count - 1] as usize
    }

    /// Features per kernel over all dilations, `Σ_j f_j`.
    pub fn features_per_kernel(&self) -> usize {
        self.feature_offsets[self.count]
    }

    /// Total features, `84 · Σ_j f_j` (9,996 for the default 10,000).
    pub fn num_features(&self) -> usize {
        NUM_KERNELS * self.features_per_kernel()
    }

    /// Number of (dilation, kernel) blocks, `84 · n_dilations`; block
    /// `b = j·84 + k` in reference order.
    pub fn num_blocks(&self) -> usize {
        NUM_KERNELS * self.count
    }

    /// `Σ_{j' < j} f_j'`: where dilation `j`'s features start inside one
    /// kernel's features (`j` may equal `n_dilations()`).
    pub fn dilation_feature_offset(&self, j: usize) -> usize {
        self.feature_offsets[j.min(self.count)]
    }

    /// First reference-order feature index of block `(j, k)`.
    ///
    /// `j = n_dilations()` (with `k = 0`) gives `num_features()`, the end.
    pub fn reference_block_offset(&self, j: usize, k: usize) -> usize {
        let f_j = if j < self.count {
            self.features_per_dilation[j] as usize
        } else {
            0
        };
        NUM_KERNELS * self.dilation_feature_offset(j) + k * f_j
    }

    /// First reference-order feature index of block `b = j·84 + k`
    /// (`b = num_blocks()` gives `num_features()`).
    pub fn reference_block_offset_of(&self, b: usize) -> usize {
        self.reference_block_offset(b / NUM_KERNELS, b % NUM_KERNELS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn table(length: usize, num_features: usize) -> (Vec<u32>, Vec<u32>) {
        let p = MiniRocketPlan::new(length, 1, num_features).unwrap();
        (p.dilations().to_vec(), p.features_per_dilation().to_vec())
    }

    #[test]
    fn design_table() {
        assert_eq!(table(9, 10_000), (vec![1], vec![119]));
        assert_eq!(table(10, 10_000), (vec![1], vec![119]));
        assert_eq!(table(24, 10_000), (vec![1, 2], vec![79, 40]));
        assert_eq!(table(25, 10_000), (vec![1, 2, 3], vec![75, 41, 3]));
        assert_eq!(
            table(100, 10_000),
            (
                (1..=12).collect(),
                vec![34, 19, 15, 8, 12, 4, 8, 7, 3, 3, 3, 3]
            )
        );
        assert_eq!(
            table(150, 10_000),
            (
                vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16, 18],
                vec![30, 15, 12, 12, 4, 8, 8, 4, 4, 4, 3, 3, 3, 3, 3, 3]
            )
        );
        let mut f427 = vec![23, 12, 8, 8, 4, 8];
        f427.extend([4; 8]);
        f427.extend([3; 8]);
        assert_eq!(
            table(427, 10_000),
            (
                vec![
                    1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 14, 16, 19, 21, 24, 28, 31, 36, 41, 46, 53
                ],
                f427
            )
        );
        assert_eq!(table(150, 336), (vec![1, 2, 7, 18], vec![1, 1, 1, 1]));
    }

    #[test]
    fn default_feature_count() {
        for l in [9, 24, 25, 100, 150, 427, 1000] {
            let p = MiniRocketPlan::new(l, 1, DEFAULT_NUM_FEATURES).unwrap();
            assert_eq!(p.num_features(), 9_996);
            assert_eq!(p.features_per_kernel(), 119);
            assert_eq!(p.num_blocks(), 84 * p.n_dilations());
        }
        // Fewer than 84 features counts as 84: one dilation (1), one feature.
        let p = MiniRocketPlan::new(150, 1, 10).unwrap();
        assert_eq!(
            (p.dilations(), p.features_per_dilation()),
            (&[1u32][..], &[1u32][..])
        );
        assert_eq!(p.num_features(), 84);
    }

    #[test]
    fn last_dilation_is_exact_even_where_pow_misses() {
        // 2^log2(5) = 4.999… in f64: the last dilation must still be 5.
        assert!(libm::pow(2.0, libm::log2(5.0)) < 5.0);
        let p = MiniRocketPlan::new(41, 1, DEFAULT_NUM_FEATURES).unwrap();
        assert_eq!(p.max_dilation(), 5);
    }

    #[test]
    fn errors() {
        assert_eq!(MiniRocketPlan::new(8, 1, 100), Err(PlanError::TooShort(8)));
        assert_eq!(MiniRocketPlan::new(9, 0, 100), Err(PlanError::NoChannels));
        assert_eq!(MiniRocketPlan::new(9, 1, 0), Err(PlanError::NoFeatures));
    }

    fn table_max(length: usize, num_features: usize, max_dilations: usize) -> (Vec<u32>, Vec<u32>) {
        let p = MiniRocketPlan::with_max_dilations(length, 1, num_features, max_dilations).unwrap();
        assert_eq!(p.max_dilations_per_kernel(), max_dilations);
        assert!(p.n_dilations() <= max_dilations);
        (p.dilations().to_vec(), p.features_per_dilation().to_vec())
    }

    #[test]
    fn max_dilations_matches_reference() {
        // Values from the reference's `_fit_dilations(L, num_features,
        // max_dilations_per_kernel)` (np.logspace, np.unique), run locally.
        // RockNet's FaceAll: 84 kernels × 5 dilations × 23 biases = 9,660.
        let p = MiniRocketPlan::with_max_dilations(131, 1, 9_660, 5).unwrap();
        assert_eq!(p.dilations(), &[1, 2, 4, 8, 16]);
        assert_eq!(p.features_per_dilation(), &[23; 5]);
        assert_eq!(p.num_features(), 9_660);
        assert_eq!(p.num_blocks(), 84 * 5);
        // The default (32) at the same size is a different plan.
        assert_eq!(
            table(131, 9_660),
            (
                vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16],
                vec![29, 18, 11, 8, 8, 8, 8, 4, 3, 3, 3, 3, 3, 3, 3]
            )
        );
        assert_eq!(
            table_max(131, 10_000, 5),
            (vec![1, 2, 4, 8, 16], vec![24, 24, 24, 24, 23])
        );
        assert_eq!(table_max(131, 10_000, 1), (vec![1], vec![119]));
        assert_eq!(table_max(131, 10_000, 2), (vec![1, 16], vec![60, 59]));
        assert_eq!(
            table_max(150, 10_000, 8),
            (
                vec![1, 2, 3, 5, 8, 12, 18],
                vec![30, 15, 15, 15, 15, 15, 14]
            )
        );
        assert_eq!(
            table_max(427, 10_000, 10),
            (
                vec![1, 2, 3, 5, 9, 14, 22, 34, 53],
                vec![24, 12, 12, 12, 12, 12, 12, 12, 11]
            )
        );
        assert_eq!(
            table_max(100, 10_000, 3),
            (vec![1, 3, 12], vec![40, 40, 39])
        );
        assert_eq!(table_max(24, 10_000, 5), (vec![1, 2], vec![72, 47]));
        assert_eq!(table_max(131, 336, 3), (vec![1, 4, 16], vec![2, 1, 1]));
        assert_eq!(
            table_max(500, 20_000, 16),
            (
                vec![1, 2, 3, 5, 6, 9, 11, 15, 20, 27, 35, 47, 62],
                vec![45, 15, 30, 15, 15, 15, 15, 15, 15, 15, 15, 14, 14]
            )
        );
        assert_eq!(
            table_max(1000, 50_000, 7),
            (vec![1, 2, 4, 11, 24, 55, 124], vec![85; 7])
        );
    }

    #[test]
    fn new_is_max_dilations_32() {
        for (l, nf) in [
            (9, 10_000),
            (131, 9_660),
            (150, 336),
            (427, 10_000),
            (1000, 50_000),
        ] {
            let a = MiniRocketPlan::new(l, 1, nf).unwrap();
            assert_eq!(a, MiniRocketPlan::with_max_dilations(l, 1, nf, 32).unwrap());
            assert_eq!(a.max_dilations_per_kernel(), MAX_DILATIONS);
        }
    }

    #[test]
    fn max_dilations_range() {
        for bad in [0, 33, 64, usize::MAX] {
            assert_eq!(
                MiniRocketPlan::with_max_dilations(131, 1, 9_660, bad),
                Err(PlanError::InvalidMaxDilations(bad))
            );
        }
        for m in 1..=MAX_DILATIONS {
            for l in [9, 41, 131, 1000] {
                let p = MiniRocketPlan::with_max_dilations(l, 1, 10_000, m).unwrap();
                assert!(p.n_dilations() <= m);
                assert_eq!(p.features_per_kernel(), 119);
                assert_eq!(p.max_dilation(), if m == 1 { 1 } else { (l - 1) / 8 });
                assert!(p.dilations().windows(2).all(|w| w[0] < w[1]));
            }
        }
    }

    #[test]
    fn too_many_features_is_an_error_not_a_loop() {
        let start = std::time::Instant::now();
        for nf in [
            MAX_NUM_FEATURES + 1,
            1 << 40,
            4_611_686_018_427_387_904,
            usize::MAX,
        ] {
            assert_eq!(
                MiniRocketPlan::new(131, 1, nf),
                Err(PlanError::TooManyFeatures(nf))
            );
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        // The maximum itself is fine: 12,483 features per kernel.
        let p = MiniRocketPlan::new(131, 1, MAX_NUM_FEATURES).unwrap();
        assert_eq!(p.features_per_kernel(), MAX_NUM_FEATURES / 84);
        assert_eq!(p.num_features(), 84 * (MAX_NUM_FEATURES / 84));
    }

    #[test]
    fn last_dilation_and_positions() {
        for l in 9..5000usize {
            let p = MiniRocketPlan::new(l, 1, DEFAULT_NUM_FEATURES).unwrap();
            assert_eq!(p.max_dilation(), (l - 1) / 8);
            // The valid-only blocks keep at least one position.
            assert!(l > 8 * p.max_dilation());
            assert_eq!(p.features_per_kernel(), 119);
            assert!(p.dilations().windows(2).all(|w| w[0] < w[1]));
            assert!(p.features_per_dilation().iter().all(|&f| f >= 1));
        }
    }

    #[test]
    fn offsets() {
        let p = MiniRocketPlan::new(150, 1, DEFAULT_NUM_FEATURES).unwrap();
        assert_eq!(p.reference_block_offset(0, 0), 0);
        assert_eq!(p.reference_block_offset(0, 1), 30);
        assert_eq!(p.reference_block_offset(1, 0), 84 * 30);
        assert_eq!(p.reference_block_offset(1, 2), 84 * 30 + 2 * 15);
        assert_eq!(
            p.reference_block_offset(p.n_dilations(), 0),
            p.num_features()
        );
        assert_eq!(
            p.reference_block_offset_of(p.num_blocks()),
            p.num_features()
        );
    }
}
