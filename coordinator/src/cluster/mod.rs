//! `rocknet run` / `rocknet serve`: the experiment as a cluster of
//! processes. The coordinator validates everything, starts the relay and one
//! process per device (or, serving, waits for them to connect), plays the
//! host (radio node 0) round by round, gathers telemetry, and writes the
//! run directory: `report.json`, `trace.jsonl.zst` (or `trace.jsonl`), logs, plots.

pub mod abort;
pub mod capacity;
pub mod host;
pub mod launch;
pub mod sweep;
pub mod telemetry_server;
pub mod trace_summary;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rocknet_core::wire::Phase;
use rocknet_linkmodel::config::LinkModel;
use rocknet_node::protocol::PassStats;
use rocknet_node::schedule::Schedule;
use rocknet_node::telemetry::{MemoryReport, ToCoordinator};
use rocknet_node::weights::canonical_weights_hash;

use crate::cost::{CycleModel, cpu_time_us};
use crate::energy::{DeviceActivity, device_energy, energy_per_sample_uj};
use crate::experiment::Experiment;
use crate::run_report::{DeviceReport, NetworkReport, RunEpoch, RunReport, RunStatus};
use abort::{Abort, Cause};
use host::Host;
use launch::{Child, RelaySpawn};
use telemetry_server::{Event, TelemetryServer};

/// How the cluster is deployed.
pub enum Deployment {
    /// `rocknet run`: relay and devices are child processes on loopback.
    Local,
    /// `rocknet serve`: the relay runs elsewhere and devices connect by
    /// themselves (containers).
    Serve {
        /// The relay's data address.
        relay: SocketAddr,
        /// Where devices connect for telemetry.
        listen: SocketAddr,
        /// The relay's trace file, if this process can read it (for the
        /// radio and loss figures); copied into the run directory.
        trace: Option<PathBuf>,
        /// The relay's control address: sent `shutdown` when the run is
        /// over, so a deployment ends by itself (`docker compose up`).
        control: Option<SocketAddr>,
    },
}

/// Progress seen by the caller after every round.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Rounds done.
    pub round: u64,
    /// Rounds in the run.
    pub rounds: u64,
    /// Current epoch.
    pub epoch: usize,
    /// Last host-view test accuracy.
    pub accuracy: Option<f64>,
    /// Emulated seconds so far.
    pub emulated_s: f64,
    /// Rounds per wall-clock second.
    pub rounds_per_s: f64,
}

/// Everything a run needs besides the experiment.
pub struct RunSetup {
    /// Where the run directory goes (`runs/`).
    pub out: PathBuf,
    /// Deployment.
    pub deployment: Deployment,
    /// The format of the trace in the run directory (a deployed relay's
    /// trace is copied as it is: this must be the format its name says).
    pub trace_format: rocknet_linkmodel::trace_file::TraceFormat,
    /// Set to stop early (Ctrl-C).
    pub interrupted: Arc<AtomicBool>,
}

/// The link-model side of a validated experiment.
pub struct NetworkPlan {
    /// The link-model config file.
    pub path: PathBuf,
    /// The model built from it (validated).
    pub model: LinkModel,
    /// The experiment's longest packet: the relay drops longer ones.
    pub max_packet_len: usize,
    /// Why delivery is unlikely even over lossless links, if it is: shown
    /// before the run starts.
    pub warnings: Vec<String>,
}

/// Checks the `[network]` section against the experiment: a link model
/// that loads and builds, with one node per device plus the host, that can
/// carry the experiment's messages ([`capacity`]).
pub fn plan_network(exp: &Experiment) -> Result<NetworkPlan> {
    let src = exp.config.source.display();
    let path = exp
        .config
        .network
        .linkmodel
        .clone()
        .with_context(|| format!("{src}: field `network.linkmodel`: a cluster run needs a link-model config (e.g. \"linkmodel-testbed20.toml\")"))?;
    let cfg = rocknet_linkmodel::cli::load_config(&path)
        .with_context(|| format!("{src}: field `network.linkmodel`"))?;
    let model = cfg
        .build()
        .with_context(|| format!("{}: invalid link model", path.display()))?;
    let nodes = model.topology().nodes();
    let want = exp.partition.devices() + 1;
    if nodes != want {
        bail!(
            "{src}: field `training.devices` = {} needs a topology of {want} nodes (host 0 + devices 1..={}), but {} has {nodes}",
            exp.partition.devices(),
            want - 1,
            path.display()
        );
    }
    let load = capacity::RoundLoad::of(exp);
    let warnings = capacity::check(&load, &model, &path)
        .with_context(|| format!("{src}: the experiment's messages cannot travel"))?;
    Ok(NetworkPlan {
        path,
        model,
        max_packet_len: load.max_packet_len(),
        warnings,
    })
}

