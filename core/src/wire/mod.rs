//! The packets of a RockNet cluster (docs/wire.md), one set of types for the
//! nodes, the coordinator, the link-model relay and the firmware. `no_std`,
//! no allocation: packets are encoded into caller buffers and decoded into
//! views borrowing the received bytes.
//!
//! # Layout
//!
//! All integers are fixed-width little-endian (bincode 2,
//! `standard().with_fixed_int_encoding().with_little_endian()`).
//!
//! | bytes | field |
//! |---|---|
//! | 2 | magic `b"RN"` (0x52, 0x4E) |
//! | 1 | version ([`VERSION`]) |
//! | 1 | kind ([`Kind`]) |
//! | 2 | cluster id |
//! | 2 | source node id (0 = host, [`RELAY_NODE`] = relay) |
//! | 4 | round |
//! | 2 | body length |
//! | n | body ([`Body`]) |
//! | 2 | CRC-16/KERMIT over header and body ([`crc16`]) |
//!
//! Overhead: [`HEADER_LEN`] + [`CRC_LEN`] = 16 bytes. Body lengths: beacon 17,
//! sample 9 + n·(4 | 1), partial logits 5 + 4·C, absent 4, hello 10,
//! delivery 5 + inner, fragment 6 + chunk, bundle 6 + Σ (5 + inner) (layout
//! in [`Bundle`]).
//!
//! # FaceAll sizes (RockNet's deployment, C = 14, L = 131, int8)
//!
//! * Partial logits: [`partial_logits_len`]`(14)` = 16 + 5 + 56 = **77 B**
//!   (RockNet: 58 B = 2 + 14 × 4 + 2; our extra 19 B are the cluster, source,
//!   round, length, version and sample-index fields).
//! * Sample: [`sample_len`]`(131, Int8)` = 16 + 9 + 131 = **156 B**
//!   (RockNet: 135 B = 2 + 131 + 2). It fits one BLE frame (255 B); over
//!   IEEE 802.15.4 (127 B) it travels as 2 fragments of 22 + 78 B
//!   ([`on_air_len`]`(156, 127)` = 200 B).
//!
//! # Drops
//!
//! [`decode`] never panics; a rejected packet yields exactly one
//! [`WireError`], counted by [`DropCounters::record`]. Checks run in this
//! order: length ≥ 16 ([`WireError::TooShort`]), magic, version, body length
//! against the received length, CRC, kind, body. Cluster and round are
//! checked by the receiver against its own state ([`Packet::check_cluster`],
//! [`Packet::check_round`], or [`decode_checked`]).

mod body;
mod bundle;
mod crc;
mod error;
mod frag;
pub mod fuzz;

pub use body::{
    Absent, Beacon, Delivery, Fragment, Hello, LogitsBody, Phase, Sample, SampleEncoding,
    SampleValues, fragment_span,
};
pub use bundle::{Bundle, Entries};
pub use crc::crc16;
pub use error::{DropCounters, DropReason, WireError};
pub use frag::{Fragmenter, Reassembler, ReassemblyStats};

use bincode::config::{Configuration, Fixint, LittleEndian};
use bincode::{Decode, Encode};

/// The first two bytes of every packet.
pub const MAGIC: [u8; 2] = *b"RN";
/// The wire version this build speaks.
pub const VERSION: u8 = 1;
/// Header bytes.
pub const HEADER_LEN: usize = 14;
/// CRC bytes.
pub const CRC_LEN: usize = 2;
/// Header and CRC together: the size of a packet with an empty body.
pub const OVERHEAD: usize = HEADER_LEN + CRC_LEN;
/// The largest body a header can describe.
pub const MAX_BODY_LEN: usize = u16::MAX as usize;
/// The largest packet.
pub const MAX_PACKET_LEN: usize = OVERHEAD + MAX_BODY_LEN;
/// Node id of the host (coordinator, radio node 0).
pub const HOST_NODE: u16 = 0;
/// Node id the link-model relay sends [`Delivery`] envelopes from.
pub const RELAY_NODE: u16 = u16::MAX;
/// Largest IEEE 802.15.4 frame.
pub const MAX_FRAME_802154: usize = 127;
/// Largest BLE (2M / 1M) payload used as a frame.
pub const MAX_FRAME_BLE: usize = 255;

/// The bincode configuration of the wire: fixed-width little-endian integers.
pub const CONFIG: Configuration<LittleEndian, Fixint> = bincode::config::standard()
    .with_fixed_int_encoding()
    .with_little_endian();

