//! `rocknet`: the host's command line.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use rocknet_coordinator::cluster;
use rocknet_coordinator::config::{ExperimentConfig, InputSetting, OptimizerSetting};
use rocknet_coordinator::experiment::Experiment;
use rocknet_coordinator::report::TrainReport;
use rocknet_coordinator::run_report::RunStatus;
use rocknet_coordinator::train::{self, TrainOptions};
use rocknet_linkmodel::trace_file::TraceFormat;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Distributed MiniRocket training on emulated low-power radio clusters"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train in one process: every device's model, partial logits summed exactly.
    Train(TrainArgs),
    /// Train on a local cluster: the link-model relay and one process per
    /// device on loopback; writes runs/<name>-<time>/ (report, trace, plots).
    Run(RunArgs),
    /// Run the experiment at several cluster sizes and tabulate per-device
    /// memory, latency and energy per sample (RockNet's scaling claim).
    Scale(ScaleArgs),
    /// The coordinator of a deployed cluster (containers): waits for the
    /// devices to connect, then runs the experiment through the relay.
    Serve(ServeArgs),
    /// One device process of a deployed cluster (what `run` starts for each
    /// device): joins the coordinator, gets the plan,
    /// trains through the relay.
    Node(rocknet_node::cli::NodeCli),
    /// The link-model relay of a deployed cluster, set up from an experiment
    /// config's `[network]` section (link model, time scale, round timeout,
    /// cluster id, config hash), listening on all interfaces.
    Relay(RelayCli),
    /// The link-model relay (what `run` starts; also `rocknet-linkmodel`).
    #[command(hide = true)]
    Linkmodel(rocknet_linkmodel::cli::RelayArgs),
    /// Send a live command to a running link-model relay and print its reply:
    /// `link-down A B`, `link-up A B`, `node-down N`, `node-up N`,
    /// `partition 1-10 11-20`, `heal`, `prr A B P`, `status`, `shutdown`.
    Ctl(CtlArgs),
    /// Print a run's link-model trace as JSON lines (selected) or export its
    /// deliveries as pcapng for Wireshark (docs/relay.md#pcapng).
    Trace(TraceArgs),
    /// Re-render a run's plots and summary.md from its report.json.
    Report {
        /// The run directory, e.g. runs/gunpoint.
        dir: PathBuf,
    },
}

#[derive(Args, Debug)]
struct TraceArgs {
    /// A run directory, or a trace file (`.jsonl.zst` or `.jsonl`).
    path: PathBuf,
    /// Rounds `A..B` (inclusive), `A..` or `A`.
    #[arg(long, value_parser = rocknet_coordinator::trace_view::parse_rounds)]
    round: Option<std::ops::RangeInclusive<u64>>,
    /// Only messages this node sent or received.
    #[arg(long)]
    node: Option<u64>,
    /// Only messages of this kind.
    #[arg(long, value_enum)]
    kind: Option<rocknet_coordinator::trace_view::TraceKind>,
    /// Print JSON lines (the default).
    #[arg(long, conflicts_with = "pcapng")]
    jsonl: bool,
    /// Write the deliveries as pcapng to this file instead.
    #[arg(long, value_name = "OUT", requires = "slot_us")]
    pcapng: Option<PathBuf>,
    /// The link model's slot length, µs (pcapng timestamps), e.g. 681 for
    /// configs/linkmodel-testbed20.toml.
    #[arg(long)]
    slot_us: Option<u64>,
}

