//! The cycle model (docs/cost-model.md#cycles): the core's op counts
//! ([`rocknet_core::cost`]) × Cortex-M4F cycles per operation type → cycles
//! per training and per evaluation sample, and CPU time at `energy.cpu_mhz`.
//!
//! The defaults are instruction timings from the ARM Cortex-M4 Technical
//! Reference Manual (r0p1, ARM DDI 0439: Table 3-1 for the integer core,
//! Table 7-1 for the FPU), except for the libm and compiler-runtime routines
//! the core calls, whose costs were calibrated against the firmware in QEMU
//! (`systests/tests/firmware_replay.rs`: instructions per call counted
//! with `-icount shift=0`, taken as cycles at an assumed CPI of 1 — a lower
//! bound: branches and multi-cycle loads make the real CPI somewhat higher).
//! [`CycleModel`] is deserialisable with every field optional, so a
//! calibration file overrides any subset.

use rocknet_core::classifier::DeviceSpec;
use rocknet_core::cost::{OpCounts, PhaseOps};
use serde::{Deserialize, Serialize};

/// VADD.F32 / VSUB.F32 / VNEG / VABS: 1 cycle (TRM Table 7-1).
pub const F32_ADD_CYCLES: f64 = 1.0;
/// VMUL.F32: 1 cycle (TRM Table 7-1).
pub const F32_MUL_CYCLES: f64 = 1.0;
/// VDIV.F32: 14 cycles (TRM Table 7-1).
pub const F32_DIV_CYCLES: f64 = 14.0;
/// `libm::sqrtf`: 54 cycles, **calibrated** in QEMU (54.0 instructions per
/// call over v̂-like inputs in [1e-10, 1], CPI 1 assumed; was an assumed 40).
/// libm 0.2 has no ARM override, so on `thumbv7em` it runs its generic
/// software square root (integer arithmetic) instead of VSQRT (14 cycles).
pub const F32_SQRT_CYCLES: f64 = 54.0;
/// `libm::expf`: 61 cycles, **calibrated** in QEMU (61.4 instructions per
/// call over softmax-like inputs in [−20, 0], CPI 1 assumed; was an assumed
/// 60). FreeBSD's `e_expf.c` in f32.
pub const F32_EXP_CYCLES: f64 = 61.0;
/// `libm::logf`: 50 cycles, **calibrated** in QEMU (50.0 instructions per
/// call over probabilities in [1e-3, 1], CPI 1 assumed; the assumed 50
/// held). FreeBSD's `e_logf.c` in f32.
pub const F32_LOG_CYCLES: f64 = 50.0;
/// f32 comparison: VCMP.F32 (1) + VMRS APSR_nzcv (1) = 2 cycles (TRM
/// Table 7-1).
pub const F32_CMP_CYCLES: f64 = 2.0;
/// VCVT between f32 and a 32-bit integer: 1 cycle (TRM Table 7-1).
pub const CVT_CYCLES: f64 = 1.0;
/// f32 ↔ i64 (`__aeabi_f2lz`, `__aeabi_l2f` from compiler-builtins: the
/// FPU converts only 32-bit integers): 48 cycles, **calibrated** in QEMU
/// (f32 → i64 52.0 and i64 → f32 48.0 instructions per call, each
/// including 2–3 instructions of the measuring wrapper; CPI 1 assumed; was
/// an assumed 30).
pub const CVT64_CYCLES: f64 = 48.0;
/// ADD / SUB / CMP / shifts / MUL: 1 cycle (TRM Table 3-1).
pub const INT_OP_CYCLES: f64 = 1.0;
/// LDR / VLDR.32: 2 cycles (TRM Tables 3-1, 7-1). Neighbouring loads
/// pipeline to 1 cycle each, so this is an upper bound for streaming loops;
/// calibration decides.
pub const LOAD_CYCLES: f64 = 2.0;
/// STR / VSTR.32: 2 cycles (TRM Tables 3-1, 7-1), with the same pipelining
/// caveat as [`LOAD_CYCLES`].
pub const STORE_CYCLES: f64 = 2.0;

