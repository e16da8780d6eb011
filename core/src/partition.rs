//! The partition plan: which kernels and which samples each device owns
//! (docs/method.md#partition-over-devices).
//!
//! A pure function of (series length, channels, num_features, N): every device
//! computes the same plan on its own, so nothing about the split ever travels
//! on the radio.

use core::ops::Range;

use crate::minirocket::{BlockSelection, MiniRocketPlan, NUM_KERNELS};

/// The plan cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    /// Zero devices.
    #[error("the number of devices must be at least 1")]
    NoDevices,
    /// More devices than (dilation, kernel) blocks: some would own nothing.
    #[error(
        "{devices} devices but the model has only {blocks} (dilation, kernel) blocks; use at most {blocks} devices"
    )]
    TooManyDevices {
        /// Devices requested.
        devices: usize,
        /// Blocks the MiniRocket plan has.
        blocks: usize,
    },
    /// A device index outside `0..devices`.
    #[error("device {device} does not exist (devices are 0..{devices})")]
    NoSuchDevice {
        /// The index asked for.
        device: usize,
        /// Devices in the plan.
        devices: usize,
    },
}

/// Splits `0..total` into `parts` contiguous ranges as evenly as possible; the
/// first `total mod parts` ranges get one more element. Range `index` of the
/// split (empty when `parts == 0` or `index >= parts`).
pub fn even_split(total: usize, parts: usize, index: usize) -> Range<usize> {
    if index >= parts {
        return total..total;
    }
    let base = total / parts;
    let extra = total % parts;
    let start = index * base + index.min(extra);
    let len = base + usize::from(index < extra);
    start..start + len
}

/// Which part of the model and of the data each of N devices owns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartitionPlan {
    model: MiniRocketPlan,
    devices: usize,
}

impl PartitionPlan {
    /// The plan for `devices` devices over `model`.
    ///
    /// Up to 84 devices split the kernels (each device owns whole kernels at
    /// every dilation); beyond that they split the (dilation, kernel) blocks.
    pub fn new(model: MiniRocketPlan, devices: usize) -> Result<Self, PartitionError> {
        if devices == 0 {
            return Err(PartitionError::NoDevices);
        }
        if devices > model.num_blocks() {
            return Err(PartitionError::TooManyDevices {
                devices,
                blocks: model.num_blocks(),
            });
        }
        Ok(Self { model, devices })
    }

    /// The MiniRocket plan being split.
    pub fn model(&self) -> &MiniRocketPlan {
        &self.model
    }

    /// Number of devices.
    pub fn devices(&self) -> usize {
        self.devices
    }

    /// The blocks device `device` owns.
    pub fn selection(&self, device: usize) -> Result<BlockSelection, PartitionError> {
        if device >= self.devices {
            return Err(PartitionError::NoSuchDevice {
                device,
                devices: self.devices,
            });
        }
        Ok(if self.devices <= NUM_KERNELS {
            let r = even_split(NUM_KERNELS, self.devices, device);
            BlockSelection::Kernels {
                start: r.start,
                end: r.end,
            }
        } else {
            let r = even_split(self.model.num_blocks(), self.devices, device);
            BlockSelection::Blocks {
                start: r.start,
                end: r.end,
            }
        })
    }

    /// Number of features device `device` computes.
    pub fn device_features(&self, device: usize) -> Result<usize, PartitionError> {
        Ok(self.selection(device)?.num_features(&self.model))
    }

    /// The contiguous shard of an `n`-sample set that device `device` owns
    /// (and floods when its samples come up).
    pub fn shard(&self, n: usize, device: usize) -> Result<Range<usize>, PartitionError> {
        if device >= self.devices {
            return Err(PartitionError::NoSuchDevice {
                device,
                devices: self.devices,
            });
        }
        Ok(even_split(n, self.devices, device))
    }

    /// The device that owns sample `index` of an `n`-sample set (`None` if
    /// `index >= n`).
    pub fn owner(&self, n: usize, index: usize) -> Option<usize> {
        if index >= n {
            return None;
        }
        // Inverse of `even_split`: the first `extra` shards are one longer.
        let base = n / self.devices;
        let extra = n % self.devices;
        let long = (base + 1) * extra;
        if index < long {
            Some(index / (base + 1))
        } else {
            // index < n implies base ≥ 1 here.
            (index - long).checked_div(base).map(|q| extra + q)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_split_covers_exactly() {
        for total in 0..200 {
            for parts in 1..30 {
                let mut next = 0;
                for i in 0..parts {
                    let r = even_split(total, parts, i);
                    assert_eq!(r.start, next);
                    let len = r.len();
                    assert!(len == total / parts || len == total / parts + 1);
                    assert_eq!(len == total / parts + 1, i < total % parts);
                    next = r.end;
                }
                assert_eq!(next, total);
            }
        }
    }

    #[test]
    fn kernels_split_first_devices_get_one_more() {
        let m = MiniRocketPlan::new(150, 1, 10_000).unwrap();
        let p = PartitionPlan::new(m, 20).unwrap();
        // 84 = 20·4 + 4: devices 0..4 own 5 kernels, the rest 4.
        assert_eq!(
            p.selection(0).unwrap(),
            BlockSelection::Kernels { start: 0, end: 5 }
        );
        assert_eq!(
            p.selection(4).unwrap(),
            BlockSelection::Kernels { start: 20, end: 24 }
        );
        assert_eq!(
            p.selection(19).unwrap(),
            BlockSelection::Kernels { start: 80, end: 84 }
        );
        let total: usize = (0..20).map(|d| p.device_features(d).unwrap()).sum();
        assert_eq!(total, m.num_features());
        assert!(p.selection(20).is_err());
    }

    #[test]
    fn beyond_84_devices_split_blocks_and_too_many_is_an_error() {
        let m = MiniRocketPlan::new(150, 1, 10_000).unwrap();
        let p = PartitionPlan::new(m, 100).unwrap();
        assert!(matches!(
            p.selection(0).unwrap(),
            BlockSelection::Blocks { .. }
        ));
        let total: usize = (0..100).map(|d| p.device_features(d).unwrap()).sum();
        assert_eq!(total, m.num_features());
        let err = PartitionPlan::new(m, m.num_blocks() + 1).unwrap_err();
        assert!(matches!(err, PartitionError::TooManyDevices { .. }));
        assert_eq!(
            PartitionPlan::new(m, 0).unwrap_err(),
            PartitionError::NoDevices
        );
    }

    #[test]
    fn owner_inverts_shard() {
        let m = MiniRocketPlan::new(24, 1, 10_000).unwrap();
        for devices in 1..40 {
            let p = PartitionPlan::new(m, devices).unwrap();
            for n in 0..120 {
                assert_eq!(p.owner(n, n), None);
                for d in 0..devices {
                    for s in p.shard(n, d).unwrap() {
                        assert_eq!(p.owner(n, s), Some(d), "n={n} devices={devices} s={s}");
                    }
                }
            }
        }
    }
}
