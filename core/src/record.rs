//! Replay records: what one device saw during a run, so that the firmware
//! can replay it (in QEMU) and be compared bit for bit with the host.
//!
//! `rocknet train --record DIR` writes one record per device. A record holds
//! everything the device needs to rebuild its model (the plan inputs: series
//! shape, feature count, partition, optimizer, seed) and its data (the whole
//! training set, from which it fits its own kernels exactly as the host does,
//! and the test set), then one entry per *item* of the run (docs/method.md#rounds:
//! item `k` is flooded in round `k`, its partial logits in round `k + 1`):
//! phase, epoch, sample index and every device's partial logits for it, as
//! they travelled on the radio. The device recomputes its own and takes the
//! others' from the record (the firmware's replay radio turns them into wire
//! packets). A record with no items is a *plan record*: what a real device
//! holds in flash.
//!
//! # Layout
//!
//! Fixed-width little-endian throughout (the wire's bincode configuration,
//! [`crate::wire::CONFIG`]):
//!
//! | bytes | what |
//! |---|---|
//! | [`HEADER_LEN`] | [`RecordHeader`] |
//! | `n_train · n_channels · length · w` | training series (`w` = 4 for f32, 1 for int8) |
//! | `2 · n_train` | training labels (u16) |
//! | `n_test · n_channels · length · w` | test series |
//! | `2 · n_test` | test labels (u16) |
//! | `n_items · (9 + 4 · n_devices · n_classes)` | items: phase (u8), epoch (u32), sample (u32), then per device C × i32 |
//!
//! The header is 72 bytes and the label sections are padded, so that in a
//! 4-aligned record every f32 series section is 4-aligned too (the firmware
//! reads its data in place from flash, [`RecordSet::values`]).
//!
//! Decoding ([`Record::parse`]) borrows the bytes and never allocates or
//! panics; encoding ([`encode_record`]) needs the `alloc` feature.

use bincode::{Decode, Encode};

use crate::classifier::{DeviceSpec, MAX_CLASSES, PartialLogits};
use crate::minirocket::{MiniRocketPlan, PlanError};
use crate::optim::{AdamConfig, OptimizerKind};
use crate::partition::{PartitionError, PartitionPlan};
use crate::series::InputKind;
use crate::wire::Phase;

/// The first four bytes of a record.
pub const MAGIC: [u8; 4] = *b"RNRC";
/// The record version this build reads and writes.
pub const VERSION: u16 = 1;
/// Encoded size of [`RecordHeader`].
pub const HEADER_LEN: usize = 72;
/// Bytes of an item entry before its partial logits: phase 1 + epoch 4 + sample 4.
pub const ITEM_FIXED_LEN: usize = 9;