/// Cortex-M4F cycles per operation type (fractional, so that calibrated
/// averages fit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CycleModel {
    /// Per f32 addition.
    pub f32_add: f64,
    /// Per f32 multiplication.
    pub f32_mul: f64,
    /// Per f32 division.
    pub f32_div: f64,
    /// Per `libm::sqrtf`.
    pub f32_sqrt: f64,
    /// Per `libm::expf`.
    pub f32_exp: f64,
    /// Per `libm::logf`.
    pub f32_log: f64,
    /// Per f32 comparison.
    pub f32_cmp: f64,
    /// Per f32 ↔ i32 conversion.
    pub cvt: f64,
    /// Per f32 ↔ i64 conversion.
    pub cvt64: f64,
    /// Per 32-bit integer operation.
    pub int_op: f64,
    /// Per load.
    pub load: f64,
    /// Per store.
    pub store: f64,
}

impl Default for CycleModel {
    fn default() -> Self {
        Self {
            f32_add: F32_ADD_CYCLES,
            f32_mul: F32_MUL_CYCLES,
            f32_div: F32_DIV_CYCLES,
            f32_sqrt: F32_SQRT_CYCLES,
            f32_exp: F32_EXP_CYCLES,
            f32_log: F32_LOG_CYCLES,
            f32_cmp: F32_CMP_CYCLES,
            cvt: CVT_CYCLES,
            cvt64: CVT64_CYCLES,
            int_op: INT_OP_CYCLES,
            load: LOAD_CYCLES,
            store: STORE_CYCLES,
        }
    }
}

/// A cycle cost that is negative, NaN or infinite.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cycle model field `{field}` must be a finite number ≥ 0, got {value}")]
pub struct CycleModelError {
    /// The field.
    pub field: &'static str,
    /// Its value.
    pub value: f64,
}

impl CycleModel {
    /// Every cost as `(name, cycles)`, named as [`OpCounts::entries`] names
    /// the counts.
    pub fn entries(&self) -> [(&'static str, f64); 12] {
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

    /// Checks that every cost is finite and ≥ 0.
    pub fn validate(&self) -> Result<(), CycleModelError> {
        match self
            .entries()
            .into_iter()
            .find(|(_, v)| !(v.is_finite() && *v >= 0.0))
        {
            Some((field, value)) => Err(CycleModelError { field, value }),
            None => Ok(()),
        }
    }

    /// Cycles of `ops`: `Σ count · cycles per op`.
    pub fn cycles(&self, ops: &OpCounts) -> f64 {
        ops.entries()
            .iter()
            .zip(self.entries())
            .map(|((_, n), (_, c))| *n as f64 * c)
            .sum()
    }

    /// The cycles of every phase of a device with `spec`, training with
    /// batches of `batch_size` samples.
    pub fn device_cycles(&self, spec: &DeviceSpec, batch_size: usize) -> DeviceCycles {
        self.phase_cycles(&PhaseOps::of(spec), batch_size)
    }

    /// [`Self::device_cycles`] from op counts already computed.
    pub fn phase_cycles(&self, ops: &PhaseOps, batch_size: usize) -> DeviceCycles {
        DeviceCycles {
            transform: self.cycles(&ops.transform),
            partial_logits: self.cycles(&ops.partial_logits),
            gradient: self.cycles(&ops.gradient),
            optimizer_step: self.cycles(&ops.optimizer_step),
            batch_size: batch_size.max(1),
        }
    }
}

/// One device's cycles per phase (Cortex-M4F cycles).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DeviceCycles {
    /// Transform of one sample.
    pub transform: f64,
    /// Partial logits of one sample.
    pub partial_logits: f64,
    /// Gradient of one training sample.
    pub gradient: f64,
    /// One optimizer step.
    pub optimizer_step: f64,
    /// Samples per optimizer step (≥ 1).
    pub batch_size: usize,
}

impl DeviceCycles {
    /// Cycles per training sample: transform, partial logits, gradient and
    /// the optimizer step shared by the batch's samples.
    pub fn per_train_sample(&self) -> f64 {
        self.transform
            + self.partial_logits
            + self.gradient
            + self.optimizer_step / self.batch_size as f64
    }

    /// Cycles per evaluation sample: transform and partial logits.
    pub fn per_eval_sample(&self) -> f64 {
        self.transform + self.partial_logits
    }