/// A new run directory `out/<name>-<UTC timestamp>[-k]` (with `logs/`).
///
/// Claimed with `create_dir`, which fails if the directory exists: two runs
/// started in the same second get different directories.
pub fn run_dir(out: &Path, name: &str) -> Result<PathBuf> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let stamp = utc_stamp(secs);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for k in 0..1000 {
        let dir = if k == 0 {
            out.join(format!("{name}-{stamp}"))
        } else {
            out.join(format!("{name}-{stamp}-{k}"))
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                let logs = dir.join("logs");
                std::fs::create_dir(&logs)
                    .with_context(|| format!("creating {}", logs.display()))?;
                return Ok(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    bail!("cannot find a free run directory under {}", out.display())
}

/// `YYYYMMDD-HHMMSS` in UTC (civil-from-days, Howard Hinnant's algorithm).
fn utc_stamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Per-device state the run loop keeps.
#[derive(Default)]
struct DeviceState {
    joins: u64,
    registered: bool,
    memory: Option<MemoryReport>,
    passes: Vec<PassStats>,
    params: Option<Vec<f32>>,
    peak_rss_bytes: Option<u64>,
    drops: Vec<(String, u64)>,
    rejected: u64,
    beacon_mismatch: u64,
    link_drops: Vec<(String, u64)>,
    error: Option<String>,
    connected: bool,
}

/// The addresses of a running cluster (written to `cluster.json`, so users
/// and tests can reach it: `rocknet ctl --relay <control>`, or start a
/// replacement `rocknet node`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ClusterInfo {
    /// Relay data address.
    pub relay: SocketAddr,
    /// Relay control address (if known).
    pub control: Option<SocketAddr>,
    /// Coordinator telemetry address.
    pub coordinator: SocketAddr,
    /// Device process ids (local runs).
    pub pids: Vec<u32>,
    /// The relay's process id (local runs).
    #[serde(default)]
    pub relay_pid: Option<u32>,
}

/// What a run produced. Once its directory exists a run always ends here —
/// an abort too (`report.status` says which, `report.abort_reason` why).
pub struct RunOutcome {
    /// The report (also in `dir/report.json`, if it could be written).
    pub report: RunReport,
    /// The run directory.
    pub dir: PathBuf,
    /// The report files that could not be written (`writing <file>: <OS
    /// error>`); a partial file is removed.
    pub unwritten: Vec<String>,
}

/// Runs the experiment on a cluster and writes the run directory. Every
/// way a run can end after its directory exists — completion, Ctrl-C, the
/// relay's exit, a device's error, a failed write, a relay that stops
/// answering — ends in a report (`status`, and for an abort the reason and
/// everything measured up to then); only a run directory that cannot be
/// created is an error.
pub fn run_cluster(
    exp: &Experiment,
    net: &NetworkPlan,
    setup: RunSetup,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<RunOutcome> {
    let dir = run_dir(&setup.out, &exp.config.name)?;
    let mut run = Run::new(exp, net, &setup, dir);
    let played = match run.start() {
        Ok(mut host) => {
            let played = run
                .await_registration()
                .and_then(|()| run.play(&mut host, on_progress));
            run.tally.host_drops = host.drops();
            played
        }
        Err(e) => Err(e),
    };
    let ending = run.ending(played);
    if ending.is_none() {
        run.collect_finals();
    }
    run.shut_down();
    Ok(run.finish(ending))
}

/// Writes `bytes` to `path`; on failure (a full disk) removes what was
/// written, so no truncated file is left to mislead a reader.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| {
        let _ = std::fs::remove_file(path);
        anyhow::Error::new(e).context(format!("writing {}", path.display()))
    })
}

/// What the round loop measured so far (an aborted run reports it).
struct Tally {
    /// Rounds in the schedule.
    rounds: u64,
    /// Items (samples) in the schedule.
    items: u64,
    /// Rounds the host completed.
    completed_rounds: u64,
    /// The epoch of the last item played (1-based; 0 before any).
    epoch_reached: usize,
    /// Per epoch: evaluation samples the host predicted right.
    host_right: Vec<u64>,
    /// The host's predictions of the last evaluation.
    predictions: Vec<u16>,
    /// The host's test accuracy per evaluated epoch.
    acc_by_epoch: Vec<Option<f64>>,
    /// Wall-clock seconds of the round loop.
    wall_seconds: f64,
    /// What the host discarded, by reason.
    host_drops: Vec<(String, u64)>,
}

