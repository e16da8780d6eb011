use std::vec;
use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::classifier::{MAX_CLASSES, PartialLogits};

/// A packet's contents with owned storage, to build borrowed [`Packet`]s from.
#[derive(Debug, Clone)]
enum Owned {
    Beacon(Beacon),
    SampleF32(u32, u16, Vec<f32>),
    SampleI8(u32, u16, Vec<i8>),
    Logits(u32, Vec<i32>),
    Absent(Absent),
    Hello(Hello),
    Delivery(u16, u8, Vec<u8>),
    /// Piece, pieces, encoded entries.
    Bundle(u16, u16, Vec<u8>),
}

impl Owned {
    fn body(&self) -> Body<'_> {
        match self {
            Owned::Beacon(b) => Body::Beacon(*b),
            Owned::SampleF32(i, l, v) => Body::Sample(Sample {
                sample_index: *i,
                label: *l,
                values: SampleValues::f32(v),
            }),
            Owned::SampleI8(i, l, v) => Body::Sample(Sample {
                sample_index: *i,
                label: *l,
                values: SampleValues::int8(v),
            }),
            Owned::Logits(i, v) => Body::PartialLogits(LogitsBody {
                sample_index: *i,
                logits: PartialLogits::from_wire(v),
            }),
            Owned::Absent(a) => Body::Absent(*a),
            Owned::Hello(h) => Body::Hello(*h),
            Owned::Delivery(slot, hops, inner) => Body::Delivery(Delivery {
                slot: *slot,
                hops: *hops,
                inner,
            }),
            Owned::Bundle(piece, pieces, entries) => {
                Body::Bundle(Bundle::new(*piece, *pieces, entries).unwrap())
            }
        }
    }
}

/// The encoded entries of `deliveries` (slot, hops, inner), back to back.
fn bundle_entries(deliveries: &[(u16, u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (slot, hops, inner) in deliveries {
        let d = Delivery {
            slot: *slot,
            hops: *hops,
            inner,
        };
        let at = out.len();
        out.resize(at + Bundle::entry_len(inner.len()), 0);
        let n = Bundle::encode_entry(&d, &mut out[at..]).unwrap();
        assert_eq!(n, Bundle::entry_len(inner.len()));
    }
    out
}

fn arb_deliveries() -> impl Strategy<Value = Vec<(u16, u8, Vec<u8>)>> {
    prop::collection::vec(
        (
            any::<u16>(),
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 0..60),
        ),
        0..8,
    )
}

fn to_bytes(p: &Packet<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; p.encoded_len()];
    let n = encode(p, &mut buf).unwrap();
    assert_eq!(n, p.encoded_len());
    buf
}

/// Recomputes the CRC of a packet whose header or body was edited.
fn reseal(bytes: &mut [u8]) {
    let at = bytes.len() - CRC_LEN;
    let crc = crc16(&bytes[..at]);
    bytes[at..].copy_from_slice(&crc.to_le_bytes());
}

fn arb_phase() -> impl Strategy<Value = Phase> {
    prop_oneof![Just(Phase::Idle), Just(Phase::Train), Just(Phase::Eval)]
}

fn arb_leaf() -> impl Strategy<Value = Owned> {
    prop_oneof![
        (arb_phase(), any::<u32>(), any::<u32>(), any::<u64>()).prop_map(|(phase, s, e, h)| {
            Owned::Beacon(Beacon {
                phase,
                sample_index: s,
                epoch: e,
                config_hash: h,
            })
        }),
        (
            any::<u32>(),
            any::<u16>(),
            prop::collection::vec(any::<f32>(), 0..200)
        )
            .prop_map(|(i, l, v)| Owned::SampleF32(i, l, v)),
        (
            any::<u32>(),
            any::<u16>(),
            prop::collection::vec(any::<i8>(), 0..400)
        )
            .prop_map(|(i, l, v)| Owned::SampleI8(i, l, v)),
        (
            any::<u32>(),
            prop::collection::vec(any::<i32>(), 0..=MAX_CLASSES)
        )
            .prop_map(|(i, v)| Owned::Logits(i, v)),
        any::<u32>().prop_map(|s| Owned::Absent(Absent { sample_index: s })),
        (any::<u16>(), any::<u64>()).prop_map(|(n, h)| Owned::Hello(Hello {
            node: n,
            config_hash: h
        })),
    ]
}

