//! DeviceModel against independent facts: the gradient equals a finite
//! difference of the loss, Adam's first step moves every weight by lr·sign(g),
//! the initial weights have the specified distribution and do not depend on
//! the partition, and bad buffers or labels are errors.

use rocknet_core::classifier::{
    DeviceBuffers, DeviceError, DeviceModel, DeviceSpec, LogitTotals, fixed_to_f32, softmax,
};
use rocknet_core::minirocket::MiniRocketPlan;
use rocknet_core::optim::{AdamConfig, OptimizerKind};
use rocknet_core::partition::PartitionPlan;
use rocknet_core::series::{InputKind, SeriesView};
use rocknet_core::storage::HeapStorage;

type Dev = DeviceModel<f32, HeapStorage>;

const L: usize = 40;
const N: usize = 12;
const C: usize = 3;

fn data() -> (Vec<f32>, Vec<usize>) {
    // Three classes of easy-to-tell shapes, deterministic.
    let mut x = Vec::with_capacity(N * L);
    let mut y = Vec::with_capacity(N);
    for i in 0..N {
        let c = i % C;
        for t in 0..L {
            let t = t as f32;
            let v = match c {
                0 => (t * 0.3 + i as f32).sin(),
                1 => (t * 0.05).cos() * 2.0 - 0.1 * i as f32,
                _ => {
                    if (t as usize / 5).is_multiple_of(2) {
                        1.0
                    } else {
                        -1.0
                    }
                }
            };
            x.push(v);
        }
        y.push(c);
    }
    (x, y)
}

fn devices(n: usize, optimizer: OptimizerKind, lr: f32) -> (Vec<Dev>, Vec<f32>, Vec<usize>) {
    let (x, y) = data();
    let plan = MiniRocketPlan::new(L, 1, 840).unwrap();
    let part = PartitionPlan::new(plan, n).unwrap();
    let adam = AdamConfig {
        lr,
        ..AdamConfig::default()
    };
    let view = SeriesView::new(&x, N, 1, L).unwrap();
    let devs = (0..n)
        .map(|d| {
            let spec =
                DeviceSpec::for_device(&part, d, C, optimizer, adam, InputKind::F32, 7).unwrap();
            let mut dev = Dev::new(spec, DeviceBuffers::allocate(&spec)).unwrap();
            dev.fit(view).unwrap();
            dev
        })
        .collect();
    (devs, x, y)
}

fn forward(devs: &mut [Dev], sample: &[f32]) -> LogitTotals {
    let mut t = LogitTotals::new(C);
    for d in devs.iter_mut() {
        d.sample_mut().copy_from_slice(sample);
        d.compute_features().unwrap();
        t.add(&d.partial_logits()).unwrap();
    }
    t
}

fn loss(devs: &mut [Dev], sample: &[f32], label: usize) -> f64 {
    let t = forward(devs, sample);
    let z: Vec<f64> = t.sums().iter().map(|&s| fixed_to_f32(s) as f64).collect();
    let max = z.iter().cloned().fold(f64::MIN, f64::max);
    let lse = z.iter().map(|v| (v - max).exp()).sum::<f64>().ln() + max;
    lse - z[label]
}

#[test]
fn gradient_matches_finite_difference() {
    let (mut devs, x, y) = devices(2, OptimizerKind::Adam, 1e-3);
    let (s, label) = (&x[4 * L..5 * L], y[4]);
    let t = forward(&mut devs, s);
    for d in devs.iter_mut() {
        d.accumulate(&t, label).unwrap();
    }
    // Check a spread of weights on both devices, and device 0's class biases.
    for (di, d) in [0usize, 1].iter().enumerate() {
        let n_params = devs[*d].params().len();
        let f_i = devs[*d].spec().num_features();
        let mut picks: Vec<usize> = (0..C)
            .map(|c| c * f_i + (17 * (c + 1) + di) % f_i)
            .collect();
        if *d == 0 {
            picks.push(n_params - 1); // a class bias
        }
        for &p in &picks {
            let g = devs[*d].gradients()[p] as f64;
            let h = 1e-2f32;
            let w0 = devs[*d].params()[p];
            devs[*d].params_mut()[p] = w0 + h;
            let up = loss(&mut devs, s, label);
            devs[*d].params_mut()[p] = w0 - h;
            let down = loss(&mut devs, s, label);
            devs[*d].params_mut()[p] = w0;
            let fd = (up - down) / (2.0 * h as f64);
            assert!(
                (fd - g).abs() < 1e-3 + 1e-2 * g.abs(),
                "device {d} param {p}: gradient {g} vs finite difference {fd}"
            );
        }
    }
}

#[test]
fn gradient_is_softmax_minus_onehot_times_features() {
    let (mut devs, x, y) = devices(1, OptimizerKind::Adam, 1e-3);
    let (s, label) = (&x[..L], y[0]);
    let t = forward(&mut devs, s);
    let mut z = [0.0f32; C];
    t.to_f32(&mut z);
    let mut p = [0.0f32; C];
    softmax(&z, &mut p);
    let d = &mut devs[0];
    d.accumulate(&t, label).unwrap();
    let f = d.features().to_vec();
    let fi = f.len();
    for (c, &pc) in p.iter().enumerate() {
        let delta = pc - if c == label { 1.0 } else { 0.0 };
        for j in (0..fi).step_by(37) {
            assert_eq!(d.gradients()[c * fi + j], delta * f[j]);
        }
        assert_eq!(d.gradients()[C * fi + c], delta);
    }
}

