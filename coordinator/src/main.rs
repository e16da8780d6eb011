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
    /// Evaluate on the test set every N epochs (the last epoch always is).
    #[arg(long, default_value_t = 1)]
    eval_every: usize,
    /// Print one JSON report on stdout (progress goes to stderr).
    #[arg(long)]
    json: bool,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Train(args) => train_cmd(args),
    }
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
    let out = train::train(
        &exp,
        TrainOptions {
            eval_every: args.eval_every,
        },
        &mut on_epoch,
    )?;
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
