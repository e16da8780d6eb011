//! From a validated config to everything a run needs: the datasets, the
//! MiniRocket plan, the partition and each device's spec.

use anyhow::{Context, Result, bail};
use rocknet_core::classifier::{DeviceSpec, MAX_CLASSES};
use rocknet_core::dataset::{self, Dataset};
use rocknet_core::minirocket::MiniRocketPlan;
use rocknet_core::partition::PartitionPlan;
use rocknet_core::series::Int8Scale;

use crate::config::ExperimentConfig;
use crate::inputs::{InputReport, prepare_inputs};

/// A config, its data and its plan.
pub struct Experiment {
    /// The validated config.
    pub config: ExperimentConfig,
    /// Training split.
    pub train: Dataset,
    /// Test split (same classes and padded length as `train`).
    pub test: Dataset,
    /// The partition of the MiniRocket plan over the devices.
    pub partition: PartitionPlan,
    /// The int8 scale (from the whole training set), when the input is int8.
    pub int8_scale: Option<Int8Scale>,
    /// What preparing the inputs found or changed (padding, empty classes,
    /// int8 clipping).
    pub inputs: InputReport,
}

impl Experiment {
    /// Validates `config`, loads its datasets, prepares the inputs
    /// ([`prepare_inputs`]) and builds the plan; every problem is reported
    /// before any training starts.
    pub fn prepare(config: ExperimentConfig) -> Result<Self> {
        config.validate()?;
        let (mut train, mut test) =
            dataset::load_split(&config.dataset.train, &config.dataset.test)
                .with_context(|| format!("loading the datasets of {}", config.source.display()))?;
        if train.is_empty() || test.is_empty() {
            bail!(
                "{}: the training and test sets must both be non-empty ({} / {} series)",
                config.source.display(),
                train.len(),
                test.len()
            );
        }
        if train.n_classes() < 2 || train.n_classes() > MAX_CLASSES {
            bail!(
                "{}: {} classes; rocknet supports 2..={MAX_CLASSES}",
                config.dataset.train.display(),
                train.n_classes()
            );
        }
        let (inputs, int8_scale) = prepare_inputs(&config, &mut train, &mut test)?;
        let model = MiniRocketPlan::with_max_dilations(
            train.length,
            train.n_channels,
            config.model.num_features,
            config.model.max_dilations_per_kernel,
        )
        .with_context(|| {
            format!(
                "{}: model.num_features / dataset: cannot build the MiniRocket plan",
                config.source.display()
            )
        })?;
        let partition = PartitionPlan::new(model, config.training.devices)
            .with_context(|| format!("{}: field `training.devices`", config.source.display()))?;
        Ok(Self {
            config,
            train,
            test,
            partition,
            int8_scale,
            inputs,
        })
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.train.n_classes()
    }

    /// The spec of device `device`.
    pub fn device_spec(&self, device: usize) -> Result<DeviceSpec> {
        let t = &self.config.training;
        Ok(DeviceSpec::for_device(
            &self.partition,
            device,
            self.n_classes(),
            t.optimizer.into(),
            t.adam(),
            self.config.model.input.into(),
            t.seed,
        )?)
    }

    /// Samples per optimizer step: the configured batch, or the whole
    /// training set if it is smaller.
    pub fn batch_size(&self) -> usize {
        self.config.training.batch_size.min(self.train.len())
    }
}
