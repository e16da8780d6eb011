//! Optimizers through the public API: QAdam against Adam on a logistic
//! regression, and bit-exact determinism.

use rocknet_core::optim::{
    AdamConfig, AdamStep, DynamicTreeCode, OptimizerKind, adam_update, num_blocks, qadam_init,
    qadam_update, uniform_blocks,
};

/// xorshift64 (Marsaglia), enough for reproducible test data.
struct XorShift(u64);

impl XorShift {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [0, 1), 24 bits.
    fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [−1, 1).
    fn symmetric(&mut self) -> f32 {
        self.uniform() * 2.0 - 1.0
    }
}

/// Binary logistic regression with sparse non-negative features (like
/// MiniRocket's PPVs, which lie in [0, 1]): each of the `n` samples has `k` of
/// the `d` features non-zero, labels drawn from a planted model. With many more
/// samples than parameters per feature the optimum has a loss well above 0, so
/// relative loss differences are meaningful.
struct Problem {
    d: usize,
    k: usize,
    idx: Vec<u32>,
    val: Vec<f32>,
    y: Vec<f32>,
}

impl Problem {
    fn new(d: usize, n: usize, k: usize, seed: u64) -> Self {
        let mut rng = XorShift(seed);
        let w_star: Vec<f32> = (0..d).map(|_| rng.symmetric()).collect();
        let (mut idx, mut val, mut y) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..n {
            let mut z = 0.0f32;
            for _ in 0..k {
                let j = (rng.next_u64() % d as u64) as u32;
                let x = rng.uniform();
                z += w_star[j as usize] * x;
                idx.push(j);
                val.push(x);
            }
            y.push(if rng.uniform() < sigmoid(z) { 1.0 } else { 0.0 });
        }
        Problem { d, k, idx, val, y }
    }

    /// The first `m` samples and the rest.
    fn split(&self, m: usize) -> (Problem, Problem) {
        let part = |r: std::ops::Range<usize>| Problem {
            d: self.d,
            k: self.k,
            idx: self.idx[r.start * self.k..r.end * self.k].to_vec(),
            val: self.val[r.start * self.k..r.end * self.k].to_vec(),
            y: self.y[r].to_vec(),
        };
        (part(0..m), part(m..self.y.len()))
    }

    /// Mean cross-entropy (f64) and its gradient (f32, into `g`).
    fn loss_and_grad(&self, w: &[f32], g: &mut [f32]) -> f64 {
        g.fill(0.0);
        let mut loss = 0.0f64;
        let n = self.y.len();
        let inv_n = 1.0 / n as f32;
        for ((idx, val), &y) in self
            .idx
            .chunks_exact(self.k)
            .zip(self.val.chunks_exact(self.k))
            .zip(&self.y)
        {
            let z: f32 = idx.iter().zip(val).map(|(&j, x)| w[j as usize] * x).sum();
            let zf = z as f64;
            // log(1 + e^z) − y·z, stably.
            loss += zf.max(0.0) + (-zf.abs()).exp().ln_1p() - y as f64 * zf;
            let r = (sigmoid(z) - y) * inv_n;
            for (&j, x) in idx.iter().zip(val) {
                g[j as usize] += r * x;
            }
        }
        loss / n as f64
    }
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + libm::expf(-z))
}

/// Device-style optimizer state for one parameter vector.
struct Trainer {
    kind: OptimizerKind,
    cfg: AdamConfig,
    block: usize,
    w: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    mc: Vec<u8>,
    vc: Vec<u8>,
    ms: Vec<f32>,
    vs: Vec<f32>,
    t: u32,
}

impl Trainer {
    fn new(kind: OptimizerKind, cfg: AdamConfig, d: usize, block: usize) -> Self {
        let nb = num_blocks(d, block);
        let mut tr = Trainer {
            kind,
            cfg,
            block,
            w: vec![0.0; d],
            m: vec![0.0; d],
            v: vec![0.0; d],
            mc: vec![0; d],
            vc: vec![0; d],
            ms: vec![0.0; nb],
            vs: vec![0.0; nb],
            t: 0,
        };
        qadam_init(&mut tr.mc, &mut tr.vc, &mut tr.ms, &mut tr.vs);
        tr
    }

    fn step(&mut self, g: &[f32]) {
        self.t += 1;
        let step = AdamStep::new(&self.cfg, self.t);
        let blocks = uniform_blocks(self.w.len(), self.block);
        match self.kind {
            OptimizerKind::Adam => {
                adam_update(&self.cfg, &step, &mut self.w, g, &mut self.m, &mut self.v)
            }
            OptimizerKind::QAdam => qadam_update(
                &self.cfg,
                &step,
                &mut self.w,
                g,
                &mut self.mc,
                &mut self.vc,
                &mut self.ms,
                &mut self.vs,
                blocks,
            )
            .unwrap(),
        }
    }

    /// FNV-1a over the bit patterns of the whole state.
    fn hash(&self) -> u64 {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                h ^= b as u64;
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        for x in self
            .w
            .iter()
            .chain(&self.m)
            .chain(&self.v)
            .chain(&self.ms)
            .chain(&self.vs)
        {
            assert!(x.is_finite());
            eat(&x.to_bits().to_le_bytes());
        }
        eat(&self.mc);
        eat(&self.vc);
        h
    }
}

