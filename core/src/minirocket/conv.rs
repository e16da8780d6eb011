//! The convolution kernels' arithmetic, shared by fit and transform.
//!
//! `C[t] = 3·(x[t+(i0−4)d] + x[t+(i1−4)d] + x[t+(i2−4)d]) − Σ_{k<9} x[t+(k−4)d]`,
//! zeros outside `[0, L)`, with `G = 3·x` rounded per value and `S` the
//! nine-tap sum accumulated centre first, then −4d…−d, then +d…+4d.
//!
//! The f32 operation orders are the reference's, which differ between its
//! fit and its transform (numba's `fastmath` reassociates the fit's
//! `C_alpha + C_gamma[i0] + C_gamma[i1] + C_gamma[i2]` but not the
//! transform's): the fit computes `((G0 + G1) + G2) − S`, the transform
//! `((G0 − S) + G1) + G2`. With these, our GunPoint biases and features are
//! bit-identical to the reference's. (Negation commutes exactly with
//! round-to-nearest addition, so the reference's `(−S) + G` is `G − S`.)
//!
//! Everything works on a zero-padded copy `xp` of the series, `xp[u] = x[u − 4d]`
//! (length `L + 8d`), so tap `i` of output `t` is `xp[t + i·d]`: adding the
//! padding zeros is exact, and the loops have no edge cases.

use core::ops::{Add, Sub};

use crate::series::ConvInput;

/// Writes `x` into `buf` as `[0; pad] x [0; pad]` (`buf.len() == x.len() + 2·pad`).
#[inline(always)]
pub(crate) fn pad_into<T: ConvInput>(x: &[T], pad: usize, buf: &mut [T::Acc]) {
    debug_assert_eq!(buf.len(), x.len() + 2 * pad);
    let (head, rest) = buf.split_at_mut(pad);
    head.fill(T::Acc::default());
    let (mid, tail) = rest.split_at_mut(x.len());
    for (m, &v) in mid.iter_mut().zip(x) {
        *m = v.to_acc();
    }
    tail.fill(T::Acc::default());
}

/// Tap `i` (0..9) of outputs `lo..lo+n` in a padded buffer.
#[inline(always)]
fn tap<A>(xp: &[A], d: usize, i: usize, lo: usize, n: usize) -> &[A] {
    &xp[lo + i * d..lo + i * d + n]
}

/// `s[t] = Σ` of the nine taps of output `t` (all `L` outputs), summed in the
/// reference's order: centre, −4d, −3d, −2d, −d, +d, +2d, +3d, +4d.
#[inline(always)]
pub(crate) fn nine_tap_sum<A: Copy + Add<Output = A>>(xp: &[A], d: usize, s: &mut [A]) {
    let n = s.len();
    let c = tap(xp, d, 4, 0, n);
    let m4 = tap(xp, d, 0, 0, n);
    let m3 = tap(xp, d, 1, 0, n);
    let m2 = tap(xp, d, 2, 0, n);
    let m1 = tap(xp, d, 3, 0, n);
    let p1 = tap(xp, d, 5, 0, n);
    let p2 = tap(xp, d, 6, 0, n);
    let p3 = tap(xp, d, 7, 0, n);
    let p4 = tap(xp, d, 8, 0, n);
    for t in 0..n {
        s[t] = c[t] + m4[t] + m3[t] + m2[t] + m1[t] + p1[t] + p2[t] + p3[t] + p4[t];
    }
}

/// Multiplies every value by 3 (the reference's `G = X + X + X`, which rounds
/// as `3·X` does: `X + X` is exact).
#[inline(always)]
pub(crate) fn times_three<T: ConvInput>(buf: &mut [T::Acc]) {
    for v in buf.iter_mut() {
        *v = T::THREE * *v;
    }
}

/// `c[t − lo] = ((g[t+i0·d] − s[t]) + g[t+i1·d]) + g[t+i2·d]` for `t` in
/// `lo..lo + c.len()`, with `g` the padded `3·x` and `s` the nine-tap sums.
#[inline(always)]
pub(crate) fn kernel_conv<A: Copy + Add<Output = A> + Sub<Output = A>>(
    g: &[A],
    s: &[A],
    d: usize,
    idx: [u8; 3],
    lo: usize,
    c: &mut [A],
) {
    let n = c.len();
    let g0 = tap(g, d, idx[0] as usize, lo, n);
    let g1 = tap(g, d, idx[1] as usize, lo, n);
    let g2 = tap(g, d, idx[2] as usize, lo, n);
    let s = &s[lo..lo + n];
    for t in 0..n {
        c[t] = ((g0[t] - s[t]) + g1[t]) + g2[t];
    }
}

