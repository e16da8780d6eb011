//! Multivariate channel subsets: which channels each (dilation, kernel)
//! block sums its convolution over.
//!
//! # Random stream
//! docs/method.md#multivariate-channel-subsets fixes the subset sizes' distribution, not the stream; we draw
//! exactly what the reference's `MiniRocketMultivariate` (sktime/aeon) draws,
//! from NumPy's legacy `RandomState` seeded with `seed` — a stream separate
//! from the example picks (the reference picks with numba's own generator,
//! seeded with the same seed), so the picks stay the univariate reference's:
//!
//! 1. for every block in reference order (`b = j·84 + k`), one
//!    `random_sample()` (two 32-bit words): `U_b = log2(min(C, 9) + 1) · u`,
//!    size `s_b = floor(2^U_b)` (`np.random.uniform(0, e, num_blocks)`, then
//!    `(2 ** U).astype(int32)`);
//! 2. then, for every block in reference order, `choice(C, s_b, replace=False)`
//!    = the first `s_b` entries of `permutation(C)`: the legacy shuffle of
//!    `0..C`, drawing `interval(i)` for `i = C−1` down to 1 (rejection-masked
//!    words) and swapping `i` with the draw.
//!
//! Every device draws the stream for all blocks and keeps its own. A
//! subset's channels keep the drawn order, which is the order the
//! convolution sums them in. Univariate plans draw nothing and hold no
//! subset buffers (both are empty): every block uses channel 0.
//!
//! # Buffers
//! Multivariate only: `channel_counts[lb]` is block `lb`'s subset size and
//! `channel_indices[lb·S .. lb·S + count]` its channels, `S = min(C, 9)`,
//! with `lb` the block's position in the selection's local order
//! ([`BlockSelection::local_block`]).

use super::kernels::NUM_KERNELS;
use super::picks::LegacyRandomState;
use super::plan::MiniRocketPlan;
use super::selection::BlockSelection;

/// Most channels one block sums over.
pub const MAX_CHANNELS_PER_BLOCK: usize = 9;

/// Slots per block in the channel-index buffer, `min(n_channels, 9)`.
pub fn channel_stride(plan: &MiniRocketPlan) -> usize {
    plan.n_channels().min(MAX_CHANNELS_PER_BLOCK)
}

/// Lengths of the channel-subset buffers of `sel`: `(counts (u8), indices (u16))`,
/// one count and `min(n_channels, 9)` index slots per selected block when
/// multivariate; `(0, 0)` for a univariate plan, whose blocks all use
/// channel 0 (a univariate device carries no subset buffers).
pub fn channel_buffer_lens(plan: &MiniRocketPlan, sel: &BlockSelection) -> (usize, usize) {
    if plan.is_univariate() {
        return (0, 0);
    }
    let blocks = sel.num_blocks(plan);
    (blocks, blocks.saturating_mul(channel_stride(plan)))
}

/// A channel-subset buffer holds an impossible subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("block {block}'s channel subset is invalid (count or channel index out of range)")]
pub struct ChannelSubsetError {
    /// Local block index.
    pub block: usize,
}

/// Checks every selected block's subset: `1 ≤ count ≤ min(C, 9)`, channels `< C`.
pub(crate) fn validate(
    plan: &MiniRocketPlan,
    counts: &[u8],
    indices: &[u16],
) -> Result<(), ChannelSubsetError> {
    let stride = channel_stride(plan);
    for (block, (&count, slots)) in counts.iter().zip(indices.chunks(stride)).enumerate() {
        let count = count as usize;
        if count == 0
            || count > stride
            || slots[..count]
                .iter()
                .any(|&c| c as usize >= plan.n_channels())
        {
            return Err(ChannelSubsetError { block });
        }
    }
    Ok(())
}

/// Pass 1 of [`draw`]: one `random_sample()` per block of the plan, in
/// reference order, calling `f(j, k, local block, subset size)` for the
/// blocks
/// `sel` owns. Multivariate plans only (a univariate plan draws nothing).
///
/// Shared with the cost model, which needs the subset sizes (they set how
/// many channels each kernel convolves) without the subsets themselves.
pub(crate) fn draw_sizes(
    plan: &MiniRocketPlan,
    sel: &BlockSelection,
    rng: &mut LegacyRandomState,
    mut f: impl FnMut(usize, usize, usize, usize),
) {
    let stride = channel_stride(plan);
    let max_exponent = libm::log2((stride + 1) as f64);
    for j in 0..plan.n_dilations() {
        for k in 0..NUM_KERNELS {
            let u = max_exponent * rng.random_sample();
            if let Some(lb) = sel.local_block(plan, j, k) {
                let size = libm::floor(libm::pow(2.0, u)) as usize;
                // 2^U < min(C,9)+1 mathematically; clamp guards pow rounding.
                f(j, k, lb, size.clamp(1, stride));
            }
        }
    }
}

