//! Energy of one device over a run (docs/cost-model.md#energy): `E = V · Σ I_state ·
//! t_state` over radio TX, radio RX, radio ramp-ups, CPU active and sleep,
//! with the currents of the config's `[energy]` section.
//!
//! Units: V × mA = mW, and mW × µs = nJ, so `V · mA · µs / 1000` is µJ.

use rocknet_node::config::EnergySection;

use crate::run_report::{EnergyTotals, RadioTotals};

/// What one device did over a run, as the energy model needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceActivity {
    /// Radio time and on-periods (from the link model's trace).
    pub radio: RadioTotals,
    /// CPU cycles (from the cycle model).
    pub cpu_cycles: f64,
    /// Rounds the run lasted.
    pub rounds: u64,
    /// Round period (flood slots + compute window), µs.
    pub round_period_us: f64,
}

/// Time in each power state, µs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StateTimes {
    /// Radio transmitting.
    pub tx_us: f64,
    /// Radio receiving.
    pub rx_us: f64,
    /// Radio ramping up (one ramp-up per on-period).
    pub rampup_us: f64,
    /// CPU active.
    pub cpu_us: f64,
    /// Asleep: the rest of every round period, never negative.
    pub sleep_us: f64,
}

impl StateTimes {
    /// The time a device with `activity` spends in each state: the radio's
    /// from its totals, the CPU's `cycles / MHz`, ramp-ups `radio_rampup_us`
    /// each, and sleep whatever remains of `rounds × round period` (0 when
    /// the active states already fill it: a device that overruns its rounds
    /// never sleeps, it does not earn negative sleep).
    pub fn of(cfg: &EnergySection, a: &DeviceActivity) -> Self {
        let tx_us = a.radio.tx_us as f64;
        let rx_us = a.radio.rx_us as f64;
        let rampup_us = a.radio.on_periods as f64 * cfg.radio_rampup_us;
        let cpu_us = a.cpu_cycles / cfg.cpu_mhz;
        let span_us = a.rounds as f64 * a.round_period_us;
        let sleep_us = (span_us - tx_us - rx_us - rampup_us - cpu_us).max(0.0);
        Self {
            tx_us,
            rx_us,
            rampup_us,
            cpu_us,
            sleep_us,
        }
    }
}

/// Energy of a current `ma` for `us` at `supply_v`, µJ.
pub fn energy_uj(supply_v: f64, ma: f64, us: f64) -> f64 {
    supply_v * ma * us / 1000.0
}

/// The energy of a device with `activity`, by consumer, µJ.
pub fn device_energy(cfg: &EnergySection, activity: &DeviceActivity) -> EnergyTotals {
    let t = StateTimes::of(cfg, activity);
    let v = cfg.supply_v;
    let radio_tx_uj = energy_uj(v, cfg.radio_tx_ma, t.tx_us);
    let radio_rx_uj = energy_uj(v, cfg.radio_rx_ma, t.rx_us);
    let radio_rampup_uj = energy_uj(v, cfg.radio_rampup_ma, t.rampup_us);
    let cpu_uj = energy_uj(v, cfg.cpu_active_ma, t.cpu_us);
    let sleep_uj = energy_uj(v, cfg.sleep_ma, t.sleep_us);
    EnergyTotals {
        radio_tx_uj,
        radio_rx_uj,
        radio_rampup_uj,
        cpu_uj,
        sleep_uj,
        total_uj: radio_tx_uj + radio_rx_uj + radio_rampup_uj + cpu_uj + sleep_uj,
    }
}

