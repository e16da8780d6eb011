//! Loss processes layered on the PRR (docs/linkmodel.md#loss).
//!
//! A frame on link `from → to` in a slot gets through with probability
//! `PRR_eff · Π(1 − extra_loss of active interference windows) · (1 − loss(state))`
//! where `loss(state)` is 0 for [`LossProcess::Bernoulli`] and the
//! Gilbert–Elliott state's loss for [`LossProcess::GilbertElliott`].
//!
//! The Gilbert–Elliott chain of each directed link steps once per slot
//! (slots are numbered globally: `round · slots_per_round + slot`), and its
//! state in every slot is a pure function of `(seed, round, slot, from, to)`:
//! the step into global slot τ uses the keyed draw `u(τ)` of
//! [`crate::draw::Tag::Burst`] for that link and slot, so a link's bursts do
//! not depend on when — or whether — the flood looked at it before, nor on
//! any other link. Global slot 0 starts in the stationary distribution
//! (bad iff `u(0) < π_b`), so every slot is stationary. The step reads `u` as
//! a *renewal*: with `λ = 1 − p_gb − p_bg`,
//!
//! * λ ≥ 0: `u < p_gb` → bad, `p_gb ≤ u < p_gb + p_bg` → good, otherwise keep
//!   the state — from good that is bad with probability p_gb, from bad good
//!   with probability p_bg, i.e. exactly the chain;
//! * λ < 0 (an alternating chain): `u < 1 − p_bg` → bad,
//!   `1 − p_bg ≤ u < 2 − p_gb − p_bg` → good, otherwise flip the state —
//!   again P(bad | good) = p_gb, P(bad | bad) = 1 − p_bg.
//!
//! So the state at τ is set by the latest renewal at or before τ (flipped once
//! per later step when λ < 0), found by scanning back; a per-link cache of
//! the last state computed stops the scan early. The cache only saves work:
//! the state is the same whatever order the slots are asked in.

use serde::Deserialize;

use crate::draw::{RoundKey, Tag};
use crate::topology::NodeId;

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

/// The Gilbert–Elliott chain's constants, read off its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
struct GeChain {
    /// P(renewal) per step: `u < renew` sets the state afresh.
    renew: f64,
    /// A renewal is bad iff `u < bad_below`.
    bad_below: f64,
    /// λ < 0: a step without renewal flips the state (else keeps it).
    flips: bool,
    /// The stationary P(bad), for global slot 0.
    pi_b: f64,
    loss_good: f64,
    loss_bad: f64,
}

impl GeChain {
    fn of(process: LossProcess) -> Option<Self> {
        let LossProcess::GilbertElliott {
            p_gb,
            p_bg,
            loss_good,
            loss_bad,
        } = process
        else {
            return None;
        };
        let flips = p_gb + p_bg > 1.0;
        Some(Self {
            renew: if flips {
                2.0 - p_gb - p_bg
            } else {
                p_gb + p_bg
            },
            bad_below: if flips { 1.0 - p_bg } else { p_gb },
            flips,
            pi_b: p_gb / (p_gb + p_bg),
            loss_good,
            loss_bad,
        })
    }

    /// The state after `steps` steps without a renewal from `bad`.
    fn carry(&self, bad: bool, steps: u64) -> bool {
        bad ^ (self.flips && steps % 2 == 1)
    }
}

/// The last Gilbert–Elliott state computed for a link.
#[derive(Debug, Clone, Copy, PartialEq)]
struct GeCache {
    /// Global slot of `bad`, or `u64::MAX` if none.
    at: u64,
    bad: bool,
}

const NO_CACHE: GeCache = GeCache {
    at: u64::MAX,
    bad: false,
};

/// The per-link loss state that persists across rounds.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkLoss {
    process: LossProcess,
    chain: Option<GeChain>,
    windows: Vec<InterferenceWindow>,
    nodes: usize,
    /// `(seed, slots_per_round)` the cache was filled under.
    cache_key: (u64, u32),
    cache: Vec<GeCache>,
}