/// A run in progress: the processes, the telemetry, what was measured.
struct Run<'a> {
    exp: &'a Experiment,
    net: &'a NetworkPlan,
    deployment: &'a Deployment,
    dir: PathBuf,
    trace_path: PathBuf,
    config_hash: u64,
    abort: Abort,
    server: Option<TelemetryServer>,
    /// Local runs: the relay first, then the devices.
    children: Vec<Child>,
    /// The trace file the relay writes, if readable from here.
    relay_trace: Option<PathBuf>,
    devs: Vec<DeviceState>,
    tally: Tally,
}

impl<'a> Run<'a> {
    fn new(exp: &'a Experiment, net: &'a NetworkPlan, setup: &'a RunSetup, dir: PathBuf) -> Self {
        let t = &exp.config.training;
        let schedule = Schedule::of(exp);
        Self {
            exp,
            net,
            deployment: &setup.deployment,
            trace_path: dir.join(setup.trace_format.file_name()),
            dir,
            config_hash: exp.config.hash(),
            abort: Abort::new(setup.interrupted.clone()),
            server: None,
            children: Vec::new(),
            relay_trace: None,
            devs: (0..exp.partition.devices())
                .map(|_| DeviceState::default())
                .collect(),
            tally: Tally {
                rounds: schedule.rounds(),
                items: schedule.items(),
                completed_rounds: 0,
                epoch_reached: 0,
                host_right: vec![0; t.epochs + 1],
                predictions: vec![0u16; exp.test.len()],
                acc_by_epoch: vec![None; t.epochs + 1],
                wall_seconds: 0.0,
                host_drops: Vec::new(),
            },
        }
    }

    /// The slot length and the round period (flood + compute window), µs.
    fn timing(&self) -> (u64, f64) {
        let p = self.net.model.params();
        let slot_us = p.slot_length.0;
        let flood_us = p.slots as f64 * slot_us as f64;
        (
            slot_us,
            flood_us + self.exp.config.network.compute_window_ms * 1_000.0,
        )
    }

    /// Writes `config.json`, starts the telemetry server (and, local, the
    /// relay and the device processes), writes `cluster.json` and registers
    /// the host with the relay.
    fn start(&mut self) -> Result<Host> {
        let cfg = &self.exp.config;
        let netc = &cfg.network;
        let n = self.exp.partition.devices();
        write_file(
            &self.dir.join("config.json"),
            &serde_json::to_vec_pretty(cfg).context("config as JSON")?,
        )?;
        let listen = match self.deployment {
            Deployment::Local => SocketAddr::from(([127, 0, 0, 1], 0)),
            Deployment::Serve { listen, .. } => *listen,
        };
        let server = TelemetryServer::start(listen, cfg.clone(), n)?;
        let coordinator = server.addr();
        self.server = Some(server);
        let (relay_addr, control) = match self.deployment {
            Deployment::Local => {
                let relay = launch::spawn_relay(
                    &RelaySpawn {
                        config: &self.net.path,
                        trace: &self.trace_path,
                        log: &self.dir.join("logs/relay.log"),
                        time_scale: netc.time_scale,
                        round_timeout_ms: netc.round_timeout_ms,
                        cluster: netc.cluster,
                        config_hash: self.config_hash,
                        max_packet_len: self.net.max_packet_len,
                    },
                    &self.abort,
                )?;
                self.relay_trace = Some(self.trace_path.clone());
                self.children.push(relay.child);
                (relay.data, Some(relay.control))
            }
            Deployment::Serve {
                relay,
                trace,
                control,
                ..
            } => {
                self.relay_trace = trace.clone();
                (*relay, *control)
            }
        };
        if matches!(self.deployment, Deployment::Local) {
            for d in 0..n {
                let log = self.dir.join(format!("logs/node-{d}.log"));
                let child = launch::spawn_node(d, relay_addr, coordinator, &log, &self.abort)?;
                self.children.push(child);
            }
        }
        let info = ClusterInfo {
            relay: relay_addr,
            control,
            coordinator,
            pids: self.children.iter().skip(1).map(Child::pid).collect(),
            relay_pid: match self.deployment {
                Deployment::Local => self.children.first().map(Child::pid),
                Deployment::Serve { .. } => None,
            },
        };
        write_file(
            &self.dir.join("cluster.json"),
            &serde_json::to_vec_pretty(&info)?,
        )?;
        let mut host = Host::bind(
            relay_addr,
            netc.cluster,
            self.config_hash,
            n,
            self.exp.n_classes(),
        )?;
        host.register(Duration::from_secs(60), self.abort.flag())?;
        Ok(host)
    }

