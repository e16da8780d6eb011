//! The bias fit: one training example per block, quantiles of its
//! convolution output.

use super::channels::{self, channel_buffer_lens, channel_stride};
use super::conv;
use super::kernels::KERNEL_INDICES;
use super::picks::ExamplePicker;
use super::plan::MiniRocketPlan;
use super::quantiles::{interpolated, quantile};
use super::selection::{BlockSelection, SelectionError};
use super::transform::{BufferLengthError, at_least, exact, padded_len};
use crate::series::{ConvInput, SeriesView};

/// Why a fit cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FitError {
    /// The selection does not fit the plan.
    #[error(transparent)]
    Selection(#[from] SelectionError),
    /// A buffer has the wrong length.
    #[error(transparent)]
    BufferLength(#[from] BufferLengthError),
    /// The training set's shape differs from the plan's.
    #[error(
        "training set has {channels} channels × {length} steps, the plan {plan_channels} × {plan_length}"
    )]
    Shape {
        /// Channels in the training set.
        channels: usize,
        /// Length of the training set's series.
        length: usize,
        /// Channels in the plan.
        plan_channels: usize,
        /// Length in the plan.
        plan_length: usize,
    },
    /// The training set has no series.
    #[error("the training set is empty")]
    EmptyTrainingSet,
}

/// f32 scratch [`fit`] needs: one convolution output (`L`) to sort, or, when
/// multivariate, a permutation of the channels if that is longer.
pub fn fit_scratch_len(plan: &MiniRocketPlan) -> usize {
    if plan.is_univariate() {
        plan.length()
    } else {
        plan.length().max(plan.n_channels())
    }
}

/// `T::Acc` scratch [`fit`] needs: one padded channel and one output row
/// (never more than [`transform_scratch_len`](super::transform_scratch_len),
/// so a device can share one buffer).
pub fn fit_acc_scratch_len(plan: &MiniRocketPlan) -> usize {
    padded_len(plan) + plan.length()
}

/// Fits the biases (and channel subsets) of the blocks `sel` selects.
///
/// Iterates all blocks in reference order drawing one example pick each (so
/// every device draws the same stream), and convolves only the selected
/// ones. Block `(j, k)`'s `f_j` biases are the quantiles
/// `q(reference index)` of the convolution of its picked example over the
/// whole zero-padded series (no padding alternation in the fit), written to
/// `biases` in `sel`'s local layout. Buffers: `biases` has
/// `sel.num_features(plan)` values, `channel_counts`/`channel_indices`
/// exactly the lengths of [`channel_buffer_lens`] (empty for a univariate
/// plan, whose blocks all use channel 0), `scratch_acc` at least
/// [`fit_acc_scratch_len`], `scratch_f32` at least [`fit_scratch_len`].
///
/// Besides the buffers, the MT19937 state (2.5 KiB) lives on the stack.
#[allow(clippy::too_many_arguments)] // the no-alloc API passes every buffer
pub fn fit<T: ConvInput>(
    plan: &MiniRocketPlan,
    sel: &BlockSelection,
    train: SeriesView<'_, T>,
    seed: u32,
    biases: &mut [f32],
    channel_counts: &mut [u8],
    channel_indices: &mut [u16],
    scratch_acc: &mut [T::Acc],
    scratch_f32: &mut [f32],
) -> Result<(), FitError> {
    sel.validate(plan)?;
    if train.n_channels() != plan.n_channels() || train.length() != plan.length() {
        return Err(FitError::Shape {
            channels: train.n_channels(),
            length: train.length(),
            plan_channels: plan.n_channels(),
            plan_length: plan.length(),
        });
    }
    if train.n_series() == 0 {
        return Err(FitError::EmptyTrainingSet);
    }
    let (n_counts, n_indices) = channel_buffer_lens(plan, sel);
    exact("biases", biases.len(), sel.num_features(plan))?;
    exact("channel_counts", channel_counts.len(), n_counts)?;
    exact("channel_indices", channel_indices.len(), n_indices)?;
    at_least("scratch_acc", scratch_acc.len(), fit_acc_scratch_len(plan))?;
    at_least("scratch_f32", scratch_f32.len(), fit_scratch_len(plan))?;

    channels::draw(
        plan,
        sel,
        seed,
        channel_counts,
        channel_indices,
        scratch_f32,
    );

    let l = plan.length();
    let stride = channel_stride(plan);
    let plen_max = padded_len(plan);
    let (xp_buf, rest) = scratch_acc.split_at_mut(plen_max);
    let c_acc = &mut rest[..l];
    let c_f32 = &mut scratch_f32[..l];
    let mut picker = ExamplePicker::new(seed);

    for (j, (&d, &f_j)) in plan
        .dilations()
        .iter()
        .zip(plan.features_per_dilation())
        .enumerate()
    {
        let d = d as usize;
        let f_j = f_j as usize;
        let pad = 4 * d;
        let xp = &mut xp_buf[..l + 2 * pad];
        for (k, &idx) in KERNEL_INDICES.iter().enumerate() {
            let example = picker.pick(train.n_series());
            let Some(lb) = sel.local_block(plan, j, k) else {
                continue;
            };
            let subset: &[u16] = if plan.is_univariate() {
                &[0]
            } else {
                let count = channel_counts[lb] as usize;
                &channel_indices[lb * stride..lb * stride + count]
            };
            for (i, &ch) in subset.iter().enumerate() {
                conv::pad_into(train.channel(example, ch as usize), pad, xp);
                conv::kernel_conv_direct::<T>(xp, d, idx, c_acc, i > 0);
            }
            for (f, &c) in c_f32.iter_mut().zip(c_acc.iter()) {
                *f = T::acc_to_f32(c);
            }
            c_f32.sort_unstable_by(f32::total_cmp);

            let off = sel.local_offset(plan, j, k).unwrap_or(0);
            let reference = plan.reference_block_offset(j, k);
            for (f, b) in biases[off..off + f_j].iter_mut().enumerate() {
                *b = interpolated(c_f32, quantile(reference + f));
            }
        }
    }
    Ok(())
}
