//! The link-model config shown in docs/linkmodel.md parses and builds, every
//! topology kind it lists works with the field names it gives, and its PHY
//! table's slot lengths are the code's.

use rocknet_linkmodel::config::LinkModelConfig;
use rocknet_linkmodel::topology::TopologyConfig;

fn linkmodel_doc() -> String {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/linkmodel.md");
    std::fs::read_to_string(p).expect("docs/linkmodel.md")
}

#[test]
fn documented_link_model_config_builds() {
    let text = linkmodel_doc();
    let start = text
        .find("## Describing a topology")
        .expect("docs/linkmodel.md has the topology section");
    let block = &text[start..];
    let open = block.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let close = block[open..].find("```").expect("closed block") + open;
    let cfg: LinkModelConfig =
        toml::from_str(&block[open..close]).expect("the documented config parses");
    let model = cfg.build().expect("the documented config builds");
    assert_eq!(model.topology().nodes(), 21);
}

#[test]
fn every_documented_topology_kind_parses() {
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
fn documented_phy_table_slots_match_the_code() {
    use rocknet_linkmodel::phy::Phy;
    let text = linkmodel_doc();
    let row = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("| {name} ")))
            .unwrap_or_else(|| panic!("docs/linkmodel.md PHY row {name}"))
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
