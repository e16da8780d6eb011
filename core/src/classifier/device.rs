//! [`DeviceModel`]: a device's kernels, biases, weight slice, optimizer state
//! and gradient accumulator, and the three things it does per sample.
//!
//! Per training sample: [`DeviceModel::partial_logits`] → (all devices' partial
//! logits are summed into [`LogitTotals`]) → [`DeviceModel::accumulate`]; at
//! batch end [`DeviceModel::step`]. Every operation is element-wise on the
//! device's own parameters or exact in integers, so N devices compute the same
//! bits as one.

use rand_distr::{Distribution, StandardNormal};

use super::kernels;
use super::logits::{
    LogitTotals, MAX_CLASSES, PartialLogits, cross_entropy, softmax, value_to_fixed,
};
use crate::memory::{BufferLens, MemoryFootprint};
use crate::minirocket::{self, BlockSelection, MiniRocketPlan};
use crate::optim::{self, AdamConfig, AdamStep, OptimizerKind};
use crate::partition::{PartitionError, PartitionPlan};
use crate::rng::{Purpose, keyed_rng};
use crate::series::{ConvInput, InputKind, SeriesView};
use crate::storage::Storage;

/// Everything that determines one device's model: a pure description,
/// identical on every device and on the host.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeviceSpec {
    /// The whole MiniRocket plan.
    pub model: MiniRocketPlan,
    /// The blocks this device owns.
    pub selection: BlockSelection,
    /// Number of classes C.
    pub n_classes: usize,
    /// Whether this device holds the classifier's class biases (device 0).
    pub holds_class_bias: bool,
    /// Adam or QAdam.
    pub optimizer: OptimizerKind,
    /// Optimizer hyper-parameters.
    pub adam: AdamConfig,
    /// Sample encoding.
    pub input: InputKind,
    /// Experiment seed (MiniRocket picks use it as NumPy's 32-bit MT19937
    /// seed; weight init keys a ChaCha stream with it).
    pub seed: u32,
}

impl DeviceSpec {
    /// The spec of device `device` of `partition`.
    pub fn for_device(
        partition: &PartitionPlan,
        device: usize,
        n_classes: usize,
        optimizer: OptimizerKind,
        adam: AdamConfig,
        input: InputKind,
        seed: u32,
    ) -> Result<Self, PartitionError> {
        Ok(Self {
            model: *partition.model(),
            selection: partition.selection(device)?,
            n_classes,
            holds_class_bias: device == 0,
            optimizer,
            adam,
            input,
            seed,
        })
    }

    /// Features this device computes (F_i).
    pub fn num_features(&self) -> usize {
        self.selection.num_features(&self.model)
    }
}

