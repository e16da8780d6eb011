//! Packet bodies and their bincode encodings (fixed-width little-endian).
//!
//! Fixed-size bodies derive `Encode`/`Decode`; variable-length ones (sample
//! values, logits, relayed packets, fragment chunks) write an explicit count
//! followed by the elements, and decode into borrowed slices or fixed-capacity
//! arrays, so nothing allocates.

use bincode::de::read::BorrowReader;
use bincode::de::{BorrowDecoder, Decoder};
use bincode::enc::Encoder;
use bincode::enc::write::Writer;
use bincode::error::{DecodeError, EncodeError};
use bincode::{BorrowDecode, Decode, Encode};

use crate::classifier::{MAX_CLASSES, PartialLogits};

/// What the cluster is doing in a round (sent in the [`Beacon`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Nothing to compute (joining, between runs).
    Idle,
    /// A training round: gradients are taken.
    Train,
    /// An evaluation round: logits are scored only.
    Eval,
}

impl Phase {
    /// The byte on the wire.
    pub const fn to_u8(self) -> u8 {
        match self {
            Phase::Idle => 0,
            Phase::Train => 1,
            Phase::Eval => 2,
        }
    }

    /// The phase of a wire byte, if it is one.
    pub const fn from_u8(b: u8) -> Option<Self> {
        match b {
            0 => Some(Phase::Idle),
            1 => Some(Phase::Train),
            2 => Some(Phase::Eval),
            _ => None,
        }
    }
}

impl Encode for Phase {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        self.to_u8().encode(encoder)
    }
}

impl<Ctx> Decode<Ctx> for Phase {
    fn decode<D: Decoder<Context = Ctx>>(decoder: &mut D) -> Result<Self, DecodeError> {
        let b = u8::decode(decoder)?;
        Phase::from_u8(b).ok_or(DecodeError::Other("unknown phase"))
    }
}
bincode::impl_borrow_decode!(Phase);

/// Opens a round (from the host, node 0); also the time reference of the
/// round. The round number is the packet header's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct Beacon {
    /// Train, evaluate or idle.
    pub phase: Phase,
    /// The sample flooded in this round.
    pub sample_index: u32,
    /// The epoch the round belongs to.
    pub epoch: u32,
    /// Hash of the experiment configuration (a node with another hash must not take part).
    pub config_hash: u64,
}

impl Beacon {
    /// Encoded body length: phase 1 + sample index 4 + epoch 4 + hash 8.
    pub const BODY_LEN: usize = 17;
}

/// How sample values are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleEncoding {
    /// 4-byte little-endian IEEE-754 floats.
    F32,
    /// One signed byte per value (see [`crate::series::Int8Scale`]).
    Int8,
}

impl SampleEncoding {
    /// Bytes per value.
    pub const fn width(self) -> usize {
        match self {
            SampleEncoding::F32 => 4,
            SampleEncoding::Int8 => 1,
        }
    }

    const fn to_u8(self) -> u8 {
        match self {
            SampleEncoding::F32 => 0,
            SampleEncoding::Int8 => 1,
        }
    }

