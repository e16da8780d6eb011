//! The 8-bit dynamic-tree codebooks of QAdam (Dettmers et al., ICLR 2022).
//!
//! See [`DynamicTreeCode`](super::DynamicTreeCode) for the details.

/// Fraction steps per decade `i = 0..7` (exponent `10^-(6−i)`): `2^i` signed,
/// `2^(i+1)` unsigned.
const fn fraction_items(signed: bool, i: u32) -> u32 {
    if signed { 1 << i } else { 2 << i }
}

/// `10^k` exactly (k ≤ 6 here).
const fn pow10(k: u32) -> f64 {
    let mut p: u64 = 1;
    let mut i = 0;
    while i < k {
        p *= 10;
        i += 1;
    }
    p as f64
}

/// Midpoint `j` of `linspace(0.1, 1, n + 1)` times `10^-(6−i)`, rounded to f32.
const fn tree_value(i: u32, j: u32, n: u32) -> f32 {
    let num = (2 * n + 18 * j + 9) as f64;
    let den = 20.0 * (n as f64) * pow10(6 - i);
    (num / den) as f32
}

/// Builds the signed (first-moment) codebook, sorted increasing.
///
/// Index 0 is −1, 127 is 0, 128 is the smallest positive value `5.5e-7`, 255
/// is 1.
pub const fn signed_codebook() -> [f32; 256] {
    let mut t = [0.0f32; 256];
    // The 127 positive tree values, ascending (decade by decade).
    let mut k = 128;
    let mut i = 0;
    while i < 7 {
        let n = fraction_items(true, i);
        let mut j = 0;
        while j < n {
            t[k] = tree_value(i, j, n);
            k += 1;
            j += 1;
        }
        i += 1;
    }
    t[255] = 1.0;
    t[127] = 0.0;
    // Negatives mirror the positives except the smallest (index 128).
    let mut q = 1;
    while q <= 126 {
        t[127 - q] = -t[128 + q];
        q += 1;
    }
    t[0] = -1.0;
    t
}

/// Builds the unsigned (second-moment) codebook, sorted increasing.
///
/// Index 0 is 0, 1 is the smallest positive value `3.25e-7`, 255 is 1.
pub const fn unsigned_codebook() -> [f32; 256] {
    let mut t = [0.0f32; 256];
    let mut k = 1;
    let mut i = 0;
    while i < 7 {
        let n = fraction_items(false, i);
        let mut j = 0;
        while j < n {
            t[k] = tree_value(i, j, n);
            k += 1;
            j += 1;
        }
        i += 1;
    }
    t[255] = 1.0;
    t
}

/// The signed dynamic-tree codebook (first moment), `signed_codebook()`.
pub static SIGNED_CODEBOOK: [f32; 256] = signed_codebook();
/// The unsigned dynamic-tree codebook (second moment), `unsigned_codebook()`.
pub static UNSIGNED_CODEBOOK: [f32; 256] = unsigned_codebook();

/// One of the two 256-entry dynamic-tree codebooks, with nearest-code encoding.
///
/// Use [`DynamicTreeCode::SIGNED`] for the first moment and
/// [`DynamicTreeCode::UNSIGNED`] for the second. Values are normalised to
/// `[-1, 1]` (`[0, 1]`) by the block's absmax before encoding.
///
/// # The codebooks
///
/// They follow bitsandbytes' `create_dynamic_map(signed, max_exponent_bits=7,
/// total_bits=8)`. A code is a sign bit (signed map only), a run of zero bits
/// whose length `E` gives a decimal exponent `10^-E`, an indicator bit, and the
/// remaining bits a linear fraction in `[0.1, 1]`. For `i = 0..7` (`E = 6 − i`)
/// the map holds the `n` midpoints of `linspace(0.1, 1, n + 1)` scaled by
/// `10^-(6−i)`, with `n = 2^i` (signed) or `n = 2^(i+1)` (unsigned: no sign bit,
/// one more fraction bit). Midpoint `j` is the exact rational
///
/// ```text
/// (2n + 18j + 9) / (20 · n · 10^(6−i))
/// ```
///
/// evaluated as one f64 division of two exactly representable integers, then
/// rounded to f32. (bitsandbytes computes the same values in f32 torch
/// arithmetic, so individual entries may differ from it by an f32 ulp.)
///
/// - **Unsigned** (second moment): `0`, the 254 tree values (`3.25e-7` …
///   `0.996484375`), and `1`: exactly bitsandbytes' unsigned map.
/// - **Signed** (first moment): `−1`, the negated tree values except the
///   smallest, `0`, the 127 positive tree values (`5.5e-7` … `0.99296875`), and
///   `1`. bitsandbytes' signed map has no `−1` (its spare negative-zero pattern
///   becomes `+1`); we need `−1` so that a block whose largest-magnitude entry
///   is negative stores that entry exactly, and make room for it by dropping
///   bitsandbytes' `−5.5e-7` (values that small relative to the block's absmax
///   round to 0 instead). Near ±1, where the block's large entries live, the
///   map is symmetric.
///
/// Both tables are sorted strictly increasing; a code is the table index.
///
/// # Encoding
///
/// [`DynamicTreeCode::encode`] returns the nearest code by an 8-step binary
/// search. Distances are compared in f32 and, only when the two rounded
/// distances are equal, again in f64 (where they are exact), so the result is
/// the exactly nearest code; an exact tie goes to the lower code. Inputs below
/// the first or above the last entry clamp to it; NaN encodes as the zero code.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DynamicTreeCode {
    values: &'static [f32; 256],
    zero: u8,
}

