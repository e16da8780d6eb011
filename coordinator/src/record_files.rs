//! What `rocknet train --record DIR` writes for the firmware's QEMU replay:
//! one replay record per device ([`rocknet_core::record`]) and
//! `expected.json`, the host's figures the replay must reproduce.

use std::path::Path;

use anyhow::{Context, Result};

use crate::experiment::Experiment;
use crate::train::{DeviceRecord, TrainOutcome};

/// Writes `device-<d>.rnrec` per device and `expected.json` (the host's
/// weights hash, per-device parameter hashes, predictions) into `dir`.
pub fn write(
    dir: &Path,
    exp: &Experiment,
    out: &TrainOutcome,
    records: &[DeviceRecord],
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for r in records {
        let path = dir.join(format!("device-{}.rnrec", r.device));
        std::fs::write(&path, &r.bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    let items = match records.first() {
        Some(r) => rocknet_core::record::Record::parse(&r.bytes)?.n_items(),
        None => 0,
    };
    let expected = serde_json::json!({
        "config": exp.config.name,
        "devices": records.len(),
        "epochs": exp.config.training.epochs,
        "items": items,
        "weights_hash": format!("{:016x}", out.weights_hash),
        "device_params_hash": records.iter().map(|r| format!("{:016x}", r.params_hash)).collect::<Vec<_>>(),
        "predictions": out.predictions,
        "final_accuracy": out.final_accuracy,
        "saturated_logits": out.saturated_logits,
    });
    let path = dir.join("expected.json");
    std::fs::write(&path, serde_json::to_string_pretty(&expected)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
