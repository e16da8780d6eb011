//! Adam / AdamW over caller-owned f32 buffers.
//!
//! See the [module documentation](super) for the update rule and the exact
//! f32 arithmetic order.

use super::OptimError;

/// Adam hyper-parameters (PyTorch names and defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate (`> 0`, finite). Default `1e-3`.
    pub lr: f32,
    /// Decay of the first moment, in `[0, 1)`. Default `0.9`.
    pub beta1: f32,
    /// Decay of the second moment, in `[0, 1)`. Default `0.999`.
    pub beta2: f32,
    /// Added to `√v̂` (`> 0`, finite). Default `1e-8`.
    pub eps: f32,
    /// Decoupled (AdamW) weight decay (`≥ 0`, finite). Default `0` (plain Adam).
    pub weight_decay: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

impl AdamConfig {
    /// Checks every field: `lr > 0` and finite, `beta1`, `beta2` in `[0, 1)`,
    /// `eps > 0` and finite, `weight_decay ≥ 0` and finite.
    ///
    /// The error names the first offending field (NaN is always rejected).
    pub fn validate(&self) -> Result<(), OptimError> {
        let bad = |field, value, requirement| {
            Err(OptimError::InvalidConfig {
                field,
                value,
                requirement,
            })
        };
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("lr", self.lr, "> 0 and finite");
        }
        if !(self.beta1 >= 0.0 && self.beta1 < 1.0) {
            return bad("beta1", self.beta1, "in [0, 1)");
        }
        if !(self.beta2 >= 0.0 && self.beta2 < 1.0) {
            return bad("beta2", self.beta2, "in [0, 1)");
        }
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            return bad("eps", self.eps, "> 0 and finite");
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad("weight_decay", self.weight_decay, ">= 0 and finite");
        }
        // The decay factor 1 − lr·wd must stay positive, or every step flips
        // the sign of the weights.
        if self.lr * self.weight_decay >= 1.0 {
            return bad(
                "weight_decay",
                self.weight_decay,
                "< 1 / learning rate (the decay factor 1 − lr·wd must be positive)",
            );
        }
        Ok(())
    }
}

/// Step-count-dependent bias corrections, computed once per step (not per
/// element).
///
/// Holds every per-step constant of the update (see the
/// [module documentation](super) for the formulas), so that the per-element
/// loop is `+ − · /` and one `sqrtf`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    t: u32,
    beta1: f32,
    beta2: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    step_size: f32,
    inv_sqrt_bc2: f32,
    eps: f32,
    decay: f32,
}

impl AdamStep {
    /// The constants of step `t` (`t = 1` for the first step; `t = 0` is
    /// treated as 1, which avoids dividing by a zero bias correction).
    ///
    /// `cfg` is not validated here: call [`AdamConfig::validate`] once when
    /// the configuration is loaded.
    pub fn new(cfg: &AdamConfig, t: u32) -> Self {
        let t = t.max(1);
        // Exact for t ≤ 2^24; beyond that the bias corrections are 1 anyway.
        let tf = t as f32;
        let bc1 = 1.0 - libm::powf(cfg.beta1, tf);
        let bc2 = 1.0 - libm::powf(cfg.beta2, tf);
        AdamStep {
            t,
            beta1: cfg.beta1,
            beta2: cfg.beta2,
            one_minus_beta1: 1.0 - cfg.beta1,
            one_minus_beta2: 1.0 - cfg.beta2,
            step_size: cfg.lr / bc1,
            inv_sqrt_bc2: 1.0 / libm::sqrtf(bc2),
            eps: cfg.eps,
            decay: 1.0 - cfg.lr * cfg.weight_decay,
        }
    }

    /// The step count these constants belong to (≥ 1).
    pub fn t(&self) -> u32 {
        self.t
    }

    /// `lr / (1 − β1^t)`.
    pub fn step_size(&self) -> f32 {
        self.step_size
    }

    /// `1 / √(1 − β2^t)`.
    pub fn inv_sqrt_bias_correction2(&self) -> f32 {
        self.inv_sqrt_bc2
    }

    /// The decoupled weight-decay factor `1 − lr·wd` (exactly 1 without decay).
    pub fn decay(&self) -> f32 {
        self.decay
    }

    /// The new moments from the old ones and the gradient:
    /// `m = (β1·m) + ((1−β1)·g)`, `v = (β2·v) + ((1−β2)·(g·g))`.
    #[inline(always)]
    pub(crate) fn moments(&self, m: f32, v: f32, g: f32) -> (f32, f32) {
        let m = self.beta1 * m + self.one_minus_beta1 * g;
        let v = self.beta2 * v + self.one_minus_beta2 * (g * g);
        (m, v)
    }

