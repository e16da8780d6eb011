//! `rocknet-node`: one emulated device (see [`rocknet_node::process`]).

use anyhow::Result;
use clap::Parser;
use rocknet_node::cli::NodeCli;

#[derive(Parser, Debug)]
#[command(version, about = "One emulated RockNet device")]
struct Cli {
    #[command(flatten)]
    node: NodeCli,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    rocknet_node::process::run(&Cli::parse().node.resolve()?)
}
