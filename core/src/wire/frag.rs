//! Fragmentation of packets larger than a PHY frame, and no-alloc reassembly.
//!
//! A packet (already encoded, with its own CRC) that exceeds `max_frame`
//! bytes is sent as `count` [`Fragment`] packets of the same cluster, source
//! and round, each at most `max_frame` bytes. The receiver's [`Reassembler`]
//! puts the chunks back in place whatever their order, ignores duplicates,
//! and hands out the original packet bytes once all fragments are in; the
//! caller then [`decode`](super::decode)s them (checking the original CRC end
//! to end). A lost fragment loses the message: partial messages are dropped,
//! and counted, when the round changes.

use super::body::{Fragment, fragment_span};
use super::{Body, Packet, WireError, decode, fragment_count};

/// Cuts one encoded packet into fragment packets.
#[derive(Debug, Clone, Copy)]
pub struct Fragmenter<'a> {
    packet: &'a [u8],
    cluster: u16,
    source: u16,
    round: u32,
    message_id: u16,
    count: u8,
}

impl<'a> Fragmenter<'a> {
    /// Fragments of the encoded `packet` (which must decode) for frames of
    /// at most `max_frame` bytes, under the sender-chosen `message_id`
    /// (unique per source and round).
    ///
    /// Always cuts, even a packet that fits one frame (into one fragment):
    /// senders send such packets whole ([`frames_needed`](super::frames_needed) == 1).
    /// [`WireError::TooLarge`] if `max_frame` cannot carry a fragment
    /// ([`FRAGMENT_OVERHEAD`](super::FRAGMENT_OVERHEAD) + 1 bytes at least) or
    /// more than 255 fragments would be needed.
    pub fn new(packet: &'a [u8], message_id: u16, max_frame: usize) -> Result<Self, WireError> {
        let p = decode(packet)?;
        let count = fragment_count(packet.len(), max_frame)?;
        Ok(Self {
            packet,
            cluster: p.cluster,
            source: p.source,
            round: p.round,
            message_id,
            count: count as u8,
        })
    }

    /// Number of fragments.
    pub fn count(&self) -> u8 {
        self.count
    }

    /// Fragment `index` as a packet (`None` past the last).
    pub fn fragment(&self, index: u8) -> Option<Packet<'a>> {
        let (offset, len) = fragment_span(
            self.packet.len(),
            usize::from(self.count),
            usize::from(index),
        )?;
        Some(Packet {
            cluster: self.cluster,
            source: self.source,
            round: self.round,
            body: Body::Fragment(Fragment {
                message_id: self.message_id,
                index,
                count: self.count,
                total_len: self.packet.len() as u16,
                chunk: &self.packet[offset..offset + len],
            }),
        })
    }

    /// Encodes fragment `index` into `out`, returning its length.
    pub fn encode_fragment(&self, index: u8, out: &mut [u8]) -> Result<usize, WireError> {
        self.fragment(index)
            .ok_or(WireError::Malformed)?
            .encode(out)
    }

    /// All fragments, in order.
    pub fn iter(&self) -> impl Iterator<Item = Packet<'a>> + '_ {
        (0..self.count).filter_map(|i| self.fragment(i))
    }
}

/// What a [`Reassembler`] has seen since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    /// Messages completed.
    pub completed: u64,
    /// Fragments received twice (or after their message was complete).
    pub duplicates: u64,
    /// Partial messages dropped at a round change.
    pub incomplete: u64,
}

#[derive(Debug, Clone, Copy)]
struct Slot<const N: usize> {
    used: bool,
    source: u16,
    message_id: u16,
    count: u8,
    total_len: u16,
    received: [u32; 8],
    n_received: u16,
    buf: [u8; N],
}

impl<const N: usize> Slot<N> {
    const EMPTY: Self = Self {
        used: false,
        source: 0,
        message_id: 0,
        count: 0,
        total_len: 0,
        received: [0; 8],
        n_received: 0,
        buf: [0; N],
    };
}

/// How many completed (source, message id) pairs a reassembler remembers per
/// round, to recognise late duplicates.
const DONE: usize = 32;

/// Reassembles fragmented packets without allocation: up to `SLOTS`
/// messages in progress at once, each of at most `N` bytes.
///
/// Messages are keyed by (source, message id) within the current round.
/// Fragments may arrive in any order; duplicates are ignored and counted.
/// The caller calls [`start_round`](Self::start_round) when a round begins
/// (beacon received, or any valid packet of a later round): partial messages
/// of the previous round are dropped and their number returned, to be
/// counted with [`DropCounters::record_incomplete`](super::DropCounters::record_incomplete).
#[derive(Debug, Clone)]
pub struct Reassembler<const N: usize, const SLOTS: usize = 4> {
    round: u32,
    slots: [Slot<N>; SLOTS],
    done: [(u16, u16); DONE],
    done_len: usize,
    done_next: usize,
    stats: ReassemblyStats,
}