    /// The new parameter from the old one and the new moments:
    /// `p = (p·decay) − (step_size·(m / ((sqrtf(v)·inv_sqrt_bc2) + ε)))`.
    #[inline(always)]
    pub(crate) fn param(&self, p: f32, m: f32, v: f32) -> f32 {
        let denom = libm::sqrtf(v) * self.inv_sqrt_bc2 + self.eps;
        p * self.decay - self.step_size * (m / denom)
    }
}

/// Plain Adam over caller-owned slices (weights, gradients, m, v all the same
/// length).
///
/// `step` must be [`AdamStep::new`]`(cfg, t)` for the current step `t`
/// (`cfg` is passed for symmetry with [`qadam_update`](super::qadam_update);
/// all constants come from `step`). Start with `m` and `v` all zero.
///
/// Never panics: if the lengths differ, only the common prefix
/// (`min` of the four lengths) is updated. Use [`try_adam_update`] to get an
/// error instead.
pub fn adam_update(
    cfg: &AdamConfig,
    step: &AdamStep,
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
) {
    let _ = cfg;
    for (((p, &g), m), v) in params
        .iter_mut()
        .zip(grads)
        .zip(m.iter_mut())
        .zip(v.iter_mut())
    {
        let (m_new, v_new) = step.moments(*m, *v, g);
        *m = m_new;
        *v = v_new;
        *p = step.param(*p, m_new, v_new);
    }
}

/// [`adam_update`] that first checks that `grads`, `m` and `v` have the length
/// of `params`, and changes nothing if not.
pub fn try_adam_update(
    cfg: &AdamConfig,
    step: &AdamStep,
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
) -> Result<(), OptimError> {
    let n = params.len();
    check_len("grads", n, grads.len())?;
    check_len("m", n, m.len())?;
    check_len("v", n, v.len())?;
    adam_update(cfg, step, params, grads, m, v);
    Ok(())
}