#[derive(Args, Debug)]
struct CtlArgs {
    /// The command and its arguments, e.g. `link-down 3 7`.
    #[arg(required = true, num_args = 1..)]
    command: Vec<String>,
    /// The relay's control address.
    #[arg(long, default_value = "127.0.0.1:7701")]
    relay: std::net::SocketAddr,
    /// Seconds to wait for the reply.
    #[arg(long, default_value_t = 3.0)]
    timeout: f64,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Experiment config (TOML) with a `[network]` section, e.g.
    /// configs/quickstart.toml.
    config: PathBuf,
    /// Where run directories go.
    #[arg(long, default_value = "runs")]
    out: PathBuf,
    /// Override the number of epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Override the seed.
    #[arg(long)]
    seed: Option<u32>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// How the run directory keeps the link model's trace: `zstd`
    /// (`trace.jsonl.zst`) or `jsonl` (`trace.jsonl`, ~10× larger).
    #[arg(long, value_enum, default_value = "zstd")]
    trace_format: TraceFormat,
}

#[derive(Args, Debug)]
struct ScaleArgs {
    /// Experiment config (TOML) with a `[network]` section; size N runs on
    /// the first N + 1 nodes of its topology.
    config: PathBuf,
    /// Cluster sizes.
    #[arg(long, value_delimiter = ',', default_value = "1,2,5,10,20")]
    devices: Vec<usize>,
    /// Override the number of epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Where the sweep directory goes.
    #[arg(long, default_value = "runs")]
    out: PathBuf,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Experiment config (TOML).
    config: PathBuf,
    /// The relay's data address, `host:port` (a service name is resolved).
    #[arg(long, env = "ROCKNET_RELAY", default_value = "127.0.0.1:7700")]
    relay: String,
    /// Where devices connect for telemetry.
    #[arg(long, default_value = "0.0.0.0:7800")]
    listen: std::net::SocketAddr,
    /// The relay's trace file, if readable from here (a shared volume);
    /// copied into the run directory (same format: `.zst` or plain).
    #[arg(long)]
    trace: Option<PathBuf>,
    /// The relay's control address: told to shut down when the run ends, so
    /// the whole deployment ends with it.
    #[arg(long, env = "ROCKNET_CONTROL")]
    control: Option<String>,
    /// Override the number of epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Override the seed.
    #[arg(long)]
    seed: Option<u32>,
    /// Where run directories go.
    #[arg(long, default_value = "runs")]
    out: PathBuf,
}

#[derive(Args, Debug)]
struct RelayCli {
    /// Experiment config (TOML) whose `[network]` names the link model.
    config: PathBuf,
    /// Data address nodes send their packets to.
    #[arg(long, default_value = "0.0.0.0:7700")]
    listen: std::net::SocketAddr,
    /// Control address (`rocknet ctl`, and `shutdown` from `rocknet serve`).
    #[arg(long, default_value = "0.0.0.0:7701")]
    control: std::net::SocketAddr,
    /// Trace file (JSON lines, one per round, flushed per round);
    /// zstd-compressed if the name ends in `.zst` (`trace.jsonl.zst`).
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Override the number of epochs (must match the coordinator's).
    #[arg(long)]
    epochs: Option<usize>,
    /// Override the seed (must match the coordinator's).
    #[arg(long)]
    seed: Option<u32>,
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// Experiment config (TOML), e.g. configs/gunpoint.toml.
    config: PathBuf,
    /// Override the training split.
    #[arg(long)]
    train: Option<PathBuf>,
    /// Override the test split.
    #[arg(long)]
    test: Option<PathBuf>,
    /// Override the number of devices.
    #[arg(long)]
    devices: Option<usize>,
    /// Override the number of epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Override the seed.
    #[arg(long)]
    seed: Option<u32>,
    /// Override the optimizer.
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerSetting>,
    /// Override the input encoding.
    #[arg(long, value_enum)]
    input: Option<InputSetting>,
    /// Evaluate on the test set every N epochs (the last epoch always is);
    /// overrides `training.eval_every`.
    #[arg(long)]
    eval_every: Option<usize>,
    /// Print one JSON report on stdout (progress goes to stderr).
    #[arg(long)]
    json: bool,
    /// Write one replay record per device (`device-<d>.rnrec`: plan inputs,
    /// data, every item's partial logits) and `expected.json` (the host's
    /// per-device weights hashes and predictions) into this directory, for
    /// the firmware's QEMU replay.
    #[arg(long, value_name = "DIR")]
    record: Option<PathBuf>,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Train(args) => train_cmd(args),
        Command::Trace(args) => trace_cmd(&args),
        Command::Ctl(args) => ctl_cmd(&args),
        Command::Run(args) => run_cmd(&args),
        Command::Serve(args) => serve_cmd(&args),
        Command::Scale(args) => scale_cmd(&args),
        Command::Node(a) => {
            init_tracing();
            rocknet_node::process::run(&a.resolve()?)
        }
        Command::Relay(a) => relay_cmd(&a),
        Command::Linkmodel(a) => {
            init_tracing();
            rocknet_linkmodel::cli::run(&a)
        }
        Command::Report { dir } => rocknet_coordinator::render::report_cmd(&dir)
            .map(|files| files.iter().for_each(|f| println!("{}", f.display()))),
    }
}

