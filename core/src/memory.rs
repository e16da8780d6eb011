//! Exact per-device memory accounting (docs/method.md#memory-per-device).
//!
//! [`MemoryFootprint::of`] is a pure function of a device's spec; the device
//! model allocates exactly these buffers (and refuses buffers of any other
//! length), so the figure reported is the figure used.

use core::fmt;
use core::mem::size_of;
use core::ops::Add;

use crate::classifier::DeviceSpec;
use crate::minirocket;
use crate::optim::OptimizerKind;
use crate::series::InputKind;

/// A number of bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bytes(pub usize);

impl Add for Bytes {
    type Output = Bytes;
    fn add(self, rhs: Bytes) -> Bytes {
        Bytes(self.0 + rhs.0)
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= 1024 {
            write!(f, "{} B ({:.1} KiB)", self.0, self.0 as f64 / 1024.0)
        } else {
            write!(f, "{} B", self.0)
        }
    }
}

/// Element counts of every buffer a device holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferLens {
    /// MiniRocket biases of the device's blocks (f32).
    pub kernel_biases: usize,
    /// Channels per block, multivariate only (u8).
    pub channel_counts: usize,
    /// Channel indices per block, multivariate only (u16).
    pub channel_indices: usize,
    /// Classifier parameters: C × F_i weights, then C class biases on device 0 (f32).
    pub params: usize,
    /// Gradient accumulator, one per parameter (f32).
    pub grads: usize,
    /// Adam: first/second moments (f32 each, one per parameter).
    /// QAdam: one absmax scale per block and moment (f32 each).
    pub moment_f32: usize,
    /// QAdam: 8-bit codes per parameter and moment (u8 each); 0 for Adam.
    pub moment_codes: usize,
    /// Features of the sample in flight (f32).
    pub features: usize,
    /// Convolution scratch (the input's accumulator type).
    pub transform_scratch: usize,
    /// Bias-fit scratch (f32); only used while fitting.
    pub fit_scratch: usize,
    /// The received sample (input type).
    pub sample: usize,
    /// Logits and probabilities of the sample being trained (2·C f32).
    pub class_scratch: usize,
    /// QAdam blocks (0 for Adam).
    pub optimizer_blocks: usize,
}

impl BufferLens {
    /// The buffer lengths of a device with `spec`.
    pub fn of(spec: &DeviceSpec) -> Self {
        let plan = &spec.model;
        let sel = &spec.selection;
        let f = sel.num_features(plan);
        let c = spec.n_classes;
        let params = c * f + if spec.holds_class_bias { c } else { 0 };
        let (counts, indices) = minirocket::channel_buffer_lens(plan, sel);
        let blocks = c * sel.num_units(plan) + usize::from(spec.holds_class_bias);
        let (moment_f32, moment_codes, optimizer_blocks) = match spec.optimizer {
            OptimizerKind::Adam => (params, 0, 0),
            OptimizerKind::QAdam => (blocks, params, blocks),
        };
        Self {
            kernel_biases: f,
            channel_counts: counts,
            channel_indices: indices,
            params,
            grads: params,
            moment_f32,
            moment_codes,
            features: f,
            transform_scratch: minirocket::transform_scratch_len(plan),
            fit_scratch: minirocket::fit_scratch_len(plan),
            sample: plan.n_channels() * plan.length(),
            class_scratch: 2 * c,
            optimizer_blocks,
        }
    }
}

/// Bytes per buffer of one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryFootprint {
    /// MiniRocket biases of the device's kernels.
    pub kernel_biases: Bytes,
    /// Multivariate channel subsets.
    pub channel_subsets: Bytes,
    /// Classifier weights and (device 0) class biases.
    pub weights: Bytes,
    /// Gradient accumulator.
    pub gradients: Bytes,
    /// Optimizer moments (Adam: 2 × f32 per parameter; QAdam: 2 × u8 + scales).
    pub optimizer_state: Bytes,
    /// Features of the sample in flight.
    pub features: Bytes,
    /// Convolution scratch.
    pub transform_scratch: Bytes,
    /// Bias-fit scratch (used only before training).
    pub fit_scratch: Bytes,
    /// The received sample.
    pub sample: Bytes,
    /// Logits and probabilities.
    pub class_scratch: Bytes,
}

impl MemoryFootprint {
    /// The footprint of a device with `spec`.
    pub fn of(spec: &DeviceSpec) -> Self {
        let l = BufferLens::of(spec);
        let (acc, input) = match spec.input {
            InputKind::F32 => (size_of::<f32>(), size_of::<f32>()),
            InputKind::Int8 => (size_of::<i32>(), size_of::<i8>()),
        };
        Self {
            kernel_biases: Bytes(l.kernel_biases * 4),
            channel_subsets: Bytes(l.channel_counts + l.channel_indices * 2),
            weights: Bytes(l.params * 4),
            gradients: Bytes(l.grads * 4),
            optimizer_state: Bytes(spec.optimizer.state_bytes(l.params, l.optimizer_blocks)),
            features: Bytes(l.features * 4),
            transform_scratch: Bytes(l.transform_scratch * acc),
            fit_scratch: Bytes(l.fit_scratch * 4),
            sample: Bytes(l.sample * input),
            class_scratch: Bytes(l.class_scratch * 4),
        }
    }

    /// Every buffer as (name, bytes), in a fixed order.
    pub fn entries(&self) -> [(&'static str, Bytes); 10] {
        [
            ("kernel_biases", self.kernel_biases),
            ("channel_subsets", self.channel_subsets),
            ("weights", self.weights),
            ("gradients", self.gradients),
            ("optimizer_state", self.optimizer_state),
            ("features", self.features),
            ("transform_scratch", self.transform_scratch),
            ("fit_scratch", self.fit_scratch),
            ("sample", self.sample),
            ("class_scratch", self.class_scratch),
        ]
    }

    /// All buffers together.
    pub fn total(&self) -> Bytes {
        self.entries().iter().fold(Bytes(0), |a, (_, b)| a + *b)
    }

    /// What training needs once the fit is done (the fit scratch can be
    /// reused, e.g. overlaid with the gradient accumulator on the MCU).
    pub fn training_total(&self) -> Bytes {
        Bytes(self.total().0 - self.fit_scratch.0)
    }
}