fn arb_owned() -> impl Strategy<Value = Owned> {
    prop_oneof![
        4 => arb_leaf(),
        1 => (any::<u16>(), any::<u8>(), arb_leaf(), any::<u16>(), any::<u16>(), any::<u32>())
            .prop_map(|(slot, hops, inner, c, s, r)| {
                let p = Packet { cluster: c, source: s, round: r, body: inner.body() };
                Owned::Delivery(slot, hops, to_bytes(&p))
            }),
        1 => (arb_deliveries(), 1u16..=u16::MAX, any::<u16>())
            .prop_map(|(d, pieces, piece)| Owned::Bundle(piece % pieces, pieces, bundle_entries(&d))),
    ]
}

fn arb_header() -> impl Strategy<Value = (u16, u16, u32)> {
    (any::<u16>(), any::<u16>(), any::<u32>())
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(usize),
    Truncate(usize),
    Extend(Vec<u8>),
    Overwrite(usize, u8),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::FlipBit),
        any::<usize>().prop_map(Mutation::Truncate),
        prop::collection::vec(any::<u8>(), 1..20).prop_map(Mutation::Extend),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Overwrite(i, b)),
    ]
}

fn expect_err(bytes: &[u8]) -> WireError {
    match decode(bytes) {
        Ok(p) => panic!("accepted {p:?}"),
        Err(e) => e,
    }
}

/// Records `e` and checks that exactly one counter moved by one.
fn record_one(counters: &mut DropCounters, e: &WireError) {
    let before = *counters;
    counters.record(e);
    assert_eq!(counters.total(), before.total() + 1);
    let moved: Vec<_> = counters
        .iter()
        .zip(before.iter())
        .filter(|(a, b)| a.1 != b.1)
        .map(|(a, _)| a.0)
        .collect();
    assert_eq!(moved, vec![e.reason()]);
}

#[test]
fn golden_partial_logits_packet() {
    let p = Packet {
        cluster: 0x0102,
        source: 3,
        round: 7,
        body: Body::PartialLogits(LogitsBody {
            sample_index: 0x1122_3344,
            logits: PartialLogits::from_wire(&[1, -2]),
        }),
    };
    #[rustfmt::skip]
    let golden: [u8; 29] = [
        0x52, 0x4E,             // magic "RN"
        0x01,                   // version
        0x03,                   // kind: partial logits
        0x02, 0x01,             // cluster 0x0102
        0x03, 0x00,             // source 3
        0x07, 0x00, 0x00, 0x00, // round 7
        0x0D, 0x00,             // body length 13
        0x44, 0x33, 0x22, 0x11, // sample index
        0x02,                   // C = 2
        0x01, 0x00, 0x00, 0x00, // 1
        0xFE, 0xFF, 0xFF, 0xFF, // -2
        0x0E, 0xE4,             // CRC-16/KERMIT 0xE40E
    ];
    assert_eq!(to_bytes(&p), golden);
    assert_eq!(decode(&golden).unwrap(), p);
    assert_eq!(partial_logits_len(2), golden.len());
}

#[test]
fn faceall_sizes() {
    // RockNet: 58 B (2 + 14 × 4 + 2) and 135 B (2 + 131 + 2).
    assert_eq!(partial_logits_len(14), 77);
    assert_eq!(sample_len(131, SampleEncoding::Int8), 156);
    assert_eq!(sample_len(131, SampleEncoding::F32), 549);
    let logits = Owned::Logits(5, vec![-7; 14]);
    let sample = Owned::SampleI8(5, 13, vec![-3; 131]);
    for (o, len) in [(logits, 77), (sample, 156)] {
        let p = Packet {
            cluster: 1,
            source: 4,
            round: 9,
            body: o.body(),
        };
        assert_eq!(p.encoded_len(), len);
        assert_eq!(to_bytes(&p).len(), len);
    }
    assert_eq!(beacon_len(), 33);
    assert_eq!(absent_len(), 20);
    assert_eq!(hello_len(), 26);
    assert_eq!(delivery_len(77), 98);
    assert_eq!(FRAGMENT_OVERHEAD, 22);
    // Over BLE (255 B frames) both fit; over 802.15.4 the sample is cut in two.
    assert_eq!(frames_needed(156, MAX_FRAME_BLE), Ok(1));
    assert_eq!(frames_needed(156, MAX_FRAME_802154), Ok(2));
    assert_eq!(on_air_len(156, MAX_FRAME_802154), Ok(200));
    assert_eq!(on_air_len(77, MAX_FRAME_802154), Ok(77));
    assert_eq!(frames_needed(549, MAX_FRAME_802154), Ok(6));
    assert_eq!(frames_needed(100, 22), Err(WireError::TooLarge));
}

