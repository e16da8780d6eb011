//! Every packet a cluster run dropped — at the relay, the host and the
//! devices — by place and kind, and how drops count against the delivery
//! ratio, so a result computed from incomplete data never looks complete.
//!
//! # Drops and the delivery ratio
//!
//! The link model's trace counts (message, receiver) pairs over the
//! messages that were flooded. Drops adjust those counts:
//! * a packet the relay dropped on arrival (every relay kind but the two
//!   below), or a message of a round the link model could not run
//!   (`unflooded`), was meant for every other node: `nodes − 1` pairs
//!   expected, none made — junk from unknown senders included, since the
//!   relay cannot tell it from a node's message;
//! * a delivery the relay could not send ([`RELAY_OUTGOING`]) or that a
//!   receiver discarded (device and host drops, `rejected`,
//!   `beacon_mismatch`, link drops of the relay's datagrams) is in the
//!   trace as made: it is taken back;
//! * a datagram a node received from an address other than the relay's
//!   ([`FOREIGN_SOURCE`]) is in no trace: one pair expected, none made.

use crate::run_report::{DeviceReport, NetworkReport};

/// Relay counters of deliveries the model made but the relay did not send.
pub const RELAY_OUTGOING: [&str; 2] = ["undeliverable", "unencodable"];

/// A node's link counter of datagrams from an address not the relay's.
pub const FOREIGN_SOURCE: &str = "foreign_source";

/// The sum of a list of counters.
pub fn sum(kinds: &[(String, u64)]) -> u64 {
    kinds.iter().fold(0u64, |a, (_, n)| a.saturating_add(*n))
}

/// Everything one device discarded, by kind (non-zero only): delivered
/// packets by wire reason, `rejected`, `beacon_mismatch`, then its link's
/// drops prefixed `link_`.
pub fn device_kinds(d: &DeviceReport) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = d.drops.iter().filter(|(_, n)| *n > 0).cloned().collect();
    for (k, n) in [
        ("rejected", d.rejected),
        ("beacon_mismatch", d.beacon_mismatch),
    ] {
        if n > 0 {
            v.push((k.to_string(), n));
        }
    }
    v.extend(d.link_drops.iter().map(|(k, n)| (format!("link_{k}"), *n)));
    v
}

/// A receiver's drops split into datagrams from elsewhere (not in the
/// trace) and deliveries it discarded (in the trace as made).
fn receiver_split(kinds: &[(String, u64)]) -> (u64, u64) {
    let foreign = kinds
        .iter()
        .filter(|(k, _)| k == FOREIGN_SOURCE || k.strip_prefix("link_") == Some(FOREIGN_SOURCE))
        .fold(0u64, |a, (_, n)| a.saturating_add(*n));
    (foreign, sum(kinds) - foreign)
}

/// Counts every drop into `net` (whose trace figures and `relay_drops`,
/// `host_drops` are set): `drops_total`, and expected / made / lost pairs
/// and the ratio adjusted as the module documentation says. `nodes` is the
/// topology's size.
pub fn account(net: &mut NetworkReport, devices: &[DeviceReport], nodes: usize) {
    let fanout = nodes.saturating_sub(1) as u64;
    let relay_out: u64 = net
        .relay_drops
        .iter()
        .filter(|(k, _)| RELAY_OUTGOING.contains(&k.as_str()))
        .map(|(_, n)| *n)
        .sum();
    let relay_in = sum(&net.relay_drops) - relay_out;
    let mut foreign = 0u64;
    let mut discarded = 0u64;
    let receivers = devices
        .iter()
        .map(device_kinds)
        .chain(std::iter::once(net.host_drops.clone()));
    for kinds in receivers {
        let (f, d) = receiver_split(&kinds);
        foreign = foreign.saturating_add(f);
        discarded = discarded.saturating_add(d);
    }
    net.drops_total = sum(&net.relay_drops)
        .saturating_add(foreign)
        .saturating_add(discarded);
    net.deliveries_expected = net
        .deliveries_expected
        .saturating_add(relay_in.saturating_mul(fanout))
        .saturating_add(foreign);
    net.deliveries_made = net
        .deliveries_made
        .saturating_sub(relay_out.saturating_add(discarded))
        .min(net.deliveries_expected);
    net.messages_lost = net.deliveries_expected - net.deliveries_made;
    net.delivery_ratio = if net.deliveries_expected == 0 {
        1.0
    } else {
        net.deliveries_made as f64 / net.deliveries_expected as f64
    };
}

