//! Why a packet was dropped, and the counters every process keeps of it.

/// Why a packet (or a fragment) was rejected. One variant per drop reason, so
/// that the relay, the nodes and the coordinator count drops the same way
/// ([`DropCounters`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Fewer bytes than a header and a CRC.
    #[error("packet too short")]
    TooShort,
    /// The first two bytes are not [`MAGIC`](super::MAGIC).
    #[error("bad magic")]
    BadMagic,
    /// A protocol version this build does not speak.
    #[error("unsupported wire version {0}")]
    UnsupportedVersion(u8),
    /// A packet kind this build does not know.
    #[error("unknown packet kind {0}")]
    UnknownKind(u8),
    /// The header's body length disagrees with the number of bytes received.
    #[error("body length does not match the packet length")]
    LengthMismatch,
    /// The CRC over header and body does not match the received one.
    #[error("bad CRC: computed {expected:#06x}, received {found:#06x}")]
    BadCrc {
        /// CRC computed over the received header and body.
        expected: u16,
        /// CRC carried by the packet.
        found: u16,
    },
    /// The body does not decode (bincode failure, an unknown enum value,
    /// inconsistent counts or trailing bytes).
    #[error("malformed body")]
    Malformed,
    /// Does not fit: the output buffer, a body over 65,535 bytes, more values
    /// than a count field holds, a message larger than the reassembly buffer,
    /// or a frame too small for one fragment.
    #[error("too large")]
    TooLarge,
    /// A valid packet of another cluster.
    #[error("foreign cluster {found} (expected {expected})")]
    ForeignCluster {
        /// This process's cluster id.
        expected: u16,
        /// The packet's cluster id.
        found: u16,
    },
    /// A valid packet of an earlier round.
    #[error("stale round {found} (current {expected})")]
    StaleRound {
        /// The current round.
        expected: u32,
        /// The packet's round.
        found: u32,
    },
    /// A valid packet of a later round than the one being run.
    #[error("future round {found} (current {expected})")]
    FutureRound {
        /// The current round.
        expected: u32,
        /// The packet's round.
        found: u32,
    },
    /// A fragment of a new message arrived while every reassembly slot was busy.
    #[error("no free reassembly slot")]
    ReassemblyBusy,
}

/// A drop reason without its details (the discriminant of [`WireError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// [`WireError::TooShort`].
    TooShort,
    /// [`WireError::BadMagic`].
    BadMagic,
    /// [`WireError::UnsupportedVersion`].
    UnsupportedVersion,
    /// [`WireError::UnknownKind`].
    UnknownKind,
    /// [`WireError::LengthMismatch`].
    LengthMismatch,
    /// [`WireError::BadCrc`].
    BadCrc,
    /// [`WireError::Malformed`].
    Malformed,
    /// [`WireError::TooLarge`].
    TooLarge,
    /// [`WireError::ForeignCluster`].
    ForeignCluster,
    /// [`WireError::StaleRound`].
    StaleRound,
    /// [`WireError::FutureRound`].
    FutureRound,
    /// [`WireError::ReassemblyBusy`].
    ReassemblyBusy,
    /// A partially reassembled message abandoned at a round change
    /// ([`Reassembler::start_round`](super::Reassembler::start_round)).
    Incomplete,
}

impl DropReason {
    /// Every reason, in [`DropCounters`] field order.
    pub const ALL: [DropReason; 13] = [
        DropReason::TooShort,
        DropReason::BadMagic,
        DropReason::UnsupportedVersion,
        DropReason::UnknownKind,
        DropReason::LengthMismatch,
        DropReason::BadCrc,
        DropReason::Malformed,
        DropReason::TooLarge,
        DropReason::ForeignCluster,
        DropReason::StaleRound,
        DropReason::FutureRound,
        DropReason::ReassemblyBusy,
        DropReason::Incomplete,
    ];

    /// A stable snake_case name (for telemetry and reports).
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::TooShort => "too_short",
            DropReason::BadMagic => "bad_magic",
            DropReason::UnsupportedVersion => "unsupported_version",
            DropReason::UnknownKind => "unknown_kind",
            DropReason::LengthMismatch => "length_mismatch",
            DropReason::BadCrc => "bad_crc",
            DropReason::Malformed => "malformed",
            DropReason::TooLarge => "too_large",
            DropReason::ForeignCluster => "foreign_cluster",
            DropReason::StaleRound => "stale_round",
            DropReason::FutureRound => "future_round",
            DropReason::ReassemblyBusy => "reassembly_busy",
            DropReason::Incomplete => "incomplete",
        }
    }
}

