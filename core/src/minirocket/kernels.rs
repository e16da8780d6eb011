//! The 84 fixed MiniRocket kernels.
//!
//! Every kernel has length 9 with weight 2 at three indices and −1 at the
//! other six (so the weights sum to 0). The kernels are all 3-of-9 index
//! triples, in lexicographic order, as the reference enumerates them.

/// Number of MiniRocket kernels (3-of-9 combinations).
pub const NUM_KERNELS: usize = 84;

/// Kernel length (taps).
pub const KERNEL_LENGTH: usize = 9;

/// The indices of the weight-2 taps of each kernel, lexicographic:
/// `(0,1,2), (0,1,3), …, (6,7,8)`.
pub const KERNEL_INDICES: [[u8; 3]; NUM_KERNELS] = {
    let mut out = [[0u8; 3]; NUM_KERNELS];
    let mut n = 0;
    let mut a = 0;
    while a < KERNEL_LENGTH {
        let mut b = a + 1;
        while b < KERNEL_LENGTH {
            let mut c = b + 1;
            while c < KERNEL_LENGTH {
                out[n] = [a as u8, b as u8, c as u8];
                n += 1;
                c += 1;
            }
            b += 1;
        }
        a += 1;
    }
    // A miscount would make this a compile-time error rather than a wrong kernel set.
    assert!(n == NUM_KERNELS);
    out
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triples_are_lexicographic_3_of_9() {
        assert_eq!(KERNEL_INDICES.len(), 84);
        assert_eq!(KERNEL_INDICES[0], [0, 1, 2]);
        assert_eq!(KERNEL_INDICES[1], [0, 1, 3]);
        assert_eq!(KERNEL_INDICES[7], [0, 2, 3]);
        assert_eq!(KERNEL_INDICES[83], [6, 7, 8]);
        for w in KERNEL_INDICES.windows(2) {
            assert!(w[0] < w[1], "not strictly increasing: {:?}", w);
        }
        for t in KERNEL_INDICES {
            assert!(t[0] < t[1] && t[1] < t[2] && t[2] < 9);
        }
    }
}
