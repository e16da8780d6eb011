//! QAdam: Adam with 8-bit block-wise dynamic-tree quantised moments.
//!
//! See [`qadam_update`](super::qadam_update) for the details.

use core::ops::Range;

use super::OptimError;
use super::adam::{AdamConfig, AdamStep, check_len};
use super::dynamic_tree::DynamicTreeCode;

const M_CODE: DynamicTreeCode = DynamicTreeCode::SIGNED;
const V_CODE: DynamicTreeCode = DynamicTreeCode::UNSIGNED;

/// QAdam: the same update, with m and v stored as u8 codes + one f32 absmax
/// scale per block and moment.
///
/// `blocks` yields the index ranges of the blocks over `params` (contiguous,
/// disjoint, in order, covering `params`); `m_scales`/`v_scales` have one
/// entry per block. Empty blocks are allowed (their scales become 0).
/// Start from [`qadam_init`] (all moments zero).
///
/// # Algorithm
///
/// Per block (a contiguous range of parameters with one f32 scale per moment):
///
/// 1. decode: `m = SIGNED[m_code]·m_scale`, `v = UNSIGNED[v_code]·v_scale`;
/// 2. apply the Adam moment update with the gradient (exactly the f32
///    arithmetic of [`adam_update`](super::adam_update));
/// 3. update the parameter from the full-precision new moments (as
///    bitsandbytes' block-wise 8-bit kernels do);
/// 4. re-encode: the new scales are the block's `max |m|` and `max v` over the
///    updated values; each value is normalised by its scale and stored as the
///    nearest code ([`DynamicTreeCode::encode`]) — with one exception below.
///
/// **The one deviation from nearest-code rounding:** a positive `v` whose
/// nearest code is 0 (below `1.625e-7` of its block's absmax, i.e. a gradient
/// history ~2500× smaller than the block's largest) is stored as code 1, the
/// smallest positive value (`3.25e-7`), never as 0. Otherwise such an
/// element's `m`, still stored as non-zero (the signed map reaches down to
/// `5.5e-7`), would next be divided by `√0 + ε` alone: a step of hundreds of
/// learning rates. Rounding `v` up instead only shrinks that element's step.
/// With MiniRocket features (PPVs in [0, 1], some non-zero in a single sample
/// of a batch) gradients within a block easily span that range.
///
/// The block is traversed twice so that no f32 copy of its moments is needed:
/// pass 1 computes the new moments (discarding them) to find the new absmax;
/// pass 2 recomputes them — bit-identically, from the same codes, scales and
/// gradients — updates the parameters and writes the codes.
///
/// Normalisation is `x·(1/absmax)`, with `1/absmax` computed once per block
/// (or `x/absmax` when `1/absmax` overflows for a subnormal absmax). A block
/// whose new absmax is 0 gets scale 0 and all zero codes (no NaN). A scale is
/// capped at `f32::MAX`, so even an overflowing `g²` cannot produce `inf·0`
/// when decoding.
///
/// # Errors
///
/// Checked before anything is changed: `grads`, `m_codes`, `v_codes` must have
/// the length of `params` and `v_scales` that of `m_scales`
/// ([`OptimError::LengthMismatch`]); every gradient must be finite
/// ([`OptimError::NonFiniteGradient`]).
///
/// Block-layout errors ([`OptimError::BlockNotContiguous`],
/// [`OptimError::BlockOutOfBounds`], [`OptimError::TooManyBlocks`]) are found
/// as the blocks are visited: the blocks before the offending one have then
/// already been updated (each block is updated all-or-nothing).
/// [`OptimError::BlocksIncomplete`] (the blocks stop short of the end, or there
/// are fewer blocks than scales) is reported after all blocks were updated.
/// Validate a layout once, e.g. with a zero-gradient dry run on copies, or use
/// [`uniform_blocks`], which is always valid with [`num_blocks`] scales.
#[allow(clippy::too_many_arguments)]
pub fn qadam_update(
    cfg: &AdamConfig,
    step: &AdamStep,
    params: &mut [f32],
    grads: &[f32],
    m_codes: &mut [u8],
    v_codes: &mut [u8],
    m_scales: &mut [f32],
    v_scales: &mut [f32],
    blocks: impl Iterator<Item = Range<usize>>,
) -> Result<(), OptimError> {
    let _ = cfg;
    let n = params.len();
    check_len("grads", n, grads.len())?;
    check_len("m_codes", n, m_codes.len())?;
    check_len("v_codes", n, v_codes.len())?;
    check_len("v_scales", m_scales.len(), v_scales.len())?;
    if let Some(index) = grads.iter().position(|g| !g.is_finite()) {
        return Err(OptimError::NonFiniteGradient { index });
    }

    let n_scales = m_scales.len();
    let mut covered = 0usize;
    let mut n_blocks = 0usize;
    for (block, r) in blocks.enumerate() {
        if r.start != covered || r.end < r.start {
            return Err(OptimError::BlockNotContiguous {
                block,
                expected_start: covered,
                start: r.start,
                end: r.end,
            });
        }
        if r.end > n {
            return Err(OptimError::BlockOutOfBounds {
                block,
                end: r.end,
                len: n,
            });
        }
        let (Some(m_scale), Some(v_scale)) = (m_scales.get_mut(block), v_scales.get_mut(block))
        else {
            return Err(OptimError::TooManyBlocks { scales: n_scales });
        };
        // In bounds: start <= end <= n, and all four slices have length n.
        let (Some(p), Some(g), Some(mc), Some(vc)) = (
            params.get_mut(r.clone()),
            grads.get(r.clone()),
            m_codes.get_mut(r.clone()),
            v_codes.get_mut(r.clone()),
        ) else {
            return Err(OptimError::BlockOutOfBounds {
                block,
                end: r.end,
                len: n,
            });
        };
        update_block(step, p, g, mc, vc, m_scale, v_scale);
        covered = r.end;
        n_blocks = block + 1;
    }
    if covered != n || n_blocks != n_scales {
        return Err(OptimError::BlocksIncomplete {
            blocks: n_blocks,
            covered,
            len: n,
            scales: n_scales,
        });
    }
    Ok(())
}

