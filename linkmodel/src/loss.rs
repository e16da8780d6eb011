//! Loss processes layered on the PRR (DESIGN.md §3).
//!
//! A frame on link `from → to` in a slot gets through with probability
//! `PRR_eff · Π(1 − extra_loss of active interference windows) · (1 − loss(state))`
//! where `loss(state)` is 0 for [`LossProcess::Bernoulli`] and the
//! Gilbert–Elliott state's loss for [`LossProcess::GilbertElliott`].
//!
//! The Gilbert–Elliott chain of each directed link advances once per slot
//! (slots are numbered globally: `round · slots_per_round + slot`). It is
//! advanced lazily — only when the link is used — by drawing the state after
//! `m` steps from the exact m-step transition probabilities
//! `P(bad | bad) = π_b + π_g·λ^m`, `P(bad | good) = π_b·(1 − λ^m)`,
//! `λ = 1 − p_gb − p_bg`, which has the same distribution as stepping `m`
//! times. A link's first use draws its state from the stationary
//! distribution.

use rand_core::Rng;
use serde::Deserialize;

use crate::topology::{NodeId, unit_f64};

/// The loss process of every link.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LossProcess {
    /// Independent losses: a frame gets through with probability PRR.
    #[default]
    Bernoulli,
    /// Two-state bursty loss per directed link.
    GilbertElliott {
        /// P(good → bad) per slot.
        p_gb: f64,
        /// P(bad → good) per slot.
        p_bg: f64,
        /// Loss probability in the good state.
        loss_good: f64,
        /// Loss probability in the bad state.
        loss_bad: f64,
    },
}

impl LossProcess {
    /// The long-run loss rate of the process alone (on a PRR-1 link):
    /// `π_b·loss_bad + π_g·loss_good`, `π_b = p_gb / (p_gb + p_bg)`.
    pub fn stationary_loss(&self) -> f64 {
        match *self {
            Self::Bernoulli => 0.0,
            Self::GilbertElliott {
                p_gb,
                p_bg,
                loss_good,
                loss_bad,
            } => {
                let pi_b = p_gb / (p_gb + p_bg);
                pi_b * loss_bad + (1.0 - pi_b) * loss_good
            }
        }
    }

    /// The name of the first out-of-range parameter, if any.
    pub fn invalid_field(&self) -> Option<&'static str> {
        match *self {
            Self::Bernoulli => None,
            Self::GilbertElliott {
                p_gb,
                p_bg,
                loss_good,
                loss_bad,
            } => {
                let prob = |x: f64| (0.0..=1.0).contains(&x);
                if !prob(p_gb) {
                    Some("p_gb")
                } else if !prob(p_bg) {
                    Some("p_bg")
                } else if p_gb + p_bg <= 0.0 {
                    Some("p_gb + p_bg (must be > 0)")
                } else if !prob(loss_good) {
                    Some("loss_good")
                } else if !prob(loss_bad) {
                    Some("loss_bad")
                } else {
                    None
                }
            }
        }
    }
}

/// Extra loss during a span of rounds (and optionally slots), on some links
/// or all of them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterferenceWindow {
    /// First round affected.
    pub from_round: u64,
    /// Last round affected (inclusive).
    pub to_round: u64,
    /// First slot affected within each round (default 0).
    #[serde(default)]
    pub from_slot: Option<u32>,
    /// Last slot affected within each round (inclusive; default: the last).
    #[serde(default)]
    pub to_slot: Option<u32>,
    /// Affected directed links `[from, to]`; default all.
    #[serde(default)]
    pub links: Option<Vec<[NodeId; 2]>>,
    /// Extra loss probability in [0, 1].
    pub extra_loss: f64,
}

impl InterferenceWindow {
    /// Whether the window covers round `round`.
    pub fn covers_round(&self, round: u64) -> bool {
        (self.from_round..=self.to_round).contains(&round)
    }

    /// Whether the window is limited to some slots of a round.
    pub fn slot_limited(&self) -> bool {
        self.from_slot.is_some() || self.to_slot.is_some()
    }

    /// Whether the window covers `slot` of a covered round.
    pub fn covers_slot(&self, slot: u32) -> bool {
        self.from_slot.is_none_or(|s| slot >= s) && self.to_slot.is_none_or(|s| slot <= s)
    }

    /// Whether the window covers link `from → to`.
    pub fn covers_link(&self, from: NodeId, to: NodeId) -> bool {
        self.links
            .as_ref()
            .is_none_or(|l| l.iter().any(|&[a, b]| a == from && b == to))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct GeLink {
    bad: bool,
    /// Global slot of the state, or `u64::MAX` if never used.
    at: u64,
}

/// The per-link loss state that persists across rounds.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkLoss {
    process: LossProcess,
    windows: Vec<InterferenceWindow>,
    nodes: usize,
    ge: Vec<GeLink>,
}

impl LinkLoss {
    /// Fresh state for `nodes` nodes.
    pub fn new(process: LossProcess, windows: Vec<InterferenceWindow>, nodes: usize) -> Self {
        let ge = match process {
            LossProcess::Bernoulli => Vec::new(),
            LossProcess::GilbertElliott { .. } => vec![
                GeLink {
                    bad: false,
                    at: u64::MAX
                };
                nodes * nodes
            ],
        };
        Self {
            process,
            windows,
            nodes,
            ge,
        }
    }

    /// The process.
    pub fn process(&self) -> &LossProcess {
        &self.process
    }

    /// Whether some per-slot work is needed beyond the PRR draw (a burst
    /// process, or an interference window limited to some slots, in `round`).
    pub fn needs_per_slot(&self, round: u64) -> bool {
        !self.ge.is_empty()
            || self
                .windows
                .iter()
                .any(|w| w.covers_round(round) && w.slot_limited())
    }