/// Draws the channel subsets of the blocks `sel` owns into `counts` and
/// `indices` (lengths from [`channel_buffer_lens`], checked by the caller;
/// empty and untouched when univariate). `perm` is scratch of at least
/// `n_channels` values when multivariate (channel numbers are exact in f32
/// below 2^24).
pub(crate) fn draw(
    plan: &MiniRocketPlan,
    sel: &BlockSelection,
    seed: u32,
    counts: &mut [u8],
    indices: &mut [u16],
    perm: &mut [f32],
) {
    if plan.is_univariate() {
        return;
    }
    let n_ch = plan.n_channels();
    let stride = channel_stride(plan);
    let mut rng = LegacyRandomState::new(seed);

    // Pass 1: sizes for all blocks (the reference draws them as one array).
    draw_sizes(plan, sel, &mut rng, |_, _, lb, size| {
        counts[lb] = size as u8
    });
    // Pass 2: one full legacy shuffle of 0..C per block.
    let perm = &mut perm[..n_ch];
    for j in 0..plan.n_dilations() {
        for k in 0..NUM_KERNELS {
            match sel.local_block(plan, j, k) {
                Some(lb) => {
                    for (i, p) in perm.iter_mut().enumerate() {
                        *p = i as f32;
                    }
                    for i in (1..n_ch).rev() {
                        let r = rng.interval(i as u64) as usize;
                        perm.swap(i, r);
                    }
                    let count = counts[lb] as usize;
                    let slots = &mut indices[lb * stride..(lb + 1) * stride];
                    for (slot, &p) in slots.iter_mut().zip(perm.iter()).take(count) {
                        *slot = p as u16;
                    }
                    slots[count..].fill(0);
                }
                None => {
                    // Same draws, no array: keeps the stream aligned.
                    for i in (1..n_ch).rev() {
                        rng.interval(i as u64);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    #[test]
    fn univariate_has_no_subset_buffers() {
        let p = MiniRocketPlan::new(150, 1, 10_000).unwrap();
        for sel in [
            BlockSelection::all(),
            BlockSelection::Blocks { start: 3, end: 500 },
        ] {
            assert_eq!(channel_buffer_lens(&p, &sel), (0, 0));
            draw(&p, &sel, 0, &mut [], &mut [], &mut []);
        }
        // Multivariate (even 2 channels) keeps one count and min(C, 9) slots per block.
        let p2 = MiniRocketPlan::new(150, 2, 10_000).unwrap();
        let all = BlockSelection::all();
        assert_eq!(
            channel_buffer_lens(&p2, &all),
            (p2.num_blocks(), 2 * p2.num_blocks())
        );
        let p12 = MiniRocketPlan::new(150, 12, 10_000).unwrap();
        assert_eq!(
            channel_buffer_lens(&p12, &all),
            (p12.num_blocks(), 9 * p12.num_blocks())
        );
    }

    #[test]
    fn matches_numpy_stream() {
        // np.random.seed(7); u = np.random.uniform(0, np.log2(7), n) gives
        // sizes [1, 4, 2, 4, 6, …]; after all n uniforms, choice(6, s,
        // replace=False) per block.
        let p = MiniRocketPlan::new(150, 6, 10_000).unwrap();
        let sel = BlockSelection::all();
        let (nc, ni) = channel_buffer_lens(&p, &sel);
        let (mut c, mut i) = (vec![0u8; nc], vec![0u16; ni]);
        let mut perm = vec![0f32; 6];
        draw(&p, &sel, 7, &mut c, &mut i, &mut perm);
        let nd = p.n_dilations();
        // Kernel-major local layout: block (j=0, k) is local block k·nd.
        let sizes: std::vec::Vec<u8> = (0..5).map(|k| c[k * nd]).collect();
        assert_eq!(sizes, [1, 4, 2, 4, 6]);
        let subset = |lb: usize| &i[lb * 6..lb * 6 + c[lb] as usize];
        assert_eq!(subset(0), &[3]);
        assert_eq!(subset(nd), &[3, 4, 2, 5]);
        assert_eq!(subset(2 * nd), &[3, 2]);
        assert_eq!(subset(3 * nd), &[0, 3, 4, 1]);
        assert_eq!(subset(4 * nd), &[2, 0, 3, 5, 1, 4]);
        // Last reference block (j = 15, k = 83).
        assert_eq!(subset(83 * nd + nd - 1), &[0]);
        validate(&p, &c, &i).unwrap();
        // A partial selection draws the same subsets for its blocks.
        let part = BlockSelection::Blocks {
            start: 1000,
            end: 1010,
        };
        let (pc, pi) = channel_buffer_lens(&p, &part);
        let (mut c2, mut i2) = (vec![0u8; pc], vec![0u16; pi]);
        draw(&p, &part, 7, &mut c2, &mut i2, &mut perm);
        for b in 1000..1010 {
            let (j, k) = (b / 84, b % 84);
            let full = sel.local_block(&p, j, k).unwrap();
            let mine = part.local_block(&p, j, k).unwrap();
            assert_eq!(c2[mine], c[full]);
            assert_eq!(i2[mine * 6..mine * 6 + 6], i[full * 6..full * 6 + 6]);
        }
    }
}
