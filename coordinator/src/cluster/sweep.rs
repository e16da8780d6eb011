//! `rocknet scale`: the same experiment at several cluster sizes. Each size
//! N runs on the first N + 1 nodes (host and devices 1..=N) of the
//! configured topology — the links among them exactly as the full topology
//! has them — so the sizes differ only in how many devices share the work.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::{Deployment, NetworkPlan, Progress, RunSetup, plan_network, run_cluster};
use crate::experiment::Experiment;
use crate::run_report::RunReport;

/// The link-model config at `path` restricted to nodes `0..nodes`, as TOML
/// text: the built topology's directed PRRs among those nodes become an
/// explicit link table; every other setting is kept (connectivity is
/// checked when the subset is built).
pub fn subset_linkmodel(path: &Path, nodes: usize) -> Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut table: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let model = rocknet_linkmodel::cli::load_config(path)?
        .build()
        .with_context(|| format!("{}: invalid link model", path.display()))?;
    let full = model.topology().nodes();
    if nodes > full {
        bail!(
            "{}: {nodes} nodes needed but the topology has {full}",
            path.display()
        );
    }
    let links = model.topology().links();
    let mut entries = Vec::new();
    for from in 0..nodes {
        for to in 0..nodes {
            let prr = links.prr(from, to);
            if from != to && prr > 0.0 {
                let mut e = toml::Table::new();
                e.insert("from".into(), (from as i64).into());
                e.insert("to".into(), (to as i64).into());
                e.insert("prr".into(), prr.into());
                e.insert("symmetric".into(), false.into());
                entries.push(toml::Value::Table(e));
            }
        }
    }
    let mut topo = toml::Table::new();
    topo.insert("kind".into(), "links".into());
    topo.insert("nodes".into(), (nodes as i64).into());
    topo.insert("links".into(), toml::Value::Array(entries));
    table.insert("topology".into(), toml::Value::Table(topo));
    toml::to_string(&table).context("writing the subset topology")
}

/// Runs `exp` at each of `sizes` devices under `out`; returns the reports
/// (in `sizes` order) and their run directories.
pub fn run_sizes(
    exp: &Experiment,
    net: &NetworkPlan,
    sizes: &[usize],
    out: &Path,
    interrupted: std::sync::Arc<std::sync::atomic::AtomicBool>,
    on_progress: &mut dyn FnMut(usize, &Progress),
) -> Result<Vec<(RunReport, PathBuf)>> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    // Check every size before running any.
    let mut plans = Vec::new();
    for &n in sizes {
        let lm = out.join(format!("linkmodel-{n}.toml"));
        std::fs::write(&lm, subset_linkmodel(&net.path, n + 1)?)
            .with_context(|| format!("writing {}", lm.display()))?;
        let mut cfg = exp.config.clone();
        cfg.training.devices = n;
        cfg.network.linkmodel = Some(lm.clone());
        let e = Experiment::prepare(cfg).with_context(|| format!("{n} devices"))?;
        let p = plan_network(&e).with_context(|| {
            format!(
                "{n} devices: the first {} nodes of {} as a topology",
                n + 1,
                net.path.display()
            )
        })?;
        plans.push((n, e, p));
    }
    let mut reports = Vec::new();
    for (n, e, p) in plans {
        if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
            bail!("interrupted");
        }
        let o = run_cluster(
            &e,
            &p,
            RunSetup {
                out: out.to_path_buf(),
                deployment: Deployment::Local,
                trace_format: rocknet_linkmodel::trace_file::TraceFormat::Zstd,
                interrupted: interrupted.clone(),
            },
            &mut |pr| on_progress(n, pr),
        )?;
        if let Some(why) = &o.report.abort_reason {
            bail!(
                "{n} devices: run aborted after {} of {} rounds: {why} (report in {})",
                o.report.rounds,
                o.report.rounds_planned,
                o.dir.display()
            );
        }
        if let Some(e) = o.unwritten.first() {
            bail!("{n} devices: the report could not be written: {e}");
        }
        reports.push((o.report, o.dir));
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subset_keeps_the_links_among_its_nodes() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let path = root.join("configs/linkmodel-testbed20.toml");
        let full = rocknet_linkmodel::cli::load_config(&path)
            .unwrap()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        for n in [2, 6, 11, 21] {
            let text = subset_linkmodel(&path, n).unwrap();
            let p = dir.path().join(format!("s{n}.toml"));
            std::fs::write(&p, text).unwrap();
            let sub = rocknet_linkmodel::cli::load_config(&p)
                .unwrap()
                .build()
                .unwrap();
            assert_eq!(sub.topology().nodes(), n);
            for a in 0..n {
                for b in 0..n {
                    assert_eq!(
                        sub.topology().links().prr(a, b),
                        full.topology().links().prr(a, b),
                        "{a}->{b} at n = {n}"
                    );
                }
            }
            assert_eq!(sub.params(), full.params());
        }
        assert!(subset_linkmodel(&path, 22).is_err());
    }
}