/// `p[t − lo] = (g[t+i0·d] − s[t]) + g[t+i1·d]`: the first two steps of
/// [`kernel_conv`], shared by every kernel with the same first two indices
/// (84 kernels, 28 pairs: a pair needs some i2 > i1, so i1 ≤ 7), so each
/// kernel then costs one addition per output.
#[inline(always)]
pub(crate) fn pair_partial<A: Copy + Add<Output = A> + Sub<Output = A>>(
    g: &[A],
    s: &[A],
    d: usize,
    i0: u8,
    i1: u8,
    p: &mut [A],
) {
    let n = p.len();
    let g0 = tap(g, d, i0 as usize, 0, n);
    let g1 = tap(g, d, i1 as usize, 0, n);
    let s = &s[..n];
    for t in 0..n {
        p[t] = (g0[t] - s[t]) + g1[t];
    }
}

/// `c[t − lo] = p[t] + g[t+i2·d]` for `t` in `lo..lo + c.len()`, completing
/// [`kernel_conv`] from a [`pair_partial`] (same values, same rounding).
#[inline(always)]
pub(crate) fn add_third_tap<A: Copy + Add<Output = A>>(
    g: &[A],
    p: &[A],
    d: usize,
    i2: u8,
    lo: usize,
    c: &mut [A],
) {
    let n = c.len();
    let g2 = tap(g, d, i2 as usize, lo, n);
    let p = &p[lo..lo + n];
    for t in 0..n {
        c[t] = p[t] + g2[t];
    }
}

/// As [`kernel_conv`], but adds the kernel's output to `c` (the next channel
/// of a multivariate block: channels are summed in subset order).
#[inline(always)]
pub(crate) fn kernel_conv_add<A: Copy + Add<Output = A> + Sub<Output = A>>(
    g: &[A],
    s: &[A],
    d: usize,
    idx: [u8; 3],
    lo: usize,
    c: &mut [A],
) {
    let n = c.len();
    let g0 = tap(g, d, idx[0] as usize, lo, n);
    let g1 = tap(g, d, idx[1] as usize, lo, n);
    let g2 = tap(g, d, idx[2] as usize, lo, n);
    let s = &s[lo..lo + n];
    for t in 0..n {
        c[t] = c[t] + (((g0[t] - s[t]) + g1[t]) + g2[t]);
    }
}

/// One kernel's output directly from a padded series `xp`, in the fit's
/// order `((G0 + G1) + G2) − S` (no shared sums: the fit convolves a
/// different example per block). `add` accumulates into `c` instead of
/// overwriting it.
#[inline(always)]
pub(crate) fn kernel_conv_direct<T: ConvInput>(
    xp: &[T::Acc],
    d: usize,
    idx: [u8; 3],
    c: &mut [T::Acc],
    add: bool,
) {
    let n = c.len();
    let c4 = tap(xp, d, 4, 0, n);
    let m4 = tap(xp, d, 0, 0, n);
    let m3 = tap(xp, d, 1, 0, n);
    let m2 = tap(xp, d, 2, 0, n);
    let m1 = tap(xp, d, 3, 0, n);
    let p1 = tap(xp, d, 5, 0, n);
    let p2 = tap(xp, d, 6, 0, n);
    let p3 = tap(xp, d, 7, 0, n);
    let p4 = tap(xp, d, 8, 0, n);
    let x0 = tap(xp, d, idx[0] as usize, 0, n);
    let x1 = tap(xp, d, idx[1] as usize, 0, n);
    let x2 = tap(xp, d, idx[2] as usize, 0, n);
    let three = T::THREE;
    for t in 0..n {
        let s = c4[t] + m4[t] + m3[t] + m2[t] + m1[t] + p1[t] + p2[t] + p3[t] + p4[t];
        let v = ((three * x0[t] + three * x1[t]) + three * x2[t]) - s;
        c[t] = if add { c[t] + v } else { v };
    }
}

/// Number of `c` values strictly greater than `bias` (compared in f32).
#[inline(always)]
pub(crate) fn count_above<T: ConvInput>(c: &[T::Acc], bias: f32) -> u32 {
    c.iter()
        .fold(0u32, |n, &v| n + u32::from(T::acc_to_f32(v) > bias))
}

/// `out[i] = count_above(c, biases[i]) / c.len()` for every bias, with AVX2:
/// up to 32 biases per pass over `c`, each output broadcast and compared with
/// 8 biases per instruction (lanes across biases, so no per-bias horizontal
/// sum; unused lanes compare with +inf and are dropped), then one vector
/// division per 8 features. The same comparisons (`v > b`, false with NaN),
/// integer counts and f32 division as one bias at a time.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx2")]
pub(crate) fn ppv_avx2<T: ConvInput>(c: &[T::Acc], biases: &[f32], out: &mut [f32]) {
    for (bs, os) in biases.chunks(32).zip(out.chunks_mut(32)) {
        match bs.len().div_ceil(8) {
            1 => ppv_avx2_pass::<T, 1>(c, bs, os),
            2 => ppv_avx2_pass::<T, 2>(c, bs, os),
            3 => ppv_avx2_pass::<T, 3>(c, bs, os),
            _ => ppv_avx2_pass::<T, 4>(c, bs, os),
        }
    }
}