#[test]
fn every_error_variant_is_reachable() {
    let o = Owned::Beacon(Beacon {
        phase: Phase::Train,
        sample_index: 3,
        epoch: 1,
        config_hash: 0xDEAD_BEEF,
    });
    let p = Packet {
        cluster: 7,
        source: 0,
        round: 10,
        body: o.body(),
    };
    let good = to_bytes(&p);
    let mut c = DropCounters::new();
    let check = |c: &mut DropCounters, bytes: &[u8], want: WireError| {
        let e = expect_err(bytes);
        assert_eq!(e, want);
        record_one(c, &e);
    };
    check(&mut c, &good[..15], WireError::TooShort);
    check(&mut c, &[], WireError::TooShort);
    let mut b = good.clone();
    b[0] = b'X';
    check(&mut c, &b, WireError::BadMagic);
    let mut b = good.clone();
    b[2] = 2;
    check(&mut c, &b, WireError::UnsupportedVersion(2));
    let mut b = good.clone();
    b[3] = 99;
    reseal(&mut b);
    check(&mut c, &b, WireError::UnknownKind(99));
    check(&mut c, &good[..good.len() - 1], WireError::LengthMismatch);
    let mut b = good.clone();
    b.push(0);
    check(&mut c, &b, WireError::LengthMismatch);
    let mut b = good.clone();
    b[20] ^= 0x10;
    let e = expect_err(&b);
    assert!(
        matches!(e, WireError::BadCrc { found, .. } if found == crc16(&good[..good.len() - 2]))
    );
    record_one(&mut c, &e);
    let mut b = good.clone();
    b[HEADER_LEN] = 9; // phase 9
    reseal(&mut b);
    check(&mut c, &b, WireError::Malformed);
    // Logits with C = 65 > MAX_CLASSES.
    let mut b = to_bytes(&Packet {
        body: Owned::Logits(0, vec![0; 64]).body(),
        ..p
    });
    b[HEADER_LEN + 4] = 65;
    reseal(&mut b);
    check(&mut c, &b, WireError::Malformed);
    // Trailing byte inside the body: an absent body of 5 bytes.
    let mut b = to_bytes(&Packet {
        body: Body::Absent(Absent { sample_index: 1 }),
        ..p
    });
    b.insert(HEADER_LEN + 4, 0);
    b[12] = 5;
    reseal(&mut b);
    check(&mut c, &b, WireError::Malformed);
    // Sample whose count claims more values than the body holds.
    let mut b = to_bytes(&Packet {
        body: Owned::SampleI8(0, 0, vec![1, 2, 3]).body(),
        ..p
    });
    b[HEADER_LEN + 7] = 4;
    reseal(&mut b);
    check(&mut c, &b, WireError::Malformed);

    let mut small = [0u8; 32];
    assert_eq!(encode(&p, &mut small), Err(WireError::TooLarge));
    record_one(&mut c, &WireError::TooLarge);
    let big = vec![0i8; 70_000];
    let mut buf = vec![0u8; 80_000];
    let e = encode(
        &Packet {
            body: Body::Sample(Sample {
                sample_index: 0,
                label: 0,
                values: SampleValues::int8(&big),
            }),
            ..p
        },
        &mut buf,
    )
    .unwrap_err();
    assert_eq!(e, WireError::TooLarge);

    let ok = decode(&good).unwrap();
    assert_eq!(ok, p);
    assert!(ok.is_foreign_cluster(8) && !ok.is_foreign_cluster(7));
    let e = ok.check_cluster(8).unwrap_err();
    assert_eq!(
        e,
        WireError::ForeignCluster {
            expected: 8,
            found: 7
        }
    );
    record_one(&mut c, &e);
    let e = ok.check_round(11).unwrap_err();
    assert_eq!(
        e,
        WireError::StaleRound {
            expected: 11,
            found: 10
        }
    );
    record_one(&mut c, &e);
    let e = decode_checked(&good, 7, 9).unwrap_err();
    assert_eq!(
        e,
        WireError::FutureRound {
            expected: 9,
            found: 10
        }
    );
    record_one(&mut c, &e);
    assert_eq!(decode_checked(&good, 7, 10), Ok(p));
    record_one(&mut c, &WireError::ReassemblyBusy);
    c.record_incomplete(2);
    assert_eq!(c.get(DropReason::Incomplete), 2);
    // Every reason has been counted at least once.
    assert!(c.iter().all(|(_, n)| n > 0), "{c:?}");
    let mut m = DropCounters::new();
    m.merge(&c);
    m.merge(&c);
    assert_eq!(m.total(), 2 * c.total());
}