    /// Success factor of the round-wide windows (those not limited to
    /// slots) for `from → to` in `round`.
    pub fn round_factor(&self, round: u64, from: NodeId, to: NodeId) -> f64 {
        self.windows
            .iter()
            .filter(|w| w.covers_round(round) && !w.slot_limited() && w.covers_link(from, to))
            .map(|w| 1.0 - w.extra_loss)
            .product()
    }

    /// Success factor of the slot-limited windows for `from → to`.
    pub fn slot_factor(&self, round: u64, slot: u32, from: NodeId, to: NodeId) -> f64 {
        self.windows
            .iter()
            .filter(|w| {
                w.covers_round(round)
                    && w.slot_limited()
                    && w.covers_slot(slot)
                    && w.covers_link(from, to)
            })
            .map(|w| 1.0 - w.extra_loss)
            .product()
    }

    /// Advances link `from → to`'s burst state to global slot `at` and draws
    /// whether a frame survives it (always true for Bernoulli). Draws from
    /// `rng` only for Gilbert–Elliott: one word for the state, one for the
    /// loss (skipped when that state's loss is 0 or 1).
    pub fn burst_survives<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        from: NodeId,
        to: NodeId,
        at: u64,
    ) -> bool {
        let LossProcess::GilbertElliott {
            p_gb,
            p_bg,
            loss_good,
            loss_bad,
        } = self.process
        else {
            return true;
        };
        let link = &mut self.ge[from * self.nodes + to];
        let pi_b = p_gb / (p_gb + p_bg);
        let p_bad = if link.at == u64::MAX {
            pi_b
        } else {
            let m = at.saturating_sub(link.at).min(i32::MAX as u64) as i32;
            let lm = (1.0 - p_gb - p_bg).powi(m);
            if link.bad {
                pi_b + (1.0 - pi_b) * lm
            } else {
                pi_b * (1.0 - lm)
            }
        };
        if link.at != at {
            link.bad = unit_f64(rng) < p_bad;
            link.at = at;
        }
        let loss = if link.bad { loss_bad } else { loss_good };
        if loss <= 0.0 {
            true
        } else if loss >= 1.0 {
            false
        } else {
            unit_f64(rng) >= loss
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocknet_core::rng::{Purpose, keyed_rng};

    fn ge_loss_rate(step: u64, slots: u64, p: LossProcess) -> (f64, f64) {
        let mut l = LinkLoss::new(p, vec![], 2);
        let mut rng = keyed_rng(9, Purpose::LinkLoss, 0, 0);
        let mut lost = 0u64;
        let n = slots / step;
        for k in 0..n {
            if !l.burst_survives(&mut rng, 0, 1, k * step) {
                lost += 1;
            }
        }
        (lost as f64 / n as f64, n as f64)
    }

    /// Standard deviation of the mean of n loss indicators sampled every
    /// `step` slots from the chain: Var = [q(1−q) + 2Δ²π_bπ_g·ρ/(1−ρ)]/n,
    /// ρ = λ^step (lag-k covariance of the indicators is Δ²π_bπ_g·λ^{k}).
    fn ge_sigma(p: LossProcess, step: u64, n: f64) -> f64 {
        let LossProcess::GilbertElliott {
            p_gb,
            p_bg,
            loss_good,
            loss_bad,
        } = p
        else {
            unreachable!()
        };
        let q = p.stationary_loss();
        let pi_b = p_gb / (p_gb + p_bg);
        let rho = (1.0 - p_gb - p_bg).powi(step as i32);
        let d = loss_bad - loss_good;
        ((q * (1.0 - q) + 2.0 * d * d * pi_b * (1.0 - pi_b) * rho / (1.0 - rho)) / n).sqrt()
    }

    #[test]
    fn gilbert_elliott_long_run_loss_is_stationary_value() {
        let p = LossProcess::GilbertElliott {
            p_gb: 0.02,
            p_bg: 0.1,
            loss_good: 0.05,
            loss_bad: 0.8,
        };
        // π_b = 0.02 / 0.12 = 1/6; stationary loss = 0.8/6 + 0.05·5/6 = 0.175.
        let expected = p.stationary_loss();
        assert!((expected - 0.175).abs() < 1e-12);
        for step in [1, 7] {
            let (rate, n) = ge_loss_rate(step, 1_000_000, p);
            let sigma = ge_sigma(p, step, n);
            eprintln!(
                "GE step {step}: measured {rate:.5}, expected {expected:.5}, σ {sigma:.5}, z {:.2}",
                (rate - expected) / sigma
            );
            assert!((rate - expected).abs() < 4.0 * sigma);
        }
    }

    #[test]
    fn windows_and_validation() {
        let w = InterferenceWindow {
            from_round: 2,
            to_round: 3,
            from_slot: Some(10),
            to_slot: None,
            links: Some(vec![[1, 2]]),
            extra_loss: 0.5,
        };
        let l = LinkLoss::new(LossProcess::Bernoulli, vec![w], 3);
        assert!(l.needs_per_slot(2) && !l.needs_per_slot(4));
        assert_eq!(l.slot_factor(2, 10, 1, 2), 0.5);
        assert_eq!(l.slot_factor(2, 9, 1, 2), 1.0);
        assert_eq!(l.slot_factor(2, 10, 2, 1), 1.0);
        assert_eq!(l.round_factor(2, 1, 2), 1.0);
        let bad = LossProcess::GilbertElliott {
            p_gb: 0.1,
            p_bg: 1.5,
            loss_good: 0.0,
            loss_bad: 1.0,
        };
        assert_eq!(bad.invalid_field(), Some("p_bg"));
    }
}