/// `too_large 240, stale_round 3`.
pub fn describe(kinds: &[(String, u64)]) -> String {
    kinds
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line per place that dropped something (`relay: too_large 240`,
/// `host: …`, `device 3: …`); empty if nothing was dropped.
pub fn lines(net: &NetworkReport, devices: &[DeviceReport]) -> Vec<String> {
    let mut out = Vec::new();
    if !net.relay_drops.is_empty() {
        out.push(format!("relay: {}", describe(&net.relay_drops)));
    }
    if !net.host_drops.is_empty() {
        out.push(format!("host: {}", describe(&net.host_drops)));
    }
    for d in devices {
        let kinds = device_kinds(d);
        if !kinds.is_empty() {
            out.push(format!("device {}: {}", d.device, describe(&kinds)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(v: &[(&str, u64)]) -> Vec<(String, u64)> {
        v.iter().map(|(k, n)| (k.to_string(), *n)).collect()
    }

    fn clean_network() -> NetworkReport {
        // 10 messages over 6 nodes, all delivered.
        NetworkReport {
            messages: 10,
            deliveries_expected: 50,
            deliveries_made: 50,
            messages_lost: 0,
            delivery_ratio: 1.0,
            ..NetworkReport::default()
        }
    }

    #[test]
    fn no_drops_change_nothing() {
        let mut net = clean_network();
        account(&mut net, &[DeviceReport::default()], 6);
        assert_eq!(net.drops_total, 0);
        assert_eq!((net.deliveries_expected, net.deliveries_made), (50, 50));
        assert_eq!(net.delivery_ratio, 1.0);
        assert!(lines(&net, &[DeviceReport::default()]).is_empty());
    }

    #[test]
    fn relay_drops_on_arrival_are_messages_nobody_got() {
        let mut net = clean_network();
        net.relay_drops = kinds(&[("too_large", 2), ("unknown_node", 1)]);
        account(&mut net, &[], 6);
        // 3 messages × 5 receivers more expected, none made.
        assert_eq!((net.deliveries_expected, net.deliveries_made), (65, 50));
        assert_eq!(net.messages_lost, 15);
        assert_eq!(net.drops_total, 3);
        assert!(net.delivery_ratio < 1.0);
    }

    #[test]
    fn unsent_and_discarded_deliveries_are_taken_back() {
        let mut net = clean_network();
        net.relay_drops = kinds(&[("unencodable", 2)]);
        net.host_drops = kinds(&[("rejected", 1)]);
        let dev = DeviceReport {
            device: 3,
            drops: kinds(&[("bad_crc", 1), ("stale_round", 0)]),
            rejected: 2,
            beacon_mismatch: 1,
            link_drops: kinds(&[("foreign_source", 4), ("malformed", 1)]),
            ..DeviceReport::default()
        };
        account(&mut net, std::slice::from_ref(&dev), 6);
        // Taken back: 2 unsent + 1 host + (1 + 2 + 1 + 1) device = 8;
        // foreign datagrams: 4 more expected.
        assert_eq!((net.deliveries_expected, net.deliveries_made), (54, 42));
        assert_eq!(net.messages_lost, 12);
        assert_eq!(net.drops_total, 2 + 1 + 5 + 4);
        let l = lines(&net, &[dev]);
        assert_eq!(
            l,
            [
                "relay: unencodable 2",
                "host: rejected 1",
                "device 3: bad_crc 1, rejected 2, beacon_mismatch 1, link_foreign_source 4, link_malformed 1",
            ]
        );
    }
}
