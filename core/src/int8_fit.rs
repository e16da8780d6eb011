//! Choosing the int8 scale of a training set, and checking that it keeps the
//! data's resolution.
//!
//! [`Int8ScaleRule::MaxAbs`] maps the largest |x| to ±127 (no value of the
//! training set clips). [`Int8ScaleRule::Quantile`] maps a quantile of the
//! nonzero |x| to ±127: larger values clip to ±127, and [`count_clipped`]
//! counts them. Quantiles use the nearest rank: the `⌈q·n⌉`-th smallest of
//! the `n` nonzero |x| (zeros are left out, so zero padding does not move
//! the scale).
//!
//! [`Int8Fit::resolution_steps`] is the outlier check: the int8 step that the
//! 99th percentile of the nonzero |x| falls on. One huge value (a 3e38 in a
//! z-normalised set) makes the max rule put 99 % of the data on a handful of
//! steps (or on 0); [`Int8Fit::is_degenerate`] says when it falls below
//! [`MIN_RESOLUTION_STEPS`].

use alloc::vec::Vec;

use crate::series::Int8Scale;

/// The percentile whose int8 step measures the resolution left.
pub const RESOLUTION_QUANTILE: f64 = 0.99;

/// Fewest int8 steps the 99th percentile of the nonzero |x| may fall on
/// (8 of 127: about 4 bits for 99 % of the data). The shipped datasets fall
/// on 66 (BasicMotions) to 115 (Coffee).
pub const MIN_RESOLUTION_STEPS: f32 = 8.0;

/// How the scale's reference magnitude (the |x| that maps to ±127) is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Int8ScaleRule {
    /// The largest |x| of the training set.
    MaxAbs,
    /// This quantile (in (0, 1]) of the training set's nonzero |x|.
    Quantile(f64),
}

/// One value of a set, by its index into the set's values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValueAt {
    /// Index into the values (`[series][channel][t]` layout).
    pub index: usize,
    /// The value.
    pub value: f32,
}

/// The scale chosen for a training set and the figures behind it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Int8Fit {
    /// The scale every process quantises with.
    pub scale: Int8Scale,
    /// The |x| that maps to ±127.
    pub reference_abs: f32,
    /// The value of largest |x| (the first, if several).
    pub largest: ValueAt,
    /// The 99th percentile of the nonzero |x| (0 if every value is 0).
    pub q99_abs: f32,
}

impl Int8Fit {
    /// Fits the scale of `rule` to `values` (a training set).
    ///
    /// [`Int8ScaleRule::MaxAbs`] gives exactly [`Int8Scale::from_values`].
    /// A quantile outside (0, 1] is clamped into it.
    pub fn new(values: &[f32], rule: Int8ScaleRule) -> Self {
        let largest = largest_abs(values);
        let mut nonzero: Vec<f32> = values
            .iter()
            .map(|x| libm::fabsf(*x))
            .filter(|a| *a > 0.0)
            .collect();
        let q99_abs = quantile_of(&mut nonzero, RESOLUTION_QUANTILE);
        let (scale, reference_abs) = match rule {
            Int8ScaleRule::MaxAbs => (Int8Scale::from_values(values), libm::fabsf(largest.value)),
            Int8ScaleRule::Quantile(q) => {
                let r = quantile_of(&mut nonzero, q);
                let per_unit = if r > 0.0 { 127.0 / r } else { 1.0 };
                (Int8Scale { per_unit }, r)
            }
        };
        Self {
            scale,
            reference_abs,
            largest,
            q99_abs,
        }
    }

    /// The int8 step the 99th percentile of the nonzero |x| maps to (before
    /// rounding; 127 or more when it clips).
    pub fn resolution_steps(&self) -> f32 {
        self.q99_abs * self.scale.per_unit
    }

    /// True if the scale leaves 99 % of the nonzero values fewer than
    /// [`MIN_RESOLUTION_STEPS`] steps (an all-zero set is not degenerate).
    pub fn is_degenerate(&self) -> bool {
        self.q99_abs > 0.0 && self.resolution_steps() < MIN_RESOLUTION_STEPS
    }
}

