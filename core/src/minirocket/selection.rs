//! Which (dilation, kernel) blocks one device owns, and where their features
//! sit in the device's local feature vector.

use core::ops::Range;

use super::kernels::NUM_KERNELS;
use super::plan::MiniRocketPlan;

/// A selection does not fit the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    /// Kernel range outside `0..84` or reversed.
    #[error("kernel range {start}..{end} is not within 0..84")]
    KernelRange {
        /// First kernel.
        start: usize,
        /// One past the last kernel.
        end: usize,
    },
    /// Block range outside `0..num_blocks` or reversed.
    #[error("block range {start}..{end} is not within 0..{num_blocks}")]
    BlockRange {
        /// First block.
        start: usize,
        /// One past the last block.
        end: usize,
        /// Blocks in the plan.
        num_blocks: usize,
    },
}

/// Which (dilation, kernel) blocks one device owns, and the device-local
/// feature layout.
///
/// Methods taking a plan assume the selection fits it ([`Self::validate`]);
/// an out-of-range selection is clamped to the plan rather than panicking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockSelection {
    /// Kernels `start..end` at every dilation. Local layout is kernel-major:
    /// `for k in start..end { for j in dilations { f_j features } }`, so each
    /// kernel is one contiguous unit of `features_per_kernel()` features.
    Kernels {
        /// First kernel.
        start: usize,
        /// One past the last kernel.
        end: usize,
    },
    /// Reference blocks `start..end` (`b = j·84 + k`, dilation-major; used
    /// when there are more than 84 devices). Local layout is reference order;
    /// each block is one unit.
    Blocks {
        /// First block.
        start: usize,
        /// One past the last block.
        end: usize,
    },
}

impl BlockSelection {
    /// Every kernel at every dilation (`Kernels { 0, 84 }`), the one-device
    /// selection.
    pub fn all() -> Self {
        Self::Kernels {
            start: 0,
            end: NUM_KERNELS,
        }
    }

    /// Checks that the selection fits `plan`.
    pub fn validate(&self, plan: &MiniRocketPlan) -> Result<(), SelectionError> {
        match *self {
            Self::Kernels { start, end } => {
                if start <= end && end <= NUM_KERNELS {
                    Ok(())
                } else {
                    Err(SelectionError::KernelRange { start, end })
                }
            }
            Self::Blocks { start, end } => {
                let num_blocks = plan.num_blocks();
                if start <= end && end <= num_blocks {
                    Ok(())
                } else {
                    Err(SelectionError::BlockRange {
                        start,
                        end,
                        num_blocks,
                    })
                }
            }
        }
    }

    /// `(start, end)` clamped to the plan.
    fn bounds(&self, plan: &MiniRocketPlan) -> (usize, usize) {
        let (start, end, limit) = match *self {
            Self::Kernels { start, end } => (start, end, NUM_KERNELS),
            Self::Blocks { start, end } => (start, end, plan.num_blocks()),
        };
        let end = end.min(limit);
        (start.min(end), end)
    }

    /// Features this selection produces.
    pub fn num_features(&self, plan: &MiniRocketPlan) -> usize {
        let (start, end) = self.bounds(plan);
        match self {
            Self::Kernels { .. } => (end - start) * plan.features_per_kernel(),
            Self::Blocks { .. } => {
                plan.reference_block_offset_of(end) - plan.reference_block_offset_of(start)
            }
        }
    }

    /// (Dilation, kernel) blocks this selection owns.
    pub fn num_blocks(&self, plan: &MiniRocketPlan) -> usize {
        let (start, end) = self.bounds(plan);
        match self {
            Self::Kernels { .. } => (end - start) * plan.n_dilations(),
            Self::Blocks { .. } => end - start,
        }
    }

    /// Units (kernels for `Kernels`, blocks for `Blocks`): contiguous runs of
    /// local features.
    pub fn num_units(&self, plan: &MiniRocketPlan) -> usize {
        let (start, end) = self.bounds(plan);
        end - start
    }

    /// Local feature range of unit `u` (empty at the end if `u` is out of range).
    pub fn unit_range(&self, plan: &MiniRocketPlan, u: usize) -> Range<usize> {
        let (start, end) = self.bounds(plan);
        let u = u.min(end - start);
        match self {
            Self::Kernels { .. } => {
                let fpk = plan.features_per_kernel();
                let u1 = (u + 1).min(end - start);
                u * fpk..u1 * fpk
            }
            Self::Blocks { .. } => {
                let base = plan.reference_block_offset_of(start);
                let b1 = (start + u + 1).min(end);
                plan.reference_block_offset_of(start + u) - base
                    ..plan.reference_block_offset_of(b1) - base
            }
        }
    }

    /// Kernels selected at dilation `j` (contiguous in both layouts).
    pub fn kernel_range(&self, plan: &MiniRocketPlan, j: usize) -> Range<usize> {
        if j >= plan.n_dilations() {
            return 0..0;
        }
        let (start, end) = self.bounds(plan);
        match self {
            Self::Kernels { .. } => start..end,
            Self::Blocks { .. } => {
                let first = j * NUM_KERNELS;
                let lo = start.max(first).min(first + NUM_KERNELS);
                let hi = end.min(first + NUM_KERNELS).max(lo);
                lo - first..hi - first
            }
        }
    }

    /// Whether block `(j, k)` is selected.
    pub fn contains(&self, plan: &MiniRocketPlan, j: usize, k: usize) -> bool {
        k < NUM_KERNELS && self.kernel_range(plan, j).contains(&k)
    }

