//! The firmware entry point. The full port (static device buffers, radio,
//! QEMU replay) arrives with the firmware issue; today it proves the core
//! builds for the Cortex-M4F without `std` or an allocator.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use panic_halt as _;

#[entry]
fn main() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}
