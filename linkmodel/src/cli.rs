//! The relay as a command: `rocknet-linkmodel` and the `rocknet linkmodel`
//! subcommand (which `rocknet run` spawns) share these flags and this entry
//! point. Nodes send their packets to `--listen`; faults and status go
//! through `--control` (`rocknet ctl`). See [`crate::relay`] for the round
//! contract.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::LinkModelConfig;
use crate::relay::{DEFAULT_MAX_PACKET_LEN, Relay, RelayOptions};
use anyhow::{Context, Result};

/// The relay's flags.
#[derive(clap::Args, Debug, Clone)]
pub struct RelayArgs {
    /// The link-model config (TOML), e.g. configs/linkmodel-testbed20.toml.
    #[arg(long)]
    pub config: PathBuf,
    /// Data address nodes send their packets to.
    #[arg(long, default_value = "127.0.0.1:7700")]
    pub listen: SocketAddr,
    /// Control address (`rocknet ctl`).
    #[arg(long, default_value = "127.0.0.1:7701")]
    pub control: SocketAddr,
    /// Trace file (JSON lines, one per round); zstd-compressed if the name
    /// ends in `.zst` (e.g. `trace.jsonl.zst`).
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Wall-clock seconds per emulated second (0 = as fast as possible).
    #[arg(long, default_value_t = 0.0)]
    pub time_scale: f64,
    /// Cluster id of the packets to accept.
    #[arg(long, default_value_t = 1)]
    pub cluster: u16,
    /// Refuse Hellos whose config hash differs from this.
    #[arg(long)]
    pub config_hash: Option<u64>,
    /// Close a round at the latest this many milliseconds after it opened;
    /// the nodes it waited for in vain are not waited for again until they
    /// register again.
    #[arg(long, default_value_t = 5000)]
    pub round_timeout_ms: u64,
    /// Drop (as `too_large`) packets longer than this many bytes; at most
    /// 65,507 (a UDP datagram), and only packets up to 65,480 can be
    /// delivered (a bundle carrying one must fit one datagram). `rocknet run` and
    /// `rocknet relay` set it to the experiment's largest message.
    #[arg(long, default_value_t = DEFAULT_MAX_PACKET_LEN)]
    pub max_packet_len: usize,
}

/// Reads a link-model config file (TOML).
pub fn load_config(path: &std::path::Path) -> Result<LinkModelConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Sends one control command (e.g. `link-down 3 7`, `status`, `shutdown`) to
/// the relay's control address and returns its reply; a reply starting with
/// `error` is an error.
pub fn send_command(control: SocketAddr, line: &str, timeout: Duration) -> Result<String> {
    let bind = if control.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let sock = std::net::UdpSocket::bind(bind).context("binding a UDP socket")?;
    sock.set_read_timeout(Some(timeout))
        .context("setting the reply timeout")?;
    sock.send_to(line.as_bytes(), control)
        .with_context(|| format!("sending `{line}` to {control}"))?;
    let mut buf = vec![0u8; 65_536];
    let (n, _) = loop {
        // Retried when a stop and continue (Ctrl-Z) interrupts the wait.
        match sock.recv_from(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            r => break r,
        }
    }
    .with_context(|| format!("no reply from the relay at {control}"))?;
    let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
    if reply.starts_with("error") {
        anyhow::bail!("relay: {reply}");
    }
    Ok(reply)
}

/// Prefix of the line announcing the bound addresses on stderr:
/// `rocknet-linkmodel: data <addr> control <addr>` (parsed by `rocknet run`).
pub const READY_PREFIX: &str = "rocknet-linkmodel: data ";

/// Runs the relay until Ctrl-C or SIGTERM.
pub fn run(cli: &RelayArgs) -> Result<()> {
    let config = load_config(&cli.config)?;
    let opts = RelayOptions {
        cluster: cli.cluster,
        config_hash: cli.config_hash,
        time_scale: cli.time_scale,
        round_timeout: Duration::from_millis(cli.round_timeout_ms),
        trace: cli.trace.clone(),
        max_packet_len: cli.max_packet_len,
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
            "{READY_PREFIX}{} control {}",
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