    /// Takes the telemetry events that arrived so far.
    fn absorb_pending(&mut self) {
        if let Some(server) = &self.server {
            while let Ok(ev) = server.events().try_recv() {
                absorb(&mut self.devs, ev);
            }
        }
    }

    /// The first device that reported an error, and the error.
    fn device_error(&self) -> Option<String> {
        let d = self.devs.iter().position(|d| d.error.is_some())?;
        Some(format!(
            "device {d} failed: {}; see {}",
            self.devs[d].error.as_deref().unwrap_or_default(),
            self.dir.join(format!("logs/node-{d}.log")).display()
        ))
    }

    /// Waits until every device has registered with the relay.
    fn await_registration(&mut self) -> Result<()> {
        let n = self.devs.len();
        let deadline = Instant::now() + Duration::from_secs(600);
        while self.devs.iter().any(|d| !d.registered) {
            if self.abort.is_raised() {
                bail!("stopped while waiting for the devices");
            }
            if let Some(e) = self.device_error() {
                bail!(e);
            }
            for c in self.children.iter_mut().skip(1) {
                if let Some(status) = c.exited() {
                    bail!(
                        "{} exited ({status}) before the run started: {}; see {}",
                        c.name(),
                        c.last_error().unwrap_or_default(),
                        c.log().display()
                    );
                }
            }
            if Instant::now() > deadline {
                let missing: Vec<usize> = (0..n).filter(|&d| !self.devs[d].registered).collect();
                bail!("devices {missing:?} never registered with the relay");
            }
            let ev = match &self.server {
                Some(s) => s.events().recv_timeout(Duration::from_millis(100)).ok(),
                None => None,
            };
            if let Some(ev) = ev {
                absorb(&mut self.devs, ev);
            }
        }
        Ok(())
    }

    /// Plays the host round by round until the schedule ends, the run is
    /// stopped, or something fails.
    fn play(&mut self, host: &mut Host, on_progress: &mut dyn FnMut(&Progress)) -> Result<()> {
        let exp = self.exp;
        let epochs = exp.config.training.epochs;
        let mut schedule = Schedule::of(exp);
        let (_, period_us) = self.timing();
        let quiet = Duration::from_millis(
            exp.config
                .network
                .round_timeout_ms
                .saturating_mul(3)
                .saturating_add(5_000),
        );
        let mut last_acc: Option<f64> = None;
        let t0 = Instant::now();
        let mut prev = None;
        for r in 0..self.tally.rounds {
            if self.abort.is_raised() {
                bail!("stopped before round {r}");
            }
            let round = u32::try_from(r).context("more than 2^32 rounds")?;
            let this = schedule.item(r);
            let hr = host.round(
                round,
                this.as_ref(),
                prev.as_ref(),
                quiet,
                self.abort.flag(),
            );
            self.tally.wall_seconds = t0.elapsed().as_secs_f64();
            let hr = hr.with_context(|| format!("round {r}"))?;
            if let Some(p) = &prev
                && p.phase == Phase::Eval
            {
                let tally = &mut self.tally;
                let label = exp.test.labels[p.sample];
                let pred = hr.prediction.map_or(u16::MAX, |(c, _)| c as u16);
                tally.predictions[p.sample] = pred;
                tally.host_right[p.epoch] += u64::from(pred == label);
                if p.ends_pass {
                    let acc = tally.host_right[p.epoch] as f64 / exp.test.len() as f64;
                    tally.acc_by_epoch[p.epoch] = Some(acc);
                    last_acc = Some(acc);
                }
            }
            self.absorb_pending();
            if let Some(e) = self.device_error() {
                bail!(e);
            }
            self.tally.completed_rounds = r + 1;
            if let Some(i) = &prev {
                self.tally.epoch_reached = i.epoch;
            }
            let elapsed = self.tally.wall_seconds.max(1e-9);
            on_progress(&Progress {
                round: r + 1,
                rounds: self.tally.rounds,
                epoch: this.as_ref().or(prev.as_ref()).map_or(epochs, |i| i.epoch),
                accuracy: last_acc,
                emulated_s: (r + 1) as f64 * period_us / 1e6,
                rounds_per_s: (r + 1) as f64 / elapsed,
            });
            prev = this;
        }
        self.tally.wall_seconds = t0.elapsed().as_secs_f64();
        Ok(())
    }