    /// Position of block `(j, k)` among the selected blocks, in local layout
    /// order (indexes the channel-subset buffers).
    pub fn local_block(&self, plan: &MiniRocketPlan, j: usize, k: usize) -> Option<usize> {
        if !self.contains(plan, j, k) {
            return None;
        }
        let (start, _) = self.bounds(plan);
        Some(match self {
            Self::Kernels { .. } => (k - start) * plan.n_dilations() + j,
            Self::Blocks { .. } => j * NUM_KERNELS + k - start,
        })
    }

    /// First local feature index of block `(j, k)`, if selected.
    pub fn local_offset(&self, plan: &MiniRocketPlan, j: usize, k: usize) -> Option<usize> {
        if !self.contains(plan, j, k) {
            return None;
        }
        let (start, _) = self.bounds(plan);
        Some(match self {
            Self::Kernels { .. } => {
                (k - start) * plan.features_per_kernel() + plan.dilation_feature_offset(j)
            }
            Self::Blocks { .. } => {
                plan.reference_block_offset(j, k) - plan.reference_block_offset_of(start)
            }
        })
    }

    /// Reference feature index of local feature `local`, or `None` if
    /// `local >= self.num_features(plan)`.
    pub fn checked_reference_index(&self, plan: &MiniRocketPlan, local: usize) -> Option<usize> {
        if local >= self.num_features(plan) {
            return None;
        }
        let (start, _) = self.bounds(plan);
        Some(match self {
            Self::Kernels { .. } => {
                let fpk = plan.features_per_kernel();
                let (u, mut r) = (local / fpk, local % fpk);
                let mut j = 0;
                while r >= plan.features_per_dilation()[j] as usize {
                    r -= plan.features_per_dilation()[j] as usize;
                    j += 1;
                }
                plan.reference_block_offset(j, start + u) + r
            }
            Self::Blocks { .. } => plan.reference_block_offset_of(start) + local,
        })
    }

    /// Reference feature index of local feature `local`.
    ///
    /// # Panics
    /// If `local >= self.num_features(plan)` (see [`Self::checked_reference_index`]).
    pub fn reference_index(&self, plan: &MiniRocketPlan, local: usize) -> usize {
        match self.checked_reference_index(plan, local) {
            Some(i) => i,
            None => panic!("local feature {local} is outside the selection"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn plan() -> MiniRocketPlan {
        MiniRocketPlan::new(150, 1, 10_000).unwrap()
    }

    #[test]
    fn all_is_kernel_major() {
        let p = plan();
        let s = BlockSelection::all();
        assert_eq!(s.num_features(&p), 9_996);
        assert_eq!(s.num_blocks(&p), p.num_blocks());
        assert_eq!(s.num_units(&p), 84);
        assert_eq!(s.unit_range(&p, 1), 119..238);
        // Kernel 0 at dilation 1 (f_0 = 30) follows kernel 0's dilation 0.
        assert_eq!(s.local_offset(&p, 1, 0), Some(30));
        assert_eq!(s.reference_index(&p, 30), 84 * 30);
        assert_eq!(s.local_offset(&p, 0, 1), Some(119));
        assert_eq!(s.reference_index(&p, 119), 30);
    }

    #[test]
    fn reference_index_is_a_bijection() {
        let p = plan();
        for sel in [
            BlockSelection::all(),
            BlockSelection::Kernels { start: 5, end: 9 },
            BlockSelection::Blocks {
                start: 80,
                end: 200,
            },
        ] {
            let n = sel.num_features(&p);
            let mut seen: Vec<usize> = (0..n).map(|l| sel.reference_index(&p, l)).collect();
            // Local offsets agree with reference_index.
            for j in 0..p.n_dilations() {
                for k in sel.kernel_range(&p, j) {
                    let off = sel.local_offset(&p, j, k).unwrap();
                    assert_eq!(sel.reference_index(&p, off), p.reference_block_offset(j, k));
                }
            }
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), n);
            assert_eq!(sel.checked_reference_index(&p, n), None);
        }
    }

    #[test]
    fn blocks_cross_dilations() {
        let p = plan();
        let s = BlockSelection::Blocks { start: 80, end: 90 };
        assert_eq!(s.kernel_range(&p, 0), 80..84);
        assert_eq!(s.kernel_range(&p, 1), 0..6);
        assert_eq!(s.kernel_range(&p, 2), 0..0);
        assert_eq!(s.num_features(&p), 4 * 30 + 6 * 15);
        assert_eq!(s.unit_range(&p, 4), 120..135);
        assert_eq!(s.local_block(&p, 1, 0), Some(4));
    }

    #[test]
    fn device_split() {
        use crate::partition::PartitionPlan;
        let p = plan();
        let sel = |n, i| PartitionPlan::new(p, n).unwrap().selection(i);
        let sizes: Vec<usize> = (0..20).map(|i| sel(20, i).unwrap().num_units(&p)).collect();
        assert_eq!(&sizes[..4], &[5, 5, 5, 5]);
        assert!(sizes[4..].iter().all(|&s| s == 4));
        assert_eq!(
            sel(85, 0).unwrap(),
            BlockSelection::Blocks { start: 0, end: 16 }
        );
        assert!(sel(3, 3).is_err());
        let total: usize = (0..100)
            .map(|i| sel(100, i).unwrap().num_features(&p))
            .sum();
        assert_eq!(total, 9_996);
        assert_eq!(
            BlockSelection::Kernels { start: 3, end: 85 }.validate(&p),
            Err(SelectionError::KernelRange { start: 3, end: 85 })
        );
    }
}
