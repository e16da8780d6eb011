//! Operation counts of one device (docs/cost-model.md#operation-counts): what the core's code does
//! per sample and per optimizer step, by type of operation.
//!
//! [`PhaseOps::of`] is a pure function of a [`DeviceSpec`], like
//! [`MemoryFootprint::of`](crate::memory::MemoryFootprint::of). Each counting
//! function below mirrors one function of the core, loop by loop, and names
//! it, so that a change there has an obvious counterpart here. A cycle model
//! (the coordinator's) turns the counts into Cortex-M4F cycles.
//!
//! Counted: every arithmetic operation, comparison and conversion the source
//! performs on data, every element read (a load) and written (a store) — an
//! i64 counts as two 32-bit words, loads, stores and ALU operations alike —
//! and every libm call. Not counted: loop control and address arithmetic
//! (the compiler unrolls loops and folds indices into post-indexed
//! addressing), function-call overhead, and the O(blocks) argument checks at
//! the top of each call; calibrating the cycle model against the firmware in
//! QEMU absorbs them. Data-dependent paths are counted as noted where they
//! occur (QAdam's code search, the only one).

use core::ops::{Add, AddAssign, Mul};

use crate::classifier::DeviceSpec;
use crate::memory::BufferLens;
use crate::minirocket::{self, KERNEL_INDICES, LegacyRandomState};
use crate::optim::OptimizerKind;
use crate::series::InputKind;

/// Operations by type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpCounts {
    /// f32 additions and subtractions (also negations and `fabsf`: one
    /// FPU instruction each).
    pub f32_add: u64,
    /// f32 multiplications.
    pub f32_mul: u64,
    /// f32 divisions.
    pub f32_div: u64,
    /// `libm::sqrtf` calls (a software routine on `thumbv7em`: libm uses no
    /// VSQRT there).
    pub f32_sqrt: u64,
    /// `libm::expf` calls.
    pub f32_exp: u64,
    /// `libm::logf` calls.
    pub f32_log: u64,
    /// f32 comparisons (`>`, `>=`, `max`, `is_finite`).
    pub f32_cmp: u64,
    /// Conversions between f32 and a 32-bit integer (one VCVT each).
    pub cvt: u64,
    /// Conversions between f32 and a 64-bit integer (a compiler runtime
    /// routine on a 32-bit core).
    pub cvt64: u64,
    /// 32-bit integer ALU operations (add, compare, shift, multiply); an
    /// i64 addition or comparison counts two.
    pub int_op: u64,
    /// 32-bit memory reads.
    pub load: u64,
    /// 32-bit memory writes.
    pub store: u64,
}

impl OpCounts {
    /// No operations.
    pub const ZERO: Self = Self {
        f32_add: 0,
        f32_mul: 0,
        f32_div: 0,
        f32_sqrt: 0,
        f32_exp: 0,
        f32_log: 0,
        f32_cmp: 0,
        cvt: 0,
        cvt64: 0,
        int_op: 0,
        load: 0,
        store: 0,
    };