#[test]
fn sample_values_accessors() {
    let v = [1.5f32, -0.0, f32::NAN];
    let p = Packet {
        cluster: 0,
        source: 1,
        round: 2,
        body: Body::Sample(Sample {
            sample_index: 4,
            label: 1,
            values: SampleValues::f32(&v),
        }),
    };
    let bytes = to_bytes(&p);
    let Body::Sample(s) = decode(&bytes).unwrap().body else {
        panic!()
    };
    assert_eq!(s.values.encoding(), SampleEncoding::F32);
    assert_eq!(s.values.len(), 3);
    let mut out = [0f32; 3];
    s.values.copy_f32_into(&mut out).unwrap();
    assert_eq!(out.map(f32::to_bits), v.map(f32::to_bits));
    assert_eq!(s.values.i8_at(0), None);
    let mut i8s = [0i8; 3];
    assert_eq!(s.values.copy_i8_into(&mut i8s), Err(WireError::Malformed));
    assert_eq!(
        s.values.copy_f32_into(&mut [0.0; 2]),
        Err(WireError::Malformed)
    );
    assert_eq!(s.values, SampleValues::f32(&v));
    assert_ne!(s.values, SampleValues::f32(&v[..2]));
    assert_ne!(s.values, SampleValues::int8(&[1, 2, 3]));
}

#[test]
fn delivery_wraps_a_packet() {
    let inner = Owned::Logits(12, vec![5, -5, 1 << 30]);
    let ip = Packet {
        cluster: 3,
        source: 17,
        round: 40,
        body: inner.body(),
    };
    let inner_bytes = to_bytes(&ip);
    let d = Packet {
        cluster: 3,
        source: RELAY_NODE,
        round: 40,
        body: Body::Delivery(Delivery {
            slot: 33,
            hops: 2,
            inner: &inner_bytes,
        }),
    };
    let bytes = to_bytes(&d);
    assert_eq!(bytes.len(), delivery_len(inner_bytes.len()));
    let Body::Delivery(got) = decode(&bytes).unwrap().body else {
        panic!()
    };
    assert_eq!((got.slot, got.hops), (33, 2));
    assert_eq!(got.packet().unwrap(), ip);
}

fn sample_packet(source: u16, round: u32, n: usize, seed: u8) -> Vec<u8> {
    let v: Vec<i8> = (0..n).map(|i| (i as u8).wrapping_mul(seed) as i8).collect();
    to_bytes(&Packet {
        cluster: 1,
        source,
        round,
        body: Owned::SampleI8(u32::from(seed), 3, v).body(),
    })
}