impl<const N: usize, const SLOTS: usize> Default for Reassembler<N, SLOTS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, const SLOTS: usize> Reassembler<N, SLOTS> {
    /// An empty reassembler at round 0.
    pub const fn new() -> Self {
        Self {
            round: 0,
            slots: [Slot::<N>::EMPTY; SLOTS],
            done: [(0, 0); DONE],
            done_len: 0,
            done_next: 0,
            stats: ReassemblyStats {
                completed: 0,
                duplicates: 0,
                incomplete: 0,
            },
        }
    }

    /// The current round.
    pub fn round(&self) -> u32 {
        self.round
    }

    /// Statistics so far.
    pub fn stats(&self) -> &ReassemblyStats {
        &self.stats
    }

    /// Messages in progress.
    pub fn in_progress(&self) -> usize {
        self.slots.iter().filter(|s| s.used).count()
    }

    /// Moves to `round`: drops every partial message (a lost fragment loses
    /// its message) and returns how many were dropped.
    pub fn start_round(&mut self, round: u32) -> u64 {
        let mut dropped = 0;
        for s in &mut self.slots {
            if s.used {
                dropped += 1;
                s.used = false;
            }
        }
        self.round = round;
        self.done_len = 0;
        self.done_next = 0;
        self.stats.incomplete += dropped;
        dropped
    }

    /// Takes one fragment packet. Returns the original packet's bytes when
    /// this fragment completes it (decode them with [`decode`](super::decode)),
    /// `None` while incomplete or for a duplicate.
    ///
    /// Errors (the fragment is dropped; count it with
    /// [`DropCounters::record`](super::DropCounters::record)):
    /// [`WireError::Malformed`] for a packet that is not a fragment or
    /// disagrees with earlier fragments of its message,
    /// [`WireError::StaleRound`] / [`WireError::FutureRound`] for another
    /// round, [`WireError::TooLarge`] for a message over `N` bytes,
    /// [`WireError::ReassemblyBusy`] when all `SLOTS` are taken.
    pub fn push(&mut self, packet: &Packet<'_>) -> Result<Option<&[u8]>, WireError> {
        let Body::Fragment(f) = &packet.body else {
            return Err(WireError::Malformed);
        };
        packet.check_round(self.round)?;
        let total = usize::from(f.total_len);
        let (offset, len) = fragment_span(total, usize::from(f.count), usize::from(f.index))
            .ok_or(WireError::Malformed)?;
        if len != f.chunk.len() {
            return Err(WireError::Malformed);
        }
        if total > N {
            return Err(WireError::TooLarge);
        }
        let key = (packet.source, f.message_id);
        if self.done[..self.done_len].contains(&key) {
            self.stats.duplicates += 1;
            return Ok(None);
        }
        let i = match self
            .slots
            .iter()
            .position(|s| s.used && (s.source, s.message_id) == key)
        {
            Some(i) => {
                let s = &self.slots[i];
                if s.count != f.count || s.total_len != f.total_len {
                    return Err(WireError::Malformed);
                }
                i
            }
            None => {
                let i = self
                    .slots
                    .iter()
                    .position(|s| !s.used)
                    .ok_or(WireError::ReassemblyBusy)?;
                let s = &mut self.slots[i];
                s.used = true;
                s.source = packet.source;
                s.message_id = f.message_id;
                s.count = f.count;
                s.total_len = f.total_len;
                s.received = [0; 8];
                s.n_received = 0;
                i
            }
        };
        let s = &mut self.slots[i];
        let (word, bit) = (usize::from(f.index) / 32, 1u32 << (f.index % 32));
        if s.received[word] & bit != 0 {
            self.stats.duplicates += 1;
            return Ok(None);
        }
        s.received[word] |= bit;
        s.n_received += 1;
        s.buf[offset..offset + len].copy_from_slice(f.chunk);
        if s.n_received < u16::from(s.count) {
            return Ok(None);
        }
        s.used = false;
        self.stats.completed += 1;
        self.done[self.done_next] = key;
        self.done_next = (self.done_next + 1) % DONE;
        self.done_len = (self.done_len + 1).min(DONE);
        Ok(Some(&self.slots[i].buf[..total]))
    }
}