    const fn from_u8(b: u8) -> Option<Self> {
        match b {
            0 => Some(SampleEncoding::F32),
            1 => Some(SampleEncoding::Int8),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Repr<'a> {
    F32(&'a [f32]),
    Int8(&'a [i8]),
    /// As received: `width` bytes per value, little-endian.
    Raw(SampleEncoding, &'a [u8]),
}

/// The values of a sample, borrowed: either the caller's slice (to encode)
/// or the received bytes (after decoding; f32 values are read out with
/// [`f32_at`](Self::f32_at) / [`copy_f32_into`](Self::copy_f32_into), since
/// the packet buffer is not aligned for `f32`).
///
/// Equality compares encoding and values (f32 bit for bit), whatever the
/// representation.
#[derive(Debug, Clone, Copy)]
pub struct SampleValues<'a> {
    repr: Repr<'a>,
}

impl<'a> SampleValues<'a> {
    /// f32 values.
    pub const fn f32(values: &'a [f32]) -> Self {
        Self {
            repr: Repr::F32(values),
        }
    }

    /// int8 values.
    pub const fn int8(values: &'a [i8]) -> Self {
        Self {
            repr: Repr::Int8(values),
        }
    }

    /// The encoding.
    pub const fn encoding(&self) -> SampleEncoding {
        match self.repr {
            Repr::F32(_) => SampleEncoding::F32,
            Repr::Int8(_) => SampleEncoding::Int8,
            Repr::Raw(e, _) => e,
        }
    }

    /// Number of values.
    pub const fn len(&self) -> usize {
        match self.repr {
            Repr::F32(v) => v.len(),
            Repr::Int8(v) => v.len(),
            Repr::Raw(e, b) => b.len() / e.width(),
        }
    }

    /// True when there are no values.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i` of an f32 sample (`None` out of range or for int8).
    pub fn f32_at(&self, i: usize) -> Option<f32> {
        match self.repr {
            Repr::F32(v) => v.get(i).copied(),
            Repr::Raw(SampleEncoding::F32, b) => {
                let c = b.get(i * 4..i * 4 + 4)?;
                Some(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            }
            _ => None,
        }
    }

    /// Value `i` of an int8 sample (`None` out of range or for f32).
    pub fn i8_at(&self, i: usize) -> Option<i8> {
        match self.repr {
            Repr::Int8(v) => v.get(i).copied(),
            Repr::Raw(SampleEncoding::Int8, b) => b.get(i).map(|&x| x as i8),
            _ => None,
        }
    }

    /// Copies an f32 sample into `out`, whose length must be [`len`](Self::len)
    /// ([`WireError::Malformed`](super::WireError::Malformed) otherwise, or for int8).
    pub fn copy_f32_into(&self, out: &mut [f32]) -> Result<(), super::WireError> {
        if self.encoding() != SampleEncoding::F32 || out.len() != self.len() {
            return Err(super::WireError::Malformed);
        }
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.f32_at(i).ok_or(super::WireError::Malformed)?;
        }
        Ok(())
    }

    /// Copies an int8 sample into `out`, whose length must be [`len`](Self::len)
    /// ([`WireError::Malformed`](super::WireError::Malformed) otherwise, or for f32).
    pub fn copy_i8_into(&self, out: &mut [i8]) -> Result<(), super::WireError> {
        if self.encoding() != SampleEncoding::Int8 || out.len() != self.len() {
            return Err(super::WireError::Malformed);
        }
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.i8_at(i).ok_or(super::WireError::Malformed)?;
        }
        Ok(())
    }

    /// Encoded size of the values alone (count excluded).
    pub const fn byte_len(&self) -> usize {
        self.len() * self.encoding().width()
    }
}

impl PartialEq for SampleValues<'_> {
    fn eq(&self, other: &Self) -> bool {
        if self.encoding() != other.encoding() || self.len() != other.len() {
            return false;
        }
        match self.encoding() {
            SampleEncoding::F32 => (0..self.len())
                .all(|i| self.f32_at(i).map(f32::to_bits) == other.f32_at(i).map(f32::to_bits)),
            SampleEncoding::Int8 => (0..self.len()).all(|i| self.i8_at(i) == other.i8_at(i)),
        }
    }
}

/// One training or test sample, flooded by its owner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample<'a> {
    /// Index of the sample in the (train or test) set of the round's phase.
    pub sample_index: u32,
    /// Class label.
    pub label: u16,
    /// The values, channel-major (`n_channels × length`, shape from the config).
    pub values: SampleValues<'a>,
}

impl Sample<'_> {
    /// Encoded body length without the values: index 4 + label 2 +
    /// encoding 1 + count 2.
    pub const FIXED_LEN: usize = 9;

    /// Encoded body length.
    pub const fn body_len(&self) -> usize {
        Self::FIXED_LEN + self.values.byte_len()
    }
}

impl Encode for Sample<'_> {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        let n =
            u16::try_from(self.values.len()).map_err(|_| EncodeError::Other("too many values"))?;
        self.sample_index.encode(encoder)?;
        self.label.encode(encoder)?;
        self.values.encoding().to_u8().encode(encoder)?;
        n.encode(encoder)?;
        match self.values.repr {
            Repr::F32(v) => v.iter().try_for_each(|x| x.encode(encoder)),
            Repr::Int8(v) => v.iter().try_for_each(|x| x.encode(encoder)),
            Repr::Raw(_, b) => encoder.writer().write(b),
        }
    }
}

