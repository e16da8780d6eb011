//! The classifier's two per-sample loops over a device's features: the
//! fixed-point dot product of a weight row ([`fixed_dot`]) and the gradient
//! row update ([`add_scaled`]).
//!
//! Contract: both return exactly the bits of their scalar definitions
//! ([`fixed_dot_scalar`], [`add_scaled_scalar`]) for every input, NaN and
//! overflow included. On an x86_64 host with `std`, an AVX2 path is chosen at
//! run time; elsewhere (the firmware) the scalar loop runs. (AVX-512
//! intrinsics need Rust 1.89, above the workspace's minimum.) The vector paths
//! keep every f32 operation of the scalar one (same operands, same order, no
//! FMA) and only regroup the integer sum, which is associative (wrapping,
//! as the scalar sum is in release builds).

use super::logits::product_to_fixed;

/// `Σ_i product_to_fixed(w[i], x[i])` over the common length (wrapping).
#[inline]
pub fn fixed_dot(w: &[f32], x: &[f32]) -> i64 {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present (checked above).
        return unsafe { avx2::fixed_dot(w, x) };
    }
    fixed_dot_scalar(w, x)
}

/// The definition of [`fixed_dot`]: one product at a time.
pub fn fixed_dot_scalar(w: &[f32], x: &[f32]) -> i64 {
    w.iter()
        .zip(x)
        .fold(0i64, |s, (&w, &f)| s.wrapping_add(product_to_fixed(w, f)))
}

/// `g[i] += d·x[i]` over the common length (one f32 product, one f32 sum per
/// element, never fused).
#[inline]
pub fn add_scaled(g: &mut [f32], d: f32, x: &[f32]) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present (checked above).
        unsafe { avx2::add_scaled(g, d, x) };
        return;
    }
    add_scaled_scalar(g, d, x);
}