    /// Cycles of a whole run: `train_samples` gradients, `optimizer_steps`
    /// steps (the last batch of an epoch may be short, so steps are counted,
    /// not derived), `eval_samples` evaluations.
    pub fn run_cycles(&self, train_samples: u64, optimizer_steps: u64, eval_samples: u64) -> f64 {
        train_samples as f64 * (self.transform + self.partial_logits + self.gradient)
            + optimizer_steps as f64 * self.optimizer_step
            + eval_samples as f64 * self.per_eval_sample()
    }
}

/// CPU time of `cycles` at `cpu_mhz`, µs (one MHz is one cycle per µs).
pub fn cpu_time_us(cycles: f64, cpu_mhz: f64) -> f64 {
    cycles / cpu_mhz
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocknet_core::minirocket::MiniRocketPlan;
    use rocknet_core::optim::{AdamConfig, OptimizerKind};
    use rocknet_core::partition::PartitionPlan;
    use rocknet_core::series::InputKind;

    fn tiny_spec() -> DeviceSpec {
        let plan = MiniRocketPlan::new(9, 1, 84).unwrap();
        DeviceSpec::for_device(
            &PartitionPlan::new(plan, 1).unwrap(),
            0,
            2,
            OptimizerKind::Adam,
            AdamConfig::default(),
            InputKind::F32,
            0,
        )
        .unwrap()
    }

    #[test]
    fn cycles_weigh_each_op_type() {
        let ops = OpCounts {
            f32_add: 10,
            f32_div: 2,
            f32_sqrt: 1,
            f32_exp: 1,
            f32_cmp: 3,
            cvt64: 1,
            load: 5,
            store: 4,
            ..OpCounts::ZERO
        };
        // 10·1 + 2·14 + 54 + 61 + 3·2 + 48 + 5·2 + 4·2 = 225.
        assert_eq!(CycleModel::default().cycles(&ops), 225.0);
        let m = CycleModel {
            load: 1.0,
            ..CycleModel::default()
        };
        assert_eq!(m.cycles(&ops), 220.0);
    }

    #[test]
    fn tiny_device_cycles_by_hand() {
        // From the op counts of core's hand-computed tests (L = 9, 84
        // features, C = 2, Adam):
        // transform: 996 + 9 + 84·14 + 420·2 + 168 + 420 + 2199·2 + 791·2
        //          = 9_589;
        // logits: 170 + 338 + 170·2 + 170·48 + 352 + 342·2 + 6·2 = 10_056;
        // gradient: 177 + 172 + 14 + 2·61 + 50 + 3·2 + 2·48 + 2 + 351·2
        //          + 176·2 = 1_693;
        // step: 685 + 1_533 + 173·14 + 171·54 + 2·61 + 2·50 + 2 + 850·2
        //          + 850·2 = 17_498.
        let c = CycleModel::default().device_cycles(&tiny_spec(), 4);
        assert_eq!(c.transform, 9_589.0);
        assert_eq!(c.partial_logits, 10_056.0);
        assert_eq!(c.gradient, 1_693.0);
        assert_eq!(c.optimizer_step, 17_498.0);
        assert_eq!(c.per_eval_sample(), 19_645.0);
        assert_eq!(c.per_train_sample(), 19_645.0 + 1_693.0 + 17_498.0 / 4.0);
        assert_eq!(
            c.run_cycles(8, 2, 3),
            8.0 * 21_338.0 + 2.0 * 17_498.0 + 3.0 * 19_645.0
        );
        // 19,645 cycles at 64 MHz = 306.953125 µs.
        assert!((cpu_time_us(c.per_eval_sample(), 64.0) - 306.953_125).abs() < 1e-9);
    }

    #[test]
    fn batch_size_zero_counts_as_one() {
        let c = CycleModel::default().device_cycles(&tiny_spec(), 0);
        assert_eq!(c.batch_size, 1);
        assert_eq!(
            c.per_train_sample(),
            c.transform + c.partial_logits + c.gradient + c.optimizer_step
        );
    }

    #[test]
    fn overrides_and_validation() {
        let m: CycleModel = serde_json::from_str(r#"{"f32_sqrt": 14.0}"#).unwrap();
        assert_eq!(m.f32_sqrt, 14.0);
        assert_eq!(m.f32_div, F32_DIV_CYCLES);
        assert!(serde_json::from_str::<CycleModel>(r#"{"sqrt": 1}"#).is_err());
        assert!(CycleModel::default().validate().is_ok());
        let bad = CycleModel {
            f32_exp: -1.0,
            ..CycleModel::default()
        };
        let e = bad.validate().unwrap_err();
        assert_eq!(e.field, "f32_exp");
        assert!(e.to_string().contains("f32_exp"));
        let nan = CycleModel {
            store: f64::NAN,
            ..CycleModel::default()
        };
        assert_eq!(nan.validate().unwrap_err().field, "store");
    }
}
