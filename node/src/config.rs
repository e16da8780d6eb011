//! The experiment config: one TOML file per experiment, read with the
//! `config` crate (environment overrides `ROCKNET__SECTION__FIELD`), and
//! validated as a whole before anything starts.

use std::path::{Path, PathBuf};

use rocknet_core::minirocket::{MAX_DILATIONS, MAX_NUM_FEATURES};
use rocknet_core::optim::{AdamConfig, OptimError, OptimizerKind};
use rocknet_core::series::InputKind;
use serde::{Deserialize, Serialize};

pub use crate::energy::EnergySection;
pub use crate::network::{MissingPolicy, NetworkSection};

/// More epochs than anyone would run on these datasets: a typo guard.
pub const MAX_EPOCHS: usize = 1_000_000;

/// A config that cannot be used, naming the offending field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read or parsed, or a field has the wrong type or
    /// name (the `config` crate's message names the key).
    #[error("{}: {message}", path.display())]
    Parse {
        /// The config file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
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
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum InputSetting {
    /// 32-bit floats.
    #[default]
    F32,
    /// int8 with the training set's max |x| scale.
    Int8,
}

impl InputSetting {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Int8 => "int8",
        }
    }
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
    /// The reference's `max_dilations_per_kernel` (1..=32; RockNet's FaceAll
    /// build uses 5).
    pub max_dilations_per_kernel: usize,
    /// Sample encoding.
    pub input: InputSetting,
}

impl Default for ModelSection {
    fn default() -> Self {
        Self {
            num_features: 10_000,
            max_dilations_per_kernel: MAX_DILATIONS,
            input: InputSetting::F32,
        }
    }
}

/// Optimizer choice.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerSetting {
    /// f32 Adam.
    #[default]
    Adam,
    /// Adam with 8-bit block-wise quantised moments.
    Qadam,
}

impl OptimizerSetting {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Adam => "adam",
            Self::Qadam => "qadam",
        }
    }
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
    /// Experiment seed: MiniRocket picks (a 32-bit MT19937 seed, as NumPy's),
    /// weight init, shuffling.
    pub seed: u32,
    /// Evaluate on the test set every this many epochs (the last epoch
    /// always is).
    pub eval_every: usize,
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
            eval_every: 1,
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
    /// The emulated radio network (`rocknet run` / `serve`).
    #[serde(default)]
    pub network: NetworkSection,
    /// Power and CPU model of the devices (reports).
    #[serde(default)]
    pub energy: EnergySection,
    /// The file this was read from (set by [`ExperimentConfig::load`]).
    #[serde(skip)]
    pub source: PathBuf,
}

impl ExperimentConfig {
    /// Reads `path` (TOML) with `ROCKNET__…` environment overrides and
    /// resolves dataset paths relative to the file. Types are checked
    /// strictly (`epochs = 1.5` or `epochs = true` is an error, not a
    /// rounding); call [`ExperimentConfig::validate`] for the value domains.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let parse = |message: String| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        };
        if !path.is_file() {
            return Err(parse(if path.exists() {
                "is not a file".into()
            } else {
                "no such config file".into()
            }));
        }
        // The `config` crate layers the file and the environment...
        let raw = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix("ROCKNET")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            )
            .build()
            .map_err(|e| parse(e.to_string()))?;
        let tree: config::Value = raw.try_deserialize().map_err(|e| parse(e.to_string()))?;
        // ...but its own deserializer converts loosely (1.5 → 2, true → 1),
        // so the merged tree is deserialized strictly, with the field's path.
        let json = to_json(&tree);
        let mut cfg: ExperimentConfig = serde_path_to_error::deserialize(&json).map_err(|e| {
            let field = e.path().to_string();
            let origin = origin_of(&tree, &field)
                .map(|o| format!(" (from {o})"))
                .unwrap_or_default();
            parse(format!("field `{field}`{origin}: {}", e.inner()))
        })?;
        cfg.source = path.to_path_buf();
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.dataset.train = base.join(&cfg.dataset.train);
        cfg.dataset.test = base.join(&cfg.dataset.test);
        if let Some(lm) = &cfg.network.linkmodel {
            cfg.network.linkmodel = Some(base.join(lm));
        }
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
                let what = if p.exists() {
                    "is not a file"
                } else {
                    "does not exist"
                };
                return Err(invalid(field, format!("{} {what}", p.display())));
            }
        }
        if self.model.num_features == 0 {
            return Err(invalid("model.num_features", "must be at least 1".into()));
        }
        let m = self.model.max_dilations_per_kernel;
        if !(1..=MAX_DILATIONS).contains(&m) {
            return Err(invalid(
                "model.max_dilations_per_kernel",
                format!("must be in 1..={MAX_DILATIONS}, got {m}"),
            ));
        }
        let t = &self.training;
        if t.devices == 0 {
            return Err(invalid("training.devices", "must be at least 1".into()));
        }
        if t.epochs == 0 {
            return Err(invalid("training.epochs", "must be at least 1".into()));
        }
        if t.eval_every == 0 {
            return Err(invalid("training.eval_every", "must be at least 1".into()));
        }
        if t.batch_size == 0 {
            return Err(invalid("training.batch_size", "must be at least 1".into()));
        }
        if t.epochs > MAX_EPOCHS {
            return Err(invalid(
                "training.epochs",
                format!("at most {MAX_EPOCHS}, got {}", t.epochs),
            ));
        }
        if self.model.num_features > MAX_NUM_FEATURES {
            return Err(invalid(
                "model.num_features",
                format!(
                    "at most {MAX_NUM_FEATURES}, got {}",
                    self.model.num_features
                ),
            ));
        }
        if let Err(OptimError::InvalidConfig {
            field,
            value,
            requirement,
        }) = t.adam().validate()
        {
            let field = match field {
                "lr" => "training.learning_rate",
                "beta1" => "training.beta1",
                "beta2" => "training.beta2",
                "eps" => "training.epsilon",
                _ => "training.weight_decay",
            };
            return Err(invalid(
                field,
                format!("must be {requirement}, got {value}"),
            ));
        }
        self.network
            .validate()
            .map_err(|(field, problem)| invalid(field, problem))?;
        self.energy
            .validate()
            .map_err(|(field, problem)| invalid(field, problem))?;
        Ok(())
    }

    /// FNV-1a of the config as JSON: the "config hash" that beacons and
    /// Hellos carry, so a node running another plan is refused.
    pub fn hash(&self) -> u64 {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in json {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    }
}

/// The `config` crate's value tree as JSON, keeping each value's kind.
fn to_json(v: &config::Value) -> serde_json::Value {
    use config::ValueKind as K;
    use serde_json::Value as J;
    match &v.kind {
        K::Nil => J::Null,
        K::Boolean(b) => J::Bool(*b),
        K::I64(i) => J::from(*i),
        K::I128(i) => i64::try_from(*i).map_or_else(|_| J::String(i.to_string()), J::from),
        K::U64(u) => J::from(*u),
        K::U128(u) => u64::try_from(*u).map_or_else(|_| J::String(u.to_string()), J::from),
        K::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        K::String(s) => J::String(s.clone()),
        K::Table(t) => J::Object(t.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
        K::Array(a) => J::Array(a.iter().map(to_json).collect()),
    }
}

/// Where the value at a dotted `path` came from (the file or the environment).
fn origin_of(tree: &config::Value, path: &str) -> Option<String> {
    let mut v = tree;
    for key in path.split('.') {
        match &v.kind {
            config::ValueKind::Table(t) => v = t.get(key)?,
            _ => return None,
        }
    }
    v.origin().map(str::to_owned)
}