/// The longest `--timeout` accepted, seconds (a day).
const MAX_CTL_TIMEOUT_S: f64 = 86_400.0;

/// `--timeout` as a duration: positive, finite and at most
/// [`MAX_CTL_TIMEOUT_S`] (never panics, whatever the number).
fn reply_timeout(secs: f64) -> Result<std::time::Duration> {
    match std::time::Duration::try_from_secs_f64(secs) {
        Ok(d) if secs > 0.0 && secs <= MAX_CTL_TIMEOUT_S => Ok(d),
        _ => anyhow::bail!(
            "--timeout {secs}: must be a number of seconds in (0, {MAX_CTL_TIMEOUT_S}]"
        ),
    }
}

/// Sends one control command to the relay and prints the reply (pretty JSON
/// for `status`); a reply starting with `error` makes the command fail.
fn ctl_cmd(a: &CtlArgs) -> Result<()> {
    let line = a.command.join(" ");
    let reply = rocknet_linkmodel::cli::send_command(a.relay, &line, reply_timeout(a.timeout)?)?;
    match serde_json::from_str::<serde_json::Value>(&reply) {
        Ok(v) if v.is_object() => println!("{}", serde_json::to_string_pretty(&v)?),
        _ => println!("{reply}"),
    }
    Ok(())
}

fn apply_overrides(cfg: &mut ExperimentConfig, a: &TrainArgs) {
    if let Some(p) = &a.train {
        cfg.dataset.train = p.clone();
    }
    if let Some(p) = &a.test {
        cfg.dataset.test = p.clone();
    }
    if let Some(n) = a.devices {
        cfg.training.devices = n;
    }
    if let Some(n) = a.epochs {
        cfg.training.epochs = n;
    }
    if let Some(s) = a.seed {
        cfg.training.seed = s;
    }
    if let Some(o) = a.optimizer {
        cfg.training.optimizer = o;
    }
    if let Some(i) = a.input {
        cfg.model.input = i;
    }
    if let Some(e) = a.eval_every {
        cfg.training.eval_every = e;
    }
}

fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
}

/// Loads, overrides and validates a config, and checks its network, before
/// any process starts.
fn prepare_cluster(
    config: &std::path::Path,
    epochs: Option<usize>,
    seed: Option<u32>,
) -> Result<(Experiment, cluster::NetworkPlan)> {
    let mut cfg = ExperimentConfig::load(config)?;
    if let Some(e) = epochs {
        cfg.training.epochs = e;
    }
    if let Some(s) = seed {
        cfg.training.seed = s;
    }
    let exp = Experiment::prepare(cfg)?;
    let net = cluster::plan_network(&exp)?;
    for w in &net.warnings {
        eprintln!("WARNING: {w}");
    }
    Ok((exp, net))
}