pub(crate) fn check_len(
    buffer: &'static str,
    expected: usize,
    actual: usize,
) -> Result<(), OptimError> {
    if expected == actual {
        Ok(())
    } else {
        Err(OptimError::LengthMismatch {
            buffer,
            expected,
            actual,
        })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::string::ToString;
    use std::vec;
    use std::vec::Vec;

    /// Adam in f64 straight from the textbook formula, for one parameter.
    fn adam_f64(cfg: &AdamConfig, p: f64, m: f64, v: f64, g: f64, t: i32) -> (f64, f64, f64) {
        let (b1, b2) = (cfg.beta1 as f64, cfg.beta2 as f64);
        let m = b1 * m + (1.0 - b1) * g;
        let v = b2 * v + (1.0 - b2) * g * g;
        let m_hat = m / (1.0 - b1.powi(t));
        let v_hat = v / (1.0 - b2.powi(t));
        let lr = cfg.lr as f64;
        let p = p - lr * (m_hat / (v_hat.sqrt() + cfg.eps as f64) + cfg.weight_decay as f64 * p);
        (p, m, v)
    }

    #[test]
    fn quadratic_first_three_steps_match_hand_computation() {
        // f(p) = a/2·(p − c)², g = a·(p − c).
        let (a, c) = (2.0f32, 3.0f32);
        for cfg in [
            AdamConfig {
                lr: 0.1,
                ..AdamConfig::default()
            },
            AdamConfig {
                lr: 0.05,
                beta1: 0.5,
                beta2: 0.9,
                eps: 1e-3,
                weight_decay: 0.2,
            },
        ] {
            cfg.validate().unwrap();
            let (mut p, mut m, mut v) = ([0.0f32], [0.0f32], [0.0f32]);
            let (mut pe, mut me, mut ve) = (0.0f64, 0.0f64, 0.0f64);
            for t in 1..=3 {
                let g = a * (p[0] - c);
                let ge = 2.0 * (pe - 3.0);
                (pe, me, ve) = adam_f64(&cfg, pe, me, ve, ge, t);
                adam_update(
                    &cfg,
                    &AdamStep::new(&cfg, t as u32),
                    &mut p,
                    &[g],
                    &mut m,
                    &mut v,
                );
                let rel = |x: f32, e: f64| ((x as f64 - e) / e).abs();
                assert!(rel(p[0], pe) < 1e-5, "t {t}: p {} vs {pe}", p[0]);
                assert!(rel(m[0], me) < 1e-5, "t {t}: m {} vs {me}", m[0]);
                assert!(rel(v[0], ve) < 1e-5, "t {t}: v {} vs {ve}", v[0]);
            }
        }
        // The default config by hand: g1 = −6, m1 = −0.6, v1 = 0.036, m̂ = −6,
        // v̂ = 36, so p1 = 0 + 0.1·6/(6 + 1e-8) ≈ 0.1.
        let cfg = AdamConfig {
            lr: 0.1,
            ..AdamConfig::default()
        };
        let (mut p, mut m, mut v) = ([0.0f32], [0.0f32], [0.0f32]);
        adam_update(
            &cfg,
            &AdamStep::new(&cfg, 1),
            &mut p,
            &[-6.0],
            &mut m,
            &mut v,
        );
        assert!((p[0] - 0.1).abs() < 1e-6);
        assert!((m[0] + 0.6).abs() < 1e-6);
        assert!((v[0] - 0.036).abs() < 1e-6);
    }

    #[test]
    fn first_step_moves_every_param_by_lr_times_sign() {
        let cfg = AdamConfig::default();
        let g = [1e-3f32, -1e-3, 0.5, -0.5, 7.0, -123.0, 1e3, -1e6, 0.0];
        let mut p = [1.0f32; 9];
        let (mut m, mut v) = ([0.0f32; 9], [0.0f32; 9]);
        adam_update(&cfg, &AdamStep::new(&cfg, 1), &mut p, &g, &mut m, &mut v);
        for (pi, gi) in p.iter().zip(&g) {
            let expected = if *gi == 0.0 {
                1.0
            } else {
                1.0 - cfg.lr * gi.signum()
            };
            // |Δp| = lr·|g|/(|g| + ε) (to f32 rounding): within 1e-5·lr for |g| ≥ 1e-3.
            assert!(
                (pi - expected).abs() <= 1e-5 * cfg.lr + 1e-7,
                "g {gi}: p {pi}"
            );
        }
    }

    #[test]
    fn step_zero_is_step_one() {
        let cfg = AdamConfig::default();
        assert_eq!(AdamStep::new(&cfg, 0), AdamStep::new(&cfg, 1));
        assert_eq!(AdamStep::new(&cfg, 1).t(), 1);
        // Bias corrections vanish for large t.
        let late = AdamStep::new(&cfg, 1_000_000);
        assert_eq!(late.step_size(), cfg.lr);
        assert_eq!(late.inv_sqrt_bias_correction2(), 1.0);
        assert_eq!(late.decay(), 1.0);
    }

    fn xorshift(state: &mut u64) -> f32 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        ((*state >> 40) as f32) / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    #[test]
    fn converges_on_least_squares() {
        // min_x ‖A·x − b‖²/n with b = A·x*, A 40×6.
        let (rows, cols) = (40, 6);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let a: Vec<f32> = (0..rows * cols).map(|_| xorshift(&mut seed)).collect();
        let x_star: Vec<f32> = (0..cols).map(|j| j as f32 * 0.5 - 1.2).collect();
        let b: Vec<f32> = (0..rows)
            .map(|i| (0..cols).map(|j| a[i * cols + j] * x_star[j]).sum())
            .collect();
        let cfg = AdamConfig {
            lr: 0.01,
            ..AdamConfig::default()
        };
        let (mut x, mut m, mut v) = (vec![0.0f32; cols], vec![0.0f32; cols], vec![0.0f32; cols]);
        let mut g = vec![0.0f32; cols];
        let loss = |x: &[f32]| -> f64 {
            (0..rows)
                .map(|i| {
                    let r: f64 = (0..cols)
                        .map(|j| a[i * cols + j] as f64 * x[j] as f64)
                        .sum::<f64>()
                        - b[i] as f64;
                    r * r
                })
                .sum::<f64>()
                / rows as f64
        };
        let initial = loss(&x);
        for t in 1..=3000 {
            g.fill(0.0);
            for i in 0..rows {
                let r: f32 = (0..cols).map(|j| a[i * cols + j] * x[j]).sum::<f32>() - b[i];
                for j in 0..cols {
                    g[j] += 2.0 * r * a[i * cols + j] / rows as f32;
                }
            }
            adam_update(&cfg, &AdamStep::new(&cfg, t), &mut x, &g, &mut m, &mut v);
        }
        let last = loss(&x);
        let err = x
            .iter()
            .zip(&x_star)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        std::println!("least squares: loss {initial:.4} -> {last:.3e}, max |x − x*| {err:.3e}");
        assert!(last < 1e-5 * initial, "loss {initial} -> {last}");
        assert!(err < 5e-3, "max error {err}");
    }

    #[test]
    fn weight_decay_shrinks_params_with_zero_gradient() {
        let cfg = AdamConfig {
            lr: 0.01,
            weight_decay: 0.1,
            ..AdamConfig::default()
        };
        let mut p = [2.0f32, -3.0, 0.0];
        let (mut m, mut v) = ([0.0f32; 3], [0.0f32; 3]);
        for t in 1..=10 {
            adam_update(
                &cfg,
                &AdamStep::new(&cfg, t),
                &mut p,
                &[0.0; 3],
                &mut m,
                &mut v,
            );
        }
        // Each step multiplies by 1 − lr·wd = 0.999 exactly as in f64, to rounding.
        let f = 0.999f64.powi(10);
        assert!(((p[0] as f64) - 2.0 * f).abs() < 1e-6);
        assert!(((p[1] as f64) + 3.0 * f).abs() < 1e-6);
        assert!(p[0] < 2.0 && p[1] > -3.0);
        assert_eq!(p[2], 0.0);
        assert_eq!((m, v), ([0.0; 3], [0.0; 3]));
        // Without decay a zero gradient leaves the parameters bit-identical.
        let cfg = AdamConfig::default();
        let mut q = [2.0f32, -3.0];
        adam_update(
            &cfg,
            &AdamStep::new(&cfg, 1),
            &mut q,
            &[0.0; 2],
            &mut [0.0; 2],
            &mut [0.0; 2],
        );
        assert_eq!(q, [2.0, -3.0]);
    }

    #[test]
    fn validate_names_the_field() {
        assert_eq!(AdamConfig::default().validate(), Ok(()));
        let d = AdamConfig::default();
        let cases = [
            (AdamConfig { lr: 0.0, ..d }, "lr"),
            (AdamConfig { lr: -1e-3, ..d }, "lr"),
            (
                AdamConfig {
                    lr: f32::INFINITY,
                    ..d
                },
                "lr",
            ),
            (AdamConfig { lr: f32::NAN, ..d }, "lr"),
            (AdamConfig { beta1: 1.0, ..d }, "beta1"),
            (AdamConfig { beta1: -0.1, ..d }, "beta1"),
            (AdamConfig { beta2: 1.0, ..d }, "beta2"),
            (
                AdamConfig {
                    beta2: f32::NAN,
                    ..d
                },
                "beta2",
            ),
            (AdamConfig { eps: 0.0, ..d }, "eps"),
            (
                AdamConfig {
                    eps: f32::INFINITY,
                    ..d
                },
                "eps",
            ),
            (
                AdamConfig {
                    weight_decay: -0.5,
                    ..d
                },
                "weight_decay",
            ),
            (
                AdamConfig {
                    weight_decay: f32::NAN,
                    ..d
                },
                "weight_decay",
            ),
        ];
        for (cfg, field) in cases {
            let err = cfg.validate().unwrap_err();
            assert!(matches!(err, OptimError::InvalidConfig { field: f, .. } if f == field));
            let msg = err.to_string();
            assert!(msg.contains(&std::format!("`{field}`")), "{msg}");
        }
        assert!(
            AdamConfig {
                beta1: 0.0,
                beta2: 0.0,
                ..d
            }
            .validate()
            .is_ok()
        );
    }

    #[test]
    fn mismatched_lengths() {
        let cfg = AdamConfig::default();
        let step = AdamStep::new(&cfg, 1);
        let mut p = [1.0f32; 4];
        let (mut m, mut v) = ([0.0f32; 4], [0.0f32; 3]);
        let e = try_adam_update(&cfg, &step, &mut p, &[1.0; 4], &mut m, &mut v).unwrap_err();
        assert_eq!(
            e,
            OptimError::LengthMismatch {
                buffer: "v",
                expected: 4,
                actual: 3
            }
        );
        assert!(e.to_string().contains("`v`"));
        assert_eq!(p, [1.0; 4]);
        let e = try_adam_update(&cfg, &step, &mut p, &[1.0; 5], &mut m, &mut [0.0; 4]).unwrap_err();
        assert!(matches!(
            e,
            OptimError::LengthMismatch {
                buffer: "grads",
                ..
            }
        ));
        // adam_update never panics: it updates the common prefix.
        adam_update(&cfg, &step, &mut p, &[1.0; 4], &mut m, &mut v);
        assert!(p[..3].iter().all(|&x| x < 1.0));
        assert_eq!(p[3], 1.0);
        try_adam_update(&cfg, &step, &mut p, &[1.0; 4], &mut m, &mut [0.0; 4]).unwrap();
    }
}
