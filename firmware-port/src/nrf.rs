//! The nRF52840 RADIO peripheral in Bluetooth LE 2 Mbit/s mode, carrying
//! wire packets (`nrf52840-pac`). It builds; it cannot run here (no nRF52840
//! in QEMU), so it is kept minimal and literal: one BLE channel, polled
//! EasyDMA transfers, packets larger than a BLE frame (255 B) cut into the
//! core's wire fragments and put back together by its `Reassembler`.
//!
//! It carries packets and nothing more: the synchronous-transmission flood
//! (Mixer/Glossy) that the link model emulates is not implemented here. A
//! round ends, for [`Radio::receive`], when no frame arrives within
//! [`RX_WINDOW_POLLS`] polls.

use nrf52840_pac::{CLOCK, RADIO};
use rocknet_core::wire::{self, Fragmenter, MAX_FRAME_BLE, Reassembler};

use crate::config::MAX_PACKET;
use crate::radio::{Radio, Rx};

/// BLE's advertising access address.
const ACCESS_ADDRESS: u32 = 0x8E89_BED6;
/// 2402 MHz (BLE channel 37): FREQUENCY = MHz − 2400.
const FREQUENCY_MHZ_ABOVE_2400: u32 = 2;
/// Data-whitening IV of channel 37.
const WHITENING_IV: u32 = 37;
/// Polls of EVENTS_END before a receive gives up and ends the round.
pub const RX_WINDOW_POLLS: u32 = 200_000;

/// Radio errors (reported through `Debug`).
#[derive(Debug)]
#[allow(dead_code)]
pub enum NrfError {
    /// A packet could not be fragmented or encoded.
    Wire(wire::WireError),
    /// The receive buffer is smaller than a reassembled packet.
    BufferTooSmall,
}

/// The nRF52840 RADIO as a [`Radio`].
pub struct NrfRadio {
    radio: RADIO,
    /// EasyDMA frame: S0 (1 byte), LENGTH (1 byte), payload.
    frame: [u8; 2 + MAX_FRAME_BLE],
    scratch: [u8; MAX_FRAME_BLE],
    reassembler: Reassembler<MAX_PACKET, 4>,
    next_message: u16,
}

/// Starts a task: writes 1 to its TASKS register.
macro_rules! trigger {
    ($reg:expr) => {
        // SAFETY: writing 1 to a TASKS register starts the task.
        $reg.write(|w| unsafe { w.bits(1) })
    };
}

impl NrfRadio {
    /// Starts the 64 MHz crystal (the radio needs it) and configures RADIO
    /// for BLE 2M at +8 dBm.
    pub fn new(clock: CLOCK, radio: RADIO) -> Self {
        clock.events_hfclkstarted.write(|w| unsafe { w.bits(0) });
        clock.tasks_hfclkstart.write(|w| unsafe { w.bits(1) });
        while clock.events_hfclkstarted.read().bits() == 0 {}

        radio.mode.write(|w| w.mode().ble_2mbit());
        radio.txpower.write(|w| w.txpower().pos8d_bm());
        radio
            .frequency
            .write(|w| unsafe { w.frequency().bits(FREQUENCY_MHZ_ABOVE_2400 as u8) });
        // PCNF0: LENGTH 8 bits, S0 1 byte, no S1, 16-bit preamble (2M).
        radio.pcnf0.write(|w| unsafe {
            w.lflen()
                .bits(8)
                .s0len()
                .bit(true)
                .s1len()
                .bits(0)
                .plen()
                ._16bit()
        });
        // PCNF1: up to 255 payload bytes, 3-byte base address, little
        // endian, whitening on.
        radio.pcnf1.write(|w| unsafe {
            w.maxlen()
                .bits(MAX_FRAME_BLE as u8)
                .statlen()
                .bits(0)
                .balen()
                .bits(3)
                .endian()
                .little()
                .whiteen()
                .enabled()
        });
        radio
            .base0
            .write(|w| unsafe { w.bits(ACCESS_ADDRESS << 8) });
        radio
            .prefix0
            .write(|w| unsafe { w.bits(ACCESS_ADDRESS >> 24) });
        radio.txaddress.write(|w| unsafe { w.bits(0) });
        radio.rxaddresses.write(|w| unsafe { w.bits(1) });
        // BLE CRC: 3 bytes, polynomial 0x00065B, address not included.
        radio.crccnf.write(|w| w.len().three().skipaddr().skip());
        radio.crcpoly.write(|w| unsafe { w.bits(0x0000_065B) });
        radio.crcinit.write(|w| unsafe { w.bits(0x0055_5555) });
        radio.datawhiteiv.write(|w| unsafe { w.bits(WHITENING_IV) });
        Self {
            radio,
            frame: [0; 2 + MAX_FRAME_BLE],
            scratch: [0; MAX_FRAME_BLE],
            reassembler: Reassembler::new(),
            next_message: 0,
        }
    }