fn run_cmd(args: &RunArgs) -> Result<()> {
    let (exp, net) = prepare_cluster(&args.config, args.epochs, args.seed)?;
    run_and_print(
        &exp,
        &net,
        cluster::Deployment::Local,
        args.trace_format,
        &args.out,
        args.json,
    )
}

fn scale_cmd(args: &ScaleArgs) -> Result<()> {
    use rocknet_coordinator::scale::{ScaleRow, headline_ratios, render_scale, scale_table};
    if args.devices.is_empty() || args.devices.contains(&0) {
        anyhow::bail!("--devices: give sizes ≥ 1, e.g. 1,2,5,10,20");
    }
    let (exp, net) = prepare_cluster(&args.config, args.epochs, None)?;
    let dir = cluster::run_dir(&args.out, &format!("{}-scale", exp.config.name))?;
    let interrupted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        let _ = ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::SeqCst));
    }
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{bar:30} {msg} round {pos}/{len} [{elapsed_precise}]")
            .expect("static template"),
    );
    let runs =
        cluster::sweep::run_sizes(&exp, &net, &args.devices, &dir, interrupted, &mut |n, p| {
            if bar.length() != Some(p.rounds) {
                bar.set_length(p.rounds);
                bar.set_message(format!("{n} device(s)"));
            }
            bar.set_position(p.round);
        })?;
    bar.finish_and_clear();
    let rows: Vec<ScaleRow> = runs.iter().map(|(r, _)| ScaleRow::from_report(r)).collect();
    render_scale(&rows, &dir)?;
    println!("{}", scale_table(&rows));
    if let Some(h) = headline_ratios(&rows) {
        println!("{h}");
    }
    println!("results: {}", dir.display());
    Ok(())
}

fn trace_cmd(args: &TraceArgs) -> Result<()> {
    use rocknet_coordinator::trace_view::{self, Selection};
    let path = trace_view::resolve(&args.path)?;
    let sel = Selection {
        rounds: args.round.clone(),
        node: args.node,
        kind: args.kind,
    };
    match (&args.pcapng, args.slot_us) {
        (Some(out), Some(slot_us)) => {
            let file = std::fs::File::create(out)
                .with_context(|| format!("creating {}", out.display()))?;
            let mut w = std::io::BufWriter::new(file);
            let frames = trace_view::write_pcapng(&path, &sel, slot_us, &mut w)
                .with_context(|| format!("writing {}", out.display()))?;
            eprintln!("{frames} frames written to {}", out.display());
            Ok(())
        }
        _ => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            trace_view::write_jsonl(&path, &sel, &mut out)
        }
    }
}

fn serve_cmd(args: &ServeArgs) -> Result<()> {
    init_tracing();
    let (exp, net) = prepare_cluster(&args.config, args.epochs, args.seed)?;
    let patience = std::time::Duration::from_secs(120);
    let relay = rocknet_node::cli::resolve(&args.relay, patience).context("--relay")?;
    let control = args
        .control
        .as_deref()
        .map(|c| rocknet_node::cli::resolve(c, patience).context("--control"))
        .transpose()?;
    let result = run_and_print(
        &exp,
        &net,
        cluster::Deployment::Serve {
            relay,
            listen: args.listen,
            trace: args.trace.clone(),
            control,
        },
        args.trace
            .as_deref()
            .map_or(TraceFormat::Zstd, TraceFormat::of_path),
        &args.out,
        false,
    );
    // A run that ended in an error did not shut the relay down: do it here,
    // so the deployment ends either way.
    if let (Err(_), Some(control)) = (&result, control) {
        let _ = rocknet_linkmodel::cli::send_command(
            control,
            "shutdown",
            std::time::Duration::from_secs(3),
        );
    }
    result
}

