//! Exact, partition-independent logits (docs/method.md#exact-partial-logits).
//!
//! Every product `w·f` is rounded to fixed point with [`LOGIT_FRAC_BITS`]
//! fractional bits and summed in `i64`. Integer addition is associative, so a
//! logit is the same bit pattern whether one device sums all 10,000 products
//! or twenty devices each sum 500 and the partial sums are added in any order.
//! Plain f32 summation would change with the grouping.

/// Fractional bits of the fixed-point logit representation.
pub const LOGIT_FRAC_BITS: u32 = 20;

/// The largest number of classes a model may have (partial logits are
/// fixed-size so that no allocation is needed on the device or the wire).
pub const MAX_CLASSES: usize = 64;

const SCALE: f32 = (1u64 << LOGIT_FRAC_BITS) as f32;
const INV_SCALE: f32 = 1.0 / SCALE;

/// `w·f` in fixed point: `w·f` rounded to f32, scaled by 2^20 (exact), then
/// rounded half away from zero by adding ±0.5 and truncating.
///
/// The ±0.5 addition is exact while |w·f| < 8 (every product of a MiniRocket
/// feature in [0, 1] with a trained weight, in practice); beyond, it rounds
/// in f32 — still the same on every IEEE-754 target, which is what exactness
/// across partitions and architectures needs.
#[inline(always)]
pub fn product_to_fixed(w: f32, f: f32) -> i64 {
    let s = w * f * SCALE;
    let r = if s >= 0.0 { s + 0.5 } else { s - 0.5 };
    r as i64
}

/// A value (e.g. a class bias, multiplied by 1) in fixed point.
#[inline(always)]
pub fn value_to_fixed(v: f32) -> i64 {
    product_to_fixed(v, 1.0)
}

/// A fixed-point sum back in f32 (one rounding, deterministic).
#[inline(always)]
pub fn fixed_to_f32(x: i64) -> f32 {
    (x as f32) * INV_SCALE
}

/// One device's contribution to the logits of one sample: C fixed-point
/// values as they travel on the radio (i32, docs/wire.md#bodies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialLogits {
    n_classes: usize,
    values: [i32; MAX_CLASSES],
    saturated: u16,
}

impl PartialLogits {
    /// Converts a device's i64 sums to the i32 wire form, saturating (and
    /// counting how many values had to be clamped).
    pub fn from_sums(sums: &[i64]) -> Self {
        debug_assert!(sums.len() <= MAX_CLASSES);
        let mut values = [0i32; MAX_CLASSES];
        let mut saturated = 0u16;
        for (v, &s) in values.iter_mut().zip(sums) {
            let clamped = s.clamp(i32::MIN as i64, i32::MAX as i64);
            if clamped != s {
                saturated += 1;
            }
            *v = clamped as i32;
        }
        Self {
            n_classes: sums.len().min(MAX_CLASSES),
            values,
            saturated,
        }
    }

    /// Rebuilds partial logits received as i32 values (e.g. from the wire).
    pub fn from_wire(values: &[i32]) -> Self {
        let mut v = [0i32; MAX_CLASSES];
        let n = values.len().min(MAX_CLASSES);
        v[..n].copy_from_slice(&values[..n]);
        Self {
            n_classes: n,
            values: v,
            saturated: 0,
        }
    }

    /// The C fixed-point values.
    pub fn values(&self) -> &[i32] {
        &self.values[..self.n_classes]
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// How many values were clamped to the i32 range when this was built.
    pub fn saturated(&self) -> u16 {
        self.saturated
    }
}

/// Partial logits with a different number of classes than the totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("partial logits have {got} classes, the model {expected}")]
pub struct ClassCountMismatch {
    /// Classes of the model.
    pub expected: usize,
    /// Classes in the contribution.
    pub got: usize,
}

/// The sum of all devices' partial logits for one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogitTotals {
    n_classes: usize,
    sums: [i64; MAX_CLASSES],
    contributions: u16,
}

impl LogitTotals {
    /// Zero totals for `n_classes` classes (at most [`MAX_CLASSES`]).
    pub fn new(n_classes: usize) -> Self {
        debug_assert!(n_classes <= MAX_CLASSES);
        Self {
            n_classes: n_classes.min(MAX_CLASSES),
            sums: [0; MAX_CLASSES],
            contributions: 0,
        }
    }