#[test]
fn faceall_sample_over_802154() {
    let msg = sample_packet(5, 3, 131, 7);
    let f = Fragmenter::new(&msg, 1, MAX_FRAME_802154).unwrap();
    assert_eq!(f.count(), 2);
    let mut frames: Vec<Vec<u8>> = Vec::new();
    for i in 0..f.count() {
        let mut buf = [0u8; MAX_FRAME_802154];
        let n = f.encode_fragment(i, &mut buf).unwrap();
        assert_eq!(n, 100);
        frames.push(buf[..n].to_vec());
    }
    assert!(f.fragment(2).is_none());
    let mut r: Reassembler<256> = Reassembler::new();
    r.start_round(3);
    assert_eq!(r.push(&decode(&frames[1]).unwrap()), Ok(None));
    assert_eq!(r.in_progress(), 1);
    let out = r
        .push(&decode(&frames[0]).unwrap())
        .unwrap()
        .unwrap()
        .to_vec();
    assert_eq!(out, msg);
    assert_eq!(decode(&out).unwrap().kind(), Kind::Sample);
    // A late duplicate of a completed message is recognised, not restarted.
    assert_eq!(r.push(&decode(&frames[1]).unwrap()), Ok(None));
    assert_eq!(r.in_progress(), 0);
    assert_eq!(r.stats().duplicates, 1);
    // Round checks.
    r.start_round(4);
    assert_eq!(
        r.push(&decode(&frames[0]).unwrap()),
        Err(WireError::StaleRound {
            expected: 4,
            found: 3
        })
    );
    r.start_round(2);
    assert_eq!(
        r.push(&decode(&frames[0]).unwrap()),
        Err(WireError::FutureRound {
            expected: 2,
            found: 3
        })
    );
    // Too large for the buffer; not a fragment; busy.
    let mut small: Reassembler<100, 1> = Reassembler::new();
    small.start_round(3);
    assert_eq!(
        small.push(&decode(&frames[0]).unwrap()),
        Err(WireError::TooLarge)
    );
    let hello = to_bytes(&Packet {
        cluster: 1,
        source: 2,
        round: 3,
        body: Body::Hello(Hello {
            node: 2,
            config_hash: 0,
        }),
    });
    assert_eq!(
        small.push(&decode(&hello).unwrap()),
        Err(WireError::Malformed)
    );
    let mut one: Reassembler<256, 1> = Reassembler::new();
    one.start_round(3);
    assert_eq!(one.push(&decode(&frames[0]).unwrap()), Ok(None));
    let other = sample_packet(6, 3, 131, 9);
    let g = Fragmenter::new(&other, 1, MAX_FRAME_802154).unwrap();
    assert_eq!(
        one.push(&g.fragment(0).unwrap()),
        Err(WireError::ReassemblyBusy)
    );
    // Inconsistent with the fragment already held (same key, other count).
    let h = Fragmenter::new(&msg, 1, 60).unwrap();
    assert_ne!(h.count(), f.count());
    assert_eq!(one.push(&h.fragment(1).unwrap()), Err(WireError::Malformed));
    assert_eq!(one.start_round(4), 1);
    assert_eq!(one.stats().incomplete, 1);
    // Fragment packets may not be malformed on encode either.
    let bad = Packet {
        cluster: 1,
        source: 1,
        round: 1,
        body: Body::Fragment(Fragment {
            message_id: 0,
            index: 0,
            count: 2,
            total_len: 10,
            chunk: &[0; 4],
        }),
    };
    assert_eq!(encode(&bad, &mut [0u8; 64]), Err(WireError::Malformed));
}