impl DynamicTreeCode {
    /// The signed codebook ([`SIGNED_CODEBOOK`]): −1 … 1, zero at code 127.
    pub const SIGNED: DynamicTreeCode = DynamicTreeCode {
        values: &SIGNED_CODEBOOK,
        zero: 127,
    };
    /// The unsigned codebook ([`UNSIGNED_CODEBOOK`]): 0 … 1, zero at code 0.
    pub const UNSIGNED: DynamicTreeCode = DynamicTreeCode {
        values: &UNSIGNED_CODEBOOK,
        zero: 0,
    };

    /// The 256 code values, sorted strictly increasing.
    pub const fn values(&self) -> &'static [f32; 256] {
        self.values
    }

    /// The code whose value is 0.
    pub const fn zero_code(&self) -> u8 {
        self.zero
    }

    /// The value of code `c`.
    #[inline(always)]
    pub fn decode(&self, c: u8) -> f32 {
        self.values[c as usize]
    }

    /// The code nearest to `x` (a value already normalised by its block's
    /// absmax). Exact ties go to the lower code; values beyond the ends clamp;
    /// NaN gives [`zero_code`](Self::zero_code).
    #[inline]
    pub fn encode(&self, x: f32) -> u8 {
        let t = self.values;
        if x.is_nan() {
            return self.zero;
        }
        // Largest `lo` with t[lo] <= x (0 if x < t[0]). Invariant:
        // lo <= 256 − 2·step, so lo + step <= 255.
        // Branch-free steps (a select, not a jump): the comparisons follow
        // the data, so a branch would be mispredicted about half the time.
        let mut lo = 0usize;
        let mut step = 128usize;
        while step > 0 {
            lo += step * usize::from(t[lo + step] <= x);
            step >>= 1;
        }
        // `x` lies strictly between t[lo] and t[lo + 1] (else t[lo] is the
        // code); the choice below is again a select, not a jump.
        let between = lo != 255 && x > t[lo];
        let hi = (lo + 1).min(255);
        let d_lo = x - t[lo];
        let d_hi = t[hi] - x;
        // Rounding is monotone: a strict f32 inequality is also strict exactly.
        if !between || d_lo != d_hi {
            return (lo + usize::from(between && d_hi < d_lo)) as u8;
        }
        // Equal after rounding: decide with exact differences (f64 holds the
        // difference of two f32 of this magnitude exactly).
        let x = x as f64;
        let d_lo = x - t[lo] as f64;
        let d_hi = t[hi] as f64 - x;
        if d_hi < d_lo { hi as u8 } else { lo as u8 }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use proptest::prelude::*;

    /// bitsandbytes' `create_dynamic_map(signed, 7, 8)` transcribed
    /// independently: boundaries from linspace, means, times 10^(−6+i), plus
    /// 0 and 1.0, sorted. f64 throughout.
    fn bnb_map(signed: bool) -> std::vec::Vec<f64> {
        let max_exponent_bits = 7i32;
        let non_sign_bits = 7i32;
        let mut data = std::vec::Vec::new();
        for i in 0..max_exponent_bits {
            let fraction_items = if signed {
                2i32.pow((i + non_sign_bits - max_exponent_bits) as u32) + 1
            } else {
                2i32.pow((i + non_sign_bits - max_exponent_bits + 1) as u32) + 1
            };
            let n = fraction_items as usize;
            let boundaries: std::vec::Vec<f64> = (0..n)
                .map(|k| 0.1 + (1.0 - 0.1) * k as f64 / (n - 1) as f64)
                .collect();
            let scale = 10f64.powi(-(max_exponent_bits - 1) + i);
            for w in boundaries.windows(2) {
                let mean = (w[0] + w[1]) / 2.0;
                data.push(scale * mean);
                if signed {
                    data.push(-scale * mean);
                }
            }
        }
        data.push(0.0);
        data.push(1.0);
        data.sort_by(|a, b| a.partial_cmp(b).unwrap());
        data
    }

    fn close_f32(a: f32, b: f64) -> bool {
        ((a as f64) - b).abs() <= b.abs() * 1.2e-7
    }

    #[test]
    fn codebooks_have_256_sorted_entries_with_0_and_1() {
        for code in [DynamicTreeCode::SIGNED, DynamicTreeCode::UNSIGNED] {
            let v = code.values();
            assert_eq!(v.len(), 256);
            for w in v.windows(2) {
                assert!(w[0] < w[1], "not strictly increasing: {} {}", w[0], w[1]);
            }
            assert_eq!(v[code.zero_code() as usize], 0.0);
            assert_eq!(v[255], 1.0);
            assert!(v.iter().all(|x| x.is_finite()));
        }
        let s = DynamicTreeCode::SIGNED.values();
        assert_eq!(s[0], -1.0);
        assert!(s.contains(&1.0) && s.contains(&-1.0) && s.contains(&0.0));
        let u = DynamicTreeCode::UNSIGNED.values();
        assert_eq!(u[0], 0.0);
        // Known entries: smallest non-zero and largest below 1.
        assert_eq!(s[128], 5.5e-7);
        assert_eq!(s[254], 0.99296875);
        assert_eq!(s[1], -0.99296875);
        assert_eq!(s[126], -3.25e-6);
        assert_eq!(u[1], 3.25e-7);
        assert_eq!(u[254], 0.996_484_375_f64 as f32);
    }

    #[test]
    fn unsigned_matches_bitsandbytes() {
        let bnb = bnb_map(false);
        assert_eq!(bnb.len(), 256);
        for (ours, theirs) in UNSIGNED_CODEBOOK.iter().zip(&bnb) {
            assert!(close_f32(*ours, *theirs), "{ours} vs {theirs}");
        }
    }

    #[test]
    fn signed_matches_bitsandbytes_except_minus_one() {
        let mut bnb = bnb_map(true);
        assert_eq!(bnb.len(), 256);
        // Our one deviation: bitsandbytes' smallest negative value is replaced by −1.
        let smallest_negative = bnb.iter().rposition(|&x| x < 0.0).unwrap();
        assert!((bnb[smallest_negative] + 5.5e-7).abs() < 1e-15);
        bnb.remove(smallest_negative);
        bnb.insert(0, -1.0);
        for (ours, theirs) in SIGNED_CODEBOOK.iter().zip(&bnb) {
            assert!(close_f32(*ours, *theirs), "{ours} vs {theirs}");
        }
    }

    #[test]
    fn statics_equal_const_fn_output() {
        assert_eq!(SIGNED_CODEBOOK, signed_codebook());
        assert_eq!(UNSIGNED_CODEBOOK, unsigned_codebook());
    }

    #[test]
    fn encode_decode_roundtrips_every_code() {
        for code in [DynamicTreeCode::SIGNED, DynamicTreeCode::UNSIGNED] {
            for c in 0..=255u8 {
                assert_eq!(code.encode(code.decode(c)), c);
            }
        }
    }

    /// `encode` as first written (branching binary search and comparisons):
    /// the select-based one must agree with it everywhere.
    fn encode_branching(code: &DynamicTreeCode, x: f32) -> u8 {
        let t = code.values();
        if x.is_nan() {
            return code.zero_code();
        }
        let mut lo = 0usize;
        let mut step = 128usize;
        while step > 0 {
            if t[lo + step] <= x {
                lo += step;
            }
            step >>= 1;
        }
        if lo == 255 || x <= t[lo] {
            return lo as u8;
        }
        let hi = lo + 1;
        let (d_lo, d_hi) = (x - t[lo], t[hi] - x);
        if d_hi < d_lo {
            return hi as u8;
        }
        if d_lo < d_hi {
            return lo as u8;
        }
        let x = x as f64;
        if t[hi] as f64 - x < x - t[lo] as f64 {
            hi as u8
        } else {
            lo as u8
        }
    }

    #[test]
    fn encode_agrees_with_the_branching_search() {
        for code in [DynamicTreeCode::SIGNED, DynamicTreeCode::UNSIGNED] {
            // Every entry, its neighbours a few ulps away and the midpoints.
            let t = code.values();
            let mut xs = std::vec::Vec::new();
            for (i, &v) in t.iter().enumerate() {
                for k in 0..4u32 {
                    xs.push(f32::from_bits(v.to_bits().wrapping_add(k)));
                    xs.push(f32::from_bits(v.to_bits().wrapping_sub(k)));
                }
                if i < 255 {
                    let mid = ((v as f64 + t[i + 1] as f64) / 2.0) as f32;
                    xs.extend([mid, f32::from_bits(mid.to_bits() + 1), -mid]);
                }
            }
            xs.extend([
                f32::NAN,
                f32::INFINITY,
                f32::NEG_INFINITY,
                0.0,
                -0.0,
                2.0,
                -2.0,
            ]);
            // A sweep over the bit patterns of [-1.5, 1.5] (both signs).
            let top = 1.5f32.to_bits();
            for bits in (0..=top).step_by(61) {
                xs.push(f32::from_bits(bits));
                xs.push(-f32::from_bits(bits));
            }
            for x in xs {
                assert_eq!(code.encode(x), encode_branching(&code, x), "x = {x:e}");
            }
        }
    }

    #[test]
    fn encode_edge_cases() {
        let s = DynamicTreeCode::SIGNED;
        let u = DynamicTreeCode::UNSIGNED;
        assert_eq!(s.encode(f32::NAN), 127);
        assert_eq!(u.encode(f32::NAN), 0);
        assert_eq!(s.encode(-0.0), 127);
        assert_eq!(s.encode(2.0), 255);
        assert_eq!(s.encode(f32::INFINITY), 255);
        assert_eq!(s.encode(-2.0), 0);
        assert_eq!(s.encode(f32::NEG_INFINITY), 0);
        assert_eq!(u.encode(-0.5), 0);
        assert_eq!(u.encode(1.5), 255);
        // Tiny values round to zero; just above half the smallest code, to it.
        assert_eq!(s.encode(1e-30), 127);
        assert_eq!(s.encode(2.76e-7), 128);
        assert_eq!(s.encode(2.74e-7), 127);
        // The smallest negative code is −3.25e-6: −1.6e-6 rounds to 0.
        assert_eq!(s.encode(-1.6e-6), 127);
        assert_eq!(s.encode(-1.7e-6), 126);
        // Exact midpoint (representable): the tie goes to the lower code.
        let (a, b) = (s.decode(200), s.decode(201));
        let mid = (a as f64 + b as f64) / 2.0;
        if mid as f32 as f64 == mid {
            assert_eq!(s.encode(mid as f32), 200);
        }
        // 0.5 lies between codes; check against a linear scan.
        for x in [0.5f32, -0.5, 0.123, -0.987, 1e-3, -1e-3] {
            assert_eq!(s.encode(x), nearest_scan(s.values(), x));
        }
    }

    /// Linear scan in f64: the first code with the smallest distance.
    fn nearest_scan(t: &[f32; 256], x: f32) -> u8 {
        let mut best = 0usize;
        for (i, &c) in t.iter().enumerate() {
            if ((x as f64) - c as f64).abs() < ((x as f64) - t[best] as f64).abs() {
                best = i;
            }
        }
        best as u8
    }

    fn no_code_strictly_closer(code: DynamicTreeCode, x: f32) {
        let c = code.encode(x);
        let d = ((x as f64) - code.decode(c) as f64).abs();
        for (i, &v) in code.values().iter().enumerate() {
            let di = ((x as f64) - v as f64).abs();
            assert!(
                di >= d,
                "x = {x:e}: code {c} ({}) at {d:e}, but code {i} ({v}) at {di:e}",
                code.decode(c)
            );
        }
    }

    proptest! {
        #[test]
        fn signed_encode_is_nearest(x in -1.0f32..=1.0f32) {
            no_code_strictly_closer(DynamicTreeCode::SIGNED, x);
        }

        #[test]
        fn unsigned_encode_is_nearest(x in 0.0f32..=1.0f32) {
            no_code_strictly_closer(DynamicTreeCode::UNSIGNED, x);
        }

        /// Log-uniform magnitudes: exercises the small codes, which uniform
        /// sampling almost never hits.
        #[test]
        fn encode_is_nearest_for_small_magnitudes(e in -9.0f64..0.0, neg: bool) {
            let x = (10f64.powf(e) * if neg { -1.0 } else { 1.0 }) as f32;
            no_code_strictly_closer(DynamicTreeCode::SIGNED, x);
            no_code_strictly_closer(DynamicTreeCode::UNSIGNED, x.abs());
        }
    }

    /// Maximum relative error |decode(encode(x)) − x| / x over x in
    /// [1e-3, 1], sampled on a dense log grid plus every midpoint between
    /// neighbouring codes (where the error peaks).
    fn max_rel_error(code: DynamicTreeCode, lo: f64, hi: f64) -> f64 {
        let rel = |x: f32| {
            let q = code.decode(code.encode(x)) as f64;
            ((q - x as f64) / x as f64).abs()
        };
        let mut worst = 0.0f64;
        let n = 200_000;
        for k in 0..=n {
            let x = (lo * (hi / lo).powf(k as f64 / n as f64)) as f32;
            worst = worst.max(rel(x));
        }
        for w in code.values().windows(2) {
            let mid = ((w[0] as f64 + w[1] as f64) / 2.0) as f32;
            for x in [mid, f32::from_bits(mid.to_bits() - 1)] {
                if (x as f64) >= lo && (x as f64) <= hi {
                    worst = worst.max(rel(x));
                }
            }
        }
        worst
    }

    /// The bound. Within one decade the n codes are evenly spaced by
    /// h = 0.9·s/n (s = 10^-E), the lowest at a = (0.1 + 0.45/n)·s. Nearest
    /// rounding errs by at most h/2, relative to a value ≥ a + h/2 (the worst
    /// point is the midpoint of the decade's first gap), so the relative error
    /// is ≤ (0.45/n)/(0.1 + 0.9/n) = 4.5/(n + 9), largest in the lowest decade
    /// touched. Gaps across decade boundaries are relatively smaller. Values
    /// in [1e-3, 1] touch decades 1e-3 (signed n = 8: but x ≥ 1e-3 lies only
    /// above its top code 9.4375e-4, in the crossing gap), 1e-2 (n = 16), 1e-1
    /// (n = 32), 1 (n = 64): bound 4.5/25 = 0.18. Unsigned: n doubles, bound
    /// 4.5/41 ≈ 0.1098.
    #[test]
    fn relative_quantisation_error_is_bounded() {
        let signed = max_rel_error(DynamicTreeCode::SIGNED, 1e-3, 1.0);
        let unsigned = max_rel_error(DynamicTreeCode::UNSIGNED, 1e-3, 1.0);
        let neg = {
            // The signed map is symmetric above 5.5e-7: negative values err alike.
            let s = DynamicTreeCode::SIGNED;
            let mut worst = 0.0f64;
            for k in 0..=20_000 {
                let x = -(1e-3 * 1000f64.powf(k as f64 / 20_000.0)) as f32;
                let q = s.decode(s.encode(x)) as f64;
                worst = worst.max(((q - x as f64) / x as f64).abs());
            }
            worst
        };
        std::println!(
            "max relative error on [1e-3, 1]: signed {signed:.5}, unsigned {unsigned:.5}, signed negative {neg:.5}"
        );
        let signed_bound = 4.5 / 25.0;
        let unsigned_bound = 4.5 / 41.0;
        assert!(signed <= signed_bound + 1e-6, "signed {signed}");
        assert!(unsigned <= unsigned_bound + 1e-6, "unsigned {unsigned}");
        assert!(neg <= signed_bound + 1e-6, "signed negative {neg}");
        // The bound is attained (the sampling does find the worst point).
        assert!(signed > signed_bound - 1e-4);
        assert!(unsigned > unsigned_bound - 1e-4);
        // In the top decade, where a block's large entries live, it is finer.
        let top_signed = max_rel_error(DynamicTreeCode::SIGNED, 0.1, 1.0);
        let top_unsigned = max_rel_error(DynamicTreeCode::UNSIGNED, 0.1, 1.0);
        std::println!(
            "max relative error on [0.1, 1]: signed {top_signed:.5}, unsigned {top_unsigned:.5}"
        );
        assert!(top_signed <= 4.5 / 73.0 + 1e-6);
        assert!(top_unsigned <= 4.5 / 137.0 + 1e-6);
    }
}