/// Divides by a block's absmax: `x·(1/absmax)`, or `x/absmax` if the
/// reciprocal overflows; 0 for a zero block.
#[derive(Clone, Copy)]
struct Normaliser {
    absmax: f32,
    inv: f32,
    divide: bool,
}

impl Normaliser {
    fn new(absmax: f32) -> Self {
        if absmax == 0.0 {
            return Normaliser {
                absmax,
                inv: 0.0,
                divide: false,
            };
        }
        let inv = 1.0 / absmax;
        Normaliser {
            absmax,
            inv,
            divide: !inv.is_finite(),
        }
    }

    #[inline(always)]
    fn apply(&self, x: f32) -> f32 {
        if self.divide {
            x / self.absmax
        } else {
            x * self.inv
        }
    }
}

/// The second moment's code: the nearest code, except that a positive `v`
/// never gets the zero code (it gets code 1, the smallest positive value).
#[inline(always)]
fn encode_v(normalised: f32, v: f32) -> u8 {
    let c = V_CODE.encode(normalised);
    if c == 0 && v > 0.0 { 1 } else { c }
}

/// Decodes, updates and re-encodes one block (all slices of equal length).
fn update_block(
    step: &AdamStep,
    params: &mut [f32],
    grads: &[f32],
    m_codes: &mut [u8],
    v_codes: &mut [u8],
    m_scale: &mut f32,
    v_scale: &mut f32,
) {
    let (ms, vs) = (*m_scale, *v_scale);
    let moments = |mc: u8, vc: u8, g: f32| {
        let m = M_CODE.decode(mc) * ms;
        let v = V_CODE.decode(vc) * vs;
        step.moments(m, v, g)
    };

    // Pass 1: the new absmax of each moment.
    let mut m_max = 0.0f32;
    let mut v_max = 0.0f32;
    for ((&mc, &vc), &g) in m_codes.iter().zip(v_codes.iter()).zip(grads) {
        let (m, v) = moments(mc, vc, g);
        let am = libm::fabsf(m);
        if am > m_max {
            m_max = am;
        }
        if v > v_max {
            v_max = v;
        }
    }
    // inf (overflow) becomes f32::MAX, so that decoding never computes 0·inf.
    let m_max = if m_max > f32::MAX { f32::MAX } else { m_max };
    let v_max = if v_max > f32::MAX { f32::MAX } else { v_max };
    let m_norm = Normaliser::new(m_max);
    let v_norm = Normaliser::new(v_max);

    // Pass 2: the same moments again, the parameter update, the new codes.
    for (((p, &g), mc), vc) in params
        .iter_mut()
        .zip(grads)
        .zip(m_codes.iter_mut())
        .zip(v_codes.iter_mut())
    {
        let (m, v) = moments(*mc, *vc, g);
        *p = step.param(*p, m, v);
        *mc = M_CODE.encode(m_norm.apply(m));
        *vc = encode_v(v_norm.apply(v), v);
    }
    *m_scale = m_max;
    *v_scale = v_max;
}