#[test]
fn fuzz_body_runs_on_fixed_inputs() {
    fuzz::decode_and_reassemble(&[]);
    fuzz::decode_and_reassemble(&[0xFF; 300]);
    let msg = sample_packet(5, 3, 131, 7);
    let f = Fragmenter::new(&msg, 1, 60).unwrap();
    let mut data = Vec::new();
    for p in f.iter() {
        let b = to_bytes(&p);
        data.push(b.len() as u8);
        data.extend_from_slice(&b);
    }
    fuzz::decode_and_reassemble(&data);
    data.truncate(data.len() - 10);
    fuzz::decode_and_reassemble(&data);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn round_trip_every_kind(o in arb_owned(), (c, s, r) in arb_header()) {
        let p = Packet { cluster: c, source: s, round: r, body: o.body() };
        let bytes = to_bytes(&p);
        prop_assert_eq!(bytes.len(), p.encoded_len());
        let q = decode(&bytes).unwrap();
        prop_assert_eq!(q, p);
        // Re-encoding the decoded (borrowed) form gives the same bytes.
        prop_assert_eq!(to_bytes(&q), bytes.clone());
        let mut short = vec![0u8; bytes.len() - 1];
        prop_assert_eq!(encode(&p, &mut short), Err(WireError::TooLarge));
    }

    #[test]
    fn random_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut c = DropCounters::new();
        if let Err(e) = decode(&data) {
            record_one(&mut c, &e);
        }
        fuzz::decode_and_reassemble(&data);
    }

    #[test]
    fn random_bodies_with_valid_framing_never_panic(
        kind in 0u8..10,
        body in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut b = vec![0x52, 0x4E, VERSION, kind, 1, 0, 2, 0, 3, 0, 0, 0];
        b.extend_from_slice(&(body.len() as u16).to_le_bytes());
        b.extend_from_slice(&body);
        b.extend_from_slice(&[0, 0]);
        reseal(&mut b);
        let mut c = DropCounters::new();
        match decode(&b) {
            Ok(p) => prop_assert_eq!(to_bytes(&p), b.clone()),
            Err(e) => {
                prop_assert!(matches!(e, WireError::UnknownKind(_) | WireError::Malformed), "{:?}", e);
                record_one(&mut c, &e);
            }
        }
        fuzz::decode_and_reassemble(&b);
    }

    #[test]
    fn mutated_packets_never_panic(
        o in arb_owned(),
        (c, s, r) in arb_header(),
        muts in prop::collection::vec(arb_mutation(), 1..4),
    ) {
        let p = Packet { cluster: c, source: s, round: r, body: o.body() };
        let good = to_bytes(&p);
        let mut b = good.clone();
        let single_flip = matches!(muts.as_slice(), [Mutation::FlipBit(_)]);
        for m in &muts {
            match m {
                Mutation::FlipBit(i) => {
                    let i = i % (b.len().max(1) * 8);
                    if let Some(x) = b.get_mut(i / 8) { *x ^= 1 << (i % 8); }
                }
                Mutation::Truncate(n) => { let n = n % (b.len() + 1); b.truncate(n); }
                Mutation::Extend(e) => b.extend_from_slice(e),
                Mutation::Overwrite(i, v) => {
                    if !b.is_empty() { let i = i % b.len(); b[i] = *v; }
                }
            }
        }
        let mut counters = DropCounters::new();
        match decode(&b) {
            Ok(q) => {
                // Only possible if the mutations cancelled out (or hit a CRC collision).
                prop_assert!(!single_flip);
                prop_assert_eq!(to_bytes(&q), b.clone());
            }
            Err(e) => record_one(&mut counters, &e),
        }
        // CRC-16 catches every single-bit error.
        if single_flip {
            prop_assert!(decode(&b).is_err());
        }
        fuzz::decode_and_reassemble(&b);
    }

    #[test]
    fn fragments_reassemble_in_any_order(
        sizes in prop::collection::vec(0usize..400, 1..5),
        max_frame in 40usize..=255,
        order in prop::collection::vec(any::<u32>(), 64),
        dups in prop::collection::vec(any::<u16>(), 0..10),
        drop in prop::option::of(any::<u16>()),
    ) {
        let msgs: Vec<Vec<u8>> = sizes.iter().enumerate()
            .map(|(k, &n)| sample_packet(10 + k as u16, 8, n, k as u8 + 1))
            .collect();
        let frags: Vec<Fragmenter<'_>> = msgs.iter().enumerate()
            .map(|(k, m)| Fragmenter::new(m, 100 + k as u16, max_frame).unwrap())
            .collect();
        // Every fragment (message, bytes), each a valid packet within max_frame.
        let mut all: Vec<(usize, Vec<u8>)> = Vec::new();
        for (k, f) in frags.iter().enumerate() {
            prop_assert_eq!(Ok(usize::from(f.count())), frames_needed(msgs[k].len(), max_frame)
                .map(|n| if msgs[k].len() <= max_frame { f.count().into() } else { n }));
            let mut on_air = 0;
            for p in f.iter() {
                let b = to_bytes(&p);
                prop_assert!(b.len() <= max_frame);
                on_air += b.len();
                all.push((k, b));
            }
            if msgs[k].len() > max_frame {
                prop_assert_eq!(Ok(on_air), on_air_len(msgs[k].len(), max_frame));
            }
        }
        // Drop one fragment (maybe), duplicate some, shuffle.
        let dropped = drop.map(|d| usize::from(d) % all.len());
        let lost_msg = dropped.map(|d| all[d].0);
        let lost_count = lost_msg.map(|k| usize::from(frags[k].count()));
        let mut sent: Vec<(usize, Vec<u8>)> = all.iter().enumerate()
            .filter(|(i, _)| Some(*i) != dropped)
            .map(|(_, x)| x.clone())
            .collect();
        let n_dups = if sent.is_empty() { 0 } else { dups.len() };
        for &d in dups.iter().take(n_dups) {
            let x = sent[usize::from(d) % sent.len()].clone();
            sent.push(x);
        }
        let mut keyed: Vec<(u32, usize, Vec<u8>)> = sent.into_iter().enumerate()
            .map(|(i, (k, b))| (order[i % order.len()].wrapping_mul(i as u32 + 1), k, b))
            .collect();
        keyed.sort_by_key(|x| x.0);

        let mut r: Reassembler<1024, 4> = Reassembler::new();
        r.start_round(8);
        let mut done = vec![false; msgs.len()];
        for (_, k, b) in &keyed {
            let p = decode(b).unwrap();
            if let Some(out) = r.push(&p).unwrap() {
                prop_assert!(!done[*k], "message {} completed twice", k);
                prop_assert_eq!(out, msgs[*k].as_slice());
                done[*k] = true;
            }
        }
        for (k, d) in done.iter().enumerate() {
            prop_assert_eq!(*d, Some(k) != lost_msg);
        }
        prop_assert_eq!(r.stats().completed, done.iter().filter(|d| **d).count() as u64);
        prop_assert_eq!(r.stats().duplicates, n_dups as u64);
        // The lost message is partial iff another of its fragments arrived.
        let partial = u64::from(lost_count.is_some_and(|n| n > 1));
        prop_assert_eq!(r.in_progress() as u64, partial);
        let mut counters = DropCounters::new();
        counters.record_incomplete(r.start_round(9));
        prop_assert_eq!(counters.get(DropReason::Incomplete), partial);
        prop_assert_eq!(r.stats().incomplete, partial);
        prop_assert_eq!(r.in_progress(), 0);
    }
}

