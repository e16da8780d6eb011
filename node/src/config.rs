//! The experiment config: one TOML file per experiment, read with the
//! `config` crate (environment overrides `ROCKNET__SECTION__FIELD`), and
//! validated as a whole before anything starts.

use std::path::{Path, PathBuf};

use rocknet_core::dataset::printable;
use rocknet_core::int8_fit::Int8ScaleRule;
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
    /// name (the `config` crate's message names the key). Quoted file
    /// content is shown through [`printable`].
    #[error("{}: {}", printable(&path.display().to_string()), printable(.message))]
    Parse {
        /// The config file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
    /// A field has a value outside its domain.
    #[error("{}: field `{field}`: {}", printable(&path.display().to_string()), printable(.problem))]
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
    /// int8 with the scale of `model.int8_scale`.
    Int8,
}

/// How the int8 scale is chosen from the training set (`model.int8_scale`;
/// only used with `input = "int8"`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Int8ScaleSetting {
    /// `"max"`: 127 / max|x|; no training value clips.
    #[default]
    Max,
    /// `{ quantile = 0.999 }`: 127 / that quantile of the nonzero |x|;
    /// larger values clip to ±127 and are counted in the reports.
    Quantile(f64),
}

impl Int8ScaleSetting {
    /// True for the default (`"max"`).
    pub fn is_max(&self) -> bool {
        *self == Self::Max
    }

    /// As a config spells it: `"max"` or `{ quantile = 0.999 }`.
    pub fn as_toml(&self) -> String {
        match self {
            Self::Max => "\"max\"".into(),
            Self::Quantile(q) => format!("{{ quantile = {q} }}"),
        }
    }

    /// As the reports spell it: `max` or `quantile 0.999`.
    pub fn describe(&self) -> String {
        match self {
            Self::Max => "max".into(),
            Self::Quantile(q) => format!("quantile {q}"),
        }
    }
}

impl From<Int8ScaleSetting> for Int8ScaleRule {
    fn from(s: Int8ScaleSetting) -> Self {
        match s {
            Int8ScaleSetting::Max => Int8ScaleRule::MaxAbs,
            Int8ScaleSetting::Quantile(q) => Int8ScaleRule::Quantile(q),
        }
    }
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
    /// The int8 scale rule (left out of the config's JSON, and so of its
    /// hash, when it is the default).
    #[serde(skip_serializing_if = "Int8ScaleSetting::is_max")]
    pub int8_scale: Int8ScaleSetting,
}

impl Default for ModelSection {
    fn default() -> Self {
        Self {
            num_features: 10_000,
            max_dilations_per_kernel: MAX_DILATIONS,
            input: InputSetting::F32,
            int8_scale: Int8ScaleSetting::Max,
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
    /// The fields set by `ROCKNET__…` variables (set by
    /// [`ExperimentConfig::load`]; validation errors name the variable).
    #[serde(skip)]
    pub env_overrides: Vec<EnvOverride>,
}

/// A field set by an environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvOverride {
    /// Dotted field name, e.g. `training.epochs`.
    pub field: String,
    /// The variable, as spelled in the environment.
    pub variable: String,
    /// Its text.
    pub value: String,
}

impl EnvOverride {
    /// The `ROCKNET__…` variables of this process's environment.
    pub fn from_environment() -> Vec<Self> {
        std::env::vars_os()
            .filter_map(|(k, v)| {
                let variable = k.into_string().ok()?;
                let rest = variable
                    .to_lowercase()
                    .strip_prefix("rocknet__")?
                    .to_owned();
                Some(Self {
                    field: rest.replace("__", "."),
                    variable,
                    value: v.to_string_lossy().into_owned(),
                })
            })
            .collect()
    }

