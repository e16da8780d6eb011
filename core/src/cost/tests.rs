//! Op counts against hand-computed numbers and scaling properties.

use super::*;
use crate::minirocket::{BlockSelection, MiniRocketPlan};
use crate::optim::AdamConfig;
use crate::partition::PartitionPlan;
use std::vec::Vec;

/// Device `device` of `n` on `plan`.
fn spec(
    plan: MiniRocketPlan,
    n: usize,
    device: usize,
    classes: usize,
    optimizer: OptimizerKind,
    input: InputKind,
) -> DeviceSpec {
    let partition = PartitionPlan::new(plan, n).unwrap();
    DeviceSpec::for_device(
        &partition,
        device,
        classes,
        optimizer,
        AdamConfig::default(),
        input,
        0,
    )
    .unwrap()
}

/// L = 9, one channel, 84 features: one dilation (1), one bias per kernel.
fn tiny() -> MiniRocketPlan {
    let p = MiniRocketPlan::new(9, 1, 84).unwrap();
    assert_eq!(
        (p.dilations(), p.features_per_dilation()),
        (&[1][..], &[1][..])
    );
    p
}

fn tiny_all(optimizer: OptimizerKind, input: InputKind) -> DeviceSpec {
    spec(tiny(), 1, 0, 2, optimizer, input)
}

#[test]
fn transform_tiny_plan_by_hand() {
    // L = 9, d = 1, pad 4. Shared: pad_into reads 9, writes 9 + 8; the
    // nine-tap sums read 81, add 72, write 9; 3·x reads 9, multiplies 9,
    // writes 9. The 84 kernels use 28 (i0, i1) pairs (i1 ≤ 7: Σ_{i1=1..7}
    // i1 = 28), each partial over 9 outputs: 27 reads, 18 adds, 9 writes.
    // Even k (42 kernels) count over 9 outputs, odd k over 9 − 8 = 1: third
    // tap 42·(18 + 2) reads, 42·(9 + 1) adds and writes; PPV 420 compares,
    // 420 reads and counter increments; per kernel one bias: read, count→f32,
    // positions→f32, division, write (84 each).
    let ops = transform_ops(&tiny_all(OptimizerKind::Adam, InputKind::F32));
    let want = OpCounts {
        f32_add: 72 + 28 * 18 + 420,
        f32_mul: 9,
        f32_div: 84,
        f32_cmp: 420,
        cvt: 84 + 84,
        int_op: 420,
        load: 9 + 81 + 9 + 28 * 27 + 42 * 20 + 420 + 84,
        store: 17 + 9 + 9 + 28 * 9 + 42 * 10 + 84,
        ..OpCounts::ZERO
    };
    assert_eq!(ops, want);
    assert_eq!(
        (want.f32_add, want.load, want.store),
        (996, 2_199, 791),
        "the sums above, evaluated by hand"
    );
}

#[test]
fn transform_int8_convolves_in_integers() {
    // The same loops; the convolution's adds and the ×3 become i32 ops and
    // every compared output is converted to f32 first.
    let f = transform_ops(&tiny_all(OptimizerKind::Adam, InputKind::F32));
    let i = transform_ops(&tiny_all(OptimizerKind::Adam, InputKind::Int8));
    assert_eq!(i.f32_add, 0);
    assert_eq!(i.f32_mul, 0);
    assert_eq!(i.int_op, 996 + 9 + 420);
    assert_eq!(i.cvt, 168 + 420);
    assert_eq!((i.load, i.store, i.f32_cmp), (f.load, f.store, f.f32_cmp));
}