    /// Every count as `(name, count)`, in field order.
    pub fn entries(&self) -> [(&'static str, u64); 12] {
        [
            ("f32_add", self.f32_add),
            ("f32_mul", self.f32_mul),
            ("f32_div", self.f32_div),
            ("f32_sqrt", self.f32_sqrt),
            ("f32_exp", self.f32_exp),
            ("f32_log", self.f32_log),
            ("f32_cmp", self.f32_cmp),
            ("cvt", self.cvt),
            ("cvt64", self.cvt64),
            ("int_op", self.int_op),
            ("load", self.load),
            ("store", self.store),
        ]
    }

    /// All operations, whatever their type.
    pub fn total(&self) -> u64 {
        self.entries()
            .iter()
            .fold(0u64, |a, (_, n)| a.saturating_add(*n))
    }

    /// `n` additions in the convolution's accumulator type (f32 for f32
    /// input, i32 for int8).
    fn acc_add(kind: InputKind, n: u64) -> Self {
        match kind {
            InputKind::F32 => Self {
                f32_add: n,
                ..Self::ZERO
            },
            InputKind::Int8 => Self {
                int_op: n,
                ..Self::ZERO
            },
        }
    }

    /// `n` multiplications in the accumulator type.
    fn acc_mul(kind: InputKind, n: u64) -> Self {
        match kind {
            InputKind::F32 => Self {
                f32_mul: n,
                ..Self::ZERO
            },
            InputKind::Int8 => Self {
                int_op: n,
                ..Self::ZERO
            },
        }
    }

    /// `n` loads and `m` stores.
    fn mem(load: u64, store: u64) -> Self {
        Self {
            load,
            store,
            ..Self::ZERO
        }
    }
}

/// The field-by-field operators, from one list of the counts (a count left
/// out would not compile: the struct literal needs every field). Saturating:
/// op counts never wrap.
macro_rules! fieldwise_ops {
    ($($field:ident),* $(,)?) => {
        impl Add for OpCounts {
            type Output = Self;
            fn add(self, r: Self) -> Self {
                Self { $($field: self.$field.saturating_add(r.$field)),* }
            }
        }

        /// `n` repetitions.
        impl Mul<u64> for OpCounts {
            type Output = Self;
            fn mul(self, n: u64) -> Self {
                Self { $($field: self.$field.saturating_mul(n)),* }
            }
        }
    };
}

fieldwise_ops!(
    f32_add, f32_mul, f32_div, f32_sqrt, f32_exp, f32_log, f32_cmp, cvt, cvt64, int_op, load,
    store,
);

impl AddAssign for OpCounts {
    fn add_assign(&mut self, r: Self) {
        *self = *self + r;
    }
}

/// One device's operations, by phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhaseOps {
    /// MiniRocket transform of one sample (its own kernels).
    pub transform: OpCounts,
    /// Partial logits of one sample.
    pub partial_logits: OpCounts,
    /// Gradient of one training sample (softmax, loss, accumulation).
    pub gradient: OpCounts,
    /// One optimizer step (once per batch, not per sample).
    pub optimizer_step: OpCounts,
}

impl PhaseOps {
    /// The operations of a device with `spec`.
    pub fn of(spec: &DeviceSpec) -> Self {
        Self {
            transform: transform_ops(spec),
            partial_logits: partial_logit_ops(spec),
            gradient: gradient_ops(spec),
            optimizer_step: optimizer_step_ops(spec),
        }
    }
}

// --- The transform (minirocket/transform.rs, conv.rs) -----------------------

/// `conv::pad_into`: `L` values copied, `2·pad` zeros written.
fn pad_into(l: u64, pad: u64) -> OpCounts {
    OpCounts::mem(l, l + 2 * pad)
}

/// `conv::nine_tap_sum`: per output nine reads, eight additions, one write.
fn nine_tap_sum(kind: InputKind, l: u64) -> OpCounts {
    OpCounts::mem(9 * l, l) + OpCounts::acc_add(kind, 8 * l)
}

/// `conv::times_three`: per value a read, a multiplication, a write.
fn times_three(kind: InputKind, l: u64) -> OpCounts {
    OpCounts::mem(l, l) + OpCounts::acc_mul(kind, l)
}

/// `conv::pair_partial` over `l` outputs: `(g0 − s) + g1`.
fn pair_partial(kind: InputKind, l: u64) -> OpCounts {
    OpCounts::mem(3 * l, l) + OpCounts::acc_add(kind, 2 * l)
}

/// `conv::add_third_tap` over `n` outputs: `p + g2`.
fn add_third_tap(kind: InputKind, n: u64) -> OpCounts {
    OpCounts::mem(2 * n, n) + OpCounts::acc_add(kind, n)
}

/// `conv::kernel_conv` over `n` outputs: `((g0 − s) + g1) + g2`.
fn kernel_conv(kind: InputKind, n: u64) -> OpCounts {
    OpCounts::mem(4 * n, n) + OpCounts::acc_add(kind, 3 * n)
}

/// `conv::kernel_conv_add` over `n` outputs: `c + (((g0 − s) + g1) + g2)`.
fn kernel_conv_add(kind: InputKind, n: u64) -> OpCounts {
    OpCounts::mem(5 * n, n) + OpCounts::acc_add(kind, 4 * n)
}

