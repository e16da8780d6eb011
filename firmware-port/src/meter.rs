//! Time per phase from SysTick (clock source = the core clock), extended to
//! 64 bits by counting wraps in the SysTick exception.
//!
//! On the nRF52840 one tick is one CPU cycle (64 MHz). In QEMU with
//! `-icount shift=0` every instruction advances virtual time by 1 ns and the
//! mps2-an386's SysTick runs at 25 MHz, so one tick is 40 instructions;
//! [`Clock::calibrate`] measures that instead of assuming it.

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{SCB, SYST};
use cortex_m_rt::exception;

static WRAPS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    WRAPS.fetch_add(1, Ordering::Relaxed);
}

const RELOAD: u32 = 0x00FF_FFFF;

/// The phases measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// MiniRocket bias fit (once).
    Fit = 0,
    /// Transform of one sample.
    Transform = 1,
    /// Partial logits of one sample.
    PartialLogits = 2,
    /// Gradient of one training sample.
    Gradient = 3,
    /// One optimizer step.
    Step = 4,
}

/// Names, in [`Phase`] order.
#[cfg_attr(not(feature = "radio-replay"), allow(dead_code))] // reported by the replay build
pub const PHASE_NAMES: [&str; 5] = ["fit", "transform", "partial_logits", "gradient", "step"];

/// A running SysTick and the ticks spent per phase.
pub struct Clock {
    _syst: SYST,
    /// Ticks per phase.
    pub ticks: [u64; 5],
    /// Calls per phase.
    pub calls: [u64; 5],
}

impl Clock {
    /// Starts SysTick from the core clock, wrapping every 2^24 ticks.
    pub fn start(mut syst: SYST) -> Self {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(RELOAD);
        syst.clear_current();
        syst.enable_interrupt();
        syst.enable_counter();
        Self {
            _syst: syst,
            ticks: [0; 5],
            calls: [0; 5],
        }
    }

    /// Ticks since [`Self::start`].
    pub fn now(&self) -> u64 {
        loop {
            let w = WRAPS.load(Ordering::Relaxed);
            let cur = SYST::get_current();
            // A wrap whose exception has not run yet (QEMU takes interrupts
            // at translation-block boundaries).
            let pending = SCB::is_pendst_pending() && cur > RELOAD / 2;
            if WRAPS.load(Ordering::Relaxed) == w {
                let wraps = u64::from(w) + u64::from(pending);
                return wraps * (u64::from(RELOAD) + 1) + u64::from(RELOAD - cur);
            }
        }
    }

    /// Runs `f` and adds its ticks to `phase`.
    #[inline(always)]
    pub fn measure<R>(&mut self, phase: Phase, f: impl FnOnce() -> R) -> R {
        let t0 = self.now();
        let r = f();
        let t1 = self.now();
        self.ticks[phase as usize] += t1 - t0;
        self.calls[phase as usize] += 1;
        r
    }

    /// Ticks taken by a loop of exactly `2 · iterations` instructions
    /// (`subs` + `bne`), to turn ticks into instructions.
    #[cfg_attr(not(feature = "radio-replay"), allow(dead_code))] // reported by the replay build
    pub fn calibrate(&self, iterations: u32) -> u64 {
        let t0 = self.now();
        // SAFETY: a register-only countdown loop.
        unsafe {
            core::arch::asm!(
                "2:",
                "subs {n}, {n}, #1",
                "bne 2b",
                n = inout(reg) iterations => _,
                options(nomem, nostack),
            );
        }
        self.now() - t0
    }
}

/// The routines whose cycle costs the cost model assumes (libm, and the
/// compiler runtime's 64-bit conversions), in the order [`Clock::routines`]
/// measures them.
#[cfg_attr(not(feature = "radio-replay"), allow(dead_code))] // reported by the replay build
pub const ROUTINE_NAMES: [&str; 5] = ["sqrtf", "expf", "logf", "f32_to_i64", "i64_to_f32"];

impl Clock {
    /// Ticks of `n` calls of each routine in [`ROUTINE_NAMES`] over inputs
    /// in the ranges the core calls them with, minus the ticks of the same
    /// loop without the call. Returns (routine ticks, baseline ticks).
    #[cfg_attr(not(feature = "radio-replay"), allow(dead_code))] // reported by the replay build
    pub fn routines(&self, n: u32) -> ([u64; 5], u64) {
        let baseline = self.time_loop(n, 0.0, 1.0, |v| v);
        let net = |t: u64| t.saturating_sub(baseline);
        // Adam's sqrt(v̂) (v̂ small), softmax's exp(z − max) ≤ 0, the loss's
        // log of a probability, fixed-point products (|w·f|·2^20; the
        // result's VCVT to i32 and back costs 2 instructions), and
        // fixed-point sums back to f32 (+ a VCVT and a shift).
        let out = [
            net(self.time_loop(n, 1e-10, 1.0, libm::sqrtf)),
            net(self.time_loop(n, -20.0, 0.0, libm::expf)),
            net(self.time_loop(n, 1e-3, 1.0, libm::logf)),
            net(self.time_loop(n, -3.0e6, 3.0e6, |v| {
                core::hint::black_box(v as i64) as i32 as f32
            })),
            net(self.time_loop(n, -3.0e6, 3.0e6, |v| {
                (core::hint::black_box(i64::from(v as i32) << 9)) as f32
            })),
        ];
        (out, baseline)
    }

    /// Ticks of `n` iterations of `acc += f(x_i)`, `x_i` spread over
    /// `[lo, hi)`.
    #[inline(never)]
    fn time_loop(&self, n: u32, lo: f32, hi: f32, f: impl Fn(f32) -> f32) -> u64 {
        use core::hint::black_box;
        let step = (hi - lo) / n as f32;
        let t0 = self.now();
        let mut acc = 0.0f32;
        for i in 0..n {
            acc += black_box(f(black_box(lo + step * i as f32)));
        }
        black_box(acc);
        self.now() - t0
    }
}