fn train(
    p: &Problem,
    kind: OptimizerKind,
    cfg: AdamConfig,
    block: usize,
    steps: u32,
) -> (Trainer, f64) {
    let mut tr = Trainer::new(kind, cfg, p.d, block);
    let mut g = vec![0.0; p.d];
    for _ in 0..steps {
        p.loss_and_grad(&tr.w, &mut g);
        tr.step(&g);
    }
    let loss = p.loss_and_grad(&tr.w, &mut g);
    (tr, loss)
}

#[test]
fn qadam_tracks_adam_on_logistic_regression() {
    // 2000 parameters; blocks of 115 (the FaceAll per-kernel block), so the
    // last block has 45. 8000 training samples (each feature occurs in ~128),
    // 4000 held-out samples from the same planted model; full-batch steps.
    let data = Problem::new(2000, 12_000, 32, 0x2545_f491_4f6c_dd1d);
    let (train_set, test_set) = data.split(8_000);
    let zeros = vec![0.0; data.d];
    let initial = train_set.loss_and_grad(&zeros, &mut zeros.clone());
    for lr in [1e-3f32, 1e-2] {
        let cfg = AdamConfig {
            lr,
            ..AdamConfig::default()
        };
        let (adam, l_adam) = train(&train_set, OptimizerKind::Adam, cfg, 115, 200);
        let (qadam, l_qadam) = train(&train_set, OptimizerKind::QAdam, cfg, 115, 200);
        let t_adam = test_set.loss_and_grad(&adam.w, &mut zeros.clone());
        let t_qadam = test_set.loss_and_grad(&qadam.w, &mut zeros.clone());
        let rel = (l_qadam - l_adam).abs() / l_adam;
        let t_rel = (t_qadam - t_adam).abs() / t_adam;
        let w_diff = adam
            .w
            .iter()
            .zip(&qadam.w)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        println!(
            "lr {lr:e}: train loss {initial:.4} -> Adam {l_adam:.5}, QAdam {l_qadam:.5} \
             (rel. diff. {rel:.4}); test loss Adam {t_adam:.5}, QAdam {t_qadam:.5} \
             (rel. diff. {t_rel:.4}); max |w_adam − w_qadam| {w_diff:.4}"
        );
        assert!(l_adam < 0.9 * initial, "Adam did not learn: {l_adam}");
        assert!(l_qadam < 0.9 * initial, "QAdam did not learn: {l_qadam}");
        assert!(rel < 0.02, "train loss: QAdam {l_qadam} vs Adam {l_adam}");
        assert!(t_rel < 0.02, "test loss: QAdam {t_qadam} vs Adam {t_adam}");
    }
}

#[test]
fn hundred_steps_are_bit_identical_across_runs() {
    let p = Problem::new(300, 1000, 16, 42);
    let cfg = AdamConfig {
        lr: 1e-2,
        weight_decay: 1e-2,
        ..AdamConfig::default()
    };
    // Golden values: the per-element arithmetic order is a contract with the
    // firmware (see `rocknet_core::optim`). If a change to the optimizers
    // moves these, it changes results bit-wise: update the firmware too.
    let golden = [
        (
            OptimizerKind::Adam,
            0xe700_5d09_96d9_7b0f_u64,
            0x0006_e880_fdc2_0ef1_u64,
        ),
        (
            OptimizerKind::QAdam,
            0x4e32_d7ea_4445_b2e6,
            0x8f0d_615d_c68c_9d59,
        ),
    ];
    for (kind, golden_w, golden_state) in golden {
        let (a, _) = train(&p, kind, cfg, 37, 100);
        let (b, _) = train(&p, kind, cfg, 37, 100);
        let w_hash = |t: &Trainer| {
            let mut h = 0xcbf2_9ce4_8422_2325u64;
            for x in &t.w {
                for byte in x.to_bits().to_le_bytes() {
                    h = (h ^ byte as u64).wrapping_mul(0x0000_0100_0000_01b3);
                }
            }
            h
        };
        println!(
            "{kind}: param hash {:#018x}, state hash {:#018x}",
            w_hash(&a),
            a.hash()
        );
        assert_eq!(w_hash(&a), w_hash(&b));
        assert_eq!(a.hash(), b.hash());
        assert_eq!(w_hash(&a), golden_w, "{kind}: parameters changed bit-wise");
        assert_eq!(
            a.hash(),
            golden_state,
            "{kind}: optimizer state changed bit-wise"
        );
    }
}

#[test]
fn codebooks_are_reachable_through_the_api() {
    let s = DynamicTreeCode::SIGNED;
    assert_eq!(s.decode(s.encode(-1.0)), -1.0);
    assert_eq!(
        DynamicTreeCode::UNSIGNED.decode(DynamicTreeCode::UNSIGNED.encode(1.0)),
        1.0
    );
    assert_eq!("qadam".parse::<OptimizerKind>(), Ok(OptimizerKind::QAdam));
    assert_eq!("Adam".parse::<OptimizerKind>(), Ok(OptimizerKind::Adam));
    assert!("sgd".parse::<OptimizerKind>().is_err());
    assert_eq!(OptimizerKind::QAdam.state_bytes(1150, 10), 2380);
    assert_eq!(OptimizerKind::Adam.state_bytes(1150, 10), 9200);
}
