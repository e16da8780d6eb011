//! The link-model config shown in README.md parses and builds, and every
//! topology kind it lists works with the field names it gives.

use rocknet_linkmodel::config::LinkModelConfig;
use rocknet_linkmodel::topology::TopologyConfig;

fn readme() -> String {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    std::fs::read_to_string(p).expect("README.md")
}

#[test]
fn readme_link_model_config_builds() {
    let text = readme();
    let start = text
        .find("### Describing a topology")
        .expect("README has the topology section");
    let block = &text[start..];
    let open = block.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let close = block[open..].find("```").expect("closed block") + open;
    let cfg: LinkModelConfig = toml::from_str(&block[open..close]).expect("README config parses");
    let model = cfg.build().expect("README config builds");
    assert_eq!(model.topology().nodes(), 21);
}

#[test]
fn every_topology_kind_in_the_readme_parses() {
    for doc in [
        "kind = \"line\"\ndevices = 10\nprr = 0.9",
        "kind = \"grid\"\nwidth = 5\nheight = 4\nspacing_m = 10.0",
        "kind = \"random\"\ndevices = 50\narea_m = 100.0\nseed = 3",
        "kind = \"positions\"\npositions = [{ x = 0.0, y = 0.0 }, { x = 10.0, y = 0.0 }]",
        "kind = \"links\"\nnodes = 3\nlinks = [{ from = 0, to = 1, prr = 0.9 }, { from = 1, to = 2, prr = 0.8 }]",
    ] {
        let t: TopologyConfig = toml::from_str(doc).unwrap_or_else(|e| panic!("{doc}: {e}"));
        // A random layout may be disconnected for some seeds; the others must build.
        if !doc.contains("random") {
            t.build(7).unwrap_or_else(|e| panic!("{doc}: {e}"));
        }
    }
}

#[test]
fn readme_phy_table_slots_match_the_code() {
    use rocknet_linkmodel::phy::Phy;
    let text = readme();
    let row = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("| {name} ")))
            .unwrap_or_else(|| panic!("README PHY row {name}"))
            .to_string()
    };
    for (name, phy) in [
        ("BLE 2M", Phy::BLE_2M),
        ("BLE 1M", Phy::BLE_1M),
        ("IEEE 802.15.4", Phy::IEEE_802_15_4),
    ] {
        let slot = phy.slot_length(100).0;
        let fmt = if slot >= 1000 {
            format!("{},{:03} µs", slot / 1000, slot % 1000)
        } else {
            format!("{slot} µs")
        };
        let r = row(name);
        assert!(r.contains(&fmt), "{name}: expected slot {fmt} in `{r}`");
    }
}
