//! The relay's per-receiver round bundle: every delivery a receiver gets in
//! a round, and the round's end, in one packet (or a few, when they would
//! not fit one UDP datagram).
//!
//! # Layout (the body of a [`Kind::Bundle`](super::Kind::Bundle) packet)
//!
//! All integers little-endian.
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 2 | piece index, `0..pieces` |
//! | 2 | 2 | pieces: how many bundle packets the receiver gets this round (≥ 1) |
//! | 4 | 2 | entries in this piece |
//! | 6 | … | entries, back to back |
//!
//! An entry is a [`Delivery`] body: slot (2), hops (1), inner length (2),
//! inner packet (that many bytes). The entries must use the body exactly.
//!
//! The packet header says the round, the cluster and the source
//! ([`RELAY_NODE`](super::RELAY_NODE)); so every piece describes itself, and
//! a receiver knows a round is over only once it holds all `pieces` pieces
//! of it. The receiver's deliveries are the entries of piece 0, then piece
//! 1, …, in order. An entry is never split across pieces.
//!
//! [`Bundle::parse`] checks every length before anything is read, so a
//! bundle view never points outside its bytes, and [`Bundle::entries`]
//! cannot fail.

use super::WireError;
use super::body::Delivery;

/// A checked view of a bundle body (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bundle<'a> {
    piece: u16,
    pieces: u16,
    count: u16,
    entries: &'a [u8],
}

/// Field offsets of the bundle body.
mod field {
    use core::ops::Range;
    pub const PIECE: Range<usize> = 0..2;
    pub const PIECES: Range<usize> = 2..4;
    pub const COUNT: Range<usize> = 4..6;
    pub const ENTRIES: usize = 6;
    /// Within an entry.
    pub const SLOT: Range<usize> = 0..2;
    pub const HOPS: usize = 2;
    pub const INNER_LEN: Range<usize> = 3..5;
    pub const INNER: usize = 5;
}

fn u16_at(bytes: &[u8], at: core::ops::Range<usize>) -> Option<u16> {
    let b = bytes.get(at)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

/// The first entry of `bytes` and the rest, if `bytes` starts with a whole
/// entry.
fn split_entry(bytes: &[u8]) -> Option<(Delivery<'_>, &[u8])> {
    let slot = u16_at(bytes, field::SLOT)?;
    let hops = *bytes.get(field::HOPS)?;
    let len = usize::from(u16_at(bytes, field::INNER_LEN)?);
    let end = field::INNER.checked_add(len)?;
    let inner = bytes.get(field::INNER..end)?;
    Some((Delivery { slot, hops, inner }, &bytes[end..]))
}

impl<'a> Bundle<'a> {
    /// Body bytes before the entries: piece 2 + pieces 2 + count 2.
    pub const FIXED_LEN: usize = field::ENTRIES;
    /// Bytes of an entry besides its inner packet (as a [`Delivery`] body).
    pub const ENTRY_FIXED_LEN: usize = Delivery::FIXED_LEN;

    /// A bundle piece over `entries` (already encoded with
    /// [`encode_entry`](Self::encode_entry)), checked like a received one.
    pub fn new(piece: u16, pieces: u16, entries: &'a [u8]) -> Result<Self, WireError> {
        let count = count_entries(entries).ok_or(WireError::Malformed)?;
        let count = u16::try_from(count).map_err(|_| WireError::TooLarge)?;
        Self::checked(piece, pieces, count, entries)
    }

    /// Reads a received bundle body. [`WireError::Malformed`] unless
    /// `piece < pieces` and exactly `count` whole entries fill the rest.
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        let (Some(piece), Some(pieces), Some(count)) = (
            u16_at(body, field::PIECE),
            u16_at(body, field::PIECES),
            u16_at(body, field::COUNT),
        ) else {
            return Err(WireError::Malformed);
        };
        Self::checked(piece, pieces, count, &body[field::ENTRIES..])
    }

    fn checked(piece: u16, pieces: u16, count: u16, entries: &'a [u8]) -> Result<Self, WireError> {
        if piece >= pieces || count_entries(entries) != Some(usize::from(count)) {
            return Err(WireError::Malformed);
        }
        Ok(Self {
            piece,
            pieces,
            count,
            entries,
        })
    }

    /// This piece's index, `0..pieces`.
    pub const fn piece(&self) -> u16 {
        self.piece
    }

    /// How many pieces the receiver's bundle of this round has.
    pub const fn pieces(&self) -> u16 {
        self.pieces
    }

    /// How many deliveries this piece carries.
    pub const fn len(&self) -> usize {
        self.count as usize
    }

    /// True if this piece carries no delivery (only the round's end).
    pub const fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The encoded entries.
    pub const fn entry_bytes(&self) -> &'a [u8] {
        self.entries
    }

    /// Encoded body length.
    pub const fn body_len(&self) -> usize {
        Self::FIXED_LEN + self.entries.len()
    }

    /// The deliveries of this piece, in order.
    pub fn entries(&self) -> Entries<'a> {
        Entries { rest: self.entries }
    }

    /// Writes the body into the start of `out`; returns its length.
    /// [`WireError::TooLarge`] if `out` is too small.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let len = self.body_len();
        let out = out.get_mut(..len).ok_or(WireError::TooLarge)?;
        out[field::PIECE].copy_from_slice(&self.piece.to_le_bytes());
        out[field::PIECES].copy_from_slice(&self.pieces.to_le_bytes());
        out[field::COUNT].copy_from_slice(&self.count.to_le_bytes());
        out[field::ENTRIES..].copy_from_slice(self.entries);
        Ok(len)
    }

    /// Encoded length of the entry of a `inner_len`-byte packet.
    pub const fn entry_len(inner_len: usize) -> usize {
        Self::ENTRY_FIXED_LEN + inner_len
    }

    /// Writes `d` as an entry into the start of `out`; returns its length.
    /// [`WireError::TooLarge`] if `out` is too small or the inner packet is
    /// longer than 65,535 bytes.
    pub fn encode_entry(d: &Delivery<'_>, out: &mut [u8]) -> Result<usize, WireError> {
        let inner_len = u16::try_from(d.inner.len()).map_err(|_| WireError::TooLarge)?;
        let len = Self::entry_len(d.inner.len());
        let out = out.get_mut(..len).ok_or(WireError::TooLarge)?;
        out[field::SLOT].copy_from_slice(&d.slot.to_le_bytes());
        out[field::HOPS] = d.hops;
        out[field::INNER_LEN].copy_from_slice(&inner_len.to_le_bytes());
        out[field::INNER..].copy_from_slice(d.inner);
        Ok(len)
    }
}

/// The number of whole entries that fill `bytes` exactly, if they do.
fn count_entries(mut bytes: &[u8]) -> Option<usize> {
    let mut n = 0usize;
    while !bytes.is_empty() {
        let (_, rest) = split_entry(bytes)?;
        bytes = rest;
        n += 1;
    }
    Some(n)
}

/// The deliveries of a [`Bundle`] piece.
#[derive(Debug, Clone)]
pub struct Entries<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Entries<'a> {
    type Item = Delivery<'a>;

    fn next(&mut self) -> Option<Delivery<'a>> {
        // The bundle was checked: every entry is whole.
        let (d, rest) = split_entry(self.rest)?;
        self.rest = rest;
        Some(d)
    }
}
