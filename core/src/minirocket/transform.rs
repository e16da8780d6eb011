//! The transform: PPV features of one series for the selected blocks.

use super::channels::{self, ChannelSubsetError, channel_buffer_lens, channel_stride};
use super::conv;
use super::kernels::KERNEL_INDICES;
use super::plan::MiniRocketPlan;
use super::selection::{BlockSelection, SelectionError};
use crate::series::ConvInput;

/// Why a transform (or fit) cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    /// The selection does not fit the plan.
    #[error(transparent)]
    Selection(#[from] SelectionError),
    /// A buffer has the wrong length.
    #[error(transparent)]
    BufferLength(#[from] BufferLengthError),
    /// A channel subset is invalid.
    #[error(transparent)]
    ChannelSubset(#[from] ChannelSubsetError),
}

/// A caller-provided buffer has the wrong length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("buffer `{buffer}` has length {got}, expected {expected}")]
pub struct BufferLengthError {
    /// Which buffer (the parameter's name).
    pub buffer: &'static str,
    /// Required length (a minimum for scratch buffers).
    pub expected: usize,
    /// Actual length.
    pub got: usize,
}

/// Checks `got == expected`.
pub(crate) fn exact(
    buffer: &'static str,
    got: usize,
    expected: usize,
) -> Result<(), BufferLengthError> {
    if got == expected {
        Ok(())
    } else {
        Err(BufferLengthError {
            buffer,
            expected,
            got,
        })
    }
}

/// Checks `got >= expected` (scratch buffers may be longer).
pub(crate) fn at_least(
    buffer: &'static str,
    got: usize,
    expected: usize,
) -> Result<(), BufferLengthError> {
    if got >= expected {
        Ok(())
    } else {
        Err(BufferLengthError {
            buffer,
            expected,
            got,
        })
    }
}

/// Length of one padded channel buffer (`L + 8·max dilation`).
pub(crate) fn padded_len(plan: &MiniRocketPlan) -> usize {
    // 8·d_max ≤ L − 1 and L ≤ 2^24: no overflow.
    plan.length() + 8 * plan.max_dilation()
}

/// Scratch [`transform`] needs, in elements of `T::Acc`: per channel a padded
/// `3·x` (`L + 8·d_max`) and its nine-tap sums (`L`), plus a kernel-pair
/// partial sum (`L`) and one output row (`L`).
pub fn transform_scratch_len(plan: &MiniRocketPlan) -> usize {
    // Saturating: on a 32-bit target an absurd plan must fail the length
    // check, not overflow.
    plan.n_channels()
        .saturating_mul(padded_len(plan) + plan.length())
        .saturating_add(2 * plan.length())
}

/// PPV features of one series for the blocks `sel` selects, in `sel`'s local
/// layout.
///
/// `series` holds `n_channels · length` values, channel-major. `biases`,
/// `channel_counts` and `channel_indices` are what [`fit`](super::fit) produced
/// for the same plan and selection (the channel buffers exactly as long as
/// [`channel_buffer_lens`] says: empty for a univariate plan); `out` has `sel.num_features(plan)` values
/// and `scratch` at least [`transform_scratch_len`]. A feature is the fraction of
/// convolution outputs strictly above its bias: over all `L` outputs when
/// `j + k` is even, else over the `L − 8d` outputs `C[4d .. L−4d)` that touch
/// no padding (the reference's padding alternation).
#[allow(clippy::too_many_arguments)] // the no-alloc API passes every buffer
pub fn transform<T: ConvInput>(
    plan: &MiniRocketPlan,
    sel: &BlockSelection,
    biases: &[f32],
    channel_counts: &[u8],
    channel_indices: &[u16],
    series: &[T],
    scratch: &mut [T::Acc],
    out: &mut [f32],
) -> Result<(), TransformError> {
    sel.validate(plan)?;
    let n_features = sel.num_features(plan);
    let (n_counts, n_indices) = channel_buffer_lens(plan, sel);
    exact("biases", biases.len(), n_features)?;
    exact("out", out.len(), n_features)?;
    exact("channel_counts", channel_counts.len(), n_counts)?;
    exact("channel_indices", channel_indices.len(), n_indices)?;
    exact(
        "series",
        series.len(),
        plan.n_channels().saturating_mul(plan.length()),
    )?;
    at_least("scratch", scratch.len(), transform_scratch_len(plan))?;
    if !plan.is_univariate() {
        channels::validate(plan, channel_counts, channel_indices)?;
    }
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    {
        macro_rules! call {
            ($f:path) => {
                // SAFETY: the CPU has the features `$f` is compiled for.
                unsafe {
                    $f(
                        plan,
                        sel,
                        biases,
                        channel_counts,
                        channel_indices,
                        series,
                        scratch,
                        out,
                    )
                }
            };
        }
        if std::is_x86_feature_detected!("avx2") {
            call!(wide::transform_avx2);
            return Ok(());
        }
    }
    transform_unchecked::<T, false>(
        plan,
        sel,
        biases,
        channel_counts,
        channel_indices,
        series,
        scratch,
        out,
    );
    Ok(())
}

/// [`transform_unchecked`] compiled for AVX2, chosen at run time on an
/// x86_64 host. The convolution loops run over time positions, element-wise
/// (every output's f32 sums keep their order), and the PPV counts are exact
/// integers ([`conv::ppv_avx2`]), so the vector code changes the speed, never
/// a bit. (AVX-512 was no faster here: the counts fill 8-lane groups better.)
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod wide {
    use super::*;

    /// With AVX2 (8 lanes), PPVs counted 8 biases per vector.
    #[target_feature(enable = "avx2")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn transform_avx2<T: ConvInput>(
        plan: &MiniRocketPlan,
        sel: &BlockSelection,
        biases: &[f32],
        channel_counts: &[u8],
        channel_indices: &[u16],
        series: &[T],
        scratch: &mut [T::Acc],
        out: &mut [f32],
    ) {
        transform_unchecked::<T, true>(
            plan,
            sel,
            biases,
            channel_counts,
            channel_indices,
            series,
            scratch,
            out,
        )
    }
}

/// [`transform`] after its checks. With `WIDE_PPV` (AVX2 hosts only) the
/// features of a kernel are counted by [`conv::ppv_avx2`]; without, one bias
/// at a time: the definition, and the only path on targets without run-time
/// feature detection (the firmware).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn transform_unchecked<T: ConvInput, const WIDE_PPV: bool>(
    plan: &MiniRocketPlan,
    sel: &BlockSelection,
    biases: &[f32],
    channel_counts: &[u8],
    channel_indices: &[u16],
    series: &[T],
    scratch: &mut [T::Acc],
    out: &mut [f32],
) {
    let l = plan.length();
    let n_ch = plan.n_channels();
    let plen_max = padded_len(plan);
    let chan_len = plen_max + l;
    let stride = channel_stride(plan);
    let (per_channel, rest) = scratch.split_at_mut(n_ch * chan_len);
    let (c_buf, rest) = rest.split_at_mut(l);
    let p_buf = &mut rest[..l];

    for (j, (&d, &f_j)) in plan
        .dilations()
        .iter()
        .zip(plan.features_per_dilation())
        .enumerate()
    {
        let kernels = sel.kernel_range(plan, j);
        if kernels.is_empty() {
            continue;
        }
        let d = d as usize;
        let f_j = f_j as usize;
        let pad = 4 * d;
        let plen = l + 2 * pad;

        // Shared by the 84 kernels of this dilation: per channel the padded
        // 3·x and the nine-tap sums.
        for (ch, buf) in per_channel.chunks_exact_mut(chan_len).enumerate() {
            let (g, s) = buf.split_at_mut(plen_max);
            let g = &mut g[..plen];
            conv::pad_into(&series[ch * l..(ch + 1) * l], pad, g);
            conv::nine_tap_sum(g, d, s);
            conv::times_three::<T>(&mut g[pad..pad + l]);
        }

        // The (i0, i1) pair whose partial sum p_buf holds.
        let mut pair = None;
        for k in kernels {
            let idx = KERNEL_INDICES[k];
            // Padding alternation: odd (j + k) uses only outputs that touch no padding.
            let (lo, hi) = if (j + k) % 2 == 0 {
                (0, l)
            } else {
                (pad, l - pad)
            };
            let c = &mut c_buf[..hi - lo];
            if plan.is_univariate() {
                let (g, s) = per_channel[..chan_len].split_at(plen_max);
                if pair != Some((idx[0], idx[1])) {
                    conv::pair_partial(g, s, d, idx[0], idx[1], p_buf);
                    pair = Some((idx[0], idx[1]));
                }
                conv::add_third_tap(g, p_buf, d, idx[2], lo, c);
            } else {
                let lb = sel.local_block(plan, j, k).unwrap_or(0);
                let count = channel_counts[lb] as usize;
                let subset = &channel_indices[lb * stride..lb * stride + count];
                for (i, &ch) in subset.iter().enumerate() {
                    let ch = ch as usize;
                    let buf = &per_channel[ch * chan_len..(ch + 1) * chan_len];
                    let (g, s) = buf.split_at(plen_max);
                    if i == 0 {
                        conv::kernel_conv(g, s, d, idx, lo, c);
                    } else {
                        conv::kernel_conv_add(g, s, d, idx, lo, c);
                    }
                }
            }

            let off = sel.local_offset(plan, j, k).unwrap_or(0);
            let positions = (hi - lo) as f32;
            let (out, biases) = (&mut out[off..off + f_j], &biases[off..off + f_j]);
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            if WIDE_PPV {
                // SAFETY: only the AVX2 path sets `WIDE_PPV`.
                unsafe { conv::ppv_avx2::<T>(c, biases, out) };
                continue;
            }
            for (o, &b) in out.iter_mut().zip(biases) {
                // The reference rounds count/positions to f64, then to f32.
                // Dividing in f32 directly gives the same value: with both
                // integers below 2^24 the quotient is never within an f64
                // rounding of an f32 tie, so double rounding cannot differ.
                *o = conv::count_above::<T>(c, b) as f32 / positions;
            }
        }
    }
}

