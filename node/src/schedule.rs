//! Which sample every round carries: a pure function of (set sizes, epochs,
//! eval_every, batch size, seed), computed identically by the host, every
//! device and the in-process trainer.
//!
//! The samples of a run form one sequence of *items*: epoch 1's training
//! pass (the training set in a seeded shuffled order), then its evaluation
//! pass (the test set in order) if the epoch is evaluated, then epoch 2, …
//! RockNet pipelines one item per round: round `r` floods item `r`'s sample
//! and every device's partial logits for item `r − 1`, so a run takes
//! `items + 1` rounds (docs/method.md#rounds).

use rocknet_core::rng::{Purpose, keyed_rng, shuffle};
use rocknet_core::wire::Phase;

/// One item: a sample of a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    /// 1-based epoch.
    pub epoch: usize,
    /// Train or Eval.
    pub phase: Phase,
    /// Position in the pass (0-based).
    pub position: usize,
    /// Index into the training set (Train) or test set (Eval).
    pub sample: usize,
    /// An optimizer step follows this item (the end of a batch or of the
    /// training pass).
    pub step_after: bool,
    /// The last item of its pass.
    pub ends_pass: bool,
}

/// The run's item sequence.
#[derive(Debug, Clone)]
pub struct Schedule {
    n_train: usize,
    n_test: usize,
    epochs: usize,
    eval_every: usize,
    batch: usize,
    seed: u32,
    /// The shuffled order of the epoch last asked for.
    cached: Option<(usize, Vec<usize>)>,
}

impl Schedule {
    /// A schedule; `batch` is the effective batch size (≥ 1), `eval_every`
    /// ≥ 1.
    pub fn new(
        n_train: usize,
        n_test: usize,
        epochs: usize,
        eval_every: usize,
        batch: usize,
        seed: u32,
    ) -> Self {
        Self {
            n_train,
            n_test,
            epochs,
            eval_every: eval_every.max(1),
            batch: batch.max(1),
            seed,
            cached: None,
        }
    }

    /// The schedule of an experiment as configured (what the host and every
    /// device run).
    pub fn of(exp: &crate::experiment::Experiment) -> Self {
        let t = &exp.config.training;
        Self::new(
            exp.train.len(),
            exp.test.len(),
            t.epochs,
            t.eval_every,
            exp.batch_size(),
            t.seed,
        )
    }

    /// Whether epoch `e` ends with an evaluation pass.
    pub fn evaluates(&self, epoch: usize) -> bool {
        epoch == self.epochs || epoch.is_multiple_of(self.eval_every)
    }

    /// Evaluated epochs among `1..=e`.
    fn evaluated_up_to(&self, e: usize) -> usize {
        if e == 0 {
            0
        } else if e >= self.epochs {
            self.epochs / self.eval_every
                + usize::from(!self.epochs.is_multiple_of(self.eval_every))
        } else {
            e / self.eval_every
        }
    }

    /// The first item index of epoch `e` (1-based; `epochs + 1` gives the
    /// total).
    fn epoch_start(&self, e: usize) -> u64 {
        let done = e.saturating_sub(1);
        (done as u64) * self.n_train as u64 + self.evaluated_up_to(done) as u64 * self.n_test as u64
    }

    /// Number of items.
    pub fn items(&self) -> u64 {
        self.epoch_start(self.epochs + 1)
    }

    /// Number of rounds (one more than items: the last logits travel alone).
    pub fn rounds(&self) -> u64 {
        self.items() + 1
    }

    /// Epochs.
    pub fn epochs(&self) -> usize {
        self.epochs
    }

    /// The training order of epoch `e`: `0..n_train` shuffled by
    /// `keyed_rng(seed, Shuffle, e, 0)`.
    pub fn train_order(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.n_train).collect();
        shuffle(
            &mut order,
            &mut keyed_rng(self.seed as u64, Purpose::Shuffle, epoch as u64, 0),
        );
        order
    }

    /// Whether an optimizer step follows position `pos` of a training pass.
    pub fn steps_after(&self, pos: usize) -> bool {
        (pos + 1).is_multiple_of(self.batch) || pos + 1 == self.n_train
    }

    /// Item `k`, or `None` past the end.
    pub fn item(&mut self, k: u64) -> Option<Item> {
        if k >= self.items() {
            return None;
        }
        // The epoch holding k: the last e with epoch_start(e) ≤ k.
        let (mut lo, mut hi) = (1usize, self.epochs);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if self.epoch_start(mid) <= k {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let epoch = lo;
        let offset = (k - self.epoch_start(epoch)) as usize;
        if offset < self.n_train {
            if self.cached.as_ref().is_none_or(|(e, _)| *e != epoch) {
                self.cached = Some((epoch, self.train_order(epoch)));
            }
            let order = &self.cached.as_ref().map(|(_, o)| o).expect("cached above");
            Some(Item {
                epoch,
                phase: Phase::Train,
                position: offset,
                sample: order[offset],
                step_after: self.steps_after(offset),
                ends_pass: offset + 1 == self.n_train,
            })
        } else {
            let position = offset - self.n_train;
            Some(Item {
                epoch,
                phase: Phase::Eval,
                position,
                sample: position,
                step_after: false,
                ends_pass: position + 1 == self.n_test,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks the schedule the obvious way (nested loops) and compares every
    /// item, for several shapes including eval_every not dividing epochs.
    #[test]
    fn random_access_equals_the_nested_loops() {
        for &(n_train, n_test, epochs, every, batch) in &[
            (5, 3, 4, 1, 2),
            (7, 2, 5, 2, 3),
            (4, 6, 7, 3, 4),
            (3, 1, 1, 5, 8),
            (50, 150, 3, 1, 16),
        ] {
            let mut s = Schedule::new(n_train, n_test, epochs, every, batch, 9);
            let mut k = 0u64;
            for e in 1..=epochs {
                let order = s.train_order(e);
                for (pos, &sample) in order.iter().enumerate() {
                    let it = s.item(k).unwrap();
                    assert_eq!(
                        (it.epoch, it.phase, it.position, it.sample),
                        (e, Phase::Train, pos, sample)
                    );
                    assert_eq!(it.step_after, (pos + 1) % batch == 0 || pos + 1 == n_train);
                    assert_eq!(it.ends_pass, pos + 1 == n_train);
                    k += 1;
                }
                if e == epochs || e % every == 0 {
                    for t in 0..n_test {
                        let it = s.item(k).unwrap();
                        assert_eq!((it.epoch, it.phase, it.sample), (e, Phase::Eval, t));
                        assert!(!it.step_after);
                        k += 1;
                    }
                }
            }
            assert_eq!(s.items(), k);
            assert_eq!(s.rounds(), k + 1);
            assert!(s.item(k).is_none());
        }
    }

    #[test]
    fn orders_are_permutations_that_differ_by_epoch_and_seed() {
        let s = Schedule::new(50, 1, 3, 1, 16, 0);
        let (a, b) = (s.train_order(1), s.train_order(2));
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(a, b);
        assert_ne!(a, Schedule::new(50, 1, 3, 1, 16, 1).train_order(1));
    }
}
