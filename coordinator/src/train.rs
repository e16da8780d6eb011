//! The in-process trainer (`rocknet train`): every device's `DeviceModel` in
//! one process, partial logits summed exactly, as the radio cluster would.
//!
//! An epoch is a training pass over the training set in a seeded shuffled
//! order (batches of `batch_size`, the last one possibly shorter), then an
//! evaluation pass over the test set.

use std::time::Instant;

use anyhow::{Context, Result};
use rocknet_core::classifier::{DeviceBuffers, DeviceModel, LogitTotals};
use rocknet_core::memory::MemoryFootprint;
use rocknet_core::record::{ItemEntry, RecordHeader, RecordValue, encode_record, params_hash};
use rocknet_core::series::{ConvInput, SeriesView};
use rocknet_core::storage::HeapStorage;
use rocknet_core::wire::Phase;

use crate::experiment::Experiment;
use rocknet_node::schedule::Schedule;
use rocknet_node::weights::canonical_weights_hash;

type HeapDevice<T> = DeviceModel<T, HeapStorage>;

/// What happened in one epoch.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean cross-entropy over the epoch's training samples.
    pub train_loss: f64,
    /// Fraction of training samples predicted right during the pass.
    pub train_accuracy: f64,
    /// Test accuracy after the epoch, if it was evaluated.
    pub test_accuracy: Option<f64>,
}

/// One device's figures.
#[derive(Debug, Clone)]
pub struct DeviceSummary {
    /// Device index (0 holds the class biases).
    pub device: usize,
    /// Features it computes.
    pub features: usize,
    /// Bytes per buffer.
    pub memory: MemoryFootprint,
}

/// The result of a training run.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// Per-epoch records.
    pub epochs: Vec<EpochRecord>,
    /// Test accuracy after the last epoch.
    pub final_accuracy: f64,
    /// Predicted class per test sample after the last epoch.
    pub predictions: Vec<u16>,
    /// FNV-1a hash of all classifier parameters in canonical (class,
    /// reference feature) order: equal for any number of devices.
    pub weights_hash: u64,
    /// Per-device figures.
    pub devices: Vec<DeviceSummary>,
    /// Partial logits that had to be clamped to i32 (0 in a healthy run).
    pub saturated_logits: u64,
    /// Wall-clock seconds spent fitting and transforming.
    pub feature_seconds: f64,
    /// Wall-clock seconds spent training and evaluating.
    pub train_seconds: f64,
}

/// How to run.
#[derive(Debug, Clone, Copy)]
pub struct TrainOptions {
    /// Evaluate every this many epochs (the last epoch is always evaluated).
    pub eval_every: usize,
}

impl TrainOptions {
    /// The options the config asks for.
    pub fn from_config(exp: &Experiment) -> Self {
        Self {
            eval_every: exp.config.training.eval_every,
        }
    }
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self { eval_every: 1 }
    }
}

/// Trains the experiment's model in one process; `on_epoch` is called after
/// every epoch (for progress output).
pub fn train(
    exp: &Experiment,
    opts: TrainOptions,
    on_epoch: &mut dyn FnMut(&EpochRecord),
) -> Result<TrainOutcome> {
    Ok(train_inner(exp, opts, on_epoch, false)?.0)
}

/// One device's replay record ([`rocknet_core::record`]) and the host's
/// figures the firmware's replay must reproduce.
#[derive(Debug, Clone)]
pub struct DeviceRecord {
    /// Device index.
    pub device: usize,
    /// The encoded record.
    pub bytes: Vec<u8>,
    /// [`params_hash`] of the device's parameters after the run.
    pub params_hash: u64,
}

/// [`train`], also recording every item's partial logits of every device
/// (`rocknet train --record`): one replay record per device.
pub fn train_recorded(
    exp: &Experiment,
    opts: TrainOptions,
    on_epoch: &mut dyn FnMut(&EpochRecord),
) -> Result<(TrainOutcome, Vec<DeviceRecord>)> {
    train_inner(exp, opts, on_epoch, true)
}

