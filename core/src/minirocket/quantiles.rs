//! Bias quantiles: the golden-ratio sequence and the reference's linear
//! interpolation.

/// The quantile of reference feature `feature_index` (0-based):
/// `frac((feature_index + 1)·φ)`, φ = (1+√5)/2, computed in f64 and rounded to f32
/// (the reference's `_quantiles`, whose first value is `q_1`).
pub fn quantile(feature_index: usize) -> f32 {
    let phi = (libm::sqrt(5.0) + 1.0) / 2.0;
    let x = (feature_index as f64 + 1.0) * phi;
    // x − floor(x) is exact for positive x, as numpy's `% 1` is.
    (x - libm::floor(x)) as f32
}

/// The `q` quantile of the ascending `sorted` values with linear
/// interpolation, in the reference's f64 arithmetic:
/// `r = (n−1)·((q64·100)/100)`, `m = r − floor(r)`, `lo·(1−m) + hi·m`, rounded to f32.
///
/// `sorted` must be non-empty (debug-asserted; an empty slice gives 0).
pub(crate) fn interpolated(sorted: &[f32], q: f32) -> f32 {
    debug_assert!(!sorted.is_empty());
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    let q64 = q as f64;
    let r = (n - 1) as f64 * ((q64 * 100.0) / 100.0);
    let floor = libm::floor(r);
    let m = r - floor;
    let lo_i = (floor as usize).min(n - 1);
    let hi_i = (lo_i + 1).min(n - 1);
    let lo = sorted[lo_i] as f64;
    let hi = sorted[hi_i] as f64;
    // Separate multiply and add (never FMA): bit-identical on every target.
    (lo * (1.0 - m) + hi * m) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_ratio_sequence() {
        // frac(φ), frac(2φ), frac(3φ) in f64 then f32.
        // numpy: np.float32([(i*phi) % 1 for i in (1, 2, 3)]) as doubles.
        assert_eq!(quantile(0) as f64, 0.618_034_005_165_100_1);
        assert_eq!(quantile(1) as f64, 0.236_067_980_527_877_8);
        assert_eq!(quantile(2) as f64, 0.854_101_955_890_655_5);
        let phi = (5f64.sqrt() + 1.0) / 2.0;
        for i in [10usize, 119, 9_995, 1_000_000] {
            let x = (i as f64 + 1.0) * phi;
            assert_eq!(quantile(i), (x % 1.0) as f32);
        }
    }

    #[test]
    fn linear_interpolation() {
        let s = [0.0f32, 1.0, 2.0, 4.0];
        assert_eq!(interpolated(&s, 0.5), 1.5);
        assert_eq!(interpolated(&s, 0.0), 0.0);
        assert_eq!(interpolated(&[7.0], 0.3), 7.0);
        // r = 3·(2/3) computed in f64 from the f32 quantile.
        let q = 2.0f32 / 3.0;
        let r = 3.0 * ((q as f64 * 100.0) / 100.0);
        let m = r - r.floor();
        assert_eq!(interpolated(&s, q), (2.0 * (1.0 - m) + 4.0 * m) as f32);
    }
}
