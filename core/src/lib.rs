//! The RockNet training core, shared by every emulated node and the firmware.
//!
//! Data flow inside one device: a [`series::SeriesView`] sample goes through the
//! MiniRocket transform of the device's own kernels ([`minirocket`]), the
//! device's classifier slice turns those features into fixed-point
//! [`classifier::PartialLogits`], the partial logits of all devices are summed
//! (exactly, in integers), and each device updates its own slice with an
//! optimizer from [`optim`]. [`partition`] decides which kernels each device
//! owns; [`memory`] accounts for every buffer a device holds and [`cost`]
//! for every operation it performs.
#![no_std]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod classifier;
pub mod cost;
#[cfg(feature = "std")]
pub mod dataset;
#[cfg(feature = "alloc")]
pub mod int8_fit;
pub mod memory;
pub mod minirocket;
pub mod optim;
pub mod partition;
pub mod record;
pub mod rng;
pub mod series;
pub mod storage;
pub mod wire;