/// A device model cannot be built or used as asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeviceError {
    /// A buffer has the wrong length for the spec.
    #[error("buffer `{buffer}` has {got} elements, the spec needs {expected}")]
    BufferLength {
        /// Which buffer.
        buffer: &'static str,
        /// Its length.
        got: usize,
        /// The length the spec needs.
        expected: usize,
    },
    /// More classes than [`MAX_CLASSES`], or fewer than 2.
    #[error("{0} classes: a model needs 2..={MAX_CLASSES}")]
    Classes(usize),
    /// The spec's input kind differs from the model's sample type.
    #[error("the spec says {spec:?} input but the model was built for {model:?}")]
    InputKind {
        /// In the spec.
        spec: InputKind,
        /// Of the sample type.
        model: InputKind,
    },
    /// A label outside `0..C`.
    #[error("label {label} is not a class (C = {n_classes})")]
    Label {
        /// The label.
        label: usize,
        /// Number of classes.
        n_classes: usize,
    },
    /// Totals with a different number of classes.
    #[error("logit totals have {got} classes, the model {expected}")]
    Totals {
        /// Classes in the totals.
        got: usize,
        /// Classes in the model.
        expected: usize,
    },
    /// The MiniRocket fit failed.
    #[error("MiniRocket fit: {0}")]
    Fit(#[from] minirocket::FitError),
    /// The MiniRocket transform failed.
    #[error("MiniRocket transform: {0}")]
    Transform(#[from] minirocket::TransformError),
    /// The optimizer rejected its buffers.
    #[error("optimizer: {0}")]
    Optim(#[from] optim::OptimError),
}

/// The buffers of one device, each exactly as long as [`BufferLens::of`] says.
pub struct DeviceBuffers<T: ConvInput, S: Storage> {
    /// MiniRocket biases of the device's blocks, local layout.
    pub kernel_biases: S::Buf<f32>,
    /// Multivariate channel counts per block (empty when univariate).
    pub channel_counts: S::Buf<u8>,
    /// Multivariate channel indices per block (empty when univariate).
    pub channel_indices: S::Buf<u16>,
    /// Weights (C rows × F_i, row-major), then the class biases on device 0.
    pub params: S::Buf<f32>,
    /// Gradient accumulator (same layout as `params`).
    pub grads: S::Buf<f32>,
    /// Adam: first moments. QAdam: first-moment block scales.
    pub moment1: S::Buf<f32>,
    /// Adam: second moments. QAdam: second-moment block scales.
    pub moment2: S::Buf<f32>,
    /// QAdam: first-moment codes (empty for Adam).
    pub codes1: S::Buf<u8>,
    /// QAdam: second-moment codes (empty for Adam).
    pub codes2: S::Buf<u8>,
    /// Features of the sample in flight.
    pub features: S::Buf<f32>,
    /// Convolution scratch.
    pub transform_scratch: S::Buf<T::Acc>,
    /// Bias-fit scratch.
    pub fit_scratch: S::Buf<f32>,
    /// The received sample.
    pub sample: S::Buf<T>,
    /// Logits then probabilities (2·C).
    pub class_scratch: S::Buf<f32>,
}

#[cfg(feature = "alloc")]
impl<T: ConvInput> DeviceBuffers<T, crate::storage::HeapStorage> {
    /// Heap buffers of exactly the lengths `spec` needs, zeroed.
    pub fn allocate(spec: &DeviceSpec) -> Self {
        use alloc::vec;
        let l = BufferLens::of(spec);
        Self {
            kernel_biases: vec![0.0; l.kernel_biases],
            channel_counts: vec![0; l.channel_counts],
            channel_indices: vec![0; l.channel_indices],
            params: vec![0.0; l.params],
            grads: vec![0.0; l.grads],
            moment1: vec![0.0; l.moment_f32],
            moment2: vec![0.0; l.moment_f32],
            codes1: vec![0; l.moment_codes],
            codes2: vec![0; l.moment_codes],
            features: vec![0.0; l.features],
            transform_scratch: vec![T::Acc::default(); l.transform_scratch],
            fit_scratch: vec![0.0; l.fit_scratch],
            sample: vec![T::default(); l.sample],
            class_scratch: vec![0.0; l.class_scratch],
        }
    }
}

fn check(buffer: &'static str, got: usize, expected: usize) -> Result<(), DeviceError> {
    if got == expected {
        Ok(())
    } else {
        Err(DeviceError::BufferLength {
            buffer,
            got,
            expected,
        })
    }
}

/// One device's part of the model and its training state.
pub struct DeviceModel<T: ConvInput, S: Storage> {
    spec: DeviceSpec,
    n_features: usize,
    b: DeviceBuffers<T, S>,
    /// Samples accumulated since the last step.
    pending: u32,
    /// Optimizer steps taken.
    steps: u32,
}

impl<T: ConvInput, S: Storage> DeviceModel<T, S> {
    /// Builds the device from `spec` and buffers of the right lengths, and
    /// draws its initial weights: `N(0,1)·2/√(F+C)` with one seeded stream per
    /// (dilation, kernel) block, so a weight's initial value depends on which
    /// feature it multiplies, never on which device holds it.
    pub fn new(spec: DeviceSpec, buffers: DeviceBuffers<T, S>) -> Result<Self, DeviceError> {
        if spec.n_classes < 2 || spec.n_classes > MAX_CLASSES {
            return Err(DeviceError::Classes(spec.n_classes));
        }
        if spec.input != T::KIND {
            return Err(DeviceError::InputKind {
                spec: spec.input,
                model: T::KIND,
            });
        }
        spec.adam.validate()?;
        let l = BufferLens::of(&spec);
        let b = &buffers;
        check(
            "kernel_biases",
            b.kernel_biases.as_ref().len(),
            l.kernel_biases,
        )?;
        check(
            "channel_counts",
            b.channel_counts.as_ref().len(),
            l.channel_counts,
        )?;
        check(
            "channel_indices",
            b.channel_indices.as_ref().len(),
            l.channel_indices,
        )?;
        check("params", b.params.as_ref().len(), l.params)?;
        check("grads", b.grads.as_ref().len(), l.grads)?;
        check("moment1", b.moment1.as_ref().len(), l.moment_f32)?;
        check("moment2", b.moment2.as_ref().len(), l.moment_f32)?;
        check("codes1", b.codes1.as_ref().len(), l.moment_codes)?;
        check("codes2", b.codes2.as_ref().len(), l.moment_codes)?;
        check("features", b.features.as_ref().len(), l.features)?;
        check(
            "transform_scratch",
            b.transform_scratch.as_ref().len(),
            l.transform_scratch,
        )?;
        check("fit_scratch", b.fit_scratch.as_ref().len(), l.fit_scratch)?;
        check("sample", b.sample.as_ref().len(), l.sample)?;
        check(
            "class_scratch",
            b.class_scratch.as_ref().len(),
            l.class_scratch,
        )?;
        let mut model = Self {
            spec,
            n_features: l.features,
            b: buffers,
            pending: 0,
            steps: 0,
        };
        model.reset_training_state();
        Ok(model)
    }

    /// Re-draws the initial weights and clears gradients and optimizer state.
    pub fn reset_training_state(&mut self) {
        let spec = self.spec;
        let plan = &spec.model;
        let f_i = self.n_features;
        let c = spec.n_classes;
        let std = 2.0 / libm::sqrtf((plan.num_features() + c) as f32);
        let params = self.b.params.as_mut();
        for (j, &fj) in plan.features_per_dilation().iter().enumerate() {
            let fj = fj as usize;
            for k in 0..minirocket::NUM_KERNELS {
                let Some(off) = spec.selection.local_offset(plan, j, k) else {
                    continue;
                };
                let block = (j * minirocket::NUM_KERNELS + k) as u64;
                let mut rng = keyed_rng(spec.seed as u64, Purpose::WeightInit, block, 0);
                for class in 0..c {
                    for p in &mut params[class * f_i + off..class * f_i + off + fj] {
                        let z: f32 = StandardNormal.sample(&mut rng);
                        *p = z * std;
                    }
                }
            }
        }
        // Class biases start at zero.
        params[c * f_i..].fill(0.0);
        self.b.grads.as_mut().fill(0.0);
        // Adam: zero moments. QAdam: zero codes and zero block scales.
        optim::qadam_init(
            self.b.codes1.as_mut(),
            self.b.codes2.as_mut(),
            self.b.moment1.as_mut(),
            self.b.moment2.as_mut(),
        );
        self.pending = 0;
        self.steps = 0;
    }

    /// The device's spec.
    pub fn spec(&self) -> &DeviceSpec {
        &self.spec
    }

    /// Exact bytes per buffer.
    pub fn footprint(&self) -> MemoryFootprint {
        MemoryFootprint::of(&self.spec)
    }

    /// Fits this device's MiniRocket biases (and channel subsets) on the
    /// training set. Every device draws the whole pick stream, so the biases
    /// equal the single-device fit's.
    pub fn fit(&mut self, train: SeriesView<'_, T>) -> Result<(), DeviceError> {
        let seed = self.spec.seed;
        minirocket::fit(
            &self.spec.model,
            &self.spec.selection,
            train,
            seed,
            self.b.kernel_biases.as_mut(),
            self.b.channel_counts.as_mut(),
            self.b.channel_indices.as_mut(),
            self.b.transform_scratch.as_mut(),
            self.b.fit_scratch.as_mut(),
        )?;
        Ok(())
    }

    /// The sample buffer (n_channels × L): write a received sample here, then
    /// call [`Self::compute_features`].
    pub fn sample_mut(&mut self) -> &mut [T] {
        self.b.sample.as_mut()
    }

    /// MiniRocket features of the sample buffer, for this device's blocks.
    pub fn compute_features(&mut self) -> Result<(), DeviceError> {
        minirocket::transform(
            &self.spec.model,
            &self.spec.selection,
            self.b.kernel_biases.as_ref(),
            self.b.channel_counts.as_ref(),
            self.b.channel_indices.as_ref(),
            self.b.sample.as_ref(),
            self.b.transform_scratch.as_mut(),
            self.b.features.as_mut(),
        )?;
        Ok(())
    }

    /// Uses precomputed features (the host trainer caches each sample's
    /// features instead of recomputing the transform every epoch; the
    /// transform is deterministic, so results are the same).
    pub fn set_features(&mut self, features: &[f32]) -> Result<(), DeviceError> {
        check("features", features.len(), self.n_features)?;
        self.b.features.as_mut().copy_from_slice(features);
        Ok(())
    }

    /// The features of the sample in flight.
    pub fn features(&self) -> &[f32] {
        self.b.features.as_ref()
    }

    /// This device's fixed-point contribution to the logits of the sample in
    /// flight: `Σ_f round(W[c][f]·x[f])` (+ the class bias on device 0).
    pub fn partial_logits(&self) -> PartialLogits {
        let f_i = self.n_features;
        let c = self.spec.n_classes;
        let params = self.b.params.as_ref();
        let x = self.b.features.as_ref();
        let mut sums = [0i64; MAX_CLASSES];
        for (class, sum) in sums.iter_mut().enumerate().take(c) {
            let row = &params[class * f_i..(class + 1) * f_i];
            let mut s = kernels::fixed_dot(row, x);
            if self.spec.holds_class_bias {
                s += value_to_fixed(params[c * f_i + class]);
            }
            *sum = s;
        }
        PartialLogits::from_sums(&sums[..c])
    }

    /// Adds the cross-entropy gradient of the sample in flight, given every
    /// device's summed logits and the label; returns the sample's loss.
    pub fn accumulate(&mut self, totals: &LogitTotals, label: usize) -> Result<f32, DeviceError> {
        let c = self.spec.n_classes;
        if totals.n_classes() != c {
            return Err(DeviceError::Totals {
                got: totals.n_classes(),
                expected: c,
            });
        }
        if label >= c {
            return Err(DeviceError::Label {
                label,
                n_classes: c,
            });
        }
        let f_i = self.n_features;
        let (logits, probs) = self.b.class_scratch.as_mut().split_at_mut(c);
        totals.to_f32(logits);
        softmax(logits, probs);
        let loss = cross_entropy(probs, label);
        let x = self.b.features.as_ref();
        let grads = self.b.grads.as_mut();
        for class in 0..c {
            let d = probs[class] - if class == label { 1.0 } else { 0.0 };
            kernels::add_scaled(&mut grads[class * f_i..(class + 1) * f_i], d, x);
            if self.spec.holds_class_bias {
                grads[c * f_i + class] += d;
            }
        }
        self.pending += 1;
        Ok(loss)
    }

    /// Ends a batch: one optimizer step on the mean gradient of the samples
    /// accumulated since the last step (none → no step).
    pub fn step(&mut self) -> Result<(), DeviceError> {
        if self.pending == 0 {
            return Ok(());
        }
        let inv = 1.0 / self.pending as f32;
        for g in self.b.grads.as_mut() {
            *g *= inv;
        }
        self.steps += 1;
        let step = AdamStep::new(&self.spec.adam, self.steps);
        match self.spec.optimizer {
            OptimizerKind::Adam => optim::try_adam_update(
                &self.spec.adam,
                &step,
                self.b.params.as_mut(),
                self.b.grads.as_ref(),
                self.b.moment1.as_mut(),
                self.b.moment2.as_mut(),
            )?,
            OptimizerKind::QAdam => {
                let spec = self.spec;
                let f_i = self.n_features;
                let c = spec.n_classes;
                let units = spec.selection.num_units(&spec.model);
                // A block is one class's weights of one unit: up to 84
                // devices a unit is a kernel at every dilation (per_k values,
                // e.g. 115 for FaceAll), which never straddles devices, so
                // QAdam gives the same bits for any N ≤ 84. Beyond 84 devices
                // the partition splits kernels and a unit is one (dilation,
                // kernel) block: QAdam is then exact across those N but not
                // equal to N ≤ 84 (Adam is equal for every N).
                let weight_blocks = (0..c).flat_map(move |class| {
                    (0..units).map(move |u| {
                        let r = spec.selection.unit_range(&spec.model, u);
                        class * f_i + r.start..class * f_i + r.end
                    })
                });
                let bias_block = spec.holds_class_bias.then_some(c * f_i..c * f_i + c);
                optim::qadam_update(
                    &spec.adam,
                    &step,
                    self.b.params.as_mut(),
                    self.b.grads.as_ref(),
                    self.b.codes1.as_mut(),
                    self.b.codes2.as_mut(),
                    self.b.moment1.as_mut(),
                    self.b.moment2.as_mut(),
                    weight_blocks.chain(bias_block),
                )?
            }
        }
        self.b.grads.as_mut().fill(0.0);
        self.pending = 0;
        Ok(())
    }

    /// Samples accumulated since the last step.
    pub fn pending(&self) -> u32 {
        self.pending
    }

    /// Optimizer steps taken so far.
    pub fn steps(&self) -> u32 {
        self.steps
    }

    /// The classifier parameters (weights, then class biases on device 0).
    pub fn params(&self) -> &[f32] {
        self.b.params.as_ref()
    }

    /// Mutable parameters (restoring a checkpoint, tests).
    pub fn params_mut(&mut self) -> &mut [f32] {
        self.b.params.as_mut()
    }

    /// The gradient accumulated since the last step (sums, not yet averaged).
    pub fn gradients(&self) -> &[f32] {
        self.b.grads.as_ref()
    }

    /// The MiniRocket biases of this device's blocks (local layout).
    pub fn kernel_biases(&self) -> &[f32] {
        self.b.kernel_biases.as_ref()
    }

    /// Sets the MiniRocket biases (e.g. received in a plan instead of fitted
    /// locally).
    pub fn set_kernel_biases(&mut self, biases: &[f32]) -> Result<(), DeviceError> {
        check("kernel_biases", biases.len(), self.n_features)?;
        self.b.kernel_biases.as_mut().copy_from_slice(biases);
        Ok(())
    }
}