/// A record cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Fewer bytes than the header or the sections it announces.
    #[error("record is {got} bytes, its header announces {expected}")]
    Length {
        /// Bytes the header announces (or the header size).
        expected: usize,
        /// Bytes present.
        got: usize,
    },
    /// Not a record.
    #[error("bad magic (not a rocknet replay record)")]
    Magic,
    /// Another record version.
    #[error("record version {0}, this build reads version {VERSION}")]
    Version(u16),
    /// A header field has an invalid value.
    #[error("record header field `{0}` is invalid")]
    Field(&'static str),
    /// The plan inputs do not make a MiniRocket plan.
    #[error("record plan: {0}")]
    Plan(#[from] PlanError),
    /// The partition (devices, device index) is invalid.
    #[error("record partition: {0}")]
    Partition(#[from] PartitionError),
}

/// The fixed-size head of a record: the plan inputs and section sizes.
#[derive(Debug, Clone, Copy, PartialEq, Encode, Decode)]
pub struct RecordHeader {
    /// [`MAGIC`].
    pub magic: [u8; 4],
    /// [`VERSION`].
    pub version: u16,
    /// The device this record is for (0-based; radio node `device + 1`).
    pub device: u16,
    /// Devices in the cluster.
    pub n_devices: u16,
    /// Channels per series.
    pub n_channels: u16,
    /// Series length L.
    pub length: u32,
    /// Requested MiniRocket features (before rounding to 84 multiples).
    pub num_features: u32,
    /// The reference's `max_dilations_per_kernel`.
    pub max_dilations: u32,
    /// Number of classes C.
    pub n_classes: u16,
    /// 0 = Adam, 1 = QAdam.
    pub optimizer: u8,
    /// 0 = f32, 1 = int8.
    pub input: u8,
    /// Experiment seed.
    pub seed: u32,
    /// Adam learning rate.
    pub lr: f32,
    /// Adam β1.
    pub beta1: f32,
    /// Adam β2.
    pub beta2: f32,
    /// Adam ε.
    pub eps: f32,
    /// Decoupled weight decay.
    pub weight_decay: f32,
    /// Effective batch size (samples per optimizer step).
    pub batch_size: u32,
    /// Cluster id of the packets.
    pub cluster: u16,
    /// Reserved (0).
    pub reserved: u16,
    /// Training series.
    pub n_train: u32,
    /// Test series.
    pub n_test: u32,
    /// Item entries.
    pub n_items: u32,
}

impl RecordHeader {
    /// The header of a record for `spec` (its device index `device` of
    /// `n_devices`), with the given plan inputs and section sizes.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        spec: &DeviceSpec,
        device: u16,
        n_devices: u16,
        num_features: u32,
        max_dilations: u32,
        batch_size: u32,
        n_train: u32,
        n_test: u32,
        n_items: u32,
    ) -> Self {
        Self {
            magic: MAGIC,
            version: VERSION,
            device,
            n_devices,
            n_channels: spec.model.n_channels() as u16,
            length: spec.model.length() as u32,
            num_features,
            max_dilations,
            n_classes: spec.n_classes as u16,
            optimizer: match spec.optimizer {
                OptimizerKind::Adam => 0,
                OptimizerKind::QAdam => 1,
            },
            input: match spec.input {
                InputKind::F32 => 0,
                InputKind::Int8 => 1,
            },
            seed: spec.seed,
            lr: spec.adam.lr,
            beta1: spec.adam.beta1,
            beta2: spec.adam.beta2,
            eps: spec.adam.eps,
            weight_decay: spec.adam.weight_decay,
            batch_size,
            cluster: 1,
            reserved: 0,
            n_train,
            n_test,
            n_items,
        }
    }

    /// The input encoding.
    pub fn input_kind(&self) -> Result<InputKind, RecordError> {
        match self.input {
            0 => Ok(InputKind::F32),
            1 => Ok(InputKind::Int8),
            _ => Err(RecordError::Field("input")),
        }
    }

    /// Bytes per series value.
    pub fn value_width(&self) -> Result<usize, RecordError> {
        Ok(match self.input_kind()? {
            InputKind::F32 => 4,
            InputKind::Int8 => 1,
        })
    }

    /// The partition plan the record's cluster uses.
    pub fn partition(&self) -> Result<PartitionPlan, RecordError> {
        let model = MiniRocketPlan::with_max_dilations(
            self.length as usize,
            usize::from(self.n_channels),
            self.num_features as usize,
            self.max_dilations as usize,
        )?;
        Ok(PartitionPlan::new(model, usize::from(self.n_devices))?)
    }

    /// The spec of the recorded device, rebuilt from the plan inputs exactly
    /// as the host builds it.
    pub fn spec(&self) -> Result<DeviceSpec, RecordError> {
        let optimizer = match self.optimizer {
            0 => OptimizerKind::Adam,
            1 => OptimizerKind::QAdam,
            _ => return Err(RecordError::Field("optimizer")),
        };
        let n_classes = usize::from(self.n_classes);
        if !(2..=MAX_CLASSES).contains(&n_classes) {
            return Err(RecordError::Field("n_classes"));
        }
        let adam = AdamConfig {
            lr: self.lr,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            weight_decay: self.weight_decay,
        };
        Ok(DeviceSpec::for_device(
            &self.partition()?,
            usize::from(self.device),
            n_classes,
            optimizer,
            adam,
            self.input_kind()?,
            self.seed,
        )?)
    }

    /// Bytes of one item entry.
    pub fn item_len(&self) -> usize {
        ITEM_FIXED_LEN + 4 * usize::from(self.n_devices) * usize::from(self.n_classes)
    }
}

/// Series values stored in a record (the core's two input types).
pub trait RecordValue: Copy {
    /// Bytes per value.
    const WIDTH: usize;
    /// Reads one value from `WIDTH` little-endian bytes.
    fn from_le(bytes: &[u8]) -> Self;
    /// Appends the little-endian bytes of `self`.
    #[cfg(feature = "alloc")]
    fn push_le(self, out: &mut alloc::vec::Vec<u8>);
}

impl RecordValue for f32 {
    const WIDTH: usize = 4;
    fn from_le(bytes: &[u8]) -> Self {
        f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
    }
    #[cfg(feature = "alloc")]
    fn push_le(self, out: &mut alloc::vec::Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl RecordValue for i8 {
    const WIDTH: usize = 1;
    fn from_le(bytes: &[u8]) -> Self {
        bytes[0] as i8
    }
    #[cfg(feature = "alloc")]
    fn push_le(self, out: &mut alloc::vec::Vec<u8>) {
        out.push(self as u8);
    }
}

/// One split of the record's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordSet<'a> {
    values: &'a [u8],
    labels: &'a [u8],
    n: usize,
    series_bytes: usize,
}

impl<'a> RecordSet<'a> {
    /// Number of series.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True if the split has no series.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The raw little-endian bytes of every series, `[series][channel][t]`.
    pub fn values(&self) -> &'a [u8] {
        self.values
    }

    /// The raw little-endian bytes of series `i` (`None` past the end).
    pub fn series_bytes(&self, i: usize) -> Option<&'a [u8]> {
        (i < self.n).then(|| &self.values[i * self.series_bytes..(i + 1) * self.series_bytes])
    }

    /// Copies series `i` into `out` (`false` if `i` is out of range or
    /// `out` has another length or `T` another width).
    pub fn copy_series<T: RecordValue>(&self, i: usize, out: &mut [T]) -> bool {
        match self.series_bytes(i) {
            Some(b) if out.len() * T::WIDTH == b.len() => {
                for (o, chunk) in out.iter_mut().zip(b.chunks_exact(T::WIDTH)) {
                    *o = T::from_le(chunk);
                }
                true
            }
            _ => false,
        }
    }

    /// The label of series `i`.
    pub fn label(&self, i: usize) -> Option<u16> {
        (i < self.n).then(|| u16::from_le_bytes([self.labels[2 * i], self.labels[2 * i + 1]]))
    }
}