    /// `environment variable ROCKNET__X=v` (the value escaped).
    pub fn describe(&self) -> String {
        format!(
            "environment variable {}={}",
            printable(&self.variable),
            printable(&self.value)
        )
    }
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
        check_utf8(path).map_err(parse)?;
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
        let env = EnvOverride::from_environment();
        let origin = |field: &str| match env.iter().find(|o| o.field == field) {
            Some(o) => format!(" (from {})", o.describe()),
            None => origin_of(&tree, field)
                .map(|o| format!(" (from {o})"))
                .unwrap_or_default(),
        };
        // JSON has no NaN: it would read as "null, expected f32".
        if let Some((field, v)) = first_non_finite(&tree, "") {
            return Err(parse(format!(
                "field `{field}`{}: {v} is not a finite number",
                origin(&field)
            )));
        }
        // ...but its own deserializer converts loosely (1.5 → 2, true → 1),
        // so the merged tree is deserialized strictly, with the field's path.
        let mut cfg = deserialize_strictly(to_json(&tree), &env).map_err(|(field, message)| {
            parse(format!("field `{field}`{}: {message}", origin(&field)))
        })?;
        cfg.env_overrides = env;
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
            problem: match self.env_overrides.iter().find(|o| o.field == field) {
                Some(o) => format!("{problem} (set by {})", o.describe()),
                None => problem,
            },
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
        if let Int8ScaleSetting::Quantile(q) = self.model.int8_scale
            && !(q > 0.0 && q <= 1.0)
        {
            return Err(invalid(
                "model.int8_scale",
                format!("the quantile must be in (0, 1], e.g. {{ quantile = 0.999 }}; got {q}"),
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

/// A config file must be UTF-8 text: the first invalid byte, by line and column.
fn check_utf8(path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let Err(e) = std::str::from_utf8(&bytes) else {
        return Ok(());
    };
    let valid = &bytes[..e.valid_up_to()];
    let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&valid[start..]).chars().count() + 1;
    Err(format!(
        "line {line}, column {column}: byte 0x{:02x} is not UTF-8 text (a config is a UTF-8 TOML file)",
        bytes[e.valid_up_to()]
    ))
}

/// The first float in `v` that is NaN or infinite, with its dotted path.
fn first_non_finite(v: &config::Value, path: &str) -> Option<(String, f64)> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match &v.kind {
        config::ValueKind::Float(f) if !f.is_finite() => Some((path.to_owned(), *f)),
        config::ValueKind::Table(t) => t.iter().find_map(|(k, v)| first_non_finite(v, &join(k))),
        config::ValueKind::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, v)| first_non_finite(v, &format!("{path}[{i}]"))),
        _ => None,
    }
}

/// Deserializes `json` strictly; on error, the field's path and the message.
///
/// `try_parsing` reads `ROCKNET__NAME=2024` as a number: a field set from the
/// environment that fails is retried once with the variable's own text (so a
/// text field gets `"2024"`); if that fails too, the first error stands.
fn deserialize_strictly(
    mut json: serde_json::Value,
    env: &[EnvOverride],
) -> Result<ExperimentConfig, (String, String)> {
    let mut first_errors: Vec<(String, String)> = Vec::new();
    loop {
        let e = match serde_path_to_error::deserialize::<_, ExperimentConfig>(&json) {
            Ok(cfg) => return Ok(cfg),
            Err(e) => e,
        };
        let field = e.path().to_string();
        if let Some(first) = first_errors.iter().find(|(f, _)| *f == field) {
            return Err(first.clone());
        }
        let failed = (field.clone(), e.inner().to_string());
        let Some(o) = env.iter().find(|o| o.field == field) else {
            return Err(failed);
        };
        match json_at(&mut json, &field) {
            Some(slot) if !slot.is_string() => *slot = serde_json::Value::String(o.value.clone()),
            _ => return Err(failed),
        }
        first_errors.push(failed);
    }
}

/// The value at a dotted `path` of JSON objects.
fn json_at<'a>(v: &'a mut serde_json::Value, path: &str) -> Option<&'a mut serde_json::Value> {
    path.split('.').try_fold(v, |v, key| v.get_mut(key))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_int8_scale_leaves_the_config_json_unchanged() {
        // The config hash is over this JSON: a config without `int8_scale`
        // keeps the hash it had before the field existed.
        let json = serde_json::to_value(ModelSection::default()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"num_features": 10000, "max_dilations_per_kernel": 32, "input": "f32"})
        );
        let q = ModelSection {
            int8_scale: Int8ScaleSetting::Quantile(0.999),
            ..ModelSection::default()
        };
        let json = serde_json::to_value(&q).unwrap();
        assert_eq!(json["int8_scale"], serde_json::json!({"quantile": 0.999}));
        assert_eq!(serde_json::from_value::<ModelSection>(json).unwrap(), q);
    }

    #[test]
    fn environment_text_replaces_a_parsed_number_only_where_text_is_wanted() {
        let env = |field: &str, value: &str| EnvOverride {
            field: field.into(),
            variable: format!("ROCKNET__{}", field.to_uppercase().replace('.', "__")),
            value: value.into(),
        };
        let base = serde_json::json!({"name": 2024, "dataset": {"train": "a", "test": "b"}});
        let cfg = deserialize_strictly(base.clone(), &[env("name", "2024")]).unwrap();
        assert_eq!(cfg.name, "2024");
        // Not from the environment: the type error stands.
        let (field, message) = deserialize_strictly(base, &[]).unwrap_err();
        assert_eq!(field, "name");
        assert!(message.contains("integer `2024`"), "{message}");
        // From the environment but still wrong as text: the first error stands.
        let bad = serde_json::json!({"name": "t", "dataset": {"train": "a", "test": "b"}, "training": {"epochs": 1.5}});
        let (field, message) =
            deserialize_strictly(bad, &[env("training.epochs", "1.5")]).unwrap_err();
        assert_eq!(field, "training.epochs");
        assert!(message.contains("floating point `1.5`"), "{message}");
    }
}