/// Values of `values` that `scale` clips (|round(x · per_unit)| > 127).
pub fn count_clipped(scale: &Int8Scale, values: &[f32]) -> usize {
    values
        .iter()
        .filter(|&&x| libm::fabsf(libm::roundf(x * scale.per_unit)) > 127.0)
        .count()
}

/// The first value of largest |x| (index 0, value 0 for an empty set).
fn largest_abs(values: &[f32]) -> ValueAt {
    let mut best = ValueAt {
        index: 0,
        value: values.first().copied().unwrap_or(0.0),
    };
    for (index, &value) in values.iter().enumerate() {
        if libm::fabsf(value) > libm::fabsf(best.value) {
            best = ValueAt { index, value };
        }
    }
    best
}

/// The nearest-rank `q` quantile of `xs` (reordered in place); 0 if empty.
fn quantile_of(xs: &mut [f32], q: f64) -> f32 {
    if xs.is_empty() {
        return 0.0;
    }
    let q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
    let rank = libm::ceil(q * xs.len() as f64) as usize;
    let k = rank.clamp(1, xs.len()) - 1;
    *xs.select_nth_unstable_by(k, f32::total_cmp).1
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn max_rule_is_from_values() {
        let v = [0.5f32, -2.0, 1.0, 0.0];
        let f = Int8Fit::new(&v, Int8ScaleRule::MaxAbs);
        assert_eq!(f.scale, Int8Scale::from_values(&v));
        assert_eq!(f.reference_abs, 2.0);
        assert_eq!(
            f.largest,
            ValueAt {
                index: 1,
                value: -2.0
            }
        );
        assert_eq!(count_clipped(&f.scale, &v), 0);
    }

    #[test]
    fn nearest_rank_quantiles() {
        // Nonzero |x|: 1..=100 (the zeros are left out).
        let mut v: Vec<f32> = (1..=100).map(|i| i as f32).collect();
        v.extend([0.0; 50]);
        let f = |q| Int8Fit::new(&v, Int8ScaleRule::Quantile(q)).reference_abs;
        assert_eq!(f(0.99), 99.0);
        assert_eq!(f(0.995), 100.0);
        assert_eq!(f(0.5), 50.0);
        assert_eq!(f(1.0), 100.0);
        assert_eq!(f(1e-9), 1.0);
        let fit = Int8Fit::new(&v, Int8ScaleRule::Quantile(0.5));
        assert_eq!(fit.scale.per_unit, 127.0 / 50.0);
        // 51..=100 round beyond 127 steps; 50 maps to exactly 127.
        assert_eq!(count_clipped(&fit.scale, &v), 50);
        assert_eq!(fit.q99_abs, 99.0);
    }

    #[test]
    fn one_outlier_is_degenerate_under_max_only() {
        // 10,000 values: the 0.999 quantile is the 9,990th, below the outlier.
        let mut v: Vec<f32> = (0..10_000).map(|i| libm::sinf(i as f32 * 0.1)).collect();
        assert!(!Int8Fit::new(&v, Int8ScaleRule::MaxAbs).is_degenerate());
        v[321] = 3e38;
        let max = Int8Fit::new(&v, Int8ScaleRule::MaxAbs);
        assert!(max.is_degenerate());
        assert_eq!(
            max.largest,
            ValueAt {
                index: 321,
                value: 3e38
            }
        );
        assert!(max.resolution_steps() < 1e-30);
        let q = Int8Fit::new(&v, Int8ScaleRule::Quantile(0.999));
        assert!(!q.is_degenerate(), "{}", q.resolution_steps());
        assert_eq!(count_clipped(&q.scale, &v), 1);
    }

    #[test]
    fn all_zero_is_not_degenerate() {
        let v = vec![0.0f32; 10];
        let f = Int8Fit::new(&v, Int8ScaleRule::Quantile(0.9));
        assert_eq!(f.scale.per_unit, 1.0);
        assert!(!f.is_degenerate());
    }
}