/// One recorded item: which sample, and every device's partial logits for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordItem<'a> {
    /// Train or Eval.
    pub phase: Phase,
    /// 1-based epoch.
    pub epoch: u32,
    /// Index into the training (Train) or test (Eval) set.
    pub sample: u32,
    partials: &'a [u8],
    n_classes: usize,
}

impl RecordItem<'_> {
    /// The partial logits device `d` sent for this item.
    pub fn partial(&self, d: usize) -> Option<PartialLogits> {
        let stride = 4 * self.n_classes;
        let start = stride.checked_mul(d)?;
        let bytes = self.partials.get(start..start.checked_add(stride)?)?;
        let c = self.n_classes;
        let mut v = [0i32; MAX_CLASSES];
        for (o, chunk) in v.iter_mut().zip(bytes.chunks_exact(4)) {
            *o = i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        Some(PartialLogits::from_wire(&v[..c]))
    }
}

/// A decoded record, borrowing its bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Record<'a> {
    header: RecordHeader,
    train: RecordSet<'a>,
    test: RecordSet<'a>,
    items: &'a [u8],
}

/// Bytes of a label section of `n` labels (u16, padded to 4 bytes); `None`
/// on overflow.
fn labels_len(n: usize) -> Option<usize> {
    Some(n.checked_mul(2)?.checked_add(3)? / 4 * 4)
}

