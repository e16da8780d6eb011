//! PHY presets: frame overhead, bit rate, turnaround — and from these the
//! airtime of a frame and the length of a flood slot (docs/linkmodel.md#phy-presets).
//!
//! `airtime = (overhead + payload) · 8 / bitrate`,
//! `slot = airtime + turnaround + margin`.

use serde::Deserialize;

use crate::units::{BitsPerSecond, Micros};

/// The processing guard added to every slot, identical for all presets (it is
/// CPU time on the nRF52840, not radio time): chosen so that RockNet's FaceAll
/// deployment — 100-byte payload on BLE 2M — gets the authors' 681 µs slot
/// (docs/linkmodel.md#rocknets-faceall-deployment): 681 − 444 (airtime) − 40 (ramp-up) = 197 µs.
pub const DEFAULT_MARGIN: Micros = Micros(197);

/// A PHY preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhyKind {
    /// Bluetooth LE 2M (nRF52840, the RockNet deployment), 2 Mbit/s.
    #[serde(alias = "ble_2m")]
    Ble2M,
    /// Bluetooth LE 1M, 1 Mbit/s.
    #[serde(alias = "ble_1m")]
    Ble1M,
    /// IEEE 802.15.4 O-QPSK at 2.4 GHz, 250 kbit/s, frames ≤ 127 bytes.
    #[serde(alias = "ieee802_15_4", alias = "802.15.4")]
    Ieee802154,
}

/// The timing parameters of one PHY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Phy {
    /// Which preset this came from.
    pub kind: PhyKind,
    /// Over-the-air bit rate.
    pub bitrate: BitsPerSecond,
    /// Bytes sent before the payload (preamble, sync word / access address,
    /// length header).
    pub header_bytes: u32,
    /// Bytes sent after the payload (CRC / FCS).
    pub trailer_bytes: u32,
    /// The largest payload one frame carries: the bound on a config's
    /// `payload_bytes` (messages longer than that payload are fragmented,
    /// see [`crate::flood::FloodParams::fragments`]).
    pub max_payload: u32,
    /// RX↔TX turnaround (radio ramp-up) between slots.
    pub turnaround: Micros,
    /// Processing guard per slot.
    pub margin: Micros,
}

impl Phy {
    /// BLE 2M. Bluetooth Core Specification v5.3, Vol 6, Part B, §2.1
    /// (packet format): preamble 2 bytes on LE 2M, access address 4 bytes,
    /// PDU header 2 bytes (§2.3/§2.4), CRC 3 bytes; the 8-bit PDU length field
    /// bounds the payload at 255 bytes. Ramp-up: nRF52840 Product
    /// Specification v1.7, §6.20.15 (RADIO timing), `tTXEN,FAST` =
    /// `tRXEN,FAST` = 40 µs.
    pub const BLE_2M: Self = Self {
        kind: PhyKind::Ble2M,
        bitrate: BitsPerSecond(2_000_000),
        header_bytes: 2 + 4 + 2,
        trailer_bytes: 3,
        max_payload: 255,
        turnaround: Micros(40),
        margin: DEFAULT_MARGIN,
    };

    /// BLE 1M. Bluetooth Core Specification v5.3, Vol 6, Part B, §2.1:
    /// preamble 1 byte on LE 1M, access address 4, PDU header 2, CRC 3;
    /// payload ≤ 255. Ramp-up as for BLE 2M (nRF52840 PS §6.20.15).
    pub const BLE_1M: Self = Self {
        kind: PhyKind::Ble1M,
        bitrate: BitsPerSecond(1_000_000),
        header_bytes: 1 + 4 + 2,
        trailer_bytes: 3,
        max_payload: 255,
        turnaround: Micros(40),
        margin: DEFAULT_MARGIN,
    };

