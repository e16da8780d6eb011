//! MiniRocket transform throughput (series/s) on GunPoint and FaceAll, f32
//! and int8, against a naive per-kernel 9-tap convolution that shares
//! nothing across the 84 kernels of a dilation.
//!
//! Prints, per dataset and input type, the feature count, the measured
//! series/s of ours and of the naive baseline, and the speedup; criterion
//! then measures each variant (one series per iteration, so its `elem/s` are
//! series/s).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rocknet_core::dataset::{self, Dataset};
use rocknet_core::minirocket::{
    BlockSelection, FittedOwned, KERNEL_INDICES, MiniRocketPlan, fit_all, transform_scratch_len,
};
use rocknet_core::series::{ConvInput, Int8Scale, SeriesView};

fn load(dir: &str, file: &str) -> Dataset {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../data")
        .join(dir)
        .join(file);
    dataset::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The baseline: every kernel convolved on its own with its nine weights
/// (2 at the triple, −1 elsewhere) and explicit zero padding, then the same
/// PPV counting.
fn naive_transform<T: ConvInput>(model: &FittedOwned, x: &[T], c: &mut [f32], out: &mut [f32]) {
    let plan = &model.plan;
    let sel = model.selection;
    let l = plan.length() as isize;
    for (j, (&d, &f_j)) in plan
        .dilations()
        .iter()
        .zip(plan.features_per_dilation())
        .enumerate()
    {
        let d = d as isize;
        for (k, idx) in KERNEL_INDICES.iter().enumerate() {
            for t in 0..l {
                let mut acc = 0.0f32;
                for tap in 0..9u8 {
                    let u = t + (tap as isize - 4) * d;
                    if (0..l).contains(&u) {
                        let v = T::acc_to_f32(x[u as usize].to_acc());
                        acc += if idx.contains(&tap) { 2.0 * v } else { -v };
                    }
                }
                c[t as usize] = acc;
            }
            let (lo, hi) = if (j + k) % 2 == 0 {
                (0, l as usize)
            } else {
                (4 * d as usize, (l - 4 * d) as usize)
            };
            let off = sel.local_offset(plan, j, k).unwrap();
            for f in 0..f_j as usize {
                let b = model.biases[off + f];
                let n = c[lo..hi].iter().filter(|&&v| v > b).count();
                out[off + f] = n as f32 / (hi - lo) as f32;
            }
        }
    }
}

/// Series per second of `run` over the series in `xs`, timed for about `budget`.
fn rate(xs: &[&[f32]], budget: Duration, mut run: impl FnMut(&[f32])) -> f64 {
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < budget {
        for x in xs {
            run(x);
        }
        n += xs.len();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

struct Case {
    name: &'static str,
    model32: FittedOwned,
    model8: FittedOwned,
    series32: Vec<Vec<f32>>,
    series8: Vec<Vec<i8>>,
}

fn case(name: &'static str, dir: &str, train_file: &str) -> Case {
    let train = load(dir, train_file);
    let plan = MiniRocketPlan::new(train.length, train.n_channels, 10_000).unwrap();
    let model32 = fit_all(&plan, train.view(), 0).unwrap();
    let scale = Int8Scale::from_values(&train.values);
    let mut q = vec![0i8; train.values.len()];
    scale.quantize_into(&train.values, &mut q);
    let view8 = SeriesView::new(&q, train.len(), train.n_channels, train.length).unwrap();
    let model8 = fit_all(&plan, view8, 0).unwrap();
    let n = train.len().min(32);
    Case {
        name,
        model32,
        model8,
        series32: (0..n).map(|i| train.series(i).to_vec()).collect(),
        series8: (0..n).map(|i| view8.series(i).to_vec()).collect(),
    }
}

fn report(c: &Case) {
    let plan = &c.model32.plan;
    let f = c.model32.num_features();
    let mut scratch32 = vec![0.0f32; transform_scratch_len(plan)];
    let mut scratch8 = vec![0i32; transform_scratch_len(plan)];
    let mut out = vec![0.0f32; f];
    let mut cbuf = vec![0.0f32; plan.length()];
    let budget = Duration::from_millis(700);
    let k32 = c.model32.kernels();
    let k8 = c.model8.kernels();
    let xs32: Vec<&[f32]> = c.series32.iter().map(|s| &s[..]).collect();

    let ours32 = rate(&xs32, budget, |x| {
        k32.transform(black_box(x), &mut scratch32, &mut out)
            .unwrap();
        black_box(&out);
    });
    let naive32 = rate(&xs32, budget, |x| {
        naive_transform(&c.model32, black_box(x), &mut cbuf, &mut out);
        black_box(&out);
    });
    // int8: iterate the quantised series through the same harness by index.
    let mut i = 0;
    let ours8 = rate(&xs32, budget, |_| {
        let x = &c.series8[i % c.series8.len()];
        i += 1;
        k8.transform(black_box(&x[..]), &mut scratch8, &mut out)
            .unwrap();
        black_box(&out);
    });
    let naive8 = rate(&xs32, budget, |_| {
        let x = &c.series8[i % c.series8.len()];
        i += 1;
        naive_transform(&c.model8, black_box(&x[..]), &mut cbuf, &mut out);
        black_box(&out);
    });

    // The baseline sums in another order: its features may differ by ties.
    let mut ours = vec![0.0; f];
    k32.transform(&c.series32[0], &mut scratch32, &mut ours)
        .unwrap();
    naive_transform(&c.model32, &c.series32[0], &mut cbuf, &mut out);
    let differ = ours.iter().zip(&out).filter(|(a, b)| a != b).count();

    println!(
        "{} (L = {}, {} dilations): {} features/series; naive baseline differs on {} of them",
        c.name,
        plan.length(),
        plan.n_dilations(),
        f,
        differ
    );
    for (kind, ours, naive) in [("f32 ", ours32, naive32), ("int8", ours8, naive8)] {
        println!(
            "  {kind}: {ours:>9.0} series/s ({:>6.1} µs/series); naive {naive:>8.0} series/s; \
             speedup ×{:.2}",
            1e6 / ours,
            ours / naive
        );
    }
}

fn bench(cr: &mut Criterion) {
    let cases = [
        case("GunPoint", "GunPoint", "GunPoint_TRAIN.ts"),
        case("FaceAll", "FaceAll", "FaceAll_TRAIN.txt"),
    ];
    for c in &cases {
        report(c);
    }
    for c in &cases {
        let plan = &c.model32.plan;
        assert_eq!(c.model32.selection, BlockSelection::all());
        let mut group = cr.benchmark_group(c.name);
        group
            .throughput(Throughput::Elements(1))
            .sample_size(20)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_millis(1500));
        let mut out = vec![0.0f32; c.model32.num_features()];
        let mut scratch32 = vec![0.0f32; transform_scratch_len(plan)];
        let mut scratch8 = vec![0i32; transform_scratch_len(plan)];
        let mut cbuf = vec![0.0f32; plan.length()];
        let k32 = c.model32.kernels();
        let k8 = c.model8.kernels();
        let mut i = 0;
        group.bench_function("f32", |b| {
            b.iter(|| {
                i += 1;
                let x = &c.series32[i % c.series32.len()];
                k32.transform(black_box(&x[..]), &mut scratch32, &mut out)
                    .unwrap();
            })
        });
        group.bench_function("int8", |b| {
            b.iter(|| {
                i += 1;
                let x = &c.series8[i % c.series8.len()];
                k8.transform(black_box(&x[..]), &mut scratch8, &mut out)
                    .unwrap();
            })
        });
        group.bench_function("f32 naive", |b| {
            b.iter(|| {
                i += 1;
                let x = &c.series32[i % c.series32.len()];
                naive_transform(&c.model32, black_box(&x[..]), &mut cbuf, &mut out);
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