/// The relay for an experiment: its link model and settings come from the
/// same config (and overrides) as the coordinator's, so the config hash in
/// every Hello matches.
fn relay_cmd(args: &RelayCli) -> Result<()> {
    init_tracing();
    let (exp, net) = prepare_cluster(&args.config, args.epochs, args.seed)?;
    let netc = &exp.config.network;
    rocknet_linkmodel::cli::run(&rocknet_linkmodel::cli::RelayArgs {
        config: net.path.clone(),
        listen: args.listen,
        control: args.control,
        trace: args.trace.clone(),
        time_scale: netc.time_scale,
        cluster: netc.cluster,
        config_hash: Some(exp.config.hash()),
        round_timeout_ms: netc.round_timeout_ms,
        max_packet_len: net.max_packet_len,
    })
}

fn run_and_print(
    exp: &Experiment,
    net: &cluster::NetworkPlan,
    deployment: cluster::Deployment,
    trace_format: TraceFormat,
    out: &std::path::Path,
    json: bool,
) -> Result<()> {
    let t = &exp.config.training;
    let say = move |line: &str| {
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    say(&format!(
        "{}: {} devices over {} ({} nodes), {} features, {} epochs, batch {}, {}, {} input, missing = {}, seed {}",
        exp.config.name,
        exp.partition.devices(),
        net.path.display(),
        net.model.topology().nodes(),
        exp.partition.model().num_features(),
        t.epochs,
        exp.batch_size(),
        t.optimizer.as_str(),
        exp.config.model.input.as_str(),
        exp.config.network.missing.as_str(),
        t.seed,
    ));
    for line in exp.inputs.console_lines() {
        say(&line);
    }
    let interrupted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        // A second Ctrl-C falls through to the default (the guards still
        // run on unwinding paths; children also die with their pipes).
        let _ = ctrlc::set_handler(move || {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        });
    }
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template(
            "{bar:30} round {pos}/{len} {msg} [{elapsed_precise}, eta {eta}]",
        )
        .expect("static template"),
    );
    let mut on_progress = |p: &cluster::Progress| {
        if bar.length() != Some(p.rounds) {
            bar.set_length(p.rounds);
        }
        bar.set_position(p.round);
        if p.round.is_multiple_of(50) || p.round == p.rounds {
            bar.set_message(format!(
                "epoch {} acc {} | {:.0} rounds/s | emulated {:.0} s",
                p.epoch,
                p.accuracy.map_or("-".into(), |a| format!("{a:.4}")),
                p.rounds_per_s,
                p.emulated_s
            ));
        }
    };
    let outcome = cluster::run_cluster(
        exp,
        net,
        cluster::RunSetup {
            out: out.to_path_buf(),
            deployment,
            trace_format,
            interrupted: interrupted.clone(),
        },
        &mut on_progress,
    )?;
    bar.finish_and_clear();
    let (report, dir) = (&outcome.report, &outcome.dir);
    let aborted = report.status == RunStatus::Aborted;
    for e in &report.epochs {
        if let Some(acc) = e.test_accuracy {
            say(&format!(
                "epoch {:>4}  train loss {}  test accuracy {acc:.4}",
                e.epoch,
                e.train_loss.map_or("-".into(), |l| format!("{l:.4}")),
            ));
        }
    }
    let evaluated = report.epochs.iter().any(|e| e.test_accuracy.is_some());
    say(&format!(
        "{}; {} rounds in {:.1} s ({:.0} rounds/s), emulated {:.1} s (x{:.1} real time)",
        match (aborted, evaluated) {
            (true, false) => "ABORTED before any test accuracy was measured".to_string(),
            (true, true) => format!(
                "ABORTED: test accuracy so far {:.4} (host view; device mean {:.4})",
                report.final_accuracy, report.final_device_accuracy
            ),
            (false, _) => format!(
                "final test accuracy {:.4} (host view; device mean {:.4})",
                report.final_accuracy, report.final_device_accuracy
            ),
        },
        report.rounds,
        report.wall_seconds,
        report.rounds_per_second,
        report.network.emulated_seconds,
        report.emulated_over_wall,
    ));
    say(&format!(
        "delivery ratio {:.4}, {} (message, receiver) pairs lost, {} faults, {} packets dropped",
        report.network.delivery_ratio,
        report.network.messages_lost,
        report.network.faults.len(),
        report.network.drops_total,
    ));
    let drop_lines = rocknet_coordinator::drops::lines(&report.network, &report.per_device);
    if report.network.drops_total > 0 {
        // Always on stderr too: a run with drops is not an undisturbed run.
        let head = format!(
            "WARNING: {} packets were dropped; they count against the delivery ratio above, and the result may differ from an undisturbed run:",
            report.network.drops_total
        );
        eprintln!("{head}");
        for l in &drop_lines {
            eprintln!("WARNING:   {l}");
        }
        if !json {
            println!("{head}");
            for l in &drop_lines {
                println!("  {l}");
            }
        }
    }
    for w in &report.warnings {
        eprintln!("WARNING: {w}");
    }
    for d in &report.per_device {
        if !d.missed_rounds.is_empty() || d.joins != 1 {
            say(&format!(
                "device {}: joined {} time(s), missed rounds {:?}",
                d.device,
                d.joins,
                d.missed_rounds
                    .iter()
                    .map(|s| format!("{}..={}", s.first, s.last))
                    .collect::<Vec<_>>()
            ));
        }
    }
    let missed = report.missed_device_rounds();
    if missed > 0 {
        say(&format!(
            "WARNING: devices missed {missed} rounds (see above): their partial logits are missing there, so the result differs from an undisturbed run"
        ));
    }
    if report.status == RunStatus::Incomplete {
        say("INCOMPLETE: not every device reported its final weights; no weights hash");
    }
    for e in &outcome.unwritten {
        eprintln!("error: the report could not be written: {e}");
    }
    for line in report.inputs.console_lines() {
        if line.starts_with("warning:") {
            say(&line);
        }
    }
    say(&format!("results: {}", dir.display()));
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    if aborted {
        anyhow::bail!(
            "run aborted after {} of {} rounds: {}\n{}",
            report.rounds,
            report.rounds_planned,
            report.abort_reason.as_deref().unwrap_or("unknown"),
            if outcome.unwritten.is_empty() {
                format!(
                    "the report (status \"aborted\", figures up to then) is in {}",
                    dir.display()
                )
            } else {
                "the report could not be written (see above)".to_string()
            }
        );
    }
    if !outcome.unwritten.is_empty() {
        anyhow::bail!(
            "the run completed but its report could not be written: {}",
            outcome.unwritten.join("; ")
        );
    }
    Ok(())
}