/// Resets QAdam state to all-zero moments: zero codes and zero scales.
pub fn qadam_init(
    m_codes: &mut [u8],
    v_codes: &mut [u8],
    m_scales: &mut [f32],
    v_scales: &mut [f32],
) {
    m_codes.fill(M_CODE.zero_code());
    v_codes.fill(V_CODE.zero_code());
    m_scales.fill(0.0);
    v_scales.fill(0.0);
}

/// The number of blocks [`uniform_blocks`]`(n_params, block_size)` yields:
/// `ceil(n_params / block_size)` (`block_size` 0 counts as 1).
pub const fn num_blocks(n_params: usize, block_size: usize) -> usize {
    let bs = if block_size == 0 { 1 } else { block_size };
    n_params.div_ceil(bs)
}

/// Blocks of `block_size` parameters (the last one possibly shorter) over
/// `n_params` parameters; `block_size` 0 counts as 1.
pub fn uniform_blocks(n_params: usize, block_size: usize) -> UniformBlocks {
    UniformBlocks {
        next: 0,
        len: n_params,
        block_size: block_size.max(1),
    }
}

/// The iterator of [`uniform_blocks`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UniformBlocks {
    next: usize,
    len: usize,
    block_size: usize,
}

impl Iterator for UniformBlocks {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        if self.next >= self.len {
            return None;
        }
        let start = self.next;
        let end = start.saturating_add(self.block_size).min(self.len);
        self.next = end;
        Some(start..end)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.len - self.next).div_ceil(self.block_size);
        (n, Some(n))
    }
}