/// A fitted selection's borrowed parameters: everything [`transform`] needs
/// besides the series and the buffers.
#[derive(Clone, Copy, Debug)]
pub struct FittedKernels<'a> {
    /// The plan.
    pub plan: &'a MiniRocketPlan,
    /// The blocks the parameters cover.
    pub selection: BlockSelection,
    /// Biases in the selection's local layout.
    pub biases: &'a [f32],
    /// Channel-subset sizes, one per selected block (empty when univariate).
    pub channel_counts: &'a [u8],
    /// Channel-subset members, `min(n_channels, 9)` slots per selected block
    /// (empty when univariate).
    pub channel_indices: &'a [u16],
}

impl FittedKernels<'_> {
    /// Features per series.
    pub fn num_features(&self) -> usize {
        self.selection.num_features(self.plan)
    }

    /// [`transform`] of one series with these parameters.
    pub fn transform<T: ConvInput>(
        &self,
        series: &[T],
        scratch: &mut [T::Acc],
        out: &mut [f32],
    ) -> Result<(), TransformError> {
        transform(
            self.plan,
            &self.selection,
            self.biases,
            self.channel_counts,
            self.channel_indices,
            series,
            scratch,
            out,
        )
    }
}

/// Writes the selection's local-layout features `local` into their
/// reference-order positions of `full` (`plan.num_features()` values; other
/// positions are left untouched).
pub fn scatter_to_reference(
    plan: &MiniRocketPlan,
    sel: &BlockSelection,
    local: &[f32],
    full: &mut [f32],
) -> Result<(), TransformError> {
    sel.validate(plan)?;
    exact("local", local.len(), sel.num_features(plan))?;
    exact("full", full.len(), plan.num_features())?;
    for j in 0..plan.n_dilations() {
        let f_j = plan.features_per_dilation()[j] as usize;
        for k in sel.kernel_range(plan, j) {
            let off = sel.local_offset(plan, j, k).unwrap_or(0);
            let r = plan.reference_block_offset(j, k);
            full[r..r + f_j].copy_from_slice(&local[off..off + f_j]);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::owned::fit_all;
    use super::*;
    use crate::series::SeriesView;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    /// The dispatched transform (vector code on this host when it has the
    /// features) against the definition, bit for bit.
    fn same_bits<T: ConvInput>(values: &[T], n: usize, ch: usize, len: usize, features: usize) {
        let plan = MiniRocketPlan::new(len, ch, features).unwrap();
        let view = SeriesView::new(values, n, ch, len).unwrap();
        let model = fit_all(&plan, view, 7).unwrap();
        let k = model.kernels();
        let mut scratch = vec![T::Acc::default(); transform_scratch_len(&plan)];
        let f = k.num_features();
        let (mut a, mut b) = (vec![0f32; f], vec![0f32; f]);
        for i in 0..n {
            k.transform(view.series(i), &mut scratch, &mut a).unwrap();
            transform_unchecked::<T, false>(
                &plan,
                &k.selection,
                k.biases,
                k.channel_counts,
                k.channel_indices,
                view.series(i),
                &mut scratch,
                &mut b,
            );
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "series {i}");
        }
    }

    #[test]
    fn many_biases_per_kernel_take_several_passes() {
        // Length 12: one dilation, so 3,360 features are 40 biases per
        // kernel (two passes of up to 32 in the vector count).
        let plan = MiniRocketPlan::new(12, 1, 3360).unwrap();
        assert_eq!(plan.features_per_dilation(), &[40]);
        let values: Vec<f32> = (0..4 * 12)
            .map(|i| ((i * 7919) % 31) as f32 * 0.37 - 5.0)
            .collect();
        same_bits(&values, 4, 1, 12, 3360);
        let values8: Vec<i8> = (0..4 * 12).map(|i: i32| ((i * 7919) % 255) as i8).collect();
        same_bits(&values8, 4, 1, 12, 3360);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn vector_paths_give_the_definitions_bits_f32(
            len in 9usize..80,
            ch in 1usize..3,
            seed in any::<u64>(),
            features in prop_oneof![Just(672usize), Just(3360usize)],
        ) {
            let n = 3;
            let mut s = seed;
            let values: Vec<f32> = (0..n * ch * len)
                .map(|_| {
                    s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 7.3
                })
                .collect();
            // 3,360 features on short series: more than 32 biases per kernel.
            same_bits(&values, n, ch, len, features);
        }

        #[test]
        fn vector_paths_give_the_definitions_bits_int8(
            len in 9usize..80,
            ch in 1usize..3,
            values in proptest::collection::vec(any::<i8>(), 3 * 2 * 80),
            features in prop_oneof![Just(672usize), Just(3360usize)],
        ) {
            let n = 3;
            same_bits(&values[..n * ch * len], n, ch, len, features);
        }
    }
}