    /// Adds one device's contribution; order does not matter. A
    /// contribution with another number of classes (e.g. from a device with
    /// a different plan) is refused and changes nothing.
    pub fn add(&mut self, p: &PartialLogits) -> Result<(), ClassCountMismatch> {
        if p.n_classes() != self.n_classes {
            return Err(ClassCountMismatch {
                expected: self.n_classes,
                got: p.n_classes(),
            });
        }
        for (s, &v) in self.sums[..self.n_classes].iter_mut().zip(p.values()) {
            *s += v as i64;
        }
        self.contributions += 1;
        Ok(())
    }

    /// How many contributions were added.
    pub fn contributions(&self) -> u16 {
        self.contributions
    }

    /// The fixed-point sums.
    pub fn sums(&self) -> &[i64] {
        &self.sums[..self.n_classes]
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// The logits as f32 into `out` (length C).
    pub fn to_f32(&self, out: &mut [f32]) {
        for (o, &s) in out.iter_mut().zip(self.sums()) {
            *o = fixed_to_f32(s);
        }
    }

    /// The predicted class: the largest exact sum (ties go to the lower index).
    pub fn argmax(&self) -> usize {
        let mut best = 0;
        for (c, &s) in self.sums().iter().enumerate() {
            if s > self.sums[best] {
                best = c;
            }
        }
        best
    }
}

/// Softmax of `logits` into `probs` (max-subtracted; `libm::expf` so that
/// host and firmware agree bit for bit).
pub fn softmax(logits: &[f32], probs: &mut [f32]) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for (p, &z) in probs.iter_mut().zip(logits) {
        *p = libm::expf(z - max);
        sum += *p;
    }
    let inv = 1.0 / sum;
    for p in probs.iter_mut() {
        *p *= inv;
    }
}

/// Cross-entropy `−ln p_y` of a probability vector (for reporting the loss).
pub fn cross_entropy(probs: &[f32], label: usize) -> f32 {
    -libm::logf(probs[label].max(f32::MIN_POSITIVE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_rounds_half_away_and_round_trips() {
        assert_eq!(product_to_fixed(1.0, 1.0), 1 << 20);
        assert_eq!(product_to_fixed(-1.0, 0.5), -(1 << 19));
        // 2^-21 is exactly half a step: rounds away from zero.
        assert_eq!(value_to_fixed(libm::ldexpf(1.0, -21)), 1);
        assert_eq!(value_to_fixed(-libm::ldexpf(1.0, -21)), -1);
        assert_eq!(fixed_to_f32(3 << 19), 1.5);
    }

    #[test]
    fn sums_are_independent_of_grouping() {
        // Products that would round differently if summed in f32 first.
        let w = [0.1f32, 1e-4, -0.3333, 7.77, 1e-7, -2.5];
        let f = [0.9f32, 0.01, 0.5, 0.126_666, 1.0, 0.333_333];
        let all: i64 = w
            .iter()
            .zip(&f)
            .map(|(&w, &f)| product_to_fixed(w, f))
            .sum();
        let a: i64 = (0..3).map(|i| product_to_fixed(w[i], f[i])).sum();
        let b: i64 = (3..6).map(|i| product_to_fixed(w[i], f[i])).sum();
        let mut t = LogitTotals::new(1);
        t.add(&PartialLogits::from_sums(&[b])).unwrap();
        t.add(&PartialLogits::from_sums(&[a])).unwrap();
        assert!(t.add(&PartialLogits::from_sums(&[a, b])).is_err());
        assert_eq!(t.sums()[0], all);
        assert_eq!(t.contributions(), 2);
    }

    #[test]
    fn saturation_is_counted() {
        let p = PartialLogits::from_sums(&[i64::MAX, -5, i64::MIN]);
        assert_eq!(p.values(), &[i32::MAX, -5, i32::MIN]);
        assert_eq!(p.saturated(), 2);
    }

    #[test]
    fn softmax_sums_to_one_and_argmax_prefers_lower_index() {
        let mut p = [0.0f32; 3];
        softmax(&[1000.0, 1000.0, -1000.0], &mut p);
        assert!((p[0] - 0.5).abs() < 1e-6 && p[2] == 0.0);
        let mut t = LogitTotals::new(3);
        t.add(&PartialLogits::from_wire(&[5, 9, 9])).unwrap();
        assert_eq!(t.argmax(), 1);
    }
}