impl<'de, Ctx> BorrowDecode<'de, Ctx> for Sample<'de> {
    fn borrow_decode<D: BorrowDecoder<'de, Context = Ctx>>(
        decoder: &mut D,
    ) -> Result<Self, DecodeError> {
        let sample_index = u32::decode(decoder)?;
        let label = u16::decode(decoder)?;
        let enc = SampleEncoding::from_u8(u8::decode(decoder)?)
            .ok_or(DecodeError::Other("unknown sample encoding"))?;
        let n = usize::from(u16::decode(decoder)?);
        let bytes = decoder.borrow_reader().take_bytes(n * enc.width())?;
        Ok(Sample {
            sample_index,
            label,
            values: SampleValues {
                repr: Repr::Raw(enc, bytes),
            },
        })
    }
}

/// A device's partial logits for one sample, in the exact fixed-point form
/// of docs/method.md#exact-partial-logits (C × i32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogitsBody {
    /// The sample these logits belong to.
    pub sample_index: u32,
    /// The C fixed-point values (C ≤ [`MAX_CLASSES`]). The saturation count
    /// is local and does not travel: decoded values have `saturated() == 0`.
    pub logits: PartialLogits,
}

impl LogitsBody {
    /// Encoded body length for `n_classes` classes: index 4 + count 1 + 4·C.
    pub const fn body_len_for(n_classes: usize) -> usize {
        5 + 4 * n_classes
    }

    /// Encoded body length.
    pub fn body_len(&self) -> usize {
        Self::body_len_for(self.logits.n_classes())
    }
}

impl Encode for LogitsBody {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        self.sample_index.encode(encoder)?;
        self.logits.encode(encoder)
    }
}

impl<Ctx> Decode<Ctx> for LogitsBody {
    fn decode<D: Decoder<Context = Ctx>>(decoder: &mut D) -> Result<Self, DecodeError> {
        Ok(Self {
            sample_index: u32::decode(decoder)?,
            logits: PartialLogits::decode(decoder)?,
        })
    }
}
bincode::impl_borrow_decode!(LogitsBody);

/// Count (u8, ≤ [`MAX_CLASSES`]) then C little-endian i32.
impl Encode for PartialLogits {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        let n =
            u8::try_from(self.n_classes()).map_err(|_| EncodeError::Other("too many classes"))?;
        n.encode(encoder)?;
        self.values().iter().try_for_each(|v| v.encode(encoder))
    }
}

impl<Ctx> Decode<Ctx> for PartialLogits {
    fn decode<D: Decoder<Context = Ctx>>(decoder: &mut D) -> Result<Self, DecodeError> {
        let n = usize::from(u8::decode(decoder)?);
        if n > MAX_CLASSES {
            return Err(DecodeError::Other("more classes than MAX_CLASSES"));
        }
        let mut values = [0i32; MAX_CLASSES];
        for v in &mut values[..n] {
            *v = i32::decode(decoder)?;
        }
        Ok(PartialLogits::from_wire(&values[..n]))
    }
}
bincode::impl_borrow_decode!(PartialLogits);

/// A device could not compute its contribution for a sample (it did not
/// receive the sample); receivers count it instead of waiting for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct Absent {
    /// The sample the contribution is missing for.
    pub sample_index: u32,
}

impl Absent {
    /// Encoded body length.
    pub const BODY_LEN: usize = 4;
}

/// Join / registration of a node with the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct Hello {
    /// The node's id.
    pub node: u16,
    /// Hash of the configuration the node runs.
    pub config_hash: u64,
}

impl Hello {
    /// Encoded body length.
    pub const BODY_LEN: usize = 10;
}

/// The relay's envelope to a node: a packet heard in the flood, with the slot
/// and hop at which it reached the receiver. The round is the envelope's
/// header round; the relayed packet's own bytes (checked end to end by its own
/// CRC) are [`inner`](Self::inner), decoded with [`Delivery::packet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery<'a> {
    /// Slot of the round at which the packet was received.
    pub slot: u16,
    /// Hops from the originator.
    pub hops: u8,
    /// The relayed packet, as encoded by its sender.
    pub inner: &'a [u8],
}

