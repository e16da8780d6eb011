//! Fuzzes `rocknet_core::wire::decode` and the fragment reassembler.
//!
//! Run with `cd core && cargo +nightly fuzz run decode` (see ../Cargo.toml).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rocknet_core::wire::fuzz::decode_and_reassemble(data);
});