    fn disable(&self) {
        self.radio.events_disabled.write(|w| unsafe { w.bits(0) });
        trigger!(self.radio.tasks_disable);
        while self.radio.events_disabled.read().bits() == 0 {}
    }

    /// Sends one frame of at most 255 bytes.
    fn send_frame(&mut self, payload: &[u8]) {
        self.frame[0] = 0;
        self.frame[1] = payload.len() as u8;
        self.frame[2..2 + payload.len()].copy_from_slice(payload);
        self.radio
            .packetptr
            .write(|w| unsafe { w.bits(self.frame.as_ptr() as u32) });
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::Release);
        self.radio.events_ready.write(|w| unsafe { w.bits(0) });
        self.radio.events_end.write(|w| unsafe { w.bits(0) });
        trigger!(self.radio.tasks_txen);
        while self.radio.events_ready.read().bits() == 0 {}
        trigger!(self.radio.tasks_start);
        while self.radio.events_end.read().bits() == 0 {}
        self.disable();
    }

    /// Receives one frame into `self.frame`; its payload length, or `None`
    /// when nothing (with a good CRC) arrived in the window.
    fn receive_frame(&mut self) -> Option<usize> {
        self.radio
            .packetptr
            .write(|w| unsafe { w.bits(self.frame.as_mut_ptr() as u32) });
        self.radio.events_ready.write(|w| unsafe { w.bits(0) });
        self.radio.events_end.write(|w| unsafe { w.bits(0) });
        trigger!(self.radio.tasks_rxen);
        while self.radio.events_ready.read().bits() == 0 {}
        trigger!(self.radio.tasks_start);
        let mut polls = 0;
        while self.radio.events_end.read().bits() == 0 {
            polls += 1;
            if polls == RX_WINDOW_POLLS {
                self.disable();
                return None;
            }
        }
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::Acquire);
        let ok = self.radio.crcstatus.read().crcstatus().is_crcok();
        self.disable();
        ok.then_some(usize::from(self.frame[1]))
    }
}

impl Radio for NrfRadio {
    type Error = NrfError;

    fn send(&mut self, packet: &[u8]) -> Result<(), NrfError> {
        if packet.len() <= MAX_FRAME_BLE {
            self.send_frame(packet);
            return Ok(());
        }
        let id = self.next_message;
        self.next_message = self.next_message.wrapping_add(1);
        let frags = Fragmenter::new(packet, id, MAX_FRAME_BLE).map_err(NrfError::Wire)?;
        for i in 0..frags.count() {
            let mut out = [0u8; MAX_FRAME_BLE];
            let n = frags.encode_fragment(i, &mut out).map_err(NrfError::Wire)?;
            self.send_frame(&out[..n]);
        }
        Ok(())
    }

    fn receive(&mut self, buf: &mut [u8]) -> Result<Rx, NrfError> {
        loop {
            let Some(n) = self.receive_frame() else {
                return Ok(Rx::RoundEnd);
            };
            self.scratch[..n].copy_from_slice(&self.frame[2..2 + n]);
            let Ok(p) = wire::decode(&self.scratch[..n]) else {
                continue; // counted by the round loop's decoder if it got there
            };
            if !matches!(p.body, wire::Body::Fragment(_)) {
                buf.get_mut(..n)
                    .ok_or(NrfError::BufferTooSmall)?
                    .copy_from_slice(&self.scratch[..n]);
                return Ok(Rx::Packet(n));
            }
            if p.round != self.reassembler.round() {
                self.reassembler.start_round(p.round);
            }
            if let Ok(Some(whole)) = self.reassembler.push(&p) {
                let len = whole.len();
                buf.get_mut(..len)
                    .ok_or(NrfError::BufferTooSmall)?
                    .copy_from_slice(whole);
                return Ok(Rx::Packet(len));
            }
        }
    }
}
