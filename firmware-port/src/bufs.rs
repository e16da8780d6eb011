//! The device's buffers: `static` arrays sized by build.rs from the device's
//! record (`BufferLens::of`, the lengths the host's `MemoryFootprint`
//! counts), in `.bss`, handed out once as `&'static mut` slices.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use rocknet_core::classifier::DeviceBuffers;
use rocknet_core::storage::StaticStorage;

use crate::config::*;

/// A zero-initialised static array, borrowed mutably at most once.
#[repr(C, align(8))]
struct Static<T, const N: usize>(UnsafeCell<[T; N]>);

// SAFETY: the contents are only reachable through the one `&'static mut`
// that `take` hands out (guarded by `TAKEN`).
unsafe impl<T, const N: usize> Sync for Static<T, N> {}

impl<T, const N: usize> Static<T, N> {
    const fn new(v: [T; N]) -> Self {
        Self(UnsafeCell::new(v))
    }

    /// # Safety
    /// At most once per static over the program's life.
    #[allow(clippy::mut_from_ref)] // an UnsafeCell, borrowed once
    unsafe fn get(&'static self) -> &'static mut [T] {
        // SAFETY: the caller guarantees uniqueness.
        unsafe { &mut *self.0.get() }
    }
}

static TAKEN: AtomicBool = AtomicBool::new(false);

static KERNEL_BIASES_BUF: Static<f32, KERNEL_BIASES> = Static::new([0.0; KERNEL_BIASES]);
static CHANNEL_COUNTS_BUF: Static<u8, CHANNEL_COUNTS> = Static::new([0; CHANNEL_COUNTS]);
static CHANNEL_INDICES_BUF: Static<u16, CHANNEL_INDICES> = Static::new([0; CHANNEL_INDICES]);
static PARAMS_BUF: Static<f32, PARAMS> = Static::new([0.0; PARAMS]);
static GRADS_BUF: Static<f32, GRADS> = Static::new([0.0; GRADS]);
static MOMENT1_BUF: Static<f32, MOMENT_F32> = Static::new([0.0; MOMENT_F32]);
static MOMENT2_BUF: Static<f32, MOMENT_F32> = Static::new([0.0; MOMENT_F32]);
static CODES1_BUF: Static<u8, MOMENT_CODES> = Static::new([0; MOMENT_CODES]);
static CODES2_BUF: Static<u8, MOMENT_CODES> = Static::new([0; MOMENT_CODES]);
static FEATURES_BUF: Static<f32, FEATURES> = Static::new([0.0; FEATURES]);
static TRANSFORM_SCRATCH_BUF: Static<Acc, TRANSFORM_SCRATCH> =
    Static::new([ACC_ZERO; TRANSFORM_SCRATCH]);
static FIT_SCRATCH_BUF: Static<f32, FIT_SCRATCH> = Static::new([0.0; FIT_SCRATCH]);
static SAMPLE_BUF: Static<Input, SAMPLE> = Static::new([INPUT_ZERO; SAMPLE]);
static CLASS_SCRATCH_BUF: Static<f32, CLASS_SCRATCH> = Static::new([0.0; CLASS_SCRATCH]);
static PREDICTIONS_BUF: Static<u16, N_TEST> = Static::new([0; N_TEST]);
static RX_BUF: Static<u8, MAX_PACKET> = Static::new([0; MAX_PACKET]);
static TX_BUF: Static<u8, MAX_PACKET> = Static::new([0; MAX_PACKET]);

/// Everything the firmware keeps in RAM besides the stack.
pub struct Buffers {
    /// The model's buffers.
    pub device: DeviceBuffers<Input, StaticStorage>,
    /// Predicted class per test series.
    pub predictions: &'static mut [u16],
    /// One received packet.
    pub rx: &'static mut [u8],
    /// One packet to send.
    pub tx: &'static mut [u8],
}

/// The buffers, the first time only.
pub fn take() -> Option<Buffers> {
    if TAKEN.swap(true, Ordering::AcqRel) {
        return None;
    }
    // SAFETY: `TAKEN` was false: this is the only call that gets here.
    unsafe {
        Some(Buffers {
            device: DeviceBuffers {
                kernel_biases: KERNEL_BIASES_BUF.get(),
                channel_counts: CHANNEL_COUNTS_BUF.get(),
                channel_indices: CHANNEL_INDICES_BUF.get(),
                params: PARAMS_BUF.get(),
                grads: GRADS_BUF.get(),
                moment1: MOMENT1_BUF.get(),
                moment2: MOMENT2_BUF.get(),
                codes1: CODES1_BUF.get(),
                codes2: CODES2_BUF.get(),
                features: FEATURES_BUF.get(),
                transform_scratch: TRANSFORM_SCRATCH_BUF.get(),
                fit_scratch: FIT_SCRATCH_BUF.get(),
                sample: SAMPLE_BUF.get(),
                class_scratch: CLASS_SCRATCH_BUF.get(),
            },
            predictions: PREDICTIONS_BUF.get(),
            rx: RX_BUF.get(),
            tx: TX_BUF.get(),
        })
    }
}
