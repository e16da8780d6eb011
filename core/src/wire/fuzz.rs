//! The body of the `cargo fuzz` target (`core/fuzz/fuzz_targets/decode.rs`),
//! kept here so that the ordinary test suite runs it too.

use super::{DropCounters, Reassembler, decode};

/// Feeds arbitrary bytes to [`decode`] and to a [`Reassembler`], and panics
/// if an invariant breaks:
///
/// * `decode` returns (never panics); a decoded packet re-encodes to exactly
///   the same bytes;
/// * each rejection moves exactly one [`DropCounters`] field by one;
/// * `data` is also read as a sequence of frames (a length byte, then that
///   many bytes); each decoded frame is pushed into a reassembler, whose
///   completed messages must decode or be rejected like any packet, and which
///   drops partial messages at the end.
pub fn decode_and_reassemble(data: &[u8]) {
    let mut counters = DropCounters::new();
    check_one(data, &mut counters);

    let mut r: Reassembler<512, 2> = Reassembler::new();
    let mut rest = data;
    let mut round_set = false;
    while let Some((&n, tail)) = rest.split_first() {
        let n = usize::from(n).min(tail.len());
        let (frame, tail) = tail.split_at(n);
        rest = tail;
        let Some(p) = check_one(frame, &mut counters) else {
            continue;
        };
        if !round_set {
            r.start_round(p.round);
            round_set = true;
        }
        let before = counters.total();
        match r.push(&p) {
            Ok(Some(msg)) => {
                let mut copy = [0u8; 512];
                let len = msg.len();
                copy[..len].copy_from_slice(msg);
                check_one(&copy[..len], &mut counters);
            }
            Ok(None) => {}
            Err(e) => {
                counters.record(&e);
                assert_eq!(counters.total(), before + 1);
            }
        }
    }
    let in_progress = r.in_progress() as u64;
    let dropped = r.start_round(r.round().wrapping_add(1));
    assert_eq!(dropped, in_progress);
    assert_eq!(r.in_progress(), 0);
}

fn check_one<'a>(bytes: &'a [u8], counters: &mut DropCounters) -> Option<super::Packet<'a>> {
    match decode(bytes) {
        Ok(p) => {
            assert_eq!(p.encoded_len(), bytes.len());
            let mut buf = [0u8; 1024];
            if bytes.len() <= buf.len() {
                let n = p.encode(&mut buf).expect("a decoded packet re-encodes");
                assert_eq!(&buf[..n], bytes, "decode/encode is not canonical");
            }
            Some(p)
        }
        Err(e) => {
            let before = *counters;
            counters.record(&e);
            assert_eq!(counters.total(), before.total() + 1);
            assert_eq!(counters.get(e.reason()), before.get(e.reason()) + 1);
            None
        }
    }
}