impl ExactSizeIterator for UniformBlocks {}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::optim::adam_update;
    use std::string::ToString;
    use std::vec;
    use std::vec::Vec;

    fn xorshift(state: &mut u64) -> f32 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        ((*state >> 40) as f32) / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    struct State {
        p: Vec<f32>,
        mc: Vec<u8>,
        vc: Vec<u8>,
        ms: Vec<f32>,
        vs: Vec<f32>,
    }

    fn state(n: usize, blocks: usize) -> State {
        let mut s = State {
            p: vec![0.5; n],
            mc: vec![0; n],
            vc: vec![0; n],
            ms: vec![0.0; blocks],
            vs: vec![0.0; blocks],
        };
        qadam_init(&mut s.mc, &mut s.vc, &mut s.ms, &mut s.vs);
        s
    }

    fn run(
        s: &mut State,
        cfg: &AdamConfig,
        t: u32,
        g: &[f32],
        blocks: impl Iterator<Item = Range<usize>>,
    ) -> Result<(), OptimError> {
        qadam_update(
            cfg,
            &AdamStep::new(cfg, t),
            &mut s.p,
            g,
            &mut s.mc,
            &mut s.vc,
            &mut s.ms,
            &mut s.vs,
            blocks,
        )
    }

    #[test]
    fn uniform_blocks_cover() {
        let b: Vec<_> = uniform_blocks(10, 4).collect();
        assert_eq!(b, vec![0..4, 4..8, 8..10]);
        assert_eq!(num_blocks(10, 4), 3);
        assert_eq!(uniform_blocks(10, 4).len(), 3);
        assert_eq!(uniform_blocks(0, 4).count(), 0);
        assert_eq!(num_blocks(0, 4), 0);
        assert_eq!(uniform_blocks(3, 0).count(), 3);
        assert_eq!(num_blocks(3, 0), 3);
    }

    #[test]
    fn first_step_matches_adam_closely() {
        // After one step from zero state QAdam's parameter update uses the
        // exact new moments, so it equals Adam's bit for bit.
        let cfg = AdamConfig::default();
        let n = 300;
        let mut seed = 7u64;
        let g: Vec<f32> = (0..n).map(|_| xorshift(&mut seed)).collect();
        let mut q = state(n, num_blocks(n, 64));
        run(&mut q, &cfg, 1, &g, uniform_blocks(n, 64)).unwrap();
        let mut p = vec![0.5; n];
        let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
        adam_update(&cfg, &AdamStep::new(&cfg, 1), &mut p, &g, &mut m, &mut v);
        assert_eq!(p, q.p);
        // The stored moments decode to the true ones within the codebook's
        // resolution relative to the block's absmax.
        for (b, r) in uniform_blocks(n, 64).enumerate() {
            let m_abs = m[r.clone()].iter().fold(0.0f32, |a, x| a.max(x.abs()));
            let v_abs = v[r.clone()].iter().fold(0.0f32, |a, x| a.max(*x));
            assert_eq!(q.ms[b], m_abs);
            assert_eq!(q.vs[b], v_abs);
            for i in r {
                let md = DynamicTreeCode::SIGNED.decode(q.mc[i]) * q.ms[b];
                let vd = DynamicTreeCode::UNSIGNED.decode(q.vc[i]) * q.vs[b];
                // Half the largest code gap (signed 0.0140625, unsigned 0.00703125).
                assert!(
                    (md - m[i]).abs() <= 0.0071 * m_abs,
                    "m {i}: {md} vs {}",
                    m[i]
                );
                assert!(
                    (vd - v[i]).abs() <= 0.0036 * v_abs,
                    "v {i}: {vd} vs {}",
                    v[i]
                );
            }
        }
    }

    #[test]
    fn zero_gradients_and_zero_blocks_never_give_nan() {
        let cfg = AdamConfig {
            weight_decay: 0.01,
            ..AdamConfig::default()
        };
        let n = 50;
        let mut s = state(n, 3);
        let layout = || [0..20, 20..20, 20..50].into_iter();
        // Zero gradients from zero state: scales stay 0, params only decay.
        for t in 1..=5 {
            run(&mut s, &cfg, t, &vec![0.0; n], layout()).unwrap();
        }
        assert!(s.p.iter().all(|p| p.is_finite() && *p < 0.5 && *p > 0.49));
        assert_eq!(s.ms, vec![0.0; 3]);
        assert_eq!(s.vs, vec![0.0; 3]);
        assert!(
            s.mc.iter()
                .all(|&c| c == DynamicTreeCode::SIGNED.zero_code())
        );
        assert!(
            s.vc.iter()
                .all(|&c| c == DynamicTreeCode::UNSIGNED.zero_code())
        );
        // Gradients in the first block only: the others stay zero blocks.
        let mut g = vec![0.0; n];
        g[3] = 1e-3;
        g[7] = -2.0;
        for t in 6..=20 {
            run(&mut s, &cfg, t, &g, layout()).unwrap();
            assert!(s.p.iter().all(|p| p.is_finite()));
            assert!(s.ms.iter().chain(&s.vs).all(|x| x.is_finite()));
        }
        assert!(s.ms[0] > 0.0 && s.ms[1] == 0.0 && s.ms[2] == 0.0);
        // Then zero gradients again: moments decay, nothing becomes NaN.
        for t in 21..=200 {
            run(&mut s, &cfg, t, &vec![0.0; n], layout()).unwrap();
        }
        assert!(s.p.iter().chain(&s.ms).chain(&s.vs).all(|x| x.is_finite()));
        // Subnormal and huge gradients.
        g[3] = 1e-40;
        g[7] = 3e38;
        g[30] = -3e38;
        for t in 201..=205 {
            run(&mut s, &cfg, t, &g, layout()).unwrap();
        }
        assert!(s.p.iter().chain(&s.ms).chain(&s.vs).all(|x| !x.is_nan()));
    }

    #[test]
    fn tiny_second_moment_never_divides_m_by_eps_alone() {
        // One block whose gradients span 1e4 (v spans 1e8, beyond the smallest
        // unsigned code 3.25e-7): nearest-code rounding would store v = 0 for
        // the small element while its m is stored as non-zero, and the step
        // would be step_size·m/ε, hundreds of learning rates.
        let cfg = AdamConfig::default();
        let n = 4;
        let g = [1.0f32, -1e-4, 0.5, 1e-4];
        let mut s = state(n, 1);
        let (mut pa, mut ma, mut va) = (vec![0.5f32; n], vec![0.0; n], vec![0.0; n]);
        for t in 1..=50 {
            run(&mut s, &cfg, t, &g, uniform_blocks(n, n)).unwrap();
            adam_update(&cfg, &AdamStep::new(&cfg, t), &mut pa, &g, &mut ma, &mut va);
            for (i, (q, a)) in s.p.iter().zip(&pa).enumerate() {
                // Adam moves every parameter by ≈ lr per step; QAdam must stay
                // within a small multiple of that.
                assert!(
                    (q - 0.5).abs() <= 1.5 * cfg.lr * t as f32,
                    "t {t}, param {i}: QAdam {q}, Adam {a}"
                );
            }
        }
        assert_ne!(s.vc[1], DynamicTreeCode::UNSIGNED.zero_code());
    }

    #[test]
    fn unequal_blocks_work_and_match_per_block_semantics() {
        // The same data split as [0..7, 7..40, 40..41, 41..100] and as four
        // separate calls, one per block, give identical results.
        let cfg = AdamConfig::default();
        let n = 100;
        let layout = [0..7, 7..40, 40..41, 41..100];
        let mut seed = 99u64;
        let mut whole = state(n, 4);
        let mut parts: Vec<State> = layout.iter().map(|r| state(r.len(), 1)).collect();
        for t in 1..=30 {
            let g: Vec<f32> = (0..n).map(|_| xorshift(&mut seed) * 0.1).collect();
            run(&mut whole, &cfg, t, &g, layout.iter().cloned()).unwrap();
            for (s, r) in parts.iter_mut().zip(&layout) {
                run(s, &cfg, t, &g[r.clone()], core::iter::once(0..r.len())).unwrap();
            }
        }
        for (b, (s, r)) in parts.iter().zip(&layout).enumerate() {
            assert_eq!(&whole.p[r.clone()], &s.p[..]);
            assert_eq!(&whole.mc[r.clone()], &s.mc[..]);
            assert_eq!(&whole.vc[r.clone()], &s.vc[..]);
            assert_eq!(whole.ms[b], s.ms[0]);
            assert_eq!(whole.vs[b], s.vs[0]);
        }
    }

    #[test]
    fn bad_inputs_return_errors() {
        let cfg = AdamConfig::default();
        let n = 10;
        let g = vec![0.1; n];
        let mut s = state(n, 2);
        let ok = || uniform_blocks(10, 5);

        // Length mismatches change nothing.
        let before = s.p.clone();
        let e = run(&mut s, &cfg, 1, &g[..9], ok()).unwrap_err();
        assert_eq!(
            e,
            OptimError::LengthMismatch {
                buffer: "grads",
                expected: 10,
                actual: 9
            }
        );
        assert!(e.to_string().contains("grads"));
        let step = AdamStep::new(&cfg, 1);
        let e = qadam_update(
            &cfg,
            &step,
            &mut s.p,
            &g,
            &mut s.mc[..9],
            &mut s.vc,
            &mut s.ms,
            &mut s.vs,
            ok(),
        );
        assert!(matches!(
            e,
            Err(OptimError::LengthMismatch {
                buffer: "m_codes",
                ..
            })
        ));
        let e = qadam_update(
            &cfg,
            &step,
            &mut s.p,
            &g,
            &mut s.mc,
            &mut s.vc[..3],
            &mut s.ms,
            &mut s.vs,
            ok(),
        );
        assert!(matches!(
            e,
            Err(OptimError::LengthMismatch {
                buffer: "v_codes",
                ..
            })
        ));
        let e = qadam_update(
            &cfg,
            &step,
            &mut s.p,
            &g,
            &mut s.mc,
            &mut s.vc,
            &mut s.ms,
            &mut s.vs[..1],
            ok(),
        );
        assert!(matches!(
            e,
            Err(OptimError::LengthMismatch {
                buffer: "v_scales",
                ..
            })
        ));
        let mut bad_g = g.clone();
        bad_g[4] = f32::NAN;
        let e = run(&mut s, &cfg, 1, &bad_g, ok()).unwrap_err();
        assert_eq!(e, OptimError::NonFiniteGradient { index: 4 });
        bad_g[4] = f32::INFINITY;
        assert!(run(&mut s, &cfg, 1, &bad_g, ok()).is_err());
        assert_eq!(s.p, before);

        // Layout errors.
        let e = run(&mut s, &cfg, 1, &g, [1..5, 5..10].into_iter()).unwrap_err();
        assert!(matches!(e, OptimError::BlockNotContiguous { block: 0, .. }));
        let e = run(&mut s, &cfg, 1, &g, [0..5, 4..10].into_iter()).unwrap_err();
        assert!(matches!(e, OptimError::BlockNotContiguous { block: 1, .. }));
        #[allow(clippy::reversed_empty_ranges)]
        let e = run(&mut s, &cfg, 1, &g, [0..5, 5..3].into_iter()).unwrap_err();
        assert!(matches!(e, OptimError::BlockNotContiguous { block: 1, .. }));
        let e = run(&mut s, &cfg, 1, &g, [0..5, 5..11].into_iter()).unwrap_err();
        assert_eq!(
            e,
            OptimError::BlockOutOfBounds {
                block: 1,
                end: 11,
                len: 10
            }
        );
        let e = run(&mut s, &cfg, 1, &g, uniform_blocks(10, 3)).unwrap_err();
        assert_eq!(e, OptimError::TooManyBlocks { scales: 2 });
        let e = run(&mut s, &cfg, 1, &g, [0..5, 5..8].into_iter()).unwrap_err();
        assert!(matches!(e, OptimError::BlocksIncomplete { covered: 8, .. }));
        let e = run(&mut s, &cfg, 1, &g, core::iter::once(0..10)).unwrap_err();
        assert!(matches!(
            e,
            OptimError::BlocksIncomplete {
                blocks: 1,
                scales: 2,
                ..
            }
        ));
        // An endless iterator of empty blocks stops at the scale count.
        let e = run(
            &mut s,
            &cfg,
            1,
            &g,
            core::iter::once(0..10).chain(core::iter::repeat(10..10)),
        )
        .unwrap_err();
        assert_eq!(e, OptimError::TooManyBlocks { scales: 2 });
        // A trailing empty block is fine.
        let mut s3 = state(n, 3);
        run(&mut s3, &cfg, 1, &g, [0..4, 4..10, 10..10].into_iter()).unwrap();
        assert_eq!(s3.ms[2], 0.0);
        // No parameters, no blocks.
        let mut s0 = state(0, 0);
        run(&mut s0, &cfg, 1, &[], core::iter::empty()).unwrap();
    }
}