/// The bundle layout of docs/wire.md, byte by byte.
#[test]
fn bundle_reference_bytes() {
    let entries = bundle_entries(&[(0x0102, 3, vec![0xAA, 0xBB]), (7, 0, vec![])]);
    assert_eq!(entries, [0x02, 0x01, 3, 2, 0, 0xAA, 0xBB, 7, 0, 0, 0, 0]);
    let p = Packet {
        cluster: 1,
        source: RELAY_NODE,
        round: 5,
        body: Body::Bundle(Bundle::new(1, 3, &entries).unwrap()),
    };
    let bytes = to_bytes(&p);
    assert_eq!(bytes.len(), bundle_len(entries.len()));
    assert_eq!(bytes.len(), OVERHEAD + 6 + 12);
    assert_eq!(bytes[3], 8, "kind byte");
    assert_eq!(&bytes[HEADER_LEN..HEADER_LEN + 6], &[1, 0, 3, 0, 2, 0]);
    assert_eq!(&bytes[HEADER_LEN + 6..bytes.len() - CRC_LEN], &entries[..]);
    let Body::Bundle(b) = decode(&bytes).unwrap().body else {
        panic!("not a bundle");
    };
    assert_eq!((b.piece(), b.pieces(), b.len()), (1, 3, 2));
    let got: Vec<(u16, u8, Vec<u8>)> = b
        .entries()
        .map(|d| (d.slot, d.hops, d.inner.to_vec()))
        .collect();
    assert_eq!(got, vec![(0x0102, 3, vec![0xAA, 0xBB]), (7, 0, vec![])]);
}