/// `conv::count_above` over `n` outputs: a read, (int8: a conversion to
/// f32,) a comparison and a counter increment per output.
fn count_above(kind: InputKind, n: u64) -> OpCounts {
    OpCounts {
        f32_cmp: n,
        int_op: n,
        cvt: if kind == InputKind::Int8 { n } else { 0 },
        ..OpCounts::mem(n, 0)
    }
}

/// The PPV loop of `transform_unchecked` for one kernel with `f_j` biases:
/// `positions` converted once, then per bias its read, the count over `n`
/// outputs, the count's conversion, the division and the feature's write.
fn ppv(kind: InputKind, n: u64, f_j: u64) -> OpCounts {
    let per_bias = count_above(kind, n)
        + OpCounts {
            cvt: 1,
            f32_div: 1,
            ..OpCounts::mem(1, 1)
        };
    per_bias * f_j
        + OpCounts {
            cvt: 1,
            ..OpCounts::ZERO
        }
}

/// Outputs a PPV of block `(j, k)` counts over: all `L` when `j + k` is
/// even, else the `L − 8d` that touch no padding (the reference's padding
/// alternation).
fn outputs(l: u64, d: u64, j: usize, k: usize) -> u64 {
    if (j + k).is_multiple_of(2) {
        l
    } else {
        l - 8 * d
    }
}

/// Operations of `minirocket::transform` for one sample on a device with
/// `spec`: per dilation it owns kernels at, every channel's padded `3·x` and
/// nine-tap sums; per kernel its convolution (univariate: a shared pair
/// partial whenever `(i0, i1)` changes, then the third tap; multivariate:
/// the full kernel over each channel of the block's subset, whose sizes the
/// seed fixes) and the PPV against each bias.
pub fn transform_ops(spec: &DeviceSpec) -> OpCounts {
    let plan = &spec.model;
    let sel = &spec.selection;
    let kind = spec.input;
    let l = plan.length() as u64;
    let n_ch = plan.n_channels() as u64;
    let mut ops = OpCounts::ZERO;
    for (j, (&d, &f_j)) in plan
        .dilations()
        .iter()
        .zip(plan.features_per_dilation())
        .enumerate()
    {
        let kernels = sel.kernel_range(plan, j);
        if kernels.is_empty() {
            continue;
        }
        let d = d as u64;
        let shared = pad_into(l, 4 * d) + nine_tap_sum(kind, l) + times_three(kind, l);
        ops += shared * n_ch;
        let mut pair = None;
        for k in kernels {
            let n = outputs(l, d, j, k);
            if plan.is_univariate() {
                let idx = KERNEL_INDICES[k];
                if pair != Some((idx[0], idx[1])) {
                    ops += pair_partial(kind, l);
                    pair = Some((idx[0], idx[1]));
                }
                ops += add_third_tap(kind, n);
            }
            ops += ppv(kind, n, f_j as u64);
        }
    }
    if !plan.is_univariate() {
        let mut rng = LegacyRandomState::new(spec.seed);
        minirocket::draw_sizes(plan, sel, &mut rng, |j, k, _, size| {
            let n = outputs(l, plan.dilations()[j] as u64, j, k);
            ops += kernel_conv(kind, n) + kernel_conv_add(kind, n) * (size as u64 - 1);
        });
    }
    ops
}

// --- The classifier (classifier/device.rs, logits.rs) -----------------------

/// `product_to_fixed(w, f)` with `w`, `f` already loaded: `w·f·2^20`, the
/// sign test, `±0.5`, the conversion to i64.
fn product_to_fixed() -> OpCounts {
    OpCounts {
        f32_mul: 2,
        f32_cmp: 1,
        f32_add: 1,
        cvt64: 1,
        ..OpCounts::ZERO
    }
}

/// An i64 addition (two 32-bit words with carry).
fn add_i64() -> OpCounts {
    OpCounts {
        int_op: 2,
        ..OpCounts::ZERO
    }
}