fn train_inner(
    exp: &Experiment,
    opts: TrainOptions,
    on_epoch: &mut dyn FnMut(&EpochRecord),
    record: bool,
) -> Result<(TrainOutcome, Vec<DeviceRecord>)> {
    match exp.int8_scale {
        None => run::<f32>(
            exp,
            &exp.train.values,
            &exp.test.values,
            opts,
            on_epoch,
            record,
        ),
        Some(scale) => {
            let quantize = |v: &[f32]| {
                let mut q = vec![0i8; v.len()];
                scale.quantize_into(v, &mut q);
                q
            };
            let (train, test) = (quantize(&exp.train.values), quantize(&exp.test.values));
            run::<i8>(exp, &train, &test, opts, on_epoch, record)
        }
    }
}

/// Each device's features of every series of a set, computed once: the
/// transform is deterministic, so caching changes nothing but speed.
struct FeatureCache {
    /// Per device: n_series × F_i features.
    per_device: Vec<Vec<f32>>,
}

impl FeatureCache {
    fn build<T: ConvInput>(devices: &mut [HeapDevice<T>], set: SeriesView<'_, T>) -> Result<Self> {
        let mut per_device = Vec::with_capacity(devices.len());
        for dev in devices.iter_mut() {
            let f = dev.spec().num_features();
            let mut out = vec![0.0f32; set.n_series() * f];
            for (i, row) in out.chunks_exact_mut(f).enumerate() {
                dev.sample_mut().copy_from_slice(set.series(i));
                dev.compute_features()?;
                row.copy_from_slice(dev.features());
            }
            per_device.push(out);
        }
        Ok(Self { per_device })
    }

    fn load<T: ConvInput>(&self, devices: &mut [HeapDevice<T>], sample: usize) -> Result<()> {
        for (dev, feats) in devices.iter_mut().zip(&self.per_device) {
            let f = dev.spec().num_features();
            dev.set_features(&feats[sample * f..(sample + 1) * f])?;
        }
        Ok(())
    }
}

/// Sums every device's partial logits for the sample in flight, in device
/// order (any order gives the same integers).
/// When `record` is given, each device's partial logits are appended to it
/// (the values that travel on the radio) as an item of the run.
fn sum_logits<T: ConvInput>(
    devices: &[HeapDevice<T>],
    n_classes: usize,
    saturated: &mut u64,
    record: Option<(&mut Vec<ItemEntry>, Phase, usize, usize)>,
) -> Result<LogitTotals> {
    let mut totals = LogitTotals::new(n_classes);
    let mut partials = Vec::new();
    for dev in devices {
        let p = dev.partial_logits();
        *saturated += p.saturated() as u64;
        totals.add(&p)?;
        if record.is_some() {
            partials.extend_from_slice(p.values());
        }
    }
    if let Some((items, phase, epoch, sample)) = record {
        items.push(ItemEntry {
            phase,
            epoch: epoch as u32,
            sample: sample as u32,
            partials,
        });
    }
    Ok(totals)
}

