//! Unit newtypes, so that a duration is never mistaken for a byte count.

use core::fmt;
use core::ops::{Add, Mul};

/// A duration in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Micros(pub u64);

/// Saturating: a sum past `u64::MAX` µs stays at `u64::MAX` (never wraps).
impl Add for Micros {
    type Output = Self;
    fn add(self, rhs: Self) -> Self {
        Self(self.0.saturating_add(rhs.0))
    }
}

/// Saturating: a product past `u64::MAX` µs stays at `u64::MAX`.
impl Mul<u64> for Micros {
    type Output = Self;
    fn mul(self, rhs: u64) -> Self {
        Self(self.0.saturating_mul(rhs))
    }
}

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} µs", self.0)
    }
}

/// A length in bytes (an encoded message, a frame's payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Bytes(pub usize);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} B", self.0)
    }
}

/// A bit rate in bits per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BitsPerSecond(pub u64);

/// A power level in dBm.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, serde::Deserialize)]
#[serde(transparent)]
pub struct Dbm(pub f64);

/// A power ratio (gain or loss) in dB.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, serde::Deserialize)]
#[serde(transparent)]
pub struct Db(pub f64);

/// A distance in metres.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, serde::Deserialize)]
#[serde(transparent)]
pub struct Meters(pub f64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_arithmetic_saturates() {
        assert_eq!(Micros(2) + Micros(3), Micros(5));
        assert_eq!(Micros(u64::MAX) + Micros(1), Micros(u64::MAX));
        assert_eq!(Micros(7) * 3, Micros(21));
        assert_eq!(Micros(u64::MAX / 2) * 3, Micros(u64::MAX));
    }
}
