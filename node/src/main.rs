//! `rocknet-node`: one emulated device. The networked round protocol arrives
//! with the cluster issue; today the binary only validates its arguments.
use clap::Parser;

/// One RockNet device process.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// This device's id (1..=N; 0 is the host).
    #[arg(long)]
    id: u16,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.id >= 1, "--id must be ≥ 1 (0 is the coordinator)");
    anyhow::bail!(
        "device {}: the networked node is not implemented yet; use `rocknet train` for in-process training",
        args.id
    )
}
