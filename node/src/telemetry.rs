//! The out-of-band channel between a device and the coordinator (a
//! testbed's serial backchannel, docs/architecture.md#telemetry): one TCP connection per
//! device, one JSON object per line. It never carries training traffic —
//! samples and partial logits go over the emulated radio only.

use std::io::{BufRead, Write};

use rocknet_core::memory::MemoryFootprint;
use serde::{Deserialize, Serialize};

use crate::config::ExperimentConfig;
use crate::protocol::PassStats;

/// Coordinator → device.
// One message per join, never stored in bulk: boxing the config would buy
// nothing but an indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToNode {
    /// The experiment to run (answer to [`ToCoordinator::Join`]).
    Plan {
        /// The validated config (dataset paths as the coordinator sees them).
        config: ExperimentConfig,
        /// Its hash ([`ExperimentConfig::hash`]).
        config_hash: u64,
    },
    /// The run is over (or aborted): exit.
    Stop,
    /// The join was refused.
    Refused {
        /// Why.
        reason: String,
    },
}

/// Per-buffer bytes of a device (its [`MemoryFootprint`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryReport {
    /// `(buffer, bytes)`.
    pub buffers: Vec<(String, u64)>,
    /// All buffers.
    pub total: u64,
    /// Training buffers only.
    pub training_total: u64,
}

impl From<MemoryFootprint> for MemoryReport {
    fn from(m: MemoryFootprint) -> Self {
        Self {
            buffers: m
                .entries()
                .iter()
                .map(|(n, b)| ((*n).to_string(), b.0 as u64))
                .collect(),
            total: m.total().0 as u64,
            training_total: m.training_total().0 as u64,
        }
    }
}

/// Device → coordinator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToCoordinator {
    /// "I am device `device`; send me the plan."
    Join {
        /// Device index.
        device: usize,
        /// OS process id (reports).
        pid: u32,
    },
    /// Registered with the relay; takes part from `first_round`.
    Registered {
        /// Device index.
        device: usize,
        /// The first round the relay expects it in.
        first_round: u32,
        /// Its memory footprint.
        memory: MemoryReport,
        /// Wall-clock seconds spent fitting its kernels.
        fit_seconds: f64,
    },
    /// One finished pass.
    Pass {
        /// Device index.
        device: usize,
        /// The tallies.
        stats: PassStats,
    },
    /// The device finished every round.
    Final {
        /// Device index.
        device: usize,
        /// Its classifier parameters as f32 bit patterns (weights, then
        /// class biases on device 0).
        params: Vec<u32>,
        /// Wire packets it dropped, by reason.
        drops: Vec<(String, u64)>,
        /// Packets that decoded but did not fit the protocol.
        rejected: u64,
        /// Beacons that disagreed with its schedule.
        beacon_mismatch: u64,
        /// Datagrams its relay link discarded, by reason
        /// ([`LinkDrops::named`](crate::relay_link::LinkDrops::named)).
        #[serde(default)]
        link_drops: Vec<(String, u64)>,
        /// Times it lost the relay and registered again.
        reregistrations: u64,
        /// Its process's peak resident set size (Linux `VmHWM`), if known.
        peak_rss_bytes: Option<u64>,
    },
    /// The device failed.
    Error {
        /// Device index.
        device: usize,
        /// What happened.
        message: String,
    },
}

/// Writes one message as a JSON line.
pub fn send<W: Write, M: Serialize>(w: &mut W, msg: &M) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line)?;
    w.flush()
}

/// Reads one message; `Ok(None)` at end of stream.
pub fn recv<R: BufRead, M: for<'de> Deserialize<'de>>(r: &mut R) -> std::io::Result<Option<M>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    serde_json::from_str(&line)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// This process's peak resident set size from `/proc/self/status` (`VmHWM`,
/// Linux); `None` elsewhere.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            let v = vec![1u8; 8 << 20];
            std::hint::black_box(&v);
            let rss = peak_rss_bytes().expect("VmHWM on Linux");
            assert!(rss >= 8 << 20, "{rss}");
        }
    }

    #[test]
    fn messages_round_trip_as_json_lines() {
        let msg = ToCoordinator::Join { device: 3, pid: 42 };
        let mut buf = Vec::new();
        send(&mut buf, &msg).unwrap();
        assert_eq!(buf.last(), Some(&b'\n'));
        let back: ToCoordinator = recv(&mut &buf[..]).unwrap().unwrap();
        assert!(matches!(back, ToCoordinator::Join { device: 3, pid: 42 }));
        assert!(recv::<_, ToCoordinator>(&mut &b""[..]).unwrap().is_none());
        assert!(recv::<_, ToCoordinator>(&mut &b"{not json}\n"[..]).is_err());
    }
}
