//! The experiment config: one TOML file per experiment, read with the
//! `config` crate (environment overrides `ROCKNET__SECTION__FIELD`), and
//! validated as a whole before anything starts.

use std::path::{Path, PathBuf};

use rocknet_core::optim::{AdamConfig, OptimizerKind};
use rocknet_core::series::InputKind;
use serde::{Deserialize, Serialize};

/// A config that cannot be used, naming the offending field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read or parsed, or a field has the wrong type or
    /// name (the `config` crate's message names the key).
    #[error("{}: {cause}", path.display())]
    Parse {
        /// The config file.
        path: PathBuf,
        /// What the parser said (already in the message, so not a `source`).
        cause: config::ConfigError,
    },
    /// A field has a value outside its domain.
    #[error("{}: field `{field}`: {problem}", path.display())]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// Dotted field name, e.g. `training.epochs`.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

/// Where the data comes from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatasetSection {
    /// Training split (relative paths are relative to the config file).
    pub train: PathBuf,
    /// Test split.
    pub test: PathBuf,
}

/// Sample encoding on the devices.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum InputSetting {
    /// 32-bit floats.
    #[default]
    F32,
    /// int8 with the training set's max |x| scale.
    Int8,
}

impl From<InputSetting> for InputKind {
    fn from(s: InputSetting) -> Self {
        match s {
            InputSetting::F32 => InputKind::F32,
            InputSetting::Int8 => InputKind::Int8,
        }
    }
}

/// The MiniRocket model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSection {
    /// Requested features (rounded down to a multiple of 84).
    pub num_features: usize,
    /// Sample encoding.
    pub input: InputSetting,
}

impl Default for ModelSection {
    fn default() -> Self {
        Self {
            num_features: 10_000,
            input: InputSetting::F32,
        }
    }
}

/// Optimizer choice.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerSetting {
    /// f32 Adam.
    #[default]
    Adam,
    /// Adam with 8-bit block-wise quantised moments.
    Qadam,
}

impl From<OptimizerSetting> for OptimizerKind {
    fn from(s: OptimizerSetting) -> Self {
        match s {
            OptimizerSetting::Adam => OptimizerKind::Adam,
            OptimizerSetting::Qadam => OptimizerKind::QAdam,
        }
    }
}

/// Training.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingSection {
    /// Number of devices N.
    pub devices: usize,
    /// Epochs (each: a training pass, then an evaluation pass).
    pub epochs: usize,
    /// Samples per optimizer step (capped at the training-set size).
    pub batch_size: usize,
    /// Adam or QAdam.
    pub optimizer: OptimizerSetting,
    /// Adam learning rate.
    pub learning_rate: f32,
    /// Adam β1.
    pub beta1: f32,
    /// Adam β2.
    pub beta2: f32,
    /// Adam ε.
    pub epsilon: f32,
    /// Decoupled weight decay.
    pub weight_decay: f32,
    /// Experiment seed: MiniRocket picks, weight init, shuffling.
    pub seed: u64,
}

impl Default for TrainingSection {
    fn default() -> Self {
        let adam = AdamConfig::default();
        Self {
            devices: 1,
            epochs: 100,
            batch_size: 128,
            optimizer: OptimizerSetting::Adam,
            learning_rate: adam.lr,
            beta1: adam.beta1,
            beta2: adam.beta2,
            epsilon: adam.eps,
            weight_decay: adam.weight_decay,
            seed: 0,
        }
    }
}

impl TrainingSection {
    /// The optimizer hyper-parameters.
    pub fn adam(&self) -> AdamConfig {
        AdamConfig {
            lr: self.learning_rate,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.epsilon,
            weight_decay: self.weight_decay,
        }
    }
}

/// One experiment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// A short name, used in reports and run directories.
    pub name: String,
    /// Data.
    pub dataset: DatasetSection,
    /// Model.
    #[serde(default)]
    pub model: ModelSection,
    /// Training.
    #[serde(default)]
    pub training: TrainingSection,
    /// The file this was read from (set by [`ExperimentConfig::load`]).
    #[serde(skip)]
    pub source: PathBuf,
}

impl ExperimentConfig {
    /// Reads `path` (TOML) with `ROCKNET__…` environment overrides, resolves
    /// dataset paths relative to the file, and validates everything.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let parse = |cause| ConfigError::Parse {
            path: path.to_path_buf(),
            cause,
        };
        if !path.is_file() {
            return Err(parse(config::ConfigError::NotFound(format!(
                "config file {} does not exist",
                path.display()
            ))));
        }
        let raw = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix("ROCKNET")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            )
            .build()
            .map_err(parse)?;
        let mut cfg: ExperimentConfig = raw.try_deserialize().map_err(parse)?;
        cfg.source = path.to_path_buf();
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.dataset.train = base.join(&cfg.dataset.train);
        cfg.dataset.test = base.join(&cfg.dataset.test);
        Ok(cfg)
    }

    /// Checks every field's domain; the first problem found is returned,
    /// naming the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, problem: String| ConfigError::Invalid {
            path: self.source.clone(),
            field,
            problem,
        };
        if self.name.trim().is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(invalid(
                "name",
                format!(
                    "{:?}: use letters, digits, '-', '_' or '.' (it names run directories)",
                    self.name
                ),
            ));
        }
        for (field, p) in [
            ("dataset.train", &self.dataset.train),
            ("dataset.test", &self.dataset.test),
        ] {
            if !p.is_file() {
                return Err(invalid(field, format!("{} does not exist", p.display())));
            }
        }
        if self.model.num_features == 0 {
            return Err(invalid("model.num_features", "must be at least 1".into()));
        }
        let t = &self.training;
        if t.devices == 0 {
            return Err(invalid("training.devices", "must be at least 1".into()));
        }
        if t.epochs == 0 {
            return Err(invalid("training.epochs", "must be at least 1".into()));
        }
        if t.batch_size == 0 {
            return Err(invalid("training.batch_size", "must be at least 1".into()));
        }
        if !(t.learning_rate.is_finite() && t.learning_rate > 0.0) {
            return Err(invalid(
                "training.learning_rate",
                format!("must be a positive number, got {}", t.learning_rate),
            ));
        }
        for (field, v) in [("training.beta1", t.beta1), ("training.beta2", t.beta2)] {
            if !(0.0..1.0).contains(&v) {
                return Err(invalid(field, format!("must be in [0, 1), got {v}")));
            }
        }
        if !(t.epsilon.is_finite() && t.epsilon > 0.0) {
            return Err(invalid(
                "training.epsilon",
                format!("must be positive, got {}", t.epsilon),
            ));
        }
        if !(t.weight_decay.is_finite() && t.weight_decay >= 0.0) {
            return Err(invalid(
                "training.weight_decay",
                format!("must be ≥ 0, got {}", t.weight_decay),
            ));
        }
        if t.seed > u32::MAX as u64 {
            return Err(invalid(
                "training.seed",
                format!(
                    "must fit in 32 bits (MiniRocket's MT19937 seed), got {}",
                    t.seed
                ),
            ));
        }
        Ok(())
    }
}
