//! MiniRocket transform throughput on one thread: fits 10,000 requested
//! features (9,996 for FaceAll's 84 kernels × dilations × biases) on a
//! training split, then transforms every series of a test split `passes`
//! times and prints the series/s over all passes. Used by
//! `bench/transform-vs-aeon.sh`.
//!
//! Usage: `transform_throughput TRAIN TEST [passes]` (f32 input, seed 0).

use std::path::Path;
use std::time::Instant;

use rocknet_core::dataset;
use rocknet_core::minirocket::{MiniRocketPlan, fit_all, transform_scratch_len};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: transform_throughput TRAIN TEST [passes]");
        std::process::exit(2);
    }
    let load = |p: &str| {
        dataset::load(Path::new(p)).unwrap_or_else(|e| {
            eprintln!("{p}: {e}");
            std::process::exit(1)
        })
    };
    let (train, test) = (load(&args[1]), load(&args[2]));
    let passes: usize = args.get(3).map_or(1, |r| {
        r.parse().unwrap_or_else(|_| {
            eprintln!("passes: `{r}` is not a count");
            std::process::exit(2)
        })
    });
    let plan = MiniRocketPlan::new(train.length, train.n_channels, 10_000).unwrap_or_else(|e| {
        eprintln!("plan: {e}");
        std::process::exit(1)
    });
    let model = fit_all(&plan, train.view(), 0).unwrap_or_else(|e| {
        eprintln!("fit: {e}");
        std::process::exit(1)
    });
    let kernels = model.kernels();
    let f = kernels.num_features();
    let mut scratch = vec![0.0f32; transform_scratch_len(&plan)];
    let mut out = vec![0.0f32; test.len() * f];
    let start = Instant::now();
    for _ in 0..passes {
        for (i, row) in out.chunks_exact_mut(f).enumerate() {
            kernels
                .transform(test.series(i), &mut scratch, row)
                .expect("transform of a loaded series");
        }
    }
    let secs = start.elapsed().as_secs_f64();
    // A checksum, so the work cannot be optimised away and runs can be compared.
    let checksum: f64 = out.iter().map(|&v| v as f64).sum();
    let n = passes * test.len();
    println!(
        "{n} series x {f} features in {secs:.3} s = {:.0} series/s (checksum {checksum:.3})",
        n as f64 / secs
    );
}