fn take<'a>(bytes: &mut &'a [u8], n: usize, total: usize) -> Result<&'a [u8], RecordError> {
    if bytes.len() < n {
        return Err(RecordError::Length {
            expected: total - bytes.len() + n,
            got: total,
        });
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Ok(head)
}

impl<'a> Record<'a> {
    /// Decodes a record's header and checks that every section it announces
    /// is present (and nothing more).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, RecordError> {
        let total = bytes.len();
        if total < HEADER_LEN {
            return Err(RecordError::Length {
                expected: HEADER_LEN,
                got: total,
            });
        }
        if bytes[..4] != MAGIC {
            return Err(RecordError::Magic);
        }
        let (header, used): (RecordHeader, usize) =
            bincode::decode_from_slice(&bytes[..HEADER_LEN], crate::wire::CONFIG)
                .map_err(|_| RecordError::Field("header"))?;
        if used != HEADER_LEN {
            return Err(RecordError::Field("header"));
        }
        if header.version != VERSION {
            return Err(RecordError::Version(header.version));
        }
        if header.device >= header.n_devices {
            return Err(RecordError::Field("device"));
        }
        if !(2..=MAX_CLASSES).contains(&usize::from(header.n_classes)) {
            return Err(RecordError::Field("n_classes"));
        }
        let series_bytes = usize::from(header.n_channels)
            .checked_mul(header.length as usize)
            .and_then(|v| v.checked_mul(header.value_width().ok()?))
            .ok_or(RecordError::Field("length"))?;
        let mut rest = &bytes[HEADER_LEN..];
        let mut set = |n: u32| -> Result<RecordSet<'a>, RecordError> {
            let n = n as usize;
            let size = n
                .checked_mul(series_bytes)
                .ok_or(RecordError::Field("series"))?;
            let values = take(&mut rest, size, total)?;
            let labels_bytes = labels_len(n).ok_or(RecordError::Field("series"))?;
            let labels = take(&mut rest, labels_bytes, total)?;
            Ok(RecordSet {
                values,
                labels,
                n,
                series_bytes,
            })
        };
        let train = set(header.n_train)?;
        let test = set(header.n_test)?;
        let items_len = (header.n_items as usize)
            .checked_mul(header.item_len())
            .ok_or(RecordError::Field("n_items"))?;
        let items = take(&mut rest, items_len, total)?;
        if !rest.is_empty() {
            return Err(RecordError::Length {
                expected: total - rest.len(),
                got: total,
            });
        }
        Ok(Self {
            header,
            train,
            test,
            items,
        })
    }

    /// The header.
    pub fn header(&self) -> &RecordHeader {
        &self.header
    }

    /// The training set.
    pub fn train(&self) -> RecordSet<'a> {
        self.train
    }

    /// The test set.
    pub fn test(&self) -> RecordSet<'a> {
        self.test
    }

    /// The set a phase draws its samples from (Eval: test, else train).
    pub fn set(&self, phase: Phase) -> RecordSet<'a> {
        if phase == Phase::Eval {
            self.test
        } else {
            self.train
        }
    }

    /// Number of items.
    pub fn n_items(&self) -> usize {
        self.header.n_items as usize
    }

    /// Item `k` (`None` past the end or for an unknown phase byte).
    pub fn item(&self, k: usize) -> Option<RecordItem<'a>> {
        let len = self.header.item_len();
        let e = self
            .items
            .get(k.checked_mul(len)?..(k + 1).checked_mul(len)?)?;
        Some(RecordItem {
            phase: Phase::from_u8(e[0])?,
            epoch: u32::from_le_bytes([e[1], e[2], e[3], e[4]]),
            sample: u32::from_le_bytes([e[5], e[6], e[7], e[8]]),
            partials: &e[ITEM_FIXED_LEN..],
            n_classes: usize::from(self.header.n_classes),
        })
    }
}

