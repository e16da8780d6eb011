//! The radio as the round loop sees it: wire packets in, wire packets out,
//! and where a round ends.

/// What [`Radio::receive`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rx {
    /// A packet of `len` bytes is at the start of the buffer.
    Packet(usize),
    /// The current round is over (the next call belongs to the next round).
    RoundEnd,
    /// No more rounds (a replay has ended; a real radio never says this).
    #[cfg_attr(not(feature = "radio-replay"), allow(dead_code))]
    // reported by the replay build
    Done,
}

/// A packet radio carrying [`rocknet_core::wire`] packets.
pub trait Radio {
    /// Why a send or receive failed.
    type Error: core::fmt::Debug;
    /// Transmits one encoded wire packet in the current round.
    fn send(&mut self, packet: &[u8]) -> Result<(), Self::Error>;
    /// The next packet of the current round, written into `buf`.
    fn receive(&mut self, buf: &mut [u8]) -> Result<Rx, Self::Error>;
}
