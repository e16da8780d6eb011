//! Properties of the MiniRocket fit and transform.

use proptest::prelude::*;
use rocknet_core::minirocket::{
    BlockSelection, FittedOwned, MiniRocketPlan, TransformError, channel_buffer_lens, fit,
    fit_acc_scratch_len, fit_scratch_len, fit_selection, reference_order, transform,
    transform_scratch_len,
};
use rocknet_core::partition::PartitionPlan;
use rocknet_core::series::SeriesView;

/// A training set of small integers (as f32 and as i8): `n × channels × length`.
fn int_dataset(max_len: usize) -> impl Strategy<Value = (usize, usize, usize, Vec<i8>)> {
    (1usize..5, 1usize..4, 9usize..max_len).prop_flat_map(|(n, ch, len)| {
        (
            Just(n),
            Just(ch),
            Just(len),
            proptest::collection::vec(-100i8..=100, n * ch * len),
        )
    })
}

fn to_f32(v: &[i8]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// Features of every series, reference order, row-major.
fn features_ref(fitted: &FittedOwned, data: &[f32], n: usize) -> Vec<f32> {
    let view = SeriesView::new(data, n, fitted.plan.n_channels(), fitted.plan.length()).unwrap();
    let f = fitted.num_features();
    let local = fitted.transform_view(view).unwrap();
    local
        .chunks(f)
        .flat_map(|row| reference_order(&fitted.plan, &fitted.selection, row).unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Features are fractions in [0, 1]; their number is the selection's.
    #[test]
    fn features_in_unit_interval(
        (n, ch, len, data) in int_dataset(60),
        scale in prop_oneof![Just(1.0f32), Just(0.013f32), Just(7.5f32)],
        seed in any::<u32>(),
        num_features in 84usize..3000,
    ) {
        let data: Vec<f32> = data.iter().map(|&x| x as f32 * scale).collect();
        let plan = MiniRocketPlan::new(len, ch, num_features).unwrap();
        let view = SeriesView::new(&data, n, ch, len).unwrap();
        let fitted = fit_selection(&plan, &BlockSelection::all(), view, seed).unwrap();
        let feats = fitted.transform_view(view).unwrap();
        prop_assert_eq!(feats.len(), n * BlockSelection::all().num_features(&plan));
        prop_assert_eq!(fitted.num_features(), plan.num_features());
        prop_assert!(feats.iter().all(|f| (0.0..=1.0).contains(f)));
    }

    /// int8 input (exact i32 convolution) equals f32 input on the same
    /// values: with |x| ≤ 127 every f32 partial sum is an exact integer, so
    /// the orders of operations cannot differ.
    #[test]
    fn int8_equals_f32(
        (n, ch, len, data) in int_dataset(60),
        seed in any::<u32>(),
        num_features in 84usize..2000,
    ) {
        let plan = MiniRocketPlan::new(len, ch, num_features).unwrap();
        let f32_data = to_f32(&data);
        let v8 = SeriesView::new(&data[..], n, ch, len).unwrap();
        let v32 = SeriesView::new(&f32_data[..], n, ch, len).unwrap();
        let sel = BlockSelection::all();
        let fit8 = fit_selection(&plan, &sel, v8, seed).unwrap();
        let fit32 = fit_selection(&plan, &sel, v32, seed).unwrap();
        prop_assert_eq!(&fit8, &fit32);
        prop_assert_eq!(fit8.transform_view(v8).unwrap(), fit32.transform_view(v32).unwrap());
    }

    /// Adding a constant a to a series leaves every convolution output that
    /// touches no padding unchanged (the weights sum to 0); outputs within 4d
    /// of an edge see the padding zeros, which do not shift, so they change.
    /// Hence, with the same biases:
    /// - blocks with odd j + k (PPV over C[4d .. L−4d) only) are exactly
    ///   invariant (small integers: all sums exact);
    /// - blocks with even j + k (all L outputs) change by at most the 8d edge
    ///   outputs, i.e. by ≤ 8d/L.
    /// (Biases fit on shifted data are not invariant: the fit uses every
    /// output, edges included.)
    #[test]
    fn shift_invariance_away_from_padding(
        (n, ch, len, data) in int_dataset(80),
        a in -100i32..=100,
        seed in any::<u32>(),
    ) {
        let plan = MiniRocketPlan::new(len, ch, 10_000).unwrap();
        let train = to_f32(&data);
        let fitted = fit_selection(&plan, &BlockSelection::all(), SeriesView::new(&train, n, ch, len).unwrap(), seed).unwrap();
        let x = &train[..ch * len];
        let shifted: Vec<f32> = x.iter().map(|&v| v + a as f32).collect();
        let f0 = reference_order(&plan, &fitted.selection, &fitted.transform_series(x).unwrap()).unwrap();
        let f1 = reference_order(&plan, &fitted.selection, &fitted.transform_series(&shifted).unwrap()).unwrap();
        for (j, (&d, &f_j)) in plan.dilations().iter().zip(plan.features_per_dilation()).enumerate() {
            for k in 0..84 {
                let r = plan.reference_block_offset(j, k);
                for i in r..r + f_j as usize {
                    if (j + k) % 2 == 1 {
                        prop_assert_eq!(f0[i], f1[i], "block ({}, {}) feature {}", j, k, i);
                    } else {
                        let moved = ((f0[i] - f1[i]).abs() * len as f32).round() as usize;
                        prop_assert!(moved <= 8 * d as usize, "block ({}, {}): {} outputs moved", j, k, moved);
                    }
                }
            }
        }
    }

    /// Scaling the data by a power of two scales every convolution output
    /// and every bias exactly, so the features do not change at all.
    #[test]
    fn power_of_two_scaling_is_exact(
        (n, ch, len, data) in int_dataset(60),
        e in -8i32..8,
        seed in any::<u32>(),
    ) {
        let plan = MiniRocketPlan::new(len, ch, 1_000).unwrap();
        let s = 2f32.powi(e);
        let x: Vec<f32> = data.iter().map(|&v| v as f32 * 0.37).collect();
        let xs: Vec<f32> = x.iter().map(|&v| v * s).collect();
        let sel = BlockSelection::all();
        let a = fit_selection(&plan, &sel, SeriesView::new(&x, n, ch, len).unwrap(), seed).unwrap();
        let b = fit_selection(&plan, &sel, SeriesView::new(&xs, n, ch, len).unwrap(), seed).unwrap();
        for (&ba, &bb) in a.biases.iter().zip(&b.biases) {
            prop_assert_eq!(ba * s, bb);
        }
        prop_assert_eq!(features_ref(&a, &x, n), features_ref(&b, &xs, n));
    }

    /// Any split over devices gives exactly the one-device features: each
    /// device draws every pick, fits only its blocks, and its local features
    /// land at their reference positions.
    #[test]
    fn device_union_equals_one_device(
        (n, ch, len, data) in int_dataset(40),
        scale in prop_oneof![Just(1.0f32), Just(0.1f32)],
        n_devices in prop_oneof![1usize..=84, 85usize..400],
        seed in any::<u32>(),
        num_features in 84usize..1500,
    ) {
        let data: Vec<f32> = data.iter().map(|&x| x as f32 * scale).collect();
        let plan = MiniRocketPlan::new(len, ch, num_features).unwrap();
        let view = SeriesView::new(&data, n, ch, len).unwrap();
        let one = fit_selection(&plan, &BlockSelection::all(), view, seed).unwrap();
        let want_biases = reference_order(&plan, &one.selection, &one.biases).unwrap();
        let want = features_ref(&one, &data, n);

        let f = plan.num_features();
        let mut biases = vec![f32::NAN; f];
        let mut got = vec![f32::NAN; n * f];
        let mut total = 0;
        // A plan never has more devices than blocks (each must own something).
        let n_devices = n_devices.min(plan.num_blocks());
        let partition = PartitionPlan::new(plan, n_devices).unwrap();
        for device in 0..n_devices {
            let sel = partition.selection(device).unwrap();
            let part = fit_selection(&plan, &sel, view, seed).unwrap();
            total += sel.num_features(&plan);
            prop_assert_eq!(part.num_features(), sel.num_features(&plan));
            let local = part.transform_view(view).unwrap();
            for i in 0..sel.num_features(&plan) {
                biases[sel.reference_index(&plan, i)] = part.biases[i];
            }
            for s in 0..n {
                let row = &local[s * part.num_features()..(s + 1) * part.num_features()];
                for (i, &v) in row.iter().enumerate() {
                    got[s * f + sel.reference_index(&plan, i)] = v;
                }
            }
        }
        prop_assert_eq!(total, f);
        prop_assert_eq!(biases, want_biases);
        prop_assert_eq!(got, want);
    }

    /// Random contiguous kernel splits (uneven, some empty) also reassemble
    /// the one-device features exactly, unit by unit.
    #[test]
    fn random_kernel_splits(
        (n, ch, len, data) in int_dataset(40),
        mut cuts in proptest::collection::vec(0usize..=84, 0..12),
        seed in any::<u32>(),
    ) {
        let data = to_f32(&data);
        let plan = MiniRocketPlan::new(len, ch, 1_000).unwrap();
        let view = SeriesView::new(&data, n, ch, len).unwrap();
        let one = fit_selection(&plan, &BlockSelection::all(), view, seed).unwrap();
        let want = one.transform_series(view.series(n - 1)).unwrap();
        cuts.extend([0, 84]);
        cuts.sort_unstable();
        let mut got = Vec::new();
        for w in cuts.windows(2) {
            let sel = BlockSelection::Kernels { start: w[0], end: w[1] };
            let part = fit_selection(&plan, &sel, view, seed).unwrap();
            let local = part.transform_series(view.series(n - 1)).unwrap();
            // Kernel-major layouts concatenate: each kernel is one unit.
            for u in 0..sel.num_units(&plan) {
                got.extend_from_slice(&local[sel.unit_range(&plan, u)]);
            }
        }
        prop_assert_eq!(got, want);
    }

    /// Arbitrary block ranges (`Blocks`) agree with the one-device fit too.
    #[test]
    fn block_ranges_match(
        (n, ch, len, data) in int_dataset(40),
        seed in any::<u32>(),
        lo in 0.0f64..1.0,
        width in 0.0f64..1.0,
    ) {
        let data = to_f32(&data);
        let plan = MiniRocketPlan::new(len, ch, 2_000).unwrap();
        let view = SeriesView::new(&data, n, ch, len).unwrap();
        let nb = plan.num_blocks();
        let start = (lo * nb as f64) as usize;
        let end = (start + (width * nb as f64) as usize).min(nb);
        let sel = BlockSelection::Blocks { start, end };
        let one = fit_selection(&plan, &BlockSelection::all(), view, seed).unwrap();
        let part = fit_selection(&plan, &sel, view, seed).unwrap();
        let want = reference_order(&plan, &one.selection, &one.transform_series(view.series(0)).unwrap()).unwrap();
        let got = reference_order(&plan, &sel, &part.transform_series(view.series(0)).unwrap()).unwrap();
        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
            prop_assert!(g.is_nan() || g == w, "feature {}", i);
        }
        prop_assert_eq!(got.iter().filter(|g| !g.is_nan()).count(), sel.num_features(&plan));
    }
}

#[test]
fn wrong_buffer_lengths_are_errors() {
    let (n, ch, len) = (3, 2, 30);
    let data: Vec<f32> = (0..n * ch * len).map(|i| (i % 7) as f32).collect();
    let plan = MiniRocketPlan::new(len, ch, 1_000).unwrap();
    let view = SeriesView::new(&data, n, ch, len).unwrap();
    let sel = BlockSelection::Kernels { start: 2, end: 9 };
    let nf = sel.num_features(&plan);
    let (nc, ni) = channel_buffer_lens(&plan, &sel);
    let mut biases = vec![0.0; nf];
    let mut counts = vec![0u8; nc];
    let mut idx = vec![0u16; ni];
    let mut acc = vec![0.0f32; fit_acc_scratch_len(&plan)];
    let mut sf = vec![0.0f32; fit_scratch_len(&plan)];

    // Too short / too long in each buffer.
    assert!(
        fit(
            &plan,
            &sel,
            view,
            0,
            &mut biases[1..],
            &mut counts,
            &mut idx,
            &mut acc,
            &mut sf
        )
        .is_err()
    );
    assert!(
        fit(
            &plan,
            &sel,
            view,
            0,
            &mut biases,
            &mut counts[1..],
            &mut idx,
            &mut acc,
            &mut sf
        )
        .is_err()
    );
    assert!(
        fit(
            &plan,
            &sel,
            view,
            0,
            &mut biases,
            &mut counts,
            &mut idx[1..],
            &mut acc,
            &mut sf
        )
        .is_err()
    );
    assert!(
        fit(
            &plan,
            &sel,
            view,
            0,
            &mut biases,
            &mut counts,
            &mut idx,
            &mut acc[1..],
            &mut sf
        )
        .is_err()
    );
    assert!(
        fit(
            &plan,
            &sel,
            view,
            0,
            &mut biases,
            &mut counts,
            &mut idx,
            &mut acc,
            &mut sf[1..]
        )
        .is_err()
    );
    let other = SeriesView::new(&data, n, 1, ch * len).unwrap();
    assert!(
        fit(
            &plan,
            &sel,
            other,
            0,
            &mut biases,
            &mut counts,
            &mut idx,
            &mut acc,
            &mut sf
        )
        .is_err()
    );
    let bad_sel = BlockSelection::Kernels { start: 5, end: 90 };
    assert!(
        fit(
            &plan,
            &bad_sel,
            view,
            0,
            &mut biases,
            &mut counts,
            &mut idx,
            &mut acc,
            &mut sf
        )
        .is_err()
    );
    fit(
        &plan,
        &sel,
        view,
        0,
        &mut biases,
        &mut counts,
        &mut idx,
        &mut acc,
        &mut sf,
    )
    .unwrap();

    let mut scratch = vec![0.0f32; transform_scratch_len(&plan)];
    let mut out = vec![0.0; nf];
    let x = view.series(0);
    let ok = transform(
        &plan,
        &sel,
        &biases,
        &counts,
        &idx,
        x,
        &mut scratch,
        &mut out,
    );
    assert_eq!(ok, Ok(()));
    let e = transform(
        &plan,
        &sel,
        &biases,
        &counts,
        &idx,
        x,
        &mut scratch,
        &mut out[1..],
    );
    assert!(matches!(e, Err(TransformError::BufferLength(_))));
    assert!(
        transform(
            &plan,
            &sel,
            &biases[1..],
            &counts,
            &idx,
            x,
            &mut scratch,
            &mut out
        )
        .is_err()
    );
    assert!(
        transform(
            &plan,
            &sel,
            &biases,
            &counts,
            &idx,
            &x[1..],
            &mut scratch,
            &mut out
        )
        .is_err()
    );
    assert!(
        transform(
            &plan,
            &sel,
            &biases,
            &counts,
            &idx,
            x,
            &mut scratch[1..],
            &mut out
        )
        .is_err()
    );
    assert!(
        transform(
            &plan,
            &sel,
            &biases,
            &counts[1..],
            &idx,
            x,
            &mut scratch,
            &mut out
        )
        .is_err()
    );
    assert!(
        transform(
            &plan,
            &sel,
            &biases,
            &counts,
            &idx[1..],
            x,
            &mut scratch,
            &mut out
        )
        .is_err()
    );
    // Corrupt channel subsets are errors, not out-of-bounds panics.
    let mut bad = idx.clone();
    bad[0] = 2;
    assert!(matches!(
        transform(
            &plan,
            &sel,
            &biases,
            &counts,
            &bad,
            x,
            &mut scratch,
            &mut out
        ),
        Err(TransformError::ChannelSubset(_))
    ));
    let mut bad = counts.clone();
    bad[0] = 0;
    assert!(transform(&plan, &sel, &biases, &bad, &idx, x, &mut scratch, &mut out).is_err());
    // Longer scratch is fine.
    let mut big = vec![0.0f32; transform_scratch_len(&plan) + 5];
    assert!(transform(&plan, &sel, &biases, &counts, &idx, x, &mut big, &mut out).is_ok());
}

#[test]
fn univariate_plans_take_empty_channel_buffers() {
    let (n, len) = (3, 40);
    let data: Vec<f32> = (0..n * len).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
    let plan = MiniRocketPlan::new(len, 1, 1_000).unwrap();
    let view = SeriesView::new(&data, n, 1, len).unwrap();
    for sel in [
        BlockSelection::all(),
        BlockSelection::Kernels { start: 2, end: 9 },
    ] {
        assert_eq!(channel_buffer_lens(&plan, &sel), (0, 0));
        let nf = sel.num_features(&plan);
        let mut biases = vec![0.0; nf];
        let mut acc = vec![0.0f32; fit_acc_scratch_len(&plan)];
        let mut sf = vec![0.0f32; fit_scratch_len(&plan)];
        fit(
            &plan,
            &sel,
            view,
            0,
            &mut biases,
            &mut [],
            &mut [],
            &mut acc,
            &mut sf,
        )
        .unwrap();
        // The same biases as the owned fit of every block.
        let owned = fit_selection(&plan, &sel, view, 0).unwrap();
        assert!(owned.channel_counts.is_empty() && owned.channel_indices.is_empty());
        assert_eq!(owned.biases, biases);
        // Per-block channel buffers are a length error for a univariate plan.
        let blocks = sel.num_blocks(&plan);
        let err = fit(
            &plan,
            &sel,
            view,
            0,
            &mut biases,
            &mut vec![1u8; blocks],
            &mut vec![0u16; blocks],
            &mut acc,
            &mut sf,
        );
        assert!(err.is_err(), "{err:?}");

        let mut scratch = vec![0.0f32; transform_scratch_len(&plan)];
        let mut out = vec![0.0; nf];
        transform(
            &plan,
            &sel,
            &biases,
            &[],
            &[],
            view.series(1),
            &mut scratch,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, owned.transform_series(view.series(1)).unwrap());
        assert!(matches!(
            transform(
                &plan,
                &sel,
                &biases,
                &vec![1u8; blocks],
                &vec![0u16; blocks],
                view.series(1),
                &mut scratch,
                &mut out,
            ),
            Err(TransformError::BufferLength(_))
        ));
    }
}

#[test]
fn multivariate_plans_still_need_exact_channel_buffers() {
    let (n, ch, len) = (3, 2, 30);
    let data: Vec<f32> = (0..n * ch * len).map(|i| (i % 7) as f32).collect();
    let plan = MiniRocketPlan::new(len, ch, 1_000).unwrap();
    let view = SeriesView::new(&data, n, ch, len).unwrap();
    let sel = BlockSelection::all();
    let (nc, ni) = channel_buffer_lens(&plan, &sel);
    assert_eq!((nc, ni), (plan.num_blocks(), 2 * plan.num_blocks()));
    let mut biases = vec![0.0; sel.num_features(&plan)];
    let mut acc = vec![0.0f32; fit_acc_scratch_len(&plan)];
    let mut sf = vec![0.0f32; fit_scratch_len(&plan)];
    assert!(
        fit(
            &plan,
            &sel,
            view,
            0,
            &mut biases,
            &mut [],
            &mut [],
            &mut acc,
            &mut sf
        )
        .is_err()
    );
    let fitted = fit_selection(&plan, &sel, view, 0).unwrap();
    let mut scratch = vec![0.0f32; transform_scratch_len(&plan)];
    let mut out = vec![0.0; sel.num_features(&plan)];
    assert!(matches!(
        transform(
            &plan,
            &sel,
            &fitted.biases,
            &[],
            &[],
            view.series(0),
            &mut scratch,
            &mut out,
        ),
        Err(TransformError::BufferLength(_))
    ));
}