    /// `None` if the run reached its end undisturbed; else why it stopped.
    fn ending(&mut self, played: Result<()>) -> Option<String> {
        let raised = self.abort.is_raised();
        let error = match played {
            Ok(()) if !raised => return None,
            Ok(()) => None,
            Err(e) => Some(e),
        };
        self.abort.close();
        let error = error.map(|e| format!("{e:#}"));
        Some(match self.abort.cause() {
            // A child that never got as far as the table (the relay failing
            // to start): the start's own error says more.
            Some(Cause::Exited { child }) => match (self.exit_reason(&child), error) {
                (Some(why), _) | (None, Some(why)) => why,
                (None, None) => format!("the {child} exited"),
            },
            // The relay failing (its trace on a full disk) also fails the
            // write of its last words into its log: its own error came first.
            Some(Cause::Failed(why)) => match self.relay_failure() {
                Some(relay) => format!("{relay}; then {why}"),
                None => why,
            },
            None => match error {
                Some(e) if !raised => e,
                _ => "interrupted (Ctrl-C)".to_string(),
            },
        })
    }

    /// The exit reason of a local relay that exited unsuccessfully (waiting
    /// a moment for it), if it did.
    fn relay_failure(&mut self) -> Option<String> {
        if !matches!(self.deployment, Deployment::Local) {
            return None;
        }
        let relay = self.children.first_mut()?;
        let status = relay.exit_within(Duration::from_millis(500))?;
        if status.success() {
            return None;
        }
        self.exit_reason("relay")
    }

    /// "the relay exited (exit status: 1): <its error>; see <its log>", if
    /// `child` is one of the run's children.
    fn exit_reason(&mut self, child: &str) -> Option<String> {
        let c = self.children.iter_mut().find(|c| c.name() == child)?;
        let status = c
            .exit_within(Duration::from_secs(2))
            .map_or("still running".to_string(), |s| s.to_string());
        let said = c.last_error().map(|e| format!(": {e}")).unwrap_or_default();
        Some(format!(
            "the {child} exited ({status}){said}; see {}",
            c.log().display()
        ))
    }

    /// Waits (a minute at most) for the final weights of every device
    /// still running.
    fn collect_finals(&mut self) {
        let Some(server) = &self.server else { return };
        let deadline = Instant::now() + Duration::from_secs(60);
        while self
            .devs
            .iter()
            .any(|d| d.connected && d.params.is_none() && d.error.is_none())
            && Instant::now() < deadline
        {
            if let Ok(ev) = server.events().recv_timeout(Duration::from_millis(100)) {
                absorb(&mut self.devs, ev);
            }
        }
    }

    /// Stops the devices, then the relay (SIGTERM: it flushes the trace);
    /// tells a deployed relay to shut down.
    fn shut_down(&mut self) {
        self.abort.close();
        if let Some(server) = &self.server {
            server.stop_all();
        }
        for c in self.children.iter_mut().skip(1) {
            c.terminate(Duration::from_secs(5));
        }
        if let Some(relay) = self.children.first_mut() {
            relay.terminate(Duration::from_secs(10));
        }
        if let Deployment::Serve {
            control: Some(control),
            trace,
            ..
        } = self.deployment
        {
            shut_down_relay(*control, trace.as_deref());
        }
        self.absorb_pending();
    }

    /// Reads the trace, assembles the report and writes the report files.
    /// A trace that cannot be copied or read makes the run aborted (its
    /// network figures would be wrong); an aborted run's trace may end in
    /// a partial line.
    fn finish(self, mut ending: Option<String>) -> RunOutcome {
        let n = self.devs.len();
        // A deployed relay's trace (a shared volume): every round line is
        // complete once the last round was delivered; keep a copy with the
        // run.
        if let Some(p) = self
            .relay_trace
            .as_ref()
            .filter(|p| **p != self.trace_path && p.is_file())
            && let Err(e) = std::fs::copy(p, &self.trace_path)
        {
            let _ = std::fs::remove_file(&self.trace_path);
            ending.get_or_insert(format!(
                "copying the relay's trace {} to {}: {e}",
                p.display(),
                self.trace_path.display()
            ));
        }
        let trace = if self.trace_path.is_file() {
            match trace_summary::summarize(&self.trace_path, n, self.tally.items, ending.is_some())
            {
                Ok(t) => Some(t),
                Err(e) => {
                    ending.get_or_insert(format!("{e:#}"));
                    None
                }
            }
        } else {
            None
        };
        let (slot_us, period_us) = self.timing();
        let report = assemble(
            self.exp,
            &self.devs,
            trace.as_ref(),
            Assembly {
                host_drops: self.tally.host_drops.clone(),
                nodes: n + 1,
                warnings: self.net.warnings.clone(),
                rounds: self.tally.completed_rounds,
                rounds_planned: self.tally.rounds,
                items: self.tally.items,
                abort_reason: ending,
                epoch_reached: self.tally.epoch_reached,
                slot_us,
                period_us,
                wall_seconds: self.tally.wall_seconds,
                acc_by_epoch: &self.tally.acc_by_epoch,
                predictions: self.tally.predictions.clone(),
                config_hash: self.config_hash,
            },
        );
        let unwritten = write_report(&report, &self.dir);
        RunOutcome {
            report,
            dir: self.dir.clone(),
            unwritten,
        }
    }
}

