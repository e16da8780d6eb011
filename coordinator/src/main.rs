//! `rocknet`: the host's command line.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use rocknet_coordinator::config::{ExperimentConfig, InputSetting, OptimizerSetting};
use rocknet_coordinator::experiment::Experiment;
use rocknet_coordinator::report::TrainReport;
use rocknet_coordinator::train::{self, TrainOptions};

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
    /// Send a live command to a running link-model relay and print its reply:
    /// `link-down A B`, `link-up A B`, `node-down N`, `node-up N`,
    /// `partition 1-10 11-20`, `heal`, `prr A B P`, `status`.
    Ctl(CtlArgs),
    /// Re-render a run's plots and summary.md from its report.json.
    Report {
        /// The run directory, e.g. runs/gunpoint.
        dir: PathBuf,
    },
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
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Train(args) => train_cmd(args),
        Command::Ctl(args) => ctl_cmd(&args),
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
    use anyhow::{Context, bail};
    let line = a.command.join(" ");
    let bind = if a.relay.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let sock = std::net::UdpSocket::bind(bind).context("binding a UDP socket")?;
    let timeout = reply_timeout(a.timeout)?;
    sock.set_read_timeout(Some(timeout))
        .context("setting the reply timeout")?;
    sock.send_to(line.as_bytes(), a.relay)
        .with_context(|| format!("sending `{line}` to {}", a.relay))?;
    let mut buf = vec![0u8; 65_536];
    let (n, _) = sock
        .recv_from(&mut buf)
        .with_context(|| format!("no reply from the relay at {}", a.relay))?;
    let reply = String::from_utf8_lossy(&buf[..n]);
    if reply.starts_with("error") {
        bail!("relay: {reply}");
    }
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
    let out = train::train(&exp, TrainOptions::from_config(&exp), &mut on_epoch)?;
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