/// Operations of `DeviceModel::partial_logits` for one sample: per class
/// `F_i` fixed-point products summed in i64 (+ the class bias on device 0,
/// whose `·1.0` the compiler drops: it is exact), then
/// `PartialLogits::from_sums` clamps each sum to i32.
pub fn partial_logit_ops(spec: &DeviceSpec) -> OpCounts {
    let c = spec.n_classes as u64;
    let f = spec.num_features() as u64;
    let per_product = OpCounts::mem(2, 0) + product_to_fixed() + add_i64();
    // `value_to_fixed(b)` is `product_to_fixed(b, 1.0)`: the compiler drops
    // the exact `·1.0`, leaving the scaling by 2^20.
    let bias = if spec.holds_class_bias {
        OpCounts::mem(1, 0)
            + OpCounts {
                f32_mul: 1,
                ..product_to_fixed()
            }
            + add_i64()
    } else {
        OpCounts::ZERO
    };
    // The i64 sum written, then read back, clamped (two i64 compares), the
    // saturation test (one), the i32 written.
    let finish = OpCounts {
        int_op: 6,
        ..OpCounts::mem(2, 2 + 1)
    };
    (per_product * f + bias + finish) * c
}

/// Operations of `DeviceModel::accumulate` for one training sample: the
/// fixed-point totals back to f32, `softmax` (max, `expf`, one division,
/// normalisation), `cross_entropy` (`logf`), then per class
/// `d = p − onehot` and `F_i` multiply-accumulates into the gradient buffer
/// (+ the class bias's gradient on device 0).
pub fn gradient_ops(spec: &DeviceSpec) -> OpCounts {
    let c = spec.n_classes as u64;
    let f = spec.num_features() as u64;
    let to_f32 = OpCounts {
        cvt64: 1,
        f32_mul: 1,
        ..OpCounts::mem(2, 1)
    };
    let softmax_max = OpCounts {
        f32_cmp: 1,
        ..OpCounts::mem(1, 0)
    };
    let softmax_exp = OpCounts {
        f32_add: 2,
        f32_exp: 1,
        ..OpCounts::mem(1, 1)
    };
    let softmax_scale = OpCounts {
        f32_mul: 1,
        ..OpCounts::mem(1, 1)
    };
    let softmax_inv = OpCounts {
        f32_div: 1,
        ..OpCounts::ZERO
    };
    let cross_entropy = OpCounts {
        f32_cmp: 1,
        f32_log: 1,
        f32_add: 1,
        ..OpCounts::mem(1, 0)
    };
    let per_class = OpCounts {
        int_op: 1,
        f32_add: 1,
        ..OpCounts::mem(1, 0)
    };
    let mac = OpCounts {
        f32_mul: 1,
        f32_add: 1,
        ..OpCounts::mem(2, 1)
    };
    let bias = if spec.holds_class_bias {
        OpCounts {
            f32_add: 1,
            ..OpCounts::mem(1, 1)
        }
    } else {
        OpCounts::ZERO
    };
    (to_f32 + softmax_max + softmax_exp + softmax_scale) * c
        + softmax_inv
        + cross_entropy
        + (per_class + mac * f + bias) * c
}

// --- The optimizer step (classifier/device.rs, optim/) ----------------------

/// `libm::powf`, counted as `expf(y·logf(x))`, the function it computes (an
/// approximation of its cost: it runs twice per step, not per parameter).
fn powf() -> OpCounts {
    OpCounts {
        f32_exp: 1,
        f32_log: 1,
        f32_mul: 1,
        ..OpCounts::ZERO
    }
}

/// `AdamStep::new`: `t` to f32, two `powf`, `1 − ·` four times,
/// `1 − lr·wd`, `lr / bc1`, `1 / sqrtf(bc2)`.
fn adam_step_constants() -> OpCounts {
    powf() * 2
        + OpCounts {
            cvt: 1,
            f32_add: 5,
            f32_mul: 1,
            f32_div: 2,
            f32_sqrt: 1,
            ..OpCounts::ZERO
        }
}