/// The packet kinds (the header's kind byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// [`Beacon`].
    Beacon = 1,
    /// [`Sample`].
    Sample = 2,
    /// [`LogitsBody`].
    PartialLogits = 3,
    /// [`Absent`].
    Absent = 4,
    /// [`Hello`].
    Hello = 5,
    /// [`Delivery`].
    Delivery = 6,
    /// [`Fragment`].
    Fragment = 7,
    /// [`Bundle`].
    Bundle = 8,
}

impl Kind {
    /// The kind of a header byte, if known.
    pub const fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            1 => Kind::Beacon,
            2 => Kind::Sample,
            3 => Kind::PartialLogits,
            4 => Kind::Absent,
            5 => Kind::Hello,
            6 => Kind::Delivery,
            7 => Kind::Fragment,
            8 => Kind::Bundle,
            _ => return None,
        })
    }
}

/// The body of a packet, by kind.
///
/// Partial logits are held by value (a fixed [`MAX_CLASSES`](crate::classifier::MAX_CLASSES)
/// array, ~280 B): without allocation there is nothing to box them in.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Body<'a> {
    /// Round opening from the host.
    Beacon(Beacon),
    /// A flooded sample.
    Sample(Sample<'a>),
    /// A device's partial logits.
    PartialLogits(LogitsBody),
    /// A missing contribution.
    Absent(Absent),
    /// Registration.
    Hello(Hello),
    /// The relay's envelope.
    Delivery(Delivery<'a>),
    /// A fragment of a larger packet.
    Fragment(Fragment<'a>),
    /// The relay's round bundle to one receiver (or a piece of it).
    Bundle(Bundle<'a>),
}

impl Body<'_> {
    /// The kind byte of this body.
    pub const fn kind(&self) -> Kind {
        match self {
            Body::Beacon(_) => Kind::Beacon,
            Body::Sample(_) => Kind::Sample,
            Body::PartialLogits(_) => Kind::PartialLogits,
            Body::Absent(_) => Kind::Absent,
            Body::Hello(_) => Kind::Hello,
            Body::Delivery(_) => Kind::Delivery,
            Body::Fragment(_) => Kind::Fragment,
            Body::Bundle(_) => Kind::Bundle,
        }
    }

    /// Encoded body length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Body::Beacon(_) => Beacon::BODY_LEN,
            Body::Sample(s) => s.body_len(),
            Body::PartialLogits(l) => l.body_len(),
            Body::Absent(_) => Absent::BODY_LEN,
            Body::Hello(_) => Hello::BODY_LEN,
            Body::Delivery(d) => d.body_len(),
            Body::Fragment(f) => f.body_len(),
            Body::Bundle(b) => b.body_len(),
        }
    }

    /// Always false: every body has fixed fields (kept for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Encode for Body<'_> {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        encoder: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        use bincode::enc::write::Writer;
        match self {
            Body::Beacon(b) => b.encode(encoder),
            Body::Sample(s) => s.encode(encoder),
            Body::PartialLogits(l) => l.encode(encoder),
            Body::Absent(a) => a.encode(encoder),
            Body::Hello(h) => h.encode(encoder),
            Body::Delivery(d) => d.encode(encoder),
            Body::Fragment(f) => f.encode(encoder),
            Body::Bundle(b) => {
                b.piece().encode(encoder)?;
                b.pieces().encode(encoder)?;
                // `Bundle::new`/`parse` checked that the count fits.
                (b.len() as u16).encode(encoder)?;
                encoder.writer().write(b.entry_bytes())
            }
        }
    }
}

/// The fixed header as it is on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
struct RawHeader {
    magic: [u8; 2],
    version: u8,
    kind: u8,
    cluster: u16,
    source: u16,
    round: u32,
    body_len: u16,
}

/// A packet: header fields and body (magic, version, kind, length and CRC are
/// implied and checked by [`encode`] / [`decode`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Packet<'a> {
    /// Cluster id (packets of other clusters are dropped).
    pub cluster: u16,
    /// Sending node ([`HOST_NODE`], a device, or [`RELAY_NODE`]).
    pub source: u16,
    /// Round the packet belongs to.
    pub round: u32,
    /// The body.
    pub body: Body<'a>,
}

