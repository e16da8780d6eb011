//! `rocknet-node`: one emulated device (see [`rocknet_node::process`]).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use rocknet_node::process::{NodeArgs, run};

#[derive(Parser, Debug)]
#[command(version, about = "One emulated RockNet device")]
struct Cli {
    /// Device index (0-based; radio node id = device + 1).
    #[arg(long, env = "ROCKNET_DEVICE")]
    device: usize,
    /// The relay's data address.
    #[arg(long, env = "ROCKNET_RELAY", default_value = "127.0.0.1:7700")]
    relay: SocketAddr,
    /// The coordinator's telemetry address.
    #[arg(long, env = "ROCKNET_COORDINATOR", default_value = "127.0.0.1:7800")]
    coordinator: SocketAddr,
    /// Seconds to keep trying to reach the coordinator.
    #[arg(long, default_value_t = 120)]
    join_timeout_s: u64,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    run(&NodeArgs {
        device: cli.device,
        relay: cli.relay,
        coordinator: cli.coordinator,
        join_timeout: Duration::from_secs(cli.join_timeout_s),
    })
}