fn run<T: ConvInput + RecordValue>(
    exp: &Experiment,
    train_values: &[T],
    test_values: &[T],
    opts: TrainOptions,
    on_epoch: &mut dyn FnMut(&EpochRecord),
    record: bool,
) -> Result<(TrainOutcome, Vec<DeviceRecord>)> {
    let n_devices = exp.partition.devices();
    let c = exp.n_classes();
    let (ch, len) = (exp.train.n_channels, exp.train.length);
    let train_set = SeriesView::new(train_values, exp.train.len(), ch, len)?;
    let test_set = SeriesView::new(test_values, exp.test.len(), ch, len)?;

    let t0 = Instant::now();
    let mut devices = Vec::with_capacity(n_devices);
    for d in 0..n_devices {
        let spec = exp.device_spec(d)?;
        let mut dev = HeapDevice::<T>::new(spec, DeviceBuffers::allocate(&spec))
            .with_context(|| format!("building device {d}"))?;
        dev.fit(train_set)
            .with_context(|| format!("fitting device {d}'s kernels"))?;
        devices.push(dev);
    }
    let train_cache = FeatureCache::build(&mut devices, train_set)?;
    let test_cache = FeatureCache::build(&mut devices, test_set)?;
    let feature_seconds = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    let t = &exp.config.training;
    let epochs = t.epochs;
    // The same schedule the cluster runs: shuffled order, batch ends, eval epochs.
    let schedule = Schedule::new(
        exp.train.len(),
        exp.test.len(),
        epochs,
        opts.eval_every,
        exp.batch_size(),
        t.seed,
    );
    let mut saturated = 0u64;
    let mut records = Vec::new();
    let mut predictions = vec![0u16; exp.test.len()];
    let mut items: Option<Vec<ItemEntry>> = record.then(Vec::new);
    for epoch in 1..=epochs {
        let order = schedule.train_order(epoch);
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        for (pos, &s) in order.iter().enumerate() {
            train_cache.load(&mut devices, s)?;
            let rec = items.as_mut().map(|v| (v, Phase::Train, epoch, s));
            let totals = sum_logits(&devices, c, &mut saturated, rec)?;
            let label = exp.train.labels[s] as usize;
            correct += usize::from(totals.argmax() == label);
            for (d, dev) in devices.iter_mut().enumerate() {
                let loss = dev.accumulate(&totals, label)?;
                if d == 0 {
                    loss_sum += loss as f64;
                }
            }
            if schedule.steps_after(pos) {
                for dev in devices.iter_mut() {
                    dev.step()?;
                }
            }
        }
        let evaluate = schedule.evaluates(epoch);
        let test_accuracy = if evaluate {
            let mut right = 0usize;
            for (s, pred) in predictions.iter_mut().enumerate() {
                test_cache.load(&mut devices, s)?;
                let rec = items.as_mut().map(|v| (v, Phase::Eval, epoch, s));
                let p = sum_logits(&devices, c, &mut saturated, rec)?.argmax();
                *pred = p as u16;
                right += usize::from(p == exp.test.labels[s] as usize);
            }
            Some(right as f64 / exp.test.len() as f64)
        } else {
            None
        };
        let rec = EpochRecord {
            epoch,
            train_loss: loss_sum / order.len() as f64,
            train_accuracy: correct as f64 / order.len() as f64,
            test_accuracy,
        };
        on_epoch(&rec);
        records.push(rec);
    }
    let train_seconds = t1.elapsed().as_secs_f64();

    let final_accuracy = records
        .last()
        .and_then(|r| r.test_accuracy)
        .unwrap_or_default();
    let mut device_records = Vec::new();
    if let Some(items) = &items {
        for (d, dev) in devices.iter().enumerate() {
            let header = RecordHeader::new(
                dev.spec(),
                d as u16,
                n_devices as u16,
                exp.config.model.num_features as u32,
                exp.config.model.max_dilations_per_kernel as u32,
                exp.batch_size() as u32,
                0,
                0,
                0,
            );
            let bytes = encode_record(
                &header,
                (train_values, &exp.train.labels),
                (test_values, &exp.test.labels),
                items,
            )
            .with_context(|| format!("encoding device {d}'s replay record"))?;
            device_records.push(DeviceRecord {
                device: d,
                bytes,
                params_hash: params_hash(dev.params()),
            });
        }
    }
    let outcome = TrainOutcome {
        epochs: records,
        final_accuracy,
        predictions,
        weights_hash: weights_hash(&devices, c),
        devices: devices
            .iter()
            .enumerate()
            .map(|(d, dev)| DeviceSummary {
                device: d,
                features: dev.spec().num_features(),
                memory: dev.footprint(),
            })
            .collect(),
        saturated_logits: saturated,
        feature_seconds,
        train_seconds,
    };
    Ok((outcome, device_records))
}

/// The cluster's canonical weights hash (see [`canonical_weights_hash`]).
fn weights_hash<T: ConvInput>(devices: &[HeapDevice<T>], c: usize) -> u64 {
    let views: Vec<_> = devices.iter().map(|d| (*d.spec(), d.params())).collect();
    canonical_weights_hash(&views, c)
}