#[test]
fn first_adam_step_moves_each_weight_by_lr_sign_g() {
    let lr = 1e-3;
    let (mut devs, x, y) = devices(3, OptimizerKind::Adam, lr);
    let before: Vec<Vec<f32>> = devs.iter().map(|d| d.params().to_vec()).collect();
    for i in 0..4 {
        let t = forward(&mut devs, &x[i * L..(i + 1) * L]);
        for d in devs.iter_mut() {
            d.accumulate(&t, y[i]).unwrap();
        }
    }
    let grads: Vec<Vec<f32>> = devs.iter().map(|d| d.gradients().to_vec()).collect();
    for d in devs.iter_mut() {
        assert_eq!(d.pending(), 4);
        d.step().unwrap();
        assert_eq!((d.pending(), d.steps()), (0, 1));
        assert!(
            d.gradients().iter().all(|&g| g == 0.0),
            "accumulator cleared"
        );
    }
    let mut moved = 0;
    for (d, dev) in devs.iter().enumerate() {
        for ((&b, &a), &g) in before[d].iter().zip(dev.params()).zip(&grads[d]) {
            let step = a - b;
            if g.abs() > 1e-4 {
                // m̂/√v̂ = g/|g| on step 1 (up to ε).
                assert!(
                    (step + lr * g.signum()).abs() < 1e-5,
                    "step {step} for g {g}"
                );
                moved += 1;
            }
        }
    }
    assert!(moved > 100, "only {moved} weights had a gradient");
}

#[test]
fn qadam_trains_and_stays_close_to_adam() {
    let run = |o| {
        let (mut devs, x, y) = devices(2, o, 1e-2);
        let mut last = 0.0;
        for _epoch in 0..15 {
            last = 0.0;
            for i in 0..N {
                let t = forward(&mut devs, &x[i * L..(i + 1) * L]);
                for d in devs.iter_mut() {
                    let l = d.accumulate(&t, y[i]).unwrap();
                    if d.spec().holds_class_bias {
                        last += l as f64 / N as f64;
                    }
                }
                if i % 4 == 3 {
                    devs.iter_mut().for_each(|d| d.step().unwrap());
                }
            }
        }
        last
    };
    let adam = run(OptimizerKind::Adam);
    let qadam = run(OptimizerKind::QAdam);
    assert!(adam < 0.05, "Adam did not fit the toy set: loss {adam}");
    assert!(qadam < 0.05, "QAdam did not fit the toy set: loss {qadam}");
}

#[test]
fn initial_weights_have_the_specified_scale_and_ignore_the_partition() {
    let (one, ..) = devices(1, OptimizerKind::Adam, 1e-3);
    let w = one[0].params();
    let plan = one[0].spec().model;
    let f = plan.num_features();
    let n = (C * f) as f64;
    let mean = w[..C * f].iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = w[..C * f]
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let want = 2.0 / ((f + C) as f64).sqrt();
    assert!(mean.abs() < 4.0 * want / n.sqrt(), "mean {mean}");
    assert!(
        (var.sqrt() / want - 1.0).abs() < 0.05,
        "std {} vs {want}",
        var.sqrt()
    );
    assert!(
        w[C * f..].iter().all(|&b| b == 0.0),
        "class biases start at 0"
    );

    // Where each reference feature sits in the one-device (kernel-major) layout.
    let mut one_pos = vec![usize::MAX; f];
    for (l, slot) in (0..f).map(|l| (l, one[0].spec().selection.reference_index(&plan, l))) {
        one_pos[slot] = l;
    }
    let (split, ..) = devices(5, OptimizerKind::Adam, 1e-3);
    for dev in &split {
        let spec = dev.spec();
        let fi = spec.num_features();
        for c in 0..C {
            for local in 0..fi {
                let r = spec.selection.reference_index(&plan, local);
                assert_eq!(dev.params()[c * fi + local], w[c * f + one_pos[r]]);
            }
        }
    }
}

#[test]
fn wrong_buffers_labels_and_classes_are_errors() {
    let plan = MiniRocketPlan::new(L, 1, 840).unwrap();
    let part = PartitionPlan::new(plan, 2).unwrap();
    let spec = DeviceSpec::for_device(
        &part,
        1,
        C,
        OptimizerKind::QAdam,
        AdamConfig::default(),
        InputKind::F32,
        0,
    )
    .unwrap();
    let mut b = DeviceBuffers::<f32, HeapStorage>::allocate(&spec);
    b.grads.pop();
    match Dev::new(spec, b) {
        Err(DeviceError::BufferLength { buffer, .. }) => assert_eq!(buffer, "grads"),
        other => panic!("expected a buffer-length error, got {:?}", other.err()),
    }
    let wrong_input = DeviceModel::<i8, HeapStorage>::new(spec, DeviceBuffers::allocate(&spec));
    assert!(matches!(wrong_input, Err(DeviceError::InputKind { .. })));
    let one_class = DeviceSpec {
        n_classes: 1,
        ..spec
    };
    assert!(matches!(
        Dev::new(one_class, DeviceBuffers::allocate(&one_class)),
        Err(DeviceError::Classes(1))
    ));
    let bad_lr = DeviceSpec {
        adam: AdamConfig {
            lr: -1.0,
            ..AdamConfig::default()
        },
        ..spec
    };
    assert!(Dev::new(bad_lr, DeviceBuffers::allocate(&bad_lr)).is_err());
    let mut dev = Dev::new(spec, DeviceBuffers::allocate(&spec)).unwrap();
    let t = LogitTotals::new(C);
    assert!(matches!(
        dev.accumulate(&t, C),
        Err(DeviceError::Label { .. })
    ));
    assert!(matches!(
        dev.accumulate(&LogitTotals::new(C + 1), 0),
        Err(DeviceError::Totals { .. })
    ));
    assert!(dev.set_features(&[0.0; 3]).is_err());
}