/// The definition of [`add_scaled`].
#[inline(always)]
pub fn add_scaled_scalar(g: &mut [f32], d: f32, x: &[f32]) {
    for (g, &f) in g.iter_mut().zip(x) {
        *g += d * f;
    }
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod avx2 {
    use core::arch::x86_64::*;

    use super::super::logits::product_to_fixed;

    const LANES: usize = 8;

    /// Eight products at a time: `(w·x)·2^20`, ±0.5 by sign, then truncation
    /// to i32 — exact whenever every lane is below 2^31 in magnitude, which
    /// the chunk checks; a chunk with a larger or NaN lane is summed by the
    /// scalar definition instead (saturating `as i64`).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn fixed_dot(w: &[f32], x: &[f32]) -> i64 {
        let n = w.len().min(x.len());
        let (w, x) = (&w[..n], &x[..n]);
        let chunks = n / LANES;
        let scale = _mm256_set1_ps((1u64 << super::super::logits::LOGIT_FRAC_BITS) as f32);
        let half = _mm256_set1_ps(0.5);
        let zero = _mm256_setzero_ps();
        let limit = _mm256_set1_ps(2_147_483_648.0);
        let abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
        let mut acc_lo = _mm256_setzero_si256();
        let mut acc_hi = _mm256_setzero_si256();
        let mut total = 0i64;
        for i in 0..chunks {
            let at = i * LANES;
            // SAFETY: at + 8 <= n, the length of both slices.
            let (wv, xv) = unsafe {
                (
                    _mm256_loadu_ps(w.as_ptr().add(at)),
                    _mm256_loadu_ps(x.as_ptr().add(at)),
                )
            };
            let s = _mm256_mul_ps(_mm256_mul_ps(wv, xv), scale);
            let non_negative = _mm256_cmp_ps::<_CMP_GE_OQ>(s, zero);
            let r = _mm256_blendv_ps(_mm256_sub_ps(s, half), _mm256_add_ps(s, half), non_negative);
            let in_range = _mm256_cmp_ps::<_CMP_LT_OQ>(_mm256_and_ps(r, abs_mask), limit);
            if _mm256_movemask_ps(in_range) == 0xff {
                let q = _mm256_cvttps_epi32(r);
                acc_lo = _mm256_add_epi64(acc_lo, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(q)));
                acc_hi = _mm256_add_epi64(
                    acc_hi,
                    _mm256_cvtepi32_epi64(_mm256_extracti128_si256::<1>(q)),
                );
            } else {
                for (&wi, &xi) in w[at..at + LANES].iter().zip(&x[at..at + LANES]) {
                    total = total.wrapping_add(product_to_fixed(wi, xi));
                }
            }
        }
        let mut lanes = [0i64; 4];
        // SAFETY: `lanes` holds exactly 32 bytes.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), _mm256_add_epi64(acc_lo, acc_hi)) };
        for l in lanes {
            total = total.wrapping_add(l);
        }
        for (&wi, &xi) in w[chunks * LANES..].iter().zip(&x[chunks * LANES..]) {
            total = total.wrapping_add(product_to_fixed(wi, xi));
        }
        total
    }

    /// The scalar loop compiled for AVX2 (LLVM vectorises it 8 wide; it does
    /// not contract `d·f + g` into an FMA).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn add_scaled(g: &mut [f32], d: f32, x: &[f32]) {
        super::add_scaled_scalar(g, d, x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// Any f32 bit pattern, or values near the rounding boundaries.
    fn any_f32() -> impl Strategy<Value = f32> {
        prop_oneof![
            any::<u32>().prop_map(f32::from_bits),
            -8.0f32..8.0,
            (-4_000_000i32..4_000_000).prop_map(|k| k as f32 / (1 << 21) as f32),
            Just(0.0f32),
            Just(-0.0f32),
            Just(f32::NAN),
            Just(f32::INFINITY),
            Just(4096.0f32),
            Just(-2048.0f32),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn fixed_dot_is_the_scalar_sum(
            pairs in proptest::collection::vec((any_f32(), any_f32()), 0..70),
        ) {
            let (w, x): (Vec<f32>, Vec<f32>) = pairs.into_iter().unzip();
            let want = fixed_dot_scalar(&w, &x);
            prop_assert_eq!(fixed_dot(&w, &x), want);
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 is present.
                prop_assert_eq!(unsafe { avx2::fixed_dot(&w, &x) }, want);
            }
        }

        #[test]
        fn fixed_dot_is_the_scalar_sum_in_range(
            pairs in proptest::collection::vec(
                (
                    prop_oneof![
                        -8.0f32..8.0,
                        (-4_000_000i32..4_000_000).prop_map(|k| k as f32 / (1 << 21) as f32),
                    ],
                    prop_oneof![0.0f32..=1.0, Just(1.0f32), Just(0.5f32)],
                ),
                0..100,
            ),
        ) {
            // Every lane in range: the vector chunks, not the fallback.
            let (w, x): (Vec<f32>, Vec<f32>) = pairs.into_iter().unzip();
            let want = fixed_dot_scalar(&w, &x);
            prop_assert_eq!(fixed_dot(&w, &x), want);
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 is present.
                prop_assert_eq!(unsafe { avx2::fixed_dot(&w, &x) }, want);
            }
        }

        #[test]
        fn add_scaled_is_the_scalar_update(
            d in any_f32(),
            pairs in proptest::collection::vec((any_f32(), any_f32()), 0..70),
        ) {
            let (g0, x): (Vec<f32>, Vec<f32>) = pairs.into_iter().unzip();
            let (mut a, mut b) = (g0.clone(), g0);
            add_scaled(&mut a, d, &x);
            add_scaled_scalar(&mut b, d, &x);
            // NaN payloads are not part of the contract (the firmware's FPU
            // returns the default NaN): any NaN equals any NaN here.
            let bits = |v: &[f32]| {
                v.iter()
                    .map(|f| if f.is_nan() { u32::MAX } else { f.to_bits() })
                    .collect::<Vec<_>>()
            };
            prop_assert_eq!(bits(&a), bits(&b));
        }
    }

    #[test]
    fn fixed_dot_takes_the_vector_path_on_features() {
        // Realistic magnitudes (every lane in range) and one huge lane in a
        // chunk (scalar fallback for that chunk only).
        let w: Vec<f32> = (0..483)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 1e-3)
            .collect();
        let mut x: Vec<f32> = (0..483).map(|i| (i % 17) as f32 / 16.0).collect();
        assert_eq!(fixed_dot(&w, &x), fixed_dot_scalar(&w, &x));
        x[9] = 3.0e30;
        x[200] = f32::NAN;
        assert_eq!(fixed_dot(&w, &x), fixed_dot_scalar(&w, &x));
    }
}
