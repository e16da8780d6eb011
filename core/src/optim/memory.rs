//! Bytes of optimizer state per device (docs/method.md#memory-per-device).

/// Bytes of Adam state for `n_params` parameters: the two f32 moment buffers,
/// `2·4·n_params` (saturating).
pub const fn adam_state_bytes(n_params: usize) -> usize {
    n_params.saturating_mul(2 * size_of::<f32>())
}

/// Bytes of QAdam state for `n_params` parameters in `n_blocks` blocks: one u8
/// code per parameter and moment plus one f32 scale per block and moment,
/// `2·n_params + 2·4·n_blocks` (saturating).
pub const fn qadam_state_bytes(n_params: usize, n_blocks: usize) -> usize {
    let codes = n_params.saturating_mul(2 * size_of::<u8>());
    let scales = n_blocks.saturating_mul(2 * size_of::<f32>());
    codes.saturating_add(scales)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::optim::num_blocks;

    #[test]
    fn qadam_is_about_four_times_smaller() {
        assert_eq!(adam_state_bytes(1000), 8000);
        assert_eq!(qadam_state_bytes(1000, 10), 2080);
        // FaceAll at 20 devices: 575 features per device (5 dilations × 23
        // biases = 115 per kernel, 5 kernels), 14 classes, one block per
        // (class, kernel): 115 parameters per block.
        let n = 14 * 575;
        let blocks = num_blocks(n, 115);
        assert_eq!(blocks, 14 * 5);
        let adam = adam_state_bytes(n);
        let qadam = qadam_state_bytes(n, blocks);
        let ratio = adam as f64 / qadam as f64;
        std::println!("FaceAll device: Adam {adam} B, QAdam {qadam} B, ratio {ratio:.3}");
        assert_eq!(adam, 64_400);
        assert_eq!(qadam, 16_100 + 560);
        // 8·115 / (2·115 + 8) = 920 / 238 ≈ 3.866.
        assert!((ratio - 920.0 / 238.0).abs() < 1e-9);
        assert!(ratio > 3.8 && ratio < 4.0);
        // Blocks of 256 (RockNet's firmware): closer to 4.
        let r256 = adam_state_bytes(n) as f64 / qadam_state_bytes(n, num_blocks(n, 256)) as f64;
        assert!(r256 > 3.9 && r256 < 4.0);
        assert_eq!(adam_state_bytes(usize::MAX), usize::MAX);
        assert_eq!(qadam_state_bytes(usize::MAX, 1), usize::MAX);
    }
}