#[test]
fn transform_two_devices_by_hand() {
    // Device 0: kernels 0..42 = pairs (0,1)..(0,7) and (1,2),(1,3),(1,4):
    // 10 partials. Device 1: kernels 42..84 start inside (1,4) again
    // (kernel 42 = (1,4,8)), then (1,5),(1,6),(1,7) and the 15 pairs of
    // i0 ≥ 2: 19 partials. Each has 21 even and 21 odd kernels.
    let d0 = transform_ops(&spec(tiny(), 2, 0, 2, OptimizerKind::Adam, InputKind::F32));
    let d1 = transform_ops(&spec(tiny(), 2, 1, 2, OptimizerKind::Adam, InputKind::F32));
    let all = transform_ops(&tiny_all(OptimizerKind::Adam, InputKind::F32));
    let per_kernel = |pairs: u64| OpCounts {
        f32_add: 72 + pairs * 18 + 21 * 10,
        f32_mul: 9,
        f32_div: 42,
        f32_cmp: 21 * 10,
        cvt: 42 + 42,
        int_op: 21 * 10,
        load: 99 + pairs * 27 + 21 * 20 + 21 * 10 + 42,
        store: 35 + pairs * 9 + 21 * 10 + 42,
        ..OpCounts::ZERO
    };
    assert_eq!(d0, per_kernel(10));
    assert_eq!(d1, per_kernel(19));
    assert_eq!((d0.load, d1.load), (1_041, 1_284));
    // Split, the per-kernel work adds up; each device repeats the shared
    // per-dilation work, and pair (1,4) is computed twice.
    let shared = OpCounts {
        f32_add: 72,
        f32_mul: 9,
        load: 99,
        store: 35,
        ..OpCounts::ZERO
    };
    let pair = OpCounts {
        f32_add: 18,
        load: 27,
        store: 9,
        ..OpCounts::ZERO
    };
    assert_eq!(d0 + d1, all + shared + pair);
}

#[test]
fn transform_ops_scale_with_kernels_and_biases() {
    // RockNet's FaceAll: L 131, dilations 1, 2, 4, 8, 16 with 23 biases each.
    let plan = MiniRocketPlan::with_max_dilations(131, 1, 9_660, 5).unwrap();
    let one = transform_ops(&spec(plan, 1, 0, 14, OptimizerKind::Adam, InputKind::F32));
    // One division per feature, and per kernel and dilation 23 biases over
    // 131 outputs (j + k even) or 131 − 8d: per dilation 42 of each.
    assert_eq!(one.f32_div, 9_660);
    let compares: u64 = [1u64, 2, 4, 8, 16]
        .iter()
        .map(|d| 23 * 42 * (131 + 131 - 8 * d))
        .sum();
    assert_eq!(one.f32_cmp, compares);
    for n in [2, 3, 7, 20, 84] {
        let devices: Vec<OpCounts> = (0..n)
            .map(|i| transform_ops(&spec(plan, n, i, 14, OptimizerKind::Adam, InputKind::F32)))
            .collect();
        // The PPV work is per kernel: it adds up exactly over any split.
        let sum = devices.iter().fold(OpCounts::ZERO, |a, &b| a + b);
        assert_eq!(sum.f32_cmp, one.f32_cmp, "N = {n}");
        assert_eq!(sum.f32_div, one.f32_div, "N = {n}");
        // The shared work (×3, nine-tap sums) is repeated on every device.
        assert_eq!(sum.f32_mul, n as u64 * one.f32_mul, "N = {n}");
    }
    // Twice the biases (same dilations): twice the PPV work, same convolution.
    let plan2 = MiniRocketPlan::with_max_dilations(131, 1, 2 * 9_660, 5).unwrap();
    assert_eq!(plan2.features_per_dilation(), &[46; 5]);
    let two = transform_ops(&spec(plan2, 1, 0, 14, OptimizerKind::Adam, InputKind::F32));
    assert_eq!(two.f32_cmp, 2 * one.f32_cmp);
    assert_eq!(two.f32_add, one.f32_add);
}

#[test]
fn multivariate_transform_follows_the_fitted_subsets() {
    // The subset sizes come from the seed alone; check them against a real
    // fit: per block the first channel costs `kernel_conv` (4 reads, 3 adds,
    // 1 write per output), every further one `kernel_conv_add` (5, 4, 1).
    let plan = MiniRocketPlan::new(9, 3, 84).unwrap();
    let data: Vec<f32> = (0..4 * 3 * 9).map(|i| ((i * 37) % 11) as f32).collect();
    let view = crate::series::SeriesView::new(&data, 4, 3, 9).unwrap();
    let fitted = crate::minirocket::fit_all(&plan, view, 0).unwrap();
    let s = spec(plan, 1, 0, 2, OptimizerKind::Adam, InputKind::F32);
    let ops = transform_ops(&s);
    let (mut adds, mut loads, mut stores) = (0u64, 0u64, 0u64);
    for k in 0..84usize {
        let n = if k.is_multiple_of(2) { 9 } else { 1 };
        let extra = fitted.channel_counts[k] as u64 - 1;
        adds += n * (3 + 4 * extra);
        loads += n * (4 + 5 * extra);
        stores += n * (1 + extra);
    }
    // Three channels of shared work (72 adds, 99 reads, 35 writes each), no
    // pair partials, PPV as univariate (420 reads + 84 biases, 84 writes).
    assert_eq!(ops.f32_add, 3 * 72 + adds);
    assert_eq!(ops.load, 3 * 99 + loads + 420 + 84);
    assert_eq!(ops.store, 3 * 35 + stores + 84);
    assert!(fitted.channel_counts.iter().any(|&c| c > 1));
}