/// One pass of [`ppv_avx2`] over `c` for `bs.len() <= 8·G` biases.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx2")]
#[inline]
fn ppv_avx2_pass<T: ConvInput, const G: usize>(c: &[T::Acc], bs: &[f32], os: &mut [f32]) {
    use core::arch::x86_64::*;
    let mut padded = [[f32::INFINITY; 8]; G];
    for (slot, &b) in padded.iter_mut().flatten().zip(bs) {
        *slot = b;
    }
    // SAFETY: each row of `padded` holds 8 f32.
    let b: [__m256; G] = core::array::from_fn(|g| unsafe { _mm256_loadu_ps(padded[g].as_ptr()) });
    let mut n = [_mm256_setzero_si256(); G];
    for &v in c {
        let v = _mm256_set1_ps(T::acc_to_f32(v));
        for (n, &b) in n.iter_mut().zip(&b) {
            // All-ones (−1) where b < v, i.e. v > b (false with NaN).
            let above = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_LT_OQ>(b, v));
            *n = _mm256_sub_epi32(*n, above);
        }
    }
    let positions = _mm256_set1_ps(c.len() as f32);
    let mut q = [[0.0f32; 8]; G];
    for (q, &n) in q.iter_mut().zip(&n) {
        // Counts are below 2^24: their f32 conversion is exact, as `n as f32`.
        let r = _mm256_div_ps(_mm256_cvtepi32_ps(n), positions);
        // SAFETY: `q` holds 8 f32.
        unsafe { _mm256_storeu_ps(q.as_mut_ptr(), r) };
    }
    for (o, &r) in os.iter_mut().zip(q.iter().flatten()) {
        *o = r;
    }
}

#[cfg(test)]
mod tests {
    use super::super::kernels::KERNEL_INDICES;
    use super::*;
    use std::vec;

    /// The definition: weights 2 at the triple, −1 elsewhere, zero padding.
    fn naive(x: &[f64], d: usize, idx: [u8; 3]) -> std::vec::Vec<f64> {
        let l = x.len() as isize;
        (0..l)
            .map(|t| {
                (0..9)
                    .map(|k| {
                        let u = t + (k as isize - 4) * d as isize;
                        let w = if idx.contains(&(k as u8)) { 2.0 } else { -1.0 };
                        if (0..l).contains(&u) {
                            w * x[u as usize]
                        } else {
                            0.0
                        }
                    })
                    .sum()
            })
            .collect()
    }

    #[test]
    fn matches_definition_on_integers() {
        // Small integers: every f32 sum is exact, so all orders agree.
        let x: std::vec::Vec<f32> = (0..40).map(|i| ((i * 7919) % 23) as f32 - 11.0).collect();
        let x64: std::vec::Vec<f64> = x.iter().map(|&v| v as f64).collect();
        for d in [1usize, 2, 4] {
            let pad = 4 * d;
            let mut g = vec![0f32; x.len() + 2 * pad];
            pad_into::<f32>(&x, pad, &mut g);
            let xp = g.clone();
            let mut s = vec![0f32; x.len()];
            nine_tap_sum(&g, d, &mut s);
            times_three::<f32>(&mut g);
            for idx in KERNEL_INDICES {
                let want = naive(&x64, d, idx);
                let mut c = vec![0f32; x.len()];
                kernel_conv(&g, &s, d, idx, 0, &mut c);
                let mut c2 = vec![0f32; x.len()];
                kernel_conv_direct::<f32>(&xp, d, idx, &mut c2, false);
                for t in 0..x.len() {
                    assert_eq!(c[t] as f64, want[t]);
                    // Different orders, but exact on small integers.
                    assert_eq!(c2[t], c[t]);
                }
                let mut part = vec![0f32; x.len() - 2 * pad];
                kernel_conv(&g, &s, d, idx, pad, &mut part);
                assert_eq!(&part[..], &c[pad..x.len() - pad]);
                let mut p = vec![0f32; x.len()];
                pair_partial(&g, &s, d, idx[0], idx[1], &mut p);
                add_third_tap(&g, &p, d, idx[2], pad, &mut part);
                assert_eq!(&part[..], &c[pad..x.len() - pad]);
            }
        }
    }
}
