//! The loaded datasets as training will see them, and what that took: series
//! shorter than MiniRocket's kernel are zero-padded (the loader's padding
//! policy), declared classes without a training series are found, and the
//! int8 scale is fitted and checked. Every such finding is in the
//! [`InputReport`], which the console and the reports show; a scale that
//! would erase the data is refused, naming the value.

use anyhow::{Result, bail};
use rocknet_core::dataset::{Dataset, printable};
use rocknet_core::int8_fit::{Int8Fit, MIN_RESOLUTION_STEPS, count_clipped};
use rocknet_core::minirocket::KERNEL_LENGTH;
use rocknet_core::series::Int8Scale;
use serde::{Deserialize, Serialize};

use crate::config::{ExperimentConfig, InputSetting, Int8ScaleSetting};

/// What preparing the inputs found or changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InputReport {
    /// Classes the training file declares but has no series of: the model
    /// cannot learn them.
    pub classes_without_training_series: Vec<String>,
    /// Series shorter than MiniRocket's kernel, zero-padded at the end.
    pub short_series: Option<ShortSeries>,
    /// The int8 scale (int8 input only).
    pub int8: Option<Int8Report>,
}

/// Series shorter than [`KERNEL_LENGTH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShortSeries {
    /// Training series shorter than the kernel.
    pub train_series: usize,
    /// Test series shorter than the kernel.
    pub test_series: usize,
    /// The shortest series' length.
    pub shortest: usize,
    /// The length every series was padded to.
    pub padded_length: usize,
}

/// The int8 scale and what it clips.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Int8Report {
    /// `max` or `quantile <q>` (`model.int8_scale`).
    pub rule: String,
    /// The |x| that maps to ±127.
    pub reference_abs: f32,
    /// int8 steps per unit of x (127 / `reference_abs`).
    pub per_unit: f32,
    /// The int8 step of the 99th percentile of the training set's nonzero |x|.
    pub resolution_steps: f32,
    /// Training values clipped to ±127.
    pub clipped_train_values: u64,
    /// Test values clipped to ±127 (beyond the training set's reference).
    pub clipped_test_values: u64,
}

impl InputReport {
    /// One line per finding; a class without training series is a `warning:`.
    pub fn console_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if !self.classes_without_training_series.is_empty() {
            let names: Vec<String> = self
                .classes_without_training_series
                .iter()
                .map(|c| format!("`{}`", printable(c)))
                .collect();
            lines.push(format!(
                "warning: class(es) {} declared by the training file have no training series: the model cannot learn them, and their test series (if any) count as errors",
                names.join(", ")
            ));
        }
        if let Some(s) = &self.short_series {
            lines.push(format!(
                "note: {} training and {} test series are shorter than MiniRocket's {KERNEL_LENGTH}-point kernel (shortest: {}); zero-padded at the end to length {}",
                s.train_series, s.test_series, s.shortest, s.padded_length
            ));
        }
        if let Some(i) = &self.int8 {
            lines.push(format!(
                "int8 input: scale 127 / {} (int8_scale = {}); the 99th percentile of |x| falls on step {:.1} of 127; clipped to ±127: {} training and {} test values",
                i.reference_abs,
                i.rule,
                i.resolution_steps,
                i.clipped_train_values,
                i.clipped_test_values
            ));
        }
        lines
    }
}

/// Pads both sets to at least [`KERNEL_LENGTH`], finds declared classes
/// without a training series, and fits the int8 scale (int8 input only),
/// refusing one that leaves 99 % of the training values fewer than
/// [`MIN_RESOLUTION_STEPS`] steps.
pub fn prepare_inputs(
    config: &ExperimentConfig,
    train: &mut Dataset,
    test: &mut Dataset,
) -> Result<(InputReport, Option<Int8Scale>)> {
    let short_series = pad_short_series(train, test)?;
    let classes_without_training_series = (0..train.n_classes())
        .filter(|&c| !train.labels.iter().any(|&l| usize::from(l) == c))
        .map(|c| train.class_names[c].clone())
        .collect();
    let (int8, scale) = match config.model.input {
        InputSetting::F32 => (None, None),
        InputSetting::Int8 => {
            let fit = Int8Fit::new(&train.values, config.model.int8_scale.into());
            if fit.is_degenerate() {
                bail!(degenerate_scale_message(config, train, &fit));
            }
            let report = Int8Report {
                rule: config.model.int8_scale.describe(),
                reference_abs: fit.reference_abs,
                per_unit: fit.scale.per_unit,
                resolution_steps: fit.resolution_steps(),
                clipped_train_values: count_clipped(&fit.scale, &train.values) as u64,
                clipped_test_values: count_clipped(&fit.scale, &test.values) as u64,
            };
            (Some(report), Some(fit.scale))
        }
    };
    let report = InputReport {
        classes_without_training_series,
        short_series,
        int8,
    };
    Ok((report, scale))
}

/// Zero-pads both sets (which share one length) to [`KERNEL_LENGTH`] if
/// shorter; counts the series shorter than that either way.
fn pad_short_series(train: &mut Dataset, test: &mut Dataset) -> Result<Option<ShortSeries>> {
    let short = |d: &Dataset| d.lengths.iter().filter(|&&l| l < KERNEL_LENGTH).count();
    let (train_series, test_series) = (short(train), short(test));
    if train_series + test_series == 0 {
        return Ok(None);
    }
    let padded_length = train.length.max(KERNEL_LENGTH);
    train.pad_to(padded_length)?;
    test.pad_to(padded_length)?;
    let shortest = train.lengths.iter().chain(&test.lengths).copied().min();
    Ok(Some(ShortSeries {
        train_series,
        test_series,
        shortest: shortest.unwrap_or(0),
        padded_length,
    }))
}

/// The refusal of a scale that erases the data: where the largest value is,
/// what the scale does, and the remedies.
fn degenerate_scale_message(config: &ExperimentConfig, train: &Dataset, fit: &Int8Fit) -> String {
    let per_series = train.n_channels * train.length;
    let i = fit.largest.index;
    let series = i / per_series;
    let channel = (i % per_series) / train.length;
    let t = i % train.length;
    let remedy = match config.model.int8_scale {
        Int8ScaleSetting::Max => {
            "set `model.int8_scale = { quantile = 0.999 }` (values beyond that quantile are clipped to ±127, counted and reported)"
        }
        Int8ScaleSetting::Quantile(_) => {
            "choose a lower `model.int8_scale` quantile (values beyond it are clipped to ±127, counted and reported)"
        }
    };
    format!(
        "{}:{}: series {}, channel {}, value {} is {:e}, the largest |x| of the training set; with `model.input = \"int8\"` and `model.int8_scale = {}` the scale 127 / {:e} puts 99 % of the nonzero training values (|x| ≤ {}) on fewer than {MIN_RESOLUTION_STEPS} of the 127 int8 steps (step {:.3}), so the input would be all but erased. Correct the value, {remedy} in {}, or use `model.input = \"f32\"`.",
        printable(&config.dataset.train.display().to_string()),
        train.lines.get(series).copied().unwrap_or(0),
        series + 1,
        channel + 1,
        t + 1,
        fit.largest.value,
        config.model.int8_scale.as_toml(),
        fit.reference_abs,
        fit.q99_abs,
        fit.resolution_steps(),
        printable(&config.source.display().to_string()),
    )
}