impl<'a> Packet<'a> {
    /// Encodes into a new, exactly sized buffer (hosts only; the firmware
    /// uses [`encode`] into its own buffer).
    #[cfg(feature = "alloc")]
    pub fn to_vec(&self) -> Result<alloc::vec::Vec<u8>, WireError> {
        let mut buf = alloc::vec![0u8; self.encoded_len()];
        let n = encode(self, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// The packet kind.
    pub const fn kind(&self) -> Kind {
        self.body.kind()
    }

    /// Exact encoded size in bytes (header + body + CRC).
    pub fn encoded_len(&self) -> usize {
        OVERHEAD + self.body.len()
    }

    /// Encodes into `out`; see [`encode`].
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        encode(self, out)
    }

    /// True if the packet belongs to another cluster than `expected`.
    pub const fn is_foreign_cluster(&self, expected: u16) -> bool {
        self.cluster != expected
    }

    /// [`WireError::ForeignCluster`] unless the packet is of cluster `expected`.
    pub const fn check_cluster(&self, expected: u16) -> Result<(), WireError> {
        if self.cluster != expected {
            return Err(WireError::ForeignCluster {
                expected,
                found: self.cluster,
            });
        }
        Ok(())
    }

    /// [`WireError::StaleRound`] if the packet is of a round before
    /// `expected`, [`WireError::FutureRound`] if after it.
    pub const fn check_round(&self, expected: u32) -> Result<(), WireError> {
        if self.round < expected {
            Err(WireError::StaleRound {
                expected,
                found: self.round,
            })
        } else if self.round > expected {
            Err(WireError::FutureRound {
                expected,
                found: self.round,
            })
        } else {
            Ok(())
        }
    }
}

/// Encodes `packet` into the start of `out` and returns the number of bytes
/// written ([`Packet::encoded_len`]).
///
/// [`WireError::TooLarge`] if `out` is too small, the body exceeds
/// [`MAX_BODY_LEN`], or a count does not fit its field (more than 65,535
/// sample values, more than [`MAX_CLASSES`](crate::classifier::MAX_CLASSES)
/// classes); [`WireError::Malformed`] for an inconsistent [`Fragment`].
pub fn encode(packet: &Packet<'_>, out: &mut [u8]) -> Result<usize, WireError> {
    let body_len = packet.body.len();
    let body_len16 = u16::try_from(body_len).map_err(|_| WireError::TooLarge)?;
    let total = OVERHEAD + body_len;
    if out.len() < total {
        return Err(WireError::TooLarge);
    }
    match &packet.body {
        Body::Sample(s) if s.values.len() > usize::from(u16::MAX) => {
            return Err(WireError::TooLarge);
        }
        Body::Fragment(f)
            if fragment_span(
                usize::from(f.total_len),
                usize::from(f.count),
                usize::from(f.index),
            )
            .map(|(_, len)| len)
                != Some(f.chunk.len()) =>
        {
            return Err(WireError::Malformed);
        }
        _ => {}
    }
    let header = RawHeader {
        magic: MAGIC,
        version: VERSION,
        kind: packet.kind() as u8,
        cluster: packet.cluster,
        source: packet.source,
        round: packet.round,
        body_len: body_len16,
    };
    let n = bincode::encode_into_slice(header, &mut out[..HEADER_LEN], CONFIG)
        .map_err(|_| WireError::TooLarge)?;
    debug_assert_eq!(n, HEADER_LEN);
    let n = bincode::encode_into_slice(
        packet.body,
        &mut out[HEADER_LEN..HEADER_LEN + body_len],
        CONFIG,
    )
    .map_err(|_| WireError::TooLarge)?;
    if n != body_len {
        return Err(WireError::TooLarge);
    }
    let crc = crc16(&out[..HEADER_LEN + body_len]);
    out[HEADER_LEN + body_len..total].copy_from_slice(&crc.to_le_bytes());
    Ok(total)
}

/// Decodes one packet occupying all of `bytes`. Never panics; every rejection
/// is one [`WireError`] (see the module documentation for the check order).
pub fn decode(bytes: &[u8]) -> Result<Packet<'_>, WireError> {
    if bytes.len() < OVERHEAD {
        return Err(WireError::TooShort);
    }
    let (h, _): (RawHeader, usize) = bincode::decode_from_slice(&bytes[..HEADER_LEN], CONFIG)
        .map_err(|_| WireError::TooShort)?;
    if h.magic != MAGIC {
        return Err(WireError::BadMagic);
    }
    if h.version != VERSION {
        return Err(WireError::UnsupportedVersion(h.version));
    }
    let body_len = usize::from(h.body_len);
    if bytes.len() != OVERHEAD + body_len {
        return Err(WireError::LengthMismatch);
    }
    let crc_at = HEADER_LEN + body_len;
    let expected = crc16(&bytes[..crc_at]);
    let found = u16::from_le_bytes([bytes[crc_at], bytes[crc_at + 1]]);
    if expected != found {
        return Err(WireError::BadCrc { expected, found });
    }
    let kind = Kind::from_u8(h.kind).ok_or(WireError::UnknownKind(h.kind))?;
    let body = &bytes[HEADER_LEN..crc_at];
    let body = match kind {
        Kind::Beacon => Body::Beacon(decode_body(body)?),
        Kind::Sample => Body::Sample(decode_body(body)?),
        Kind::PartialLogits => Body::PartialLogits(decode_body(body)?),
        Kind::Absent => Body::Absent(decode_body(body)?),
        Kind::Hello => Body::Hello(decode_body(body)?),
        Kind::Delivery => Body::Delivery(decode_body(body)?),
        Kind::Fragment => Body::Fragment(decode_body(body)?),
        Kind::Bundle => Body::Bundle(Bundle::parse(body)?),
    };
    Ok(Packet {
        cluster: h.cluster,
        source: h.source,
        round: h.round,
        body,
    })
}