/// Writes `report.json`, then `summary.md` and the plots, each tried even
/// if another failed; returns the failures (`writing <file>: <OS error>`).
fn write_report(report: &RunReport, dir: &Path) -> Vec<String> {
    let mut unwritten = Vec::new();
    let json = serde_json::to_vec_pretty(report).context("report as JSON");
    if let Err(e) = json.and_then(|j| write_file(&dir.join(crate::render::REPORT_FILE), &j)) {
        unwritten.push(format!("{e:#}"));
    }
    unwritten.extend(crate::render::render_run_each(report, dir));
    unwritten
}

/// Tells a deployed relay the run is over and waits (a few seconds at most)
/// until it has written its trace's final `drops` line, so the copy in the
/// run directory is the whole trace, as in a local run.
fn shut_down_relay(control: SocketAddr, trace: Option<&Path>) {
    if let Err(e) =
        rocknet_linkmodel::cli::send_command(control, "shutdown", Duration::from_secs(3))
    {
        tracing::warn!("could not shut down the relay at {control}: {e:#}");
        return;
    }
    let Some(trace) = trace else { return };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if rocknet_linkmodel::trace_file::ends_with_drops_line(trace) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    tracing::warn!(
        "the relay's trace {} has no final drops line",
        trace.display()
    );
}

/// Takes one telemetry event into the device table.
fn absorb(devs: &mut [DeviceState], ev: Event) {
    match ev {
        Event::Joined { device, .. } => {
            let d = &mut devs[device];
            d.joins += 1;
            d.connected = true;
        }
        Event::Disconnected { device } => devs[device].connected = false,
        Event::Refused { peer, reason } => {
            tracing::warn!("telemetry connection from {peer} refused: {reason}");
        }
        Event::Message(m) => match m {
            ToCoordinator::Registered { device, memory, .. } if device < devs.len() => {
                devs[device].registered = true;
                devs[device].memory = Some(memory);
            }
            ToCoordinator::Pass { device, stats } if device < devs.len() => {
                devs[device].passes.push(stats);
            }
            ToCoordinator::Final {
                device,
                params,
                peak_rss_bytes,
                drops,
                rejected,
                beacon_mismatch,
                link_drops,
                ..
            } if device < devs.len() => {
                let d = &mut devs[device];
                d.params = Some(params.into_iter().map(f32::from_bits).collect());
                d.peak_rss_bytes = peak_rss_bytes;
                d.drops = drops;
                d.rejected = rejected;
                d.beacon_mismatch = beacon_mismatch;
                d.link_drops = link_drops;
            }
            ToCoordinator::Error { device, message } if device < devs.len() => {
                tracing::warn!("device {device}: {message}");
                devs[device].error = Some(message);
            }
            _ => {}
        },
    }
}

struct Assembly<'a> {
    host_drops: Vec<(String, u64)>,
    nodes: usize,
    warnings: Vec<String>,
    rounds: u64,
    rounds_planned: u64,
    items: u64,
    /// Set: the run was aborted, for this reason.
    abort_reason: Option<String>,
    /// The epoch of the last item played.
    epoch_reached: usize,
    slot_us: u64,
    period_us: f64,
    wall_seconds: f64,
    acc_by_epoch: &'a [Option<f64>],
    predictions: Vec<u16>,
    config_hash: u64,
}

