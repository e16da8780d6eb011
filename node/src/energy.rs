//! The `[energy]` section: supply voltage, nRF52840 currents and the CPU
//! clock the cost model uses (docs/cost-model.md#energy).
//!
//! Defaults are RockNet's own power model, taken from the nRF52840 Product
//! Specification v1.7 (Nordic Semiconductor, 2021): §5.2 radio current
//! consumption (TX at +8 dBm 13.63 mA, RX at 2 Mbit/s
//! BLE 6.4 mA), CPU running from flash at 64 MHz 3.71 mA, and RockNet's
//! figure for the radio ramp-up (13 mA for 70 µs) and the sleeping system
//! (205 µA).

use serde::{Deserialize, Serialize};

/// Supply, currents and clock of one device.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EnergySection {
    /// Supply voltage, V.
    pub supply_v: f64,
    /// Radio transmitting (+8 dBm), mA.
    pub radio_tx_ma: f64,
    /// Radio receiving / listening, mA.
    pub radio_rx_ma: f64,
    /// Radio ramp-up before each radio-on period, mA.
    pub radio_rampup_ma: f64,
    /// Radio ramp-up duration, µs.
    pub radio_rampup_us: f64,
    /// CPU active, mA.
    pub cpu_active_ma: f64,
    /// Everything asleep (rest of the round period), mA.
    pub sleep_ma: f64,
    /// CPU clock, MHz (cycles → time).
    pub cpu_mhz: f64,
}

impl Default for EnergySection {
    fn default() -> Self {
        Self {
            supply_v: 3.0,
            radio_tx_ma: 13.63,
            radio_rx_ma: 6.4,
            radio_rampup_ma: 13.0,
            radio_rampup_us: 70.0,
            cpu_active_ma: 3.71,
            sleep_ma: 0.205,
            cpu_mhz: 64.0,
        }
    }
}

impl EnergySection {
    /// Checks the value domains; `Err((field, problem))`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        for (field, v, max) in [
            ("energy.supply_v", self.supply_v, 100.0),
            ("energy.radio_tx_ma", self.radio_tx_ma, 10_000.0),
            ("energy.radio_rx_ma", self.radio_rx_ma, 10_000.0),
            ("energy.radio_rampup_ma", self.radio_rampup_ma, 10_000.0),
            ("energy.radio_rampup_us", self.radio_rampup_us, 1e6),
            ("energy.cpu_active_ma", self.cpu_active_ma, 10_000.0),
            ("energy.sleep_ma", self.sleep_ma, 10_000.0),
        ] {
            if !(v.is_finite() && (0.0..=max).contains(&v)) {
                return Err((field, format!("must be in 0..={max}, got {v}")));
            }
        }
        if !(self.cpu_mhz.is_finite() && self.cpu_mhz > 0.0 && self.cpu_mhz <= 10_000.0) {
            return Err((
                "energy.cpu_mhz",
                format!("must be in (0, 10000], got {}", self.cpu_mhz),
            ));
        }
        Ok(())
    }
}