/// Each inconsistency of a bundle body is `Malformed`, never a panic.
#[test]
fn bundle_rejects_inconsistent_bodies() {
    let entries = bundle_entries(&[(1, 1, vec![9; 4])]);
    let body = |piece: u16, pieces: u16, count: u16, e: &[u8]| {
        let mut b = Vec::new();
        b.extend_from_slice(&piece.to_le_bytes());
        b.extend_from_slice(&pieces.to_le_bytes());
        b.extend_from_slice(&count.to_le_bytes());
        b.extend_from_slice(e);
        b
    };
    assert!(Bundle::parse(&body(0, 1, 1, &entries)).is_ok());
    assert!(
        Bundle::parse(&body(0, 1, 0, &[])).is_ok(),
        "an empty bundle is the round's end"
    );
    let bad = [
        body(1, 1, 1, &entries),                             // piece ≥ pieces
        body(0, 0, 1, &entries),                             // no pieces
        body(0, 1, 2, &entries),                             // count says 2, one entry
        body(0, 1, 0, &entries),                             // count says 0, one entry
        body(0, 1, 1, &entries[..entries.len() - 1]),        // truncated inner
        body(0, 1, 1, &[entries.clone(), vec![0]].concat()), // a stray byte
        body(0, 1, 1, &entries[..3]),                        // truncated entry header
        vec![0, 0, 1, 0, 0],                                 // truncated fixed part
        vec![],
    ];
    for b in &bad {
        assert_eq!(Bundle::parse(b), Err(WireError::Malformed), "{b:?}");
    }
    assert_eq!(Bundle::new(2, 2, &entries), Err(WireError::Malformed));
    let mut small = [0u8; 9];
    let b = Bundle::new(0, 1, &entries).unwrap();
    assert_eq!(b.write(&mut small), Err(WireError::TooLarge));
    let d = Delivery {
        slot: 0,
        hops: 0,
        inner: &[0; 4],
    };
    assert_eq!(
        Bundle::encode_entry(&d, &mut small[..8]),
        Err(WireError::TooLarge)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Entries round-trip through a bundle packet, in order, whatever the
    /// piece numbering.
    #[test]
    fn bundle_round_trips(d in arb_deliveries(), pieces in 1u16..=u16::MAX, piece in any::<u16>(), round in any::<u32>()) {
        let entries = bundle_entries(&d);
        let b = Bundle::new(piece % pieces, pieces, &entries).unwrap();
        let p = Packet { cluster: 3, source: RELAY_NODE, round, body: Body::Bundle(b) };
        let bytes = to_bytes(&p);
        prop_assert_eq!(bytes.len(), bundle_len(entries.len()));
        let q = decode(&bytes).unwrap();
        prop_assert_eq!(q, p);
        let Body::Bundle(got) = q.body else { panic!("not a bundle") };
        let back: Vec<(u16, u8, Vec<u8>)> = got.entries().map(|e| (e.slot, e.hops, e.inner.to_vec())).collect();
        prop_assert_eq!(back, d);
    }

    /// Arbitrary and mutated bundle bodies never panic; whatever parses
    /// writes back to the same bytes and its entries use them exactly.
    #[test]
    fn bundle_bodies_never_panic(
        d in arb_deliveries(),
        muts in prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in any::<usize>(),
        noise in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let entries = bundle_entries(&d);
        let mut body = vec![0, 0, 1, 0];
        body.extend_from_slice(&(d.len() as u16).to_le_bytes());
        body.extend_from_slice(&entries);
        for (i, v) in &muts {
            let i = i % body.len();
            body[i] = *v;
        }
        body.truncate(cut % (body.len() + 1));
        for b in [&body[..], &noise[..]] {
            if let Ok(p) = Bundle::parse(b) {
                let mut out = vec![0u8; b.len()];
                prop_assert_eq!(p.write(&mut out), Ok(b.len()));
                prop_assert_eq!(&out[..], b);
                let used: usize = p.entries().map(|e| Bundle::entry_len(e.inner.len())).sum();
                prop_assert_eq!(used + Bundle::FIXED_LEN, b.len());
                prop_assert_eq!(p.entries().count(), p.len());
            }
        }
    }
}