impl<'a> Delivery<'a> {
    /// Encoded body length without the inner packet: slot 2 + hops 1 + length 2.
    pub const FIXED_LEN: usize = 5;

    /// Encoded body length.
    pub const fn body_len(&self) -> usize {
        Self::FIXED_LEN + self.inner.len()
    }

    /// Decodes the relayed packet.
    pub fn packet(&self) -> Result<super::Packet<'a>, super::WireError> {
        super::decode(self.inner)
    }
}

impl Encode for Delivery<'_> {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        let n = u16::try_from(self.inner.len())
            .map_err(|_| EncodeError::Other("inner packet too long"))?;
        self.slot.encode(encoder)?;
        self.hops.encode(encoder)?;
        n.encode(encoder)?;
        encoder.writer().write(self.inner)
    }
}

impl<'de, Ctx> BorrowDecode<'de, Ctx> for Delivery<'de> {
    fn borrow_decode<D: BorrowDecoder<'de, Context = Ctx>>(
        decoder: &mut D,
    ) -> Result<Self, DecodeError> {
        let slot = u16::decode(decoder)?;
        let hops = u8::decode(decoder)?;
        let n = usize::from(u16::decode(decoder)?);
        let inner = decoder.borrow_reader().take_bytes(n)?;
        Ok(Self { slot, hops, inner })
    }
}

/// One piece of a packet too large for a PHY frame (see [`super::Fragmenter`]).
///
/// A message of `total_len` bytes in `count` fragments is cut into pieces of
/// `ceil(total_len / count)` bytes (the last one shorter), so every fragment's
/// offset and length follow from (`total_len`, `count`, `index`) and the
/// chunk carries no length of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// Sender-chosen id of the message, unique per (source, round).
    pub message_id: u16,
    /// Index of this fragment, `0..count`.
    pub index: u8,
    /// Number of fragments of the message (≥ 1).
    pub count: u8,
    /// Length of the whole message (the encoded original packet).
    pub total_len: u16,
    /// This fragment's bytes of the message.
    pub chunk: &'a [u8],
}

impl Fragment<'_> {
    /// Encoded body length without the chunk: id 2 + index 1 + count 1 + total 2.
    pub const FIXED_LEN: usize = 6;

    /// Encoded body length.
    pub const fn body_len(&self) -> usize {
        Self::FIXED_LEN + self.chunk.len()
    }
}

/// Offset and length of fragment `index` of a `total`-byte message in `count`
/// fragments, or `None` if the three are inconsistent (no fragment may be
/// empty).
pub fn fragment_span(total: usize, count: usize, index: usize) -> Option<(usize, usize)> {
    if count == 0 || index >= count || total == 0 {
        return None;
    }
    let per = total.div_ceil(count);
    if per * (count - 1) >= total {
        return None;
    }
    let offset = per * index;
    Some((offset, per.min(total - offset)))
}

impl Encode for Fragment<'_> {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        match fragment_span(
            usize::from(self.total_len),
            usize::from(self.count),
            usize::from(self.index),
        ) {
            Some((_, len)) if len == self.chunk.len() => {}
            _ => return Err(EncodeError::Other("inconsistent fragment")),
        }
        self.message_id.encode(encoder)?;
        self.index.encode(encoder)?;
        self.count.encode(encoder)?;
        self.total_len.encode(encoder)?;
        encoder.writer().write(self.chunk)
    }
}

impl<'de, Ctx> BorrowDecode<'de, Ctx> for Fragment<'de> {
    fn borrow_decode<D: BorrowDecoder<'de, Context = Ctx>>(
        decoder: &mut D,
    ) -> Result<Self, DecodeError> {
        let message_id = u16::decode(decoder)?;
        let index = u8::decode(decoder)?;
        let count = u8::decode(decoder)?;
        let total_len = u16::decode(decoder)?;
        let (_, len) = fragment_span(
            usize::from(total_len),
            usize::from(count),
            usize::from(index),
        )
        .ok_or(DecodeError::Other("inconsistent fragment"))?;
        let chunk = decoder.borrow_reader().take_bytes(len)?;
        Ok(Self {
            message_id,
            index,
            count,
            total_len,
            chunk,
        })
    }
}