/// Decodes a body that must use all of `body`.
fn decode_body<'a, T: bincode::BorrowDecode<'a, ()>>(body: &'a [u8]) -> Result<T, WireError> {
    match bincode::borrow_decode_from_slice::<T, _>(body, CONFIG) {
        Ok((v, n)) if n == body.len() => Ok(v),
        _ => Err(WireError::Malformed),
    }
}

/// [`decode`], then [`Packet::check_cluster`] and [`Packet::check_round`].
pub fn decode_checked(bytes: &[u8], cluster: u16, round: u32) -> Result<Packet<'_>, WireError> {
    let p = decode(bytes)?;
    p.check_cluster(cluster)?;
    p.check_round(round)?;
    Ok(p)
}

/// Encoded size of a beacon packet (33 B).
pub const fn beacon_len() -> usize {
    OVERHEAD + Beacon::BODY_LEN
}

/// Encoded size of a sample packet of `n_values` values (FaceAll, 131 int8: 156 B).
pub const fn sample_len(n_values: usize, encoding: SampleEncoding) -> usize {
    OVERHEAD + Sample::FIXED_LEN + n_values * encoding.width()
}

/// Encoded size of a partial-logits packet of `n_classes` classes (FaceAll, 14: 77 B).
pub const fn partial_logits_len(n_classes: usize) -> usize {
    OVERHEAD + LogitsBody::body_len_for(n_classes)
}

/// Encoded size of an absent packet (20 B).
pub const fn absent_len() -> usize {
    OVERHEAD + Absent::BODY_LEN
}

/// Encoded size of a hello packet (26 B).
pub const fn hello_len() -> usize {
    OVERHEAD + Hello::BODY_LEN
}

/// Encoded size of a delivery envelope around an `inner_len`-byte packet.
pub const fn delivery_len(inner_len: usize) -> usize {
    OVERHEAD + Delivery::FIXED_LEN + inner_len
}

/// Encoded size of a bundle packet whose entries take `entries_len` bytes
/// (each entry: [`Bundle::entry_len`] of its inner packet).
pub const fn bundle_len(entries_len: usize) -> usize {
    OVERHEAD + Bundle::FIXED_LEN + entries_len
}

/// Encoded size of a fragment packet carrying `chunk_len` message bytes.
pub const fn fragment_len(chunk_len: usize) -> usize {
    OVERHEAD + Fragment::FIXED_LEN + chunk_len
}

/// Bytes per fragment that carry no message data (22).
pub const FRAGMENT_OVERHEAD: usize = fragment_len(0);

/// Frames needed to send a `packet_len`-byte packet with frames of at most
/// `max_frame` bytes: 1 if it fits, else the fragment count.
/// [`WireError::TooLarge`] if `max_frame` cannot carry a fragment or more than
/// 255 fragments would be needed.
pub fn frames_needed(packet_len: usize, max_frame: usize) -> Result<usize, WireError> {
    if packet_len <= max_frame {
        return Ok(1);
    }
    fragment_count(packet_len, max_frame)
}

/// Fragments for a `packet_len`-byte message with frames of `max_frame` bytes.
pub(crate) fn fragment_count(packet_len: usize, max_frame: usize) -> Result<usize, WireError> {
    let cap = max_frame.saturating_sub(FRAGMENT_OVERHEAD);
    if cap == 0 || packet_len == 0 || packet_len > MAX_BODY_LEN {
        return Err(WireError::TooLarge);
    }
    let count = packet_len.div_ceil(cap);
    if count > usize::from(u8::MAX) {
        return Err(WireError::TooLarge);
    }
    Ok(count)
}

/// Total bytes on the air to send a `packet_len`-byte packet with frames of
/// at most `max_frame` bytes (the packet itself if it fits, else all its
/// fragments), for airtime computations.
pub fn on_air_len(packet_len: usize, max_frame: usize) -> Result<usize, WireError> {
    if packet_len <= max_frame {
        return Ok(packet_len);
    }
    let count = fragment_count(packet_len, max_frame)?;
    Ok(packet_len + count * FRAGMENT_OVERHEAD)
}

#[cfg(test)]
mod tests;