/// Energy per sample, µJ: the run's total over the samples it processed (0
/// when it processed none).
pub fn energy_per_sample_uj(energy: &EnergyTotals, samples: u64) -> f64 {
    if samples == 0 {
        0.0
    } else {
        energy.total_uj / samples as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    fn idle(rounds: u64, period: f64) -> DeviceActivity {
        DeviceActivity {
            radio: RadioTotals::default(),
            cpu_cycles: 0.0,
            rounds,
            round_period_us: period,
        }
    }

    #[test]
    fn one_millisecond_of_tx_at_defaults() {
        // 3 V × 13.63 mA × 1 ms = 40.89 µJ.
        assert!(close(energy_uj(3.0, 13.63, 1000.0), 40.89));
        let cfg = EnergySection::default();
        let a = DeviceActivity {
            radio: RadioTotals {
                tx_us: 1000,
                rx_us: 0,
                on_us: 1000,
                on_periods: 0,
            },
            ..idle(0, 0.0)
        };
        let e = device_energy(&cfg, &a);
        assert!(close(e.radio_tx_uj, 40.89));
        assert_eq!((e.radio_rx_uj, e.cpu_uj, e.sleep_uj), (0.0, 0.0, 0.0));
        assert!(close(e.total_uj, 40.89));
    }

    #[test]
    fn every_state_by_hand() {
        // 10 rounds of 602 ms = 6,020,000 µs. TX 2 ms, RX 30 ms, 10 ramp-ups
        // of 70 µs = 700 µs, CPU 6,400,000 cycles at 64 MHz = 100,000 µs;
        // sleep = 6,020,000 − 2,000 − 30,000 − 700 − 100,000 = 5,887,300 µs.
        let cfg = EnergySection::default();
        let a = DeviceActivity {
            radio: RadioTotals {
                tx_us: 2_000,
                rx_us: 30_000,
                on_us: 32_000,
                on_periods: 10,
            },
            cpu_cycles: 6_400_000.0,
            rounds: 10,
            round_period_us: 602_000.0,
        };
        let t = StateTimes::of(&cfg, &a);
        assert_eq!(t.rampup_us, 700.0);
        assert_eq!(t.cpu_us, 100_000.0);
        assert_eq!(t.sleep_us, 5_887_300.0);
        let e = device_energy(&cfg, &a);
        // TX 3·13.63·2000/1000 = 81.78; RX 3·6.4·30000/1000 = 576;
        // ramp-up 3·13·700/1000 = 27.3; CPU 3·3.71·100000/1000 = 1113;
        // sleep 3·0.205·5887300/1000 = 3620.6895.
        assert!(close(e.radio_tx_uj, 81.78));
        assert!(close(e.radio_rx_uj, 576.0));
        assert!(close(e.radio_rampup_uj, 27.3));
        assert!(close(e.cpu_uj, 1113.0));
        assert!(close(e.sleep_uj, 3620.6895));
        assert!(close(e.total_uj, 81.78 + 576.0 + 27.3 + 1113.0 + 3620.6895));
        assert!(close(energy_per_sample_uj(&e, 10), e.total_uj / 10.0));
        assert_eq!(energy_per_sample_uj(&e, 0), 0.0);
    }

    #[test]
    fn sleep_is_floored_at_zero() {
        // 1 round of 1 ms but 2 ms of CPU: no sleep, CPU energy still counted.
        let cfg = EnergySection::default();
        let a = DeviceActivity {
            cpu_cycles: 128_000.0,
            ..idle(1, 1000.0)
        };
        let t = StateTimes::of(&cfg, &a);
        assert_eq!((t.cpu_us, t.sleep_us), (2000.0, 0.0));
        let e = device_energy(&cfg, &a);
        assert_eq!(e.sleep_uj, 0.0);
        assert!(close(e.cpu_uj, 3.0 * 3.71 * 2.0));
    }

    #[test]
    fn an_idle_device_only_sleeps() {
        // 5 rounds of 100 ms asleep: 3 V × 0.205 mA × 500,000 µs = 307.5 µJ.
        let e = device_energy(&EnergySection::default(), &idle(5, 100_000.0));
        assert!(close(e.sleep_uj, 307.5));
        assert!(close(e.total_uj, 307.5));
    }
}