#[test]
fn partial_logits_by_hand() {
    // C = 2, F = 84, class bias on device 0. Per product: 2 reads, w·f and
    // ·2^20, sign test, ±0.5, f32→i64, i64 add (2): 168 products. Bias: 1
    // read, ·2^20, test, ±0.5, f32→i64, i64 add, per class. Per class: the
    // i64 sum written (2) and read back (2), 6 i64 compare words, i32 written.
    let ops = partial_logit_ops(&tiny_all(OptimizerKind::Adam, InputKind::F32));
    let want = OpCounts {
        f32_mul: 168 * 2 + 2,
        f32_cmp: 168 + 2,
        f32_add: 168 + 2,
        cvt64: 168 + 2,
        int_op: 168 * 2 + 2 * 2 + 2 * 6,
        load: 168 * 2 + 2 + 2 * 2,
        store: 2 * 3,
        ..OpCounts::ZERO
    };
    assert_eq!(ops, want);
    assert_eq!((ops.load, ops.int_op), (342, 352));
}

#[test]
fn gradient_by_hand() {
    // C = 2, F = 84, class bias. to_f32: 2 reads, i64→f32, ·2^−20, write;
    // softmax: max (read, compare), z − max, expf, write, sum +=, one
    // division, scaling (read, ·, write); cross-entropy: read, max, logf,
    // negation; per class p − onehot (read, compare, sub); 168
    // multiply-accumulates (2 reads, ·, +, write); bias gradient (read, +, write).
    let ops = gradient_ops(&tiny_all(OptimizerKind::Adam, InputKind::F32));
    let want = OpCounts {
        f32_add: 2 * 2 + 1 + 2 + 168 + 2,
        f32_mul: 2 + 2 + 168,
        f32_div: 1,
        f32_exp: 2,
        f32_log: 1,
        f32_cmp: 2 + 1,
        cvt64: 2,
        int_op: 2,
        load: 4 + 2 + 2 + 2 + 1 + 2 + 336 + 2,
        store: 2 + 2 + 2 + 168 + 2,
        ..OpCounts::ZERO
    };
    assert_eq!(ops, want);
    assert_eq!((ops.load, ops.store, ops.f32_add), (351, 176, 177));
}

#[test]
fn adam_step_by_hand() {
    // P = 2·84 + 2 = 170. Mean: 1/n (cvt, div), 170 × (read, ·, write).
    // Constants: 2 powf (= exp, log, · each), t→f32, 5 subtractions,
    // lr·wd, 2 divisions, 1 sqrtf. Per parameter: 4 reads (p, g, m, v),
    // 8 ·, 4 ±, 1 /, 1 sqrtf, 3 writes. Then 170 zeroing writes.
    let ops = optimizer_step_ops(&tiny_all(OptimizerKind::Adam, InputKind::F32));
    let want = OpCounts {
        f32_add: 5 + 170 * 4,
        f32_mul: 170 + 2 + 1 + 170 * 8,
        f32_div: 1 + 2 + 170,
        f32_sqrt: 1 + 170,
        f32_exp: 2,
        f32_log: 2,
        cvt: 2,
        load: 170 + 170 * 4,
        store: 170 + 170 * 3 + 170,
        ..OpCounts::ZERO
    };
    assert_eq!(ops, want);
    assert_eq!((ops.f32_mul, ops.load, ops.store), (1_533, 850, 850));
}

