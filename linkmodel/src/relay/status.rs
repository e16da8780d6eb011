//! The control socket's `status` reply: the relay's state as one JSON
//! datagram.

use super::{STATUS_MAX_BYTES, STATUS_MAX_PAIRS, State};

impl State {
    /// The `status` reply. It always fits one UDP datagram
    /// ([`STATUS_MAX_BYTES`]): `deliveries` lists at most
    /// [`STATUS_MAX_PAIRS`] `[from, to, count]` pairs, most deliveries first
    /// (`deliveries_pairs` is the full number, `deliveries_truncated` says
    /// whether some were left out); if the reply is still too long, the
    /// fault and node lists are replaced by their lengths (`lists_truncated`).
    ///
    /// Node lists (ascending): `registered`; `silent` (timed out, not
    /// registered since: not waited for); `joining` (`[node, first round]`
    /// of registered nodes no round has waited for yet); `waiting_for` (the
    /// open round's expected nodes whose end marker has not arrived).
    /// `open_round`, `last_closed`, and `delivering` (the closed round whose
    /// deliveries are being paced) are round numbers or null.
    pub(super) fn status(&self) -> serde_json::Value {
        let n = self.nodes;
        let topo = self.model.topology();
        let mut pairs: Vec<[u64; 3]> = (0..n * n)
            .filter(|&k| self.pair_counts[k] > 0)
            .map(|k| [(k / n) as u64, (k % n) as u64, self.pair_counts[k]])
            .collect();
        let total_pairs = pairs.len();
        let truncated = total_pairs > STATUS_MAX_PAIRS;
        if truncated {
            pairs.sort_by(|a, b| b[2].cmp(&a[2]).then(a.cmp(b)));
            pairs.truncate(STATUS_MAX_PAIRS);
            pairs.sort();
        }
        let current = self.open.as_ref().map(|o| o.round).or(self.last_closed);
        let registered: Vec<usize> = self.registry.registered().collect();
        let silent: Vec<usize> = self.registry.silent().collect();
        let joining = self.registry.joining_after(current);
        let waiting_for = self.waiting_for();
        let mut v = serde_json::json!({
            "topology": {
                "nodes": n,
                "diameter": topo.diameter(),
                "mode": format!("{:?}", self.model.params().mode),
                "slots": self.model.params().slots,
                "slot_us": self.model.params().slot_length.0,
            },
            "registered": registered,
            "silent": silent,
            "joining": joining,
            "waiting_for": waiting_for,
            "open_round": self.open.as_ref().map(|o| o.round),
            "last_closed": self.last_closed,
            "delivering": self.outbox.as_ref().map(|o| o.round),
            "faults": self.model.faults().summary(),
            "deliveries": pairs,
            "deliveries_pairs": total_pairs,
            "deliveries_truncated": truncated,
            "lists_truncated": false,
            "drops": self.counters.to_json(),
        });
        if v.to_string().len() > STATUS_MAX_BYTES {
            let f = self.model.faults().summary();
            v["faults"] = serde_json::json!({
                "nodes_down": f.nodes_down.len(),
                "links_down": f.links_down.len(),
                "partition": f.partition.is_some(),
                "prr": f.prr.len(),
            });
            v["registered"] = registered.len().into();
            v["silent"] = silent.len().into();
            v["joining"] = joining.len().into();
            v["waiting_for"] = waiting_for.len().into();
            v["lists_truncated"] = true.into();
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::super::{RelayOptions, State};
    use super::*;
    use crate::config::LinkModelConfig;

    #[test]
    fn status_fits_a_datagram_on_a_200_device_line() {
        let cfg: LinkModelConfig =
            toml::from_str("[topology]\nkind = \"line\"\ndevices = 200\nprr = 0.9\n").unwrap();
        let mut st = State::new(cfg.build().unwrap(), RelayOptions::default(), None);
        let n = st.nodes;
        assert_eq!(n, 201);
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        for i in 0..n {
            st.registry.register(i, addr, 0);
            st.registry.silence(i);
        }
        // Every ordered pair has deliveries; pair (k / n, k % n) got k + 1.
        for (k, c) in st.pair_counts.iter_mut().enumerate() {
            *c = k as u64 + 1;
        }
        let v = st.status();
        let text = v.to_string();
        assert!(text.len() <= STATUS_MAX_BYTES, "{} bytes", text.len());
        assert_eq!(v["deliveries_truncated"], true);
        assert_eq!(v["deliveries_pairs"], n * n);
        let d = v["deliveries"].as_array().unwrap();
        assert_eq!(d.len(), STATUS_MAX_PAIRS);
        // The largest counts are kept: the last 500 pairs.
        let min = d.iter().map(|p| p[2].as_u64().unwrap()).min().unwrap();
        assert_eq!(min, (n * n - STATUS_MAX_PAIRS) as u64 + 1);
        // With a partition of every node in force it still fits.
        let links = format!(
            "partition {}",
            (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(" ")
        );
        assert!(st.on_control(links.as_bytes()).starts_with("ok"));
        let text = st.status().to_string();
        assert!(text.len() <= STATUS_MAX_BYTES, "{} bytes", text.len());
        // Small topologies are not truncated.
        let cfg: LinkModelConfig =
            toml::from_str("[topology]\nkind = \"line\"\ndevices = 3\nprr = 0.9\n").unwrap();
        let mut st = State::new(cfg.build().unwrap(), RelayOptions::default(), None);
        st.pair_counts[1] = 4;
        st.registry.register(2, addr, 0);
        st.registry.silence(2);
        let v = st.status();
        assert_eq!(v["deliveries_truncated"], false);
        assert_eq!(v["lists_truncated"], false);
        assert_eq!(v["deliveries"], serde_json::json!([[0, 1, 4]]));
        assert_eq!(v["registered"], serde_json::json!([2]));
        assert_eq!(v["silent"], serde_json::json!([2]));
        assert_eq!(v["delivering"], serde_json::Value::Null);
    }
}