fn assemble(
    exp: &Experiment,
    devs: &[DeviceState],
    trace: Option<&trace_summary::TraceSummary>,
    a: Assembly<'_>,
) -> RunReport {
    let cfg = &exp.config;
    let n = devs.len();
    let aborted = a.abort_reason.is_some();
    // An aborted run reports the epochs it reached.
    let last_epoch = if aborted {
        a.epoch_reached.min(cfg.training.epochs)
    } else {
        cfg.training.epochs
    };
    let epochs: Vec<RunEpoch> = (1..=last_epoch)
        .map(|e| {
            let pass = |d: usize, phase: &str| {
                devs[d]
                    .passes
                    .iter()
                    .filter(|p| p.epoch == e && p.phase == phase)
                    .fold(None::<PassStats>, |acc, p| {
                        let mut s = acc.unwrap_or_default();
                        s.samples += p.samples;
                        s.scored += p.scored;
                        s.correct += p.correct;
                        s.loss_sum += p.loss_sum;
                        Some(s)
                    })
            };
            let train0 = pass(0, "train");
            RunEpoch {
                epoch: e,
                train_loss: train0
                    .as_ref()
                    .filter(|p| p.samples > 0)
                    .map(|p| p.loss_sum / p.samples as f64),
                train_accuracy: train0
                    .as_ref()
                    .filter(|p| p.samples > 0)
                    .map(|p| p.correct as f64 / p.samples as f64),
                test_accuracy: a.acc_by_epoch.get(e).copied().flatten(),
                device_test_accuracy: (0..n)
                    .map(|d| {
                        pass(d, "eval")
                            .filter(|p| p.samples > 0)
                            .map(|p| p.correct as f64 / p.samples as f64)
                    })
                    .collect(),
            }
        })
        .collect();
    // Aborted: the last epoch evaluated so far.
    let last = if aborted {
        epochs.iter().rev().find(|e| e.test_accuracy.is_some())
    } else {
        epochs.last()
    };
    let final_accuracy = last.and_then(|e| e.test_accuracy).unwrap_or(0.0);
    let dev_acc: Vec<f64> = last
        .map(|e| e.device_test_accuracy.iter().flatten().copied().collect())
        .unwrap_or_default();
    let final_device_accuracy = if dev_acc.is_empty() {
        0.0
    } else {
        dev_acc.iter().sum::<f64>() / dev_acc.len() as f64
    };
    let all_weights = devs.iter().all(|d| d.params.is_some());
    let status = match (aborted, all_weights) {
        (true, _) => RunStatus::Aborted,
        (false, true) => RunStatus::Completed,
        (false, false) => RunStatus::Incomplete,
    };
    let weights_hash = if !aborted && all_weights {
        let specs: Vec<_> = (0..n).filter_map(|d| exp.device_spec(d).ok()).collect();
        let views: Vec<_> = specs
            .iter()
            .zip(devs)
            .map(|(s, d)| (*s, d.params.as_deref().unwrap_or(&[])))
            .collect();
        Some(format!(
            "{:016x}",
            canonical_weights_hash(&views, exp.n_classes())
        ))
    } else {
        None
    };
    let flood_us_mean = match trace {
        Some(t) if t.rounds > 0 => t.flood_us as f64 / t.rounds as f64,
        _ => 0.0,
    };
    let cycle_model = CycleModel::default();
    let per_device: Vec<DeviceReport> = (0..n)
        .map(|d| {
            let st = &devs[d];
            let sum = |f: fn(&PassStats) -> u64| st.passes.iter().map(f).sum::<u64>();
            let sum_phase = |phase: &str, f: fn(&PassStats) -> u64| {
                st.passes
                    .iter()
                    .filter(|p| p.phase == phase)
                    .map(f)
                    .sum::<u64>()
            };
            let spec = exp.device_spec(d).ok();
            let cycles = spec.map(|s| cycle_model.device_cycles(&s, exp.batch_size()));
            // What this device actually computed: the samples it held, its
            // optimizer steps.
            let cpu_cycles = cycles.map_or(0.0, |c| {
                c.run_cycles(
                    sum_phase("train", |p| p.scored),
                    sum(|p| p.steps),
                    sum_phase("eval", |p| p.scored),
                )
            });
            let radio = trace.map(|t| t.radio(d + 1, a.slot_us)).unwrap_or_default();
            let energy = device_energy(
                &cfg.energy,
                &DeviceActivity {
                    radio: radio.clone(),
                    cpu_cycles,
                    rounds: a.rounds,
                    round_period_us: a.period_us,
                },
            );
            let per_train = cycles.map_or(0.0, |c| c.per_train_sample());
            DeviceReport {
                device: d,
                features: spec.map_or(0, |s| s.num_features()),
                memory: st.memory.clone().unwrap_or_default(),
                compute_wall_us: sum(|p| p.compute_us),
                cycles_per_train_sample: per_train.round() as u64,
                cycles_per_eval_sample: cycles.map_or(0, |c| c.per_eval_sample().round() as u64),
                energy_per_sample_uj: energy_per_sample_uj(&energy, a.items),
                latency_per_sample_us: flood_us_mean + cpu_time_us(per_train, cfg.energy.cpu_mhz),
                energy,
                radio,
                bytes_sent: sum(|p| p.bytes_sent),
                bytes_received: sum(|p| p.bytes_received),
                missing_contributions: sum(|p| p.missing_contributions),
                samples_missed: sum(|p| p.samples_missed),
                skipped: sum(|p| p.skipped),
                zero_filled: sum(|p| p.zero_filled),
                missed_rounds: trace.map(|t| t.missed[d].clone()).unwrap_or_default(),
                joins: st.joins,
                finished: st.params.is_some(),
                peak_rss_bytes: st.peak_rss_bytes,
                drops: st.drops.clone(),
                rejected: st.rejected,
                beacon_mismatch: st.beacon_mismatch,
                link_drops: st.link_drops.clone(),
            }
        })
        .collect();
    let mut warnings = a.warnings;
    let mut network = match trace {
        Some(t) => NetworkReport {
            messages: t.messages,
            deliveries_expected: t.deliveries_expected,
            deliveries_made: t.deliveries_made,
            messages_lost: t.deliveries_expected - t.deliveries_made.min(t.deliveries_expected),
            delivery_ratio: if t.deliveries_expected == 0 {
                1.0
            } else {
                t.deliveries_made as f64 / t.deliveries_expected as f64
            },
            flood_us_mean,
            round_period_us: a.period_us,
            emulated_seconds: a.rounds as f64 * a.period_us / 1e6,
            timed_out_rounds: t.timed_out,
            faults: t.faults.clone(),
            relay_drops: t.relay_drops.clone().unwrap_or_else(|| {
                warnings.push(
                    "the relay's trace has no final drops line (it did not shut down cleanly): \
                     its drop counters are unknown"
                        .into(),
                );
                Vec::new()
            }),
            host_drops: Vec::new(),
            drops_total: 0,
        },
        None => {
            warnings.push(
                "no relay trace: deliveries and the relay's drop counters are unknown".into(),
            );
            NetworkReport {
                round_period_us: a.period_us,
                emulated_seconds: a.rounds as f64 * a.period_us / 1e6,
                ..NetworkReport::default()
            }
        }
    };
    network.host_drops = a.host_drops;
    crate::drops::account(&mut network, &per_device, a.nodes);
    RunReport {
        name: cfg.name.clone(),
        config: cfg.clone(),
        config_hash: a.config_hash,
        seed: cfg.training.seed,
        devices: n,
        status,
        abort_reason: a.abort_reason,
        rounds: a.rounds,
        rounds_planned: a.rounds_planned,
        completed: status == RunStatus::Completed,
        epochs,
        final_accuracy,
        final_device_accuracy,
        predictions: a.predictions,
        weights_hash,
        per_device,
        emulated_over_wall: if a.wall_seconds > 0.0 {
            network.emulated_seconds / a.wall_seconds
        } else {
            0.0
        },
        network,
        warnings,
        inputs: exp.inputs.clone(),
        wall_seconds: a.wall_seconds,
        rounds_per_second: if a.wall_seconds > 0.0 {
            a.rounds as f64 / a.wall_seconds
        } else {
            0.0
        },
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn concurrent_runs_get_distinct_directories() {
        let out = std::env::temp_dir().join(format!("rocknet-rundir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        // Rounds of 16 threads released together, each claiming one directory.
        let mut dirs = Vec::new();
        for _ in 0..40 {
            let start = std::sync::Arc::new(std::sync::Barrier::new(16));
            let threads: Vec<_> = (0..16)
                .map(|_| {
                    let (out, start) = (out.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        super::run_dir(&out, "same").unwrap()
                    })
                })
                .collect();
            dirs.extend(threads.into_iter().map(|t| t.join().unwrap()));
        }
        assert!(dirs.iter().all(|d| d.join("logs").is_dir()));
        dirs.sort();
        dirs.dedup();
        assert_eq!(dirs.len(), 640, "two runs were given one directory");
        let _ = std::fs::remove_dir_all(&out);
    }

    #[test]
    fn utc_stamps_match_known_dates() {
        assert_eq!(super::utc_stamp(0), "19700101-000000");
        // 2026-11-27 20:39:54 UTC.
        assert_eq!(super::utc_stamp(1_795_811_994), "20261127-203954");
        // A leap day: 2024-02-29 12:00:00 UTC.
        assert_eq!(super::utc_stamp(1_709_208_000), "20240229-120000");
    }
}
