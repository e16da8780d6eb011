//! Stack high-water mark by painting: fill the free stack with a pattern at
//! start-up, find the deepest overwritten word at the end.

const PAINT: u32 = 0xC0DE_CAFE;

unsafe extern "C" {
    static mut _stack_end: u32;
    static mut _stack_start: u32;
}

fn bounds() -> (usize, usize) {
    (
        &raw const _stack_end as usize,
        &raw const _stack_start as usize,
    )
}

/// Paints from the bottom of the stack region up to 256 bytes below the
/// current stack pointer.
#[inline(never)]
pub fn paint() {
    let (bottom, _) = bounds();
    let sp = cortex_m::register::msp::read() as usize;
    let mut p = bottom;
    while p + 256 < sp {
        // SAFETY: [bottom, sp − 256) is unused stack: nothing lives there yet.
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// Bytes of stack used at the deepest point since [`paint`].
#[cfg_attr(not(feature = "radio-replay"), allow(dead_code))] // reported by the replay build
pub fn high_water() -> usize {
    let (bottom, top) = bounds();
    let mut p = bottom;
    // SAFETY: reads within the stack region.
    while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    top - p
}

/// Size of the stack region (RAM left after the statics).
#[cfg_attr(not(feature = "radio-replay"), allow(dead_code))] // reported by the replay build
pub fn size() -> usize {
    let (bottom, top) = bounds();
    top - bottom
}