/// `AdamStep::moments` with `m`, `v`, `g` loaded:
/// `(β1·m) + ((1−β1)·g)`, `(β2·v) + ((1−β2)·(g·g))`.
fn adam_moments() -> OpCounts {
    OpCounts {
        f32_mul: 5,
        f32_add: 2,
        ..OpCounts::ZERO
    }
}

/// `AdamStep::param`: `(p·decay) − (step_size·(m / ((sqrtf(v)·c) + ε)))`.
fn adam_param() -> OpCounts {
    OpCounts {
        f32_sqrt: 1,
        f32_mul: 3,
        f32_add: 2,
        f32_div: 1,
        ..OpCounts::ZERO
    }
}

/// `DynamicTreeCode::encode`, on the usual path: the NaN test, the 8-step
/// binary search (a table read, a comparison, the conditional add and the
/// step's shift each), `lo == 255`, `x <= t[lo]`, the two distances and
/// both of their comparisons. (An exact hit returns after `x <= t[lo]`, a
/// tie costs an f64 comparison more; both are rare except for zero.)
fn encode() -> OpCounts {
    let search_step = OpCounts {
        f32_cmp: 1,
        int_op: 2,
        ..OpCounts::mem(1, 0)
    };
    OpCounts {
        f32_cmp: 1 + 1 + 2,
        int_op: 1,
        f32_add: 2,
        ..OpCounts::mem(2, 0)
    } + search_step * 8
}

/// One QAdam moment decode (`CODEBOOK[code]·scale`, the code already loaded).
fn decode() -> OpCounts {
    OpCounts {
        f32_mul: 1,
        ..OpCounts::mem(1, 0)
    }
}

/// `qadam::update_block`'s per-element work, both passes: pass 1 decodes
/// and updates the moments to find the new absmax (`fabsf`, two
/// comparisons); pass 2 decodes and updates them again, updates the
/// parameter, normalises and encodes both moments (`encode_v`'s zero test).
fn qadam_element() -> OpCounts {
    let pass1 = OpCounts::mem(3, 0)
        + decode() * 2
        + adam_moments()
        + OpCounts {
            f32_add: 1,
            f32_cmp: 2,
            ..OpCounts::ZERO
        };
    let pass2 = OpCounts::mem(4, 3)
        + decode() * 2
        + adam_moments()
        + adam_param()
        + OpCounts {
            f32_mul: 2,
            int_op: 1,
            ..OpCounts::ZERO
        }
        + encode() * 2;
    pass1 + pass2
}

/// `qadam_update`'s per-block work: the layout checks, the two scales read
/// and written, the overflow caps and both `Normaliser::new` (a zero test,
/// the reciprocal, its finiteness test each).
fn qadam_block() -> OpCounts {
    OpCounts {
        int_op: 4,
        f32_cmp: 2 + 2 * 2,
        f32_div: 2,
        ..OpCounts::mem(2, 2)
    }
}

/// Operations of one `DeviceModel::step` (once per batch): the mean of the
/// accumulated gradient, the step's constants, the Adam or QAdam update of
/// every parameter (QAdam: after its finiteness scan, per block and per
/// element as [`qadam_element`] says), then the gradient buffer zeroed.
pub fn optimizer_step_ops(spec: &DeviceSpec) -> OpCounts {
    let lens = BufferLens::of(spec);
    let p = lens.params as u64;
    let mean = OpCounts {
        cvt: 1,
        f32_div: 1,
        ..OpCounts::ZERO
    } + OpCounts {
        f32_mul: 1,
        ..OpCounts::mem(1, 1)
    } * p;
    let update = match spec.optimizer {
        OptimizerKind::Adam => (OpCounts::mem(4, 3) + adam_moments() + adam_param()) * p,
        OptimizerKind::QAdam => {
            let finite_scan = OpCounts {
                f32_cmp: 1,
                ..OpCounts::mem(1, 0)
            };
            (finite_scan + qadam_element()) * p + qadam_block() * lens.optimizer_blocks as u64
        }
    };
    let zero = OpCounts::mem(0, p);
    mean + adam_step_constants() + update + zero
}

#[cfg(test)]
mod tests;