    /// IEEE 802.15.4 O-QPSK (2.4 GHz). IEEE Std 802.15.4-2020 §12.1: SHR =
    /// 4-byte preamble + 1-byte SFD, PHR 1 byte; the PSDU (≤
    /// `aMaxPhyPacketSize` = 127 bytes) ends in a 2-byte FCS, leaving 125
    /// payload bytes; 250 kbit/s. Turnaround: `aTurnaroundTime` = 12 symbols
    /// × 16 µs = 192 µs (§11.3, PHY constants).
    pub const IEEE_802_15_4: Self = Self {
        kind: PhyKind::Ieee802154,
        bitrate: BitsPerSecond(250_000),
        header_bytes: 4 + 1 + 1,
        trailer_bytes: 2,
        max_payload: 125,
        turnaround: Micros(192),
        margin: DEFAULT_MARGIN,
    };

    /// The preset of `kind`.
    pub const fn preset(kind: PhyKind) -> Self {
        match kind {
            PhyKind::Ble2M => Self::BLE_2M,
            PhyKind::Ble1M => Self::BLE_1M,
            PhyKind::Ieee802154 => Self::IEEE_802_15_4,
        }
    }

    /// Bytes on air for one frame carrying `payload_bytes`
    /// (which should be ≤ [`Phy::max_payload`]).
    pub const fn frame_bytes(&self, payload_bytes: u32) -> u32 {
        self.header_bytes + payload_bytes + self.trailer_bytes
    }

    /// Airtime of one frame carrying `payload_bytes`, rounded up to whole µs:
    /// `(overhead + payload) · 8 / bitrate`.
    pub const fn airtime(&self, payload_bytes: u32) -> Micros {
        let bits = self.frame_bytes(payload_bytes) as u64 * 8;
        Micros((bits * 1_000_000).div_ceil(self.bitrate.0))
    }

    /// One flood slot: `airtime + turnaround + margin` (saturating).
    pub const fn slot_length(&self, payload_bytes: u32) -> Micros {
        Micros(
            self.airtime(payload_bytes)
                .0
                .saturating_add(self.turnaround.0)
                .saturating_add(self.margin.0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ble_2m_airtime_by_hand() {
        // (2 + 4 + 2 + 100 + 3) bytes = 111 bytes = 888 bits at 2 Mbit/s.
        assert_eq!(Phy::BLE_2M.airtime(100), Micros(444));
        // RockNet FaceAll: 100 B on BLE 2M → 681 µs slots (docs/linkmodel.md#phy-presets).
        assert_eq!(Phy::BLE_2M.slot_length(100), Micros(681));
        // Empty payload: 11 bytes = 88 bits = 44 µs.
        assert_eq!(Phy::BLE_2M.airtime(0), Micros(44));
        // 255 B: 266 bytes → 1064 µs.
        assert_eq!(Phy::BLE_2M.airtime(255), Micros(1064));
    }

    #[test]
    fn ble_1m_and_802154_airtime_by_hand() {
        // (1 + 4 + 2 + 100 + 3) = 110 bytes = 880 bits at 1 Mbit/s.
        assert_eq!(Phy::BLE_1M.airtime(100), Micros(880));
        // docs/linkmodel.md's PHY table: BLE 1M slot = 880 + 40 (ramp-up) + 197 = 1117 µs.
        assert_eq!(Phy::BLE_1M.slot_length(100), Micros(880 + 40 + 197));
        assert_eq!(Phy::BLE_1M.slot_length(100), Micros(1117));
        // (6 + 100 + 2) = 108 bytes = 864 bits at 250 kbit/s = 3456 µs.
        assert_eq!(Phy::IEEE_802_15_4.airtime(100), Micros(3456));
        // Full 127-byte PSDU + 6 bytes SHR/PHR = 133 bytes = 4256 µs.
        assert_eq!(Phy::IEEE_802_15_4.airtime(125), Micros(4256));
        assert_eq!(
            Phy::IEEE_802_15_4.slot_length(100),
            Micros(3456 + 192 + 197)
        );
    }
}