impl LinkLoss {
    /// Fresh state for `nodes` nodes.
    pub fn new(process: LossProcess, windows: Vec<InterferenceWindow>, nodes: usize) -> Self {
        let chain = GeChain::of(process);
        Self {
            process,
            chain,
            windows,
            nodes,
            cache_key: (0, 0),
            cache: if chain.is_some() {
                vec![NO_CACHE; nodes * nodes]
            } else {
                Vec::new()
            },
        }
    }

    /// The process.
    pub fn process(&self) -> &LossProcess {
        &self.process
    }

    /// Whether some per-slot work is needed beyond the PRR draw (a burst
    /// process, or an interference window limited to some slots, in `round`).
    pub fn needs_per_slot(&self, round: u64) -> bool {
        self.chain.is_some()
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

    /// Success factor of the burst process for a frame on `from → to` in
    /// global slot `at` (rounds of `slots_per_round` slots, draws keyed by
    /// `seed`): `1 − loss(state)`, always 1 for Bernoulli. A pure function
    /// of its arguments; `&mut` only for the cache.
    pub fn burst_factor(
        &mut self,
        seed: u64,
        slots_per_round: u32,
        from: NodeId,
        to: NodeId,
        at: u64,
    ) -> f64 {
        if self.bad_at(seed, slots_per_round, from, to, at) {
            self.chain.map_or(1.0, |c| 1.0 - c.loss_bad)
        } else {
            self.chain.map_or(1.0, |c| 1.0 - c.loss_good)
        }
    }

    /// Whether link `from → to` is in the bad state in global slot `at`
    /// (never, for Bernoulli).
    pub fn bad_at(
        &mut self,
        seed: u64,
        slots_per_round: u32,
        from: NodeId,
        to: NodeId,
        at: u64,
    ) -> bool {
        let Some(chain) = self.chain else {
            return false;
        };
        if self.cache_key != (seed, slots_per_round) {
            self.cache_key = (seed, slots_per_round);
            self.cache.fill(NO_CACHE);
        }
        let k = u64::from(slots_per_round.max(1));
        let draw = |tau: u64| {
            let round = tau / k;
            RoundKey::new(seed, round)
                .slot((tau % k) as u32)
                .link(Tag::Burst, from, to)
        };
        let slot = &mut self.cache[from * self.nodes + to];
        let known = (slot.at != u64::MAX && slot.at <= at).then_some(*slot);
        let bad = match known {
            Some(c) if c.at == at => c.bad,
            _ => {
                // Scan back from `at` to the latest renewal, or to the
                // cached slot (no renewal since: carry its state), or to
                // global slot 0 (the stationary start).
                let mut tau = at;
                loop {
                    if let Some(c) = known
                        && tau == c.at
                    {
                        break chain.carry(c.bad, at - tau);
                    }
                    if tau == 0 {
                        break chain.carry(draw(0) < chain.pi_b, at);
                    }
                    if chain.renew <= 0.0 {
                        // p_gb = p_bg = 1: a pure alternation, no renewals
                        // to look for.
                        tau = known.map_or(0, |c| c.at);
                        continue;
                    }
                    let u = draw(tau);
                    if u < chain.renew {
                        break chain.carry(u < chain.bad_below, at - tau);
                    }
                    tau -= 1;
                }
            }
        };
        *slot = GeCache { at, bad };
        bad
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::draw::link_draw;

    const K: u32 = 150;

    fn ge(p_gb: f64, p_bg: f64, loss_good: f64, loss_bad: f64) -> LossProcess {
        LossProcess::GilbertElliott {
            p_gb,
            p_bg,
            loss_good,
            loss_bad,
        }
    }

    /// Loss rate of link 0 → 1 sampled every `step` global slots: a frame is
    /// lost iff its keyed link draw is ≥ the burst factor (as in the flood).
    fn ge_loss_rate(step: u64, slots: u64, p: LossProcess) -> (f64, f64) {
        let mut l = LinkLoss::new(p, vec![], 2);
        let mut lost = 0u64;
        let n = slots / step;
        for i in 0..n {
            let at = i * step;
            let u = link_draw(
                9,
                at / u64::from(K),
                (at % u64::from(K)) as u32,
                Tag::Link,
                0,
                1,
            );
            if u >= l.burst_factor(9, K, 0, 1, at) {
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
        let p = ge(0.02, 0.1, 0.05, 0.8);
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
            assert!((rate - expected).abs() < 4.5 * sigma);
        }
    }

    /// The keyed renewal steps are the chain: from good the next slot is bad
    /// with probability p_gb, from bad good with p_bg (each step from a state
    /// is an independent Bernoulli trial, so the binomial error applies) —
    /// for a persistent chain (λ > 0) and an alternating one (λ < 0).
    #[test]
    fn keyed_steps_have_the_chains_transition_probabilities() {
        for (p_gb, p_bg) in [(0.02, 0.1), (0.9, 0.7)] {
            let mut l = LinkLoss::new(ge(p_gb, p_bg, 0.0, 1.0), vec![], 3);
            let mut prev = l.bad_at(4, K, 2, 1, 0);
            let (mut from_good, mut to_bad, mut from_bad, mut to_good) = (0u64, 0u64, 0u64, 0u64);
            for at in 1..600_000 {
                let bad = l.bad_at(4, K, 2, 1, at);
                if prev {
                    from_bad += 1;
                    to_good += u64::from(!bad);
                } else {
                    from_good += 1;
                    to_bad += u64::from(bad);
                }
                prev = bad;
            }
            for (what, hits, trials, p) in [
                ("p_gb", to_bad, from_good, p_gb),
                ("p_bg", to_good, from_bad, p_bg),
            ] {
                let rate = hits as f64 / trials as f64;
                let sigma = (p * (1.0 - p) / trials as f64).sqrt();
                eprintln!(
                    "GE ({p_gb}, {p_bg}) {what}: measured {rate:.5} over {trials} steps, \
                     expected {p}, σ {sigma:.5}"
                );
                assert!((rate - p).abs() < 4.5 * sigma);
            }
        }
    }

    /// A link's state in a slot does not depend on which slots (of it or of
    /// other links) were asked before: dense, sparse, backward and
    /// interleaved queries agree with a fresh model asked only that slot.
    #[test]
    fn burst_state_is_a_pure_function_of_the_slot() {
        for p in [
            ge(0.01, 0.05, 0.0, 1.0),
            ge(0.8, 0.9, 0.0, 1.0),
            ge(1.0, 1.0, 0.0, 1.0),
        ] {
            let mut dense = LinkLoss::new(p, vec![], 3);
            let all: Vec<bool> = (0..5_000).map(|at| dense.bad_at(3, K, 0, 1, at)).collect();
            let mut sparse = LinkLoss::new(p, vec![], 3);
            for at in (0..5_000).step_by(37).chain((0..5_000).rev().step_by(101)) {
                // Another link in between must not disturb link 0 → 1.
                sparse.bad_at(3, K, 1, 0, at / 2);
                assert_eq!(
                    sparse.bad_at(3, K, 0, 1, at),
                    all[at as usize],
                    "{p:?} at {at}"
                );
            }
            for at in [4_999, 1_234, 0] {
                let mut fresh = LinkLoss::new(p, vec![], 3);
                assert_eq!(
                    fresh.bad_at(3, K, 0, 1, at),
                    all[at as usize],
                    "{p:?} at {at}"
                );
            }
            // Other seeds are other realisations (the alternating chain has
            // only two, so try several).
            let differs = (4..20).any(|seed| {
                let mut other = LinkLoss::new(p, vec![], 3);
                (0..5_000).any(|at| other.bad_at(seed, K, 0, 1, at) != all[at as usize])
            });
            assert!(differs, "{p:?}");
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
        let mut l = LinkLoss::new(LossProcess::Bernoulli, vec![w], 3);
        assert!(l.needs_per_slot(2) && !l.needs_per_slot(4));
        assert_eq!(l.slot_factor(2, 10, 1, 2), 0.5);
        assert_eq!(l.slot_factor(2, 9, 1, 2), 1.0);
        assert_eq!(l.slot_factor(2, 10, 2, 1), 1.0);
        assert_eq!(l.round_factor(2, 1, 2), 1.0);
        assert_eq!(l.burst_factor(1, K, 1, 2, 310), 1.0);
        let bad = ge(0.1, 1.5, 0.0, 1.0);
        assert_eq!(bad.invalid_field(), Some("p_bg"));
    }
}
