//! `rocknet-linkmodel`: the relay binary (see [`rocknet_linkmodel::cli`]).

use anyhow::Result;
use clap::Parser;
use rocknet_linkmodel::cli::{RelayArgs, run};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "The radio stand-in: a UDP relay running the flood model"
)]
struct Cli {
    #[command(flatten)]
    relay: RelayArgs,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    run(&Cli::parse().relay)
}
