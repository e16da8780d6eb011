//! `rocknet-linkmodel`: the relay binary. Nodes send their packets to
//! `--listen`; faults and status go through `--control` (`rocknet ctl`).
//! See [`rocknet_linkmodel::relay`] for the round contract.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use rocknet_linkmodel::config::LinkModelConfig;
use rocknet_linkmodel::relay::{Relay, RelayOptions};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "The radio stand-in: a UDP relay running the flood model"
)]
struct Cli {
    /// The link-model config (TOML), e.g. configs/linkmodel-testbed20.toml.
    #[arg(long)]
    config: PathBuf,
    /// Data address nodes send their packets to.
    #[arg(long, default_value = "127.0.0.1:7700")]
    listen: SocketAddr,
    /// Control address (`rocknet ctl`).
    #[arg(long, default_value = "127.0.0.1:7701")]
    control: SocketAddr,
    /// Trace file (JSON lines, one per round).
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Wall-clock seconds per emulated second (0 = as fast as possible).
    #[arg(long, default_value_t = 0.0)]
    time_scale: f64,
    /// Cluster id of the packets to accept.
    #[arg(long, default_value_t = 1)]
    cluster: u16,
    /// Refuse Hellos whose config hash differs from this.
    #[arg(long)]
    config_hash: Option<u64>,
    /// Close a round at the latest this many milliseconds after it opened;
    /// the nodes it waited for in vain are not waited for again until they
    /// register again.
    #[arg(long, default_value_t = 5000)]
    round_timeout_ms: u64,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let text = std::fs::read_to_string(&cli.config)
        .with_context(|| format!("reading {}", cli.config.display()))?;
    let config: LinkModelConfig =
        toml::from_str(&text).with_context(|| format!("parsing {}", cli.config.display()))?;
    let opts = RelayOptions {
        cluster: cli.cluster,
        config_hash: cli.config_hash,
        time_scale: cli.time_scale,
        round_timeout: Duration::from_millis(cli.round_timeout_ms),
        trace: cli.trace.clone(),
        ..RelayOptions::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async {
        let relay = Relay::bind(&config, opts, cli.listen, cli.control)
            .await
            .with_context(|| format!("starting the relay from {}", cli.config.display()))?;
        eprintln!(
            "rocknet-linkmodel: data {} control {}",
            relay.data_addr()?,
            relay.control_addr()?
        );
        let counters = relay
            .run(shutdown_signal())
            .await
            .context("running the relay")?;
        eprintln!(
            "rocknet-linkmodel: {} rounds, {} packets dropped",
            counters.rounds,
            counters.dropped()
        );
        Ok(())
    })
}

/// Completes on Ctrl-C, or SIGTERM on Unix (`docker stop`).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