fn train_cmd(args: TrainArgs) -> Result<()> {
    let mut cfg = ExperimentConfig::load(&args.config)?;
    apply_overrides(&mut cfg, &args);
    let exp = Experiment::prepare(cfg)?;
    let t = &exp.config.training;
    let header = format!(
        "{}: {} train / {} test series, length {}, {} channel(s), {} classes; {} features over {} device(s); {} epochs, batch {}, {}, {} input, seed {}",
        exp.config.name,
        exp.train.len(),
        exp.test.len(),
        exp.train.length,
        exp.train.n_channels,
        exp.n_classes(),
        exp.partition.model().num_features(),
        exp.partition.devices(),
        t.epochs,
        exp.batch_size(),
        t.optimizer.as_str(),
        exp.config.model.input.as_str(),
        t.seed,
    );
    let json = args.json;
    // Human-readable lines go to stdout, or to stderr when stdout is JSON.
    let say = move |line: &str| {
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    say(&header);
    for line in exp.inputs.console_lines() {
        say(&line);
    }
    let bar = ProgressBar::new(t.epochs as u64).with_style(
        ProgressStyle::with_template(
            "{bar:40} epoch {pos}/{len} {msg} [{elapsed_precise}, eta {eta}]",
        )
        .expect("static template"),
    );
    let mut on_epoch = |r: &train::EpochRecord| {
        bar.inc(1);
        if let Some(acc) = r.test_accuracy {
            bar.set_message(format!("test accuracy {acc:.4}"));
            bar.suspend(|| {
                say(&format!(
                    "epoch {:>4}  train loss {:.4}  train accuracy {:.4}  test accuracy {:.4}",
                    r.epoch, r.train_loss, r.train_accuracy, acc
                ))
            });
        }
    };
    let out = match &args.record {
        None => train::train(&exp, TrainOptions::from_config(&exp), &mut on_epoch)?,
        Some(dir) => {
            let (out, records) =
                train::train_recorded(&exp, TrainOptions::from_config(&exp), &mut on_epoch)?;
            rocknet_coordinator::record_files::write(dir, &exp, &out, &records)?;
            say(&format!(
                "replay records of {} devices written to {}",
                records.len(),
                dir.display()
            ));
            out
        }
    };
    bar.finish_and_clear();
    let report = TrainReport::new(&exp, &out);
    say(&format!(
        "final test accuracy {:.4} ({} epochs, {:.1} s features + {:.1} s training)",
        report.accuracy, report.epochs, out.feature_seconds, out.train_seconds
    ));
    say("device  features  memory (all buffers)  training memory (without fit scratch)");
    for m in &report.memory {
        say(&format!(
            "{:>6}  {:>8}  {:>20}  {:>20}",
            m.device, m.features, m.memory_bytes, m.training_memory_bytes
        ));
    }
    say(&format!(
        "largest device: {} bytes ({:.1} KiB); nRF52840 RAM is 262144 bytes (256 KiB)",
        report.max_device_memory_bytes,
        report.max_device_memory_bytes as f64 / 1024.0
    ));
    for line in report.inputs.console_lines() {
        if line.starts_with("warning:") {
            say(&line);
        }
    }
    if report.saturated_logits > 0 {
        say(&format!(
            "warning: {} partial logits saturated at the i32 range",
            report.saturated_logits
        ));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

#[cfg(test)]
mod ctl_tests {
    use super::*;

    #[test]
    fn ctl_parses_words_and_relay_address() {
        let cli = Cli::try_parse_from([
            "rocknet",
            "ctl",
            "link-down",
            "3",
            "7",
            "--relay",
            "127.0.0.1:9000",
        ])
        .unwrap();
        let Command::Ctl(a) = cli.command else {
            panic!("not ctl")
        };
        assert_eq!(a.command, ["link-down", "3", "7"]);
        assert_eq!(a.relay, "127.0.0.1:9000".parse().unwrap());
        let cli = Cli::try_parse_from(["rocknet", "ctl", "status"]).unwrap();
        let Command::Ctl(a) = cli.command else {
            panic!("not ctl")
        };
        assert_eq!(a.relay, "127.0.0.1:7701".parse().unwrap());
        assert!(Cli::try_parse_from(["rocknet", "ctl"]).is_err());
        assert!(Cli::try_parse_from(["rocknet", "ctl", "status", "--relay", "nope"]).is_err());
    }

    #[test]
    fn ctl_timeout_out_of_range_is_an_error_not_a_panic() {
        for bad in [1e30, f64::INFINITY, f64::NAN, -1.0, 0.0, -0.0, 86_401.0] {
            let e = reply_timeout(bad).unwrap_err().to_string();
            assert!(e.contains("--timeout"), "{bad}: {e}");
        }
        assert_eq!(
            reply_timeout(2.5).unwrap(),
            std::time::Duration::from_millis(2500)
        );
        assert!(reply_timeout(86_400.0).is_ok());
        // The whole command: an error before anything is sent.
        let cli = Cli::try_parse_from(["rocknet", "ctl", "status", "--timeout", "1e30"]).unwrap();
        let Command::Ctl(a) = cli.command else {
            panic!("not ctl")
        };
        assert!(ctl_cmd(&a).is_err());
    }
}