/// FNV-1a over the little-endian bit patterns of `params`, NaNs canonicalised
/// (x86_64 and ARM produce different NaN payloads): the per-device weights
/// hash the firmware prints and the host records.
pub fn params_hash(params: &[f32]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &v in params {
        let bits = if v.is_nan() { 0x7fc0_0000 } else { v.to_bits() };
        for byte in bits.to_le_bytes() {
            h ^= u64::from(byte);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// One item to encode (owned form of [`RecordItem`]).
#[cfg(feature = "alloc")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemEntry {
    /// Train or Eval.
    pub phase: Phase,
    /// 1-based epoch.
    pub epoch: u32,
    /// Sample index in its set.
    pub sample: u32,
    /// `n_devices × C` partial logits, device-major.
    pub partials: alloc::vec::Vec<i32>,
}

/// Encodes a record. `train`/`test` hold `n · n_channels · length` values and
/// `n` labels each; every item holds `n_devices · C` partial logits.
#[cfg(feature = "alloc")]
pub fn encode_record<T: RecordValue>(
    header: &RecordHeader,
    train: (&[T], &[u16]),
    test: (&[T], &[u16]),
    items: &[ItemEntry],
) -> Result<alloc::vec::Vec<u8>, RecordError> {
    use alloc::vec::Vec;
    let mut h = *header;
    h.n_train = train.1.len() as u32;
    h.n_test = test.1.len() as u32;
    h.n_items = items.len() as u32;
    if T::WIDTH != h.value_width()? {
        return Err(RecordError::Field("input"));
    }
    let per_series = usize::from(h.n_channels) * h.length as usize;
    let per_item = usize::from(h.n_devices) * usize::from(h.n_classes);
    let mut out = Vec::new();
    let mut head = [0u8; HEADER_LEN];
    let n = bincode::encode_into_slice(h, &mut head, crate::wire::CONFIG)
        .map_err(|_| RecordError::Field("header"))?;
    if n != HEADER_LEN {
        return Err(RecordError::Field("header"));
    }
    out.extend_from_slice(&head);
    for (values, labels) in [train, test] {
        if values.len() != labels.len() * per_series {
            return Err(RecordError::Field("series"));
        }
        for &v in values {
            v.push_le(&mut out);
        }
        for &l in labels {
            out.extend_from_slice(&l.to_le_bytes());
        }
        let padded = labels_len(labels.len()).ok_or(RecordError::Field("series"))?;
        out.resize(out.len() + padded - 2 * labels.len(), 0);
    }
    for it in items {
        if it.partials.len() != per_item {
            return Err(RecordError::Field("partials"));
        }
        out.push(it.phase.to_u8());
        out.extend_from_slice(&it.epoch.to_le_bytes());
        out.extend_from_slice(&it.sample.to_le_bytes());
        for &p in &it.partials {
            out.extend_from_slice(&p.to_le_bytes());
        }
    }
    Ok(out)
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use alloc::vec;

    fn spec(devices: usize, device: usize) -> DeviceSpec {
        let plan = MiniRocketPlan::new(20, 1, 168).unwrap();
        DeviceSpec::for_device(
            &PartitionPlan::new(plan, devices).unwrap(),
            device,
            3,
            OptimizerKind::QAdam,
            AdamConfig::default(),
            InputKind::F32,
            7,
        )
        .unwrap()
    }

    #[test]
    fn round_trip_and_spec() {
        let s = spec(2, 1);
        let h = RecordHeader::new(&s, 1, 2, 168, 32, 4, 0, 0, 0);
        let train: vec::Vec<f32> = (0..40).map(|i| i as f32 * 0.5 - 3.0).collect();
        let test: vec::Vec<f32> = (0..20).map(|i| -(i as f32)).collect();
        let items = vec![
            ItemEntry {
                phase: Phase::Train,
                epoch: 1,
                sample: 1,
                partials: vec![1, -2, 3, i32::MIN, 5, i32::MAX],
            },
            ItemEntry {
                phase: Phase::Eval,
                epoch: 1,
                sample: 0,
                partials: vec![0; 6],
            },
        ];
        let bytes = encode_record(&h, (&train, &[0, 2]), (&test, &[1]), &items).unwrap();
        // Header 72 + train 160 + labels 4 + test 80 + labels 2 (+2 padding).
        assert_eq!(bytes.len(), 72 + 160 + 4 + 80 + 4 + 2 * (9 + 4 * 6));
        let r = Record::parse(&bytes).unwrap();
        assert_eq!(r.header().n_train, 2);
        assert_eq!(r.spec_check(), s);
        let mut buf = [0f32; 20];
        assert!(r.train().copy_series(1, &mut buf));
        assert_eq!(&buf[..], &train[20..]);
        assert_eq!(r.train().label(1), Some(2));
        assert!(r.test().copy_series(0, &mut buf));
        assert_eq!(&buf[..], &test[..]);
        assert!(!r.test().copy_series(1, &mut buf));
        let it = r.item(0).unwrap();
        assert_eq!((it.phase, it.epoch, it.sample), (Phase::Train, 1, 1));
        assert_eq!(it.partial(1).unwrap().values(), &[i32::MIN, 5, i32::MAX]);
        assert!(it.partial(2).is_none());
        assert_eq!(r.item(1).unwrap().phase, Phase::Eval);
        assert!(r.item(2).is_none());
        // Truncation and trailing bytes are errors, never panics.
        for cut in [0, 3, HEADER_LEN - 1, HEADER_LEN, bytes.len() - 1] {
            assert!(Record::parse(&bytes[..cut]).is_err(), "cut {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Record::parse(&longer).is_err());
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert_eq!(Record::parse(&bad), Err(RecordError::Magic));
        // Wrong value width.
        assert!(encode_record::<i8>(&h, (&[], &[]), (&[], &[]), &[]).is_err());
    }

    impl Record<'_> {
        fn spec_check(&self) -> DeviceSpec {
            self.header.spec().unwrap()
        }
    }

    proptest::proptest! {
        /// Any bytes after a valid magic: an error or a record, never a panic;
        /// a record's items and series are all readable.
        #[test]
        fn parse_never_panics(tail in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(&tail);
            if let Ok(r) = Record::parse(&bytes) {
                for k in 0..r.n_items().min(8) {
                    let it = r.item(k);
                    if let Some(it) = it {
                        let _ = it.partial(0);
                        let _ = it.partial(usize::MAX / 2);
                    }
                }
                let _ = r.train().series_bytes(0);
                let _ = r.test().label(usize::MAX);
                let _ = r.header().spec();
            }
        }
    }

    fn valid_record() -> vec::Vec<u8> {
        let s = spec(2, 1);
        let h = RecordHeader::new(&s, 1, 2, 168, 32, 4, 0, 0, 0);
        let train: vec::Vec<f32> = (0..40).map(|i| i as f32).collect();
        let items = vec![ItemEntry {
            phase: Phase::Train,
            epoch: 1,
            sample: 1,
            partials: vec![1, 2, 3, 4, 5, 6],
        }];
        encode_record(&h, (&train, &[0, 2]), (&[], &[]), &items).unwrap()
    }

    proptest::proptest! {
        /// A valid record with bytes overwritten and its end cut: an error
        /// or a record, never a panic.
        #[test]
        fn mutated_records_never_panic(
            edits in proptest::collection::vec((0usize..400, proptest::num::u8::ANY), 1..6),
            cut in 0usize..400,
        ) {
            let mut bytes = valid_record();
            for (i, v) in edits {
                let n = bytes.len();
                bytes[i % n] = v;
            }
            bytes.truncate(bytes.len().saturating_sub(cut % 8));
            if let Ok(r) = Record::parse(&bytes) {
                if let Some(it) = r.item(0) {
                    let _ = (it.partial(0), it.partial(1), it.partial(usize::MAX / 3));
                }
                let mut buf = [0f32; 20];
                let _ = r.train().copy_series(0, &mut buf);
                let _ = r.train().label(1);
                let _ = r.header().spec();
            }
        }
    }

    #[test]
    fn params_hash_canonicalises_nan() {
        let a = params_hash(&[1.0, f32::from_bits(0xffc0_0000)]);
        let b = params_hash(&[1.0, f32::from_bits(0x7fc0_0000)]);
        assert_eq!(a, b);
        assert_ne!(a, params_hash(&[1.0, 0.0]));
    }
}
