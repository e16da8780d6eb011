//! Owned (`alloc`) conveniences for tests and the host trainer.

use alloc::vec;
use alloc::vec::Vec;

use super::channels::channel_buffer_lens;
use super::fit::{FitError, fit, fit_acc_scratch_len, fit_scratch_len};
use super::plan::MiniRocketPlan;
use super::selection::BlockSelection;
use super::transform::{
    BufferLengthError, FittedKernels, TransformError, scatter_to_reference, transform_scratch_len,
};
use crate::series::{ConvInput, SeriesView};

/// A fitted selection with owned buffers.
#[derive(Clone, Debug, PartialEq)]
pub struct FittedOwned {
    /// The plan.
    pub plan: MiniRocketPlan,
    /// The blocks fitted.
    pub selection: BlockSelection,
    /// Biases in the selection's local layout.
    pub biases: Vec<f32>,
    /// Channel-subset sizes, one per selected block (empty when univariate).
    pub channel_counts: Vec<u8>,
    /// Channel-subset members, `min(n_channels, 9)` slots per selected block
    /// (empty when univariate).
    pub channel_indices: Vec<u16>,
}

/// Fits every block ([`BlockSelection::all`]) on `train`.
pub fn fit_all<T: ConvInput>(
    plan: &MiniRocketPlan,
    train: SeriesView<'_, T>,
    seed: u32,
) -> Result<FittedOwned, FitError> {
    fit_selection(plan, &BlockSelection::all(), train, seed)
}

/// Fits the blocks `sel` selects on `train`, allocating every buffer.
pub fn fit_selection<T: ConvInput>(
    plan: &MiniRocketPlan,
    sel: &BlockSelection,
    train: SeriesView<'_, T>,
    seed: u32,
) -> Result<FittedOwned, FitError> {
    sel.validate(plan)?;
    let (n_counts, n_indices) = channel_buffer_lens(plan, sel);
    let mut out = FittedOwned {
        plan: *plan,
        selection: *sel,
        biases: vec![0.0; sel.num_features(plan)],
        channel_counts: vec![0; n_counts],
        channel_indices: vec![0; n_indices],
    };
    let mut scratch_acc = vec![T::Acc::default(); fit_acc_scratch_len(plan)];
    let mut scratch_f32 = vec![0.0; fit_scratch_len(plan)];
    fit(
        plan,
        sel,
        train,
        seed,
        &mut out.biases,
        &mut out.channel_counts,
        &mut out.channel_indices,
        &mut scratch_acc,
        &mut scratch_f32,
    )?;
    Ok(out)
}

impl FittedOwned {
    /// The borrowed view [`transform`](super::transform) takes.
    pub fn kernels(&self) -> FittedKernels<'_> {
        FittedKernels {
            plan: &self.plan,
            selection: self.selection,
            biases: &self.biases,
            channel_counts: &self.channel_counts,
            channel_indices: &self.channel_indices,
        }
    }

    /// Features per series.
    pub fn num_features(&self) -> usize {
        self.biases.len()
    }

    /// Features of one series (`n_channels · length` values), local layout.
    pub fn transform_series<T: ConvInput>(&self, series: &[T]) -> Result<Vec<f32>, TransformError> {
        let mut scratch = vec![T::Acc::default(); transform_scratch_len(&self.plan)];
        let mut out = vec![0.0; self.num_features()];
        self.kernels().transform(series, &mut scratch, &mut out)?;
        Ok(out)
    }

    /// Features of every series of `view`, row-major `n_series × num_features`.
    pub fn transform_view<T: ConvInput>(
        &self,
        view: SeriesView<'_, T>,
    ) -> Result<Vec<f32>, TransformError> {
        if view.n_channels() != self.plan.n_channels() || view.length() != self.plan.length() {
            return Err(BufferLengthError {
                buffer: "series",
                expected: self.plan.n_channels() * self.plan.length(),
                got: view.n_channels() * view.length(),
            }
            .into());
        }
        let f = self.num_features();
        let mut scratch = vec![T::Acc::default(); transform_scratch_len(&self.plan)];
        let mut out = vec![0.0; view.n_series() * f];
        let kernels = self.kernels();
        for (i, row) in out
            .chunks_exact_mut(f.max(1))
            .enumerate()
            .take(view.n_series())
        {
            kernels.transform(view.series(i), &mut scratch, row)?;
        }
        Ok(out)
    }

    /// `local` (this selection's layout) in reference order; see [`reference_order`].
    pub fn to_reference_order(&self, local: &[f32]) -> Result<Vec<f32>, TransformError> {
        reference_order(&self.plan, &self.selection, local)
    }
}

/// Permutes a local-layout feature vector of `sel` into reference order: a
/// vector of `plan.num_features()` values, NaN where `sel` has no feature.
pub fn reference_order(
    plan: &MiniRocketPlan,
    sel: &BlockSelection,
    local: &[f32],
) -> Result<Vec<f32>, TransformError> {
    let mut full = vec![f32::NAN; plan.num_features()];
    scatter_to_reference(plan, sel, local, &mut full)?;
    Ok(full)
}