#[test]
fn qadam_step_by_hand() {
    // P = 170 in 2·84 + 1 = 169 blocks (one per class and kernel, plus the
    // class biases). Per element: finiteness scan (read, compare); pass 1:
    // 3 reads + 2 decodes (table read, ·), moments (5 ·, 2 +), fabsf, 2
    // compares; pass 2: 4 reads, 2 decodes, moments, parameter (3 ·, 2 ±,
    // /, sqrtf), 2 normalisations, encode_v's zero test, 3 writes, and two
    // encodes: each NaN test + 8 × (table read, compare, 2 int) + lo == 255
    // + (read, compare) + read t[hi] + 2 distances + 2 compares.
    let ops = optimizer_step_ops(&tiny_all(OptimizerKind::QAdam, InputKind::F32));
    let encode = (10u64, 12u64, 17u64, 2u64); // reads, compares, int, ±
    let element_load = 1 + (3 + 2) + (4 + 2 + 2 * encode.0);
    let element_cmp = 1 + 2 + 2 * encode.1;
    let element_int = 1 + 2 * encode.2;
    let element_add = (2 + 1) + (2 + 2 + 2 * encode.3);
    let element_mul = (2 + 5) + (2 + 5 + 3 + 2);
    assert_eq!(
        (
            element_load,
            element_cmp,
            element_int,
            element_add,
            element_mul
        ),
        (32, 27, 35, 11, 19)
    );
    // Per block: 4 layout checks, 2 caps + 2 × (zero test, finite test),
    // 2 reciprocals, 2 scales read and written.
    let want = OpCounts {
        f32_add: 5 + 170 * element_add,
        f32_mul: 170 + 3 + 170 * element_mul,
        f32_div: 1 + 2 + 170 + 169 * 2,
        f32_sqrt: 1 + 170,
        f32_exp: 2,
        f32_log: 2,
        f32_cmp: 170 * element_cmp + 169 * 6,
        cvt: 2,
        int_op: 170 * element_int + 169 * 4,
        load: 170 + 170 * element_load + 169 * 2,
        store: 170 + 170 * 3 + 169 * 2 + 170,
        ..OpCounts::ZERO
    };
    assert_eq!(ops, want);
    assert_eq!((ops.load, ops.store, ops.f32_div), (5_948, 1_188, 511));
}

#[test]
fn doubling_devices_halves_logit_and_gradient_work() {
    // Device 1 (no class bias) of 2 and of 4 devices: 42 vs 21 kernels, so
    // F_i halves; only the per-class terms stay.
    let plan = MiniRocketPlan::with_max_dilations(131, 1, 9_660, 5).unwrap();
    let c = 14u64;
    let two = spec(plan, 2, 1, 14, OptimizerKind::Adam, InputKind::F32);
    let four = spec(plan, 4, 1, 14, OptimizerKind::Adam, InputKind::F32);
    assert_eq!(two.num_features(), 42 * 115);
    assert_eq!(four.num_features(), 21 * 115);
    // Partial logits: per class 2 reads, 3 writes, 6 int ops besides the products.
    let logit_const = OpCounts {
        int_op: 6 * c,
        load: 2 * c,
        store: 3 * c,
        ..OpCounts::ZERO
    };
    assert_eq!(
        partial_logit_ops(&two) + logit_const,
        partial_logit_ops(&four) * 2
    );
    // Gradient: per class to_f32, softmax, p − onehot; once the division
    // and the cross-entropy.
    let grad_const = OpCounts {
        f32_add: 3 * c + 1,
        f32_mul: 2 * c,
        f32_div: 1,
        f32_exp: c,
        f32_log: 1,
        f32_cmp: c + 1,
        cvt64: c,
        int_op: c,
        load: 6 * c + 1,
        store: 3 * c,
        ..OpCounts::ZERO
    };
    assert_eq!(gradient_ops(&two) + grad_const, gradient_ops(&four) * 2);
    // The multiply-accumulates alone halve exactly.
    assert_eq!(
        gradient_ops(&two).f32_mul - 2 * c,
        2 * (gradient_ops(&four).f32_mul - 2 * c)
    );
}

#[test]
fn phase_ops_and_arithmetic() {
    let s = tiny_all(OptimizerKind::Adam, InputKind::F32);
    let p = PhaseOps::of(&s);
    assert_eq!(p.transform, transform_ops(&s));
    assert_eq!(p.optimizer_step.total(), optimizer_step_ops(&s).total());
    let a = OpCounts {
        f32_add: 3,
        load: 2,
        ..OpCounts::ZERO
    };
    assert_eq!(a.total(), 5);
    assert_eq!((a * 4).total(), 20);
    assert_eq!((a + a).f32_add, 6);
    let big = OpCounts {
        store: u64::MAX,
        ..OpCounts::ZERO
    };
    assert_eq!((big * 2).store, u64::MAX);
    assert_eq!((big + big).total(), u64::MAX);
    assert_eq!(a.entries()[0], ("f32_add", 3));
    // A selection of blocks (more than 84 devices) counts the same way.
    let blocks = DeviceSpec {
        selection: BlockSelection::Blocks { start: 0, end: 1 },
        ..s
    };
    let one_kernel = transform_ops(&blocks);
    assert_eq!(one_kernel.f32_cmp, 9);
    assert_eq!(one_kernel.f32_div, 1);
}