impl WireError {
    /// The drop reason this error is counted under.
    pub const fn reason(&self) -> DropReason {
        match self {
            WireError::TooShort => DropReason::TooShort,
            WireError::BadMagic => DropReason::BadMagic,
            WireError::UnsupportedVersion(_) => DropReason::UnsupportedVersion,
            WireError::UnknownKind(_) => DropReason::UnknownKind,
            WireError::LengthMismatch => DropReason::LengthMismatch,
            WireError::BadCrc { .. } => DropReason::BadCrc,
            WireError::Malformed => DropReason::Malformed,
            WireError::TooLarge => DropReason::TooLarge,
            WireError::ForeignCluster { .. } => DropReason::ForeignCluster,
            WireError::StaleRound { .. } => DropReason::StaleRound,
            WireError::FutureRound { .. } => DropReason::FutureRound,
            WireError::ReassemblyBusy => DropReason::ReassemblyBusy,
        }
    }
}

/// Dropped packets per reason: one fixed field per [`DropReason`], no
/// allocation. Every process (node, relay, coordinator, firmware) records its
/// drops here, so their reports are comparable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounters {
    /// Fewer bytes than a header and a CRC.
    pub too_short: u64,
    /// Wrong magic.
    pub bad_magic: u64,
    /// Unknown protocol version.
    pub unsupported_version: u64,
    /// Unknown packet kind.
    pub unknown_kind: u64,
    /// Body length disagrees with the packet length.
    pub length_mismatch: u64,
    /// CRC mismatch.
    pub bad_crc: u64,
    /// Undecodable body.
    pub malformed: u64,
    /// Too large for a buffer or a field.
    pub too_large: u64,
    /// Packets of another cluster.
    pub foreign_cluster: u64,
    /// Packets of an earlier round.
    pub stale_round: u64,
    /// Packets of a later round.
    pub future_round: u64,
    /// Fragments refused because every reassembly slot was busy.
    pub reassembly_busy: u64,
    /// Partial messages abandoned at a round change.
    pub incomplete: u64,
}

impl DropCounters {
    /// All zero.
    pub const fn new() -> Self {
        Self {
            too_short: 0,
            bad_magic: 0,
            unsupported_version: 0,
            unknown_kind: 0,
            length_mismatch: 0,
            bad_crc: 0,
            malformed: 0,
            too_large: 0,
            foreign_cluster: 0,
            stale_round: 0,
            future_round: 0,
            reassembly_busy: 0,
            incomplete: 0,
        }
    }

    fn field(&mut self, reason: DropReason) -> &mut u64 {
        match reason {
            DropReason::TooShort => &mut self.too_short,
            DropReason::BadMagic => &mut self.bad_magic,
            DropReason::UnsupportedVersion => &mut self.unsupported_version,
            DropReason::UnknownKind => &mut self.unknown_kind,
            DropReason::LengthMismatch => &mut self.length_mismatch,
            DropReason::BadCrc => &mut self.bad_crc,
            DropReason::Malformed => &mut self.malformed,
            DropReason::TooLarge => &mut self.too_large,
            DropReason::ForeignCluster => &mut self.foreign_cluster,
            DropReason::StaleRound => &mut self.stale_round,
            DropReason::FutureRound => &mut self.future_round,
            DropReason::ReassemblyBusy => &mut self.reassembly_busy,
            DropReason::Incomplete => &mut self.incomplete,
        }
    }

    /// Counts one drop for `err`'s reason (exactly one counter moves).
    pub fn record(&mut self, err: &WireError) {
        self.add(err.reason(), 1);
    }

    /// Counts `n` drops for `reason` (saturating).
    pub fn add(&mut self, reason: DropReason, n: u64) {
        let f = self.field(reason);
        *f = f.saturating_add(n);
    }

    /// Counts `n` partial messages abandoned at a round change.
    pub fn record_incomplete(&mut self, n: u64) {
        self.add(DropReason::Incomplete, n);
    }

    /// The counter for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        let mut copy = *self;
        *copy.field(reason)
    }

    /// Every counter with its reason, in [`DropReason::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.into_iter().map(|r| (r, self.get(r)))
    }

    /// All drops, every reason together.
    pub fn total(&self) -> u64 {
        self.iter().fold(0u64, |acc, (_, n)| acc.saturating_add(n))
    }

    /// Adds another process's counters to these.
    pub fn merge(&mut self, other: &DropCounters) {
        for (r, n) in other.iter() {
            self.add(r, n);
        }
    }
}
