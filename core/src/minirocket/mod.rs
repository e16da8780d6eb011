//! MiniRocket (Dempster et al. 2021), exactly as the reference (docs/method.md#minirocket).
//!
//! - [`MiniRocketPlan`]: dilations and features per dilation for a series
//!   length, a pure function every device computes identically.
//! - [`BlockSelection`]: which (dilation, kernel) blocks a device owns and
//!   its local feature layout.
//! - [`fit`]: biases (and multivariate channel subsets) of the selected
//!   blocks, with the reference's example picks ([`ExamplePicker`]) and
//!   quantiles ([`quantile`]).
//! - [`transform`]: PPV features of one series for the selected blocks.
//!
//! Nothing here allocates: callers pass every buffer, sized by
//! [`MiniRocketPlan`] / [`BlockSelection`] methods, [`channel_buffer_lens`],
//! [`fit_scratch_len`], [`fit_acc_scratch_len`] and [`transform_scratch_len`].
//! With the `alloc` feature, [`fit_all`] and [`FittedOwned`] wrap them.
//!
//! f32 series are convolved in f32, in the reference's own operation orders
//! (which differ between its fit and its transform, see `conv.rs`) and with no
//! FMA; int8 series exactly in i32. Checked against the numba reference run
//! locally on GunPoint, ItalyPowerDemand, ArrowHead, FaceAll, Coffee (seeds 0
//! and 7, every test series) and BasicMotions (multivariate, channel subsets
//! included): biases and features are bit-identical, and a Cortex-M4F (QEMU
//! `mps2-an386`) computes the same bits as x86_64.

mod channels;
mod conv;
mod fit;
mod kernels;
#[cfg(feature = "alloc")]
mod owned;
mod picks;
mod plan;
mod quantiles;
mod selection;
mod transform;

// The cost model counts the convolutions of each block's channel subset.
pub(crate) use channels::draw_sizes;
pub use channels::{
    ChannelSubsetError, MAX_CHANNELS_PER_BLOCK, channel_buffer_lens, channel_stride,
};
pub use fit::{FitError, fit, fit_acc_scratch_len, fit_scratch_len};
pub use kernels::{KERNEL_INDICES, KERNEL_LENGTH, NUM_KERNELS};
#[cfg(feature = "alloc")]
pub use owned::{FittedOwned, fit_all, fit_selection, reference_order};
pub use picks::{ExamplePicker, LegacyRandomState};
pub use plan::{
    DEFAULT_NUM_FEATURES, MAX_CHANNELS, MAX_DILATIONS, MAX_LENGTH, MAX_NUM_FEATURES,
    MiniRocketPlan, PlanError,
};
pub use quantiles::quantile;
pub use selection::{BlockSelection, SelectionError};
pub use transform::{
    BufferLengthError, FittedKernels, TransformError, scatter_to_reference, transform,
    transform_scratch_len,
};
