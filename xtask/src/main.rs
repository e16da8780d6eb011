//! `cargo xtask`: the project's task runner.
//!
//! `cargo xtask test` is the one command that runs every test of the
//! workspace on a fresh machine: it first installs what the tests need and
//! is missing (saying what it installs), then runs `cargo test --release
//! --no-fail-fast` and closes with a summary that names the
//! system tests (the firmware in QEMU, the cluster in containers) and
//! whether they ran.

mod setup;
mod summary;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "rocknet's task runner")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what the tests need (rustup targets, qemu-system-arm, the
    /// Compose v2 plugin) when it is missing, then run every test.
    Test {
        /// Extra arguments for `cargo test` (after `--`), e.g. a test name.
        #[arg(last = true)]
        cargo_args: Vec<String>,
    },
    /// Only install what the tests need.
    Setup,
}

fn main() -> ExitCode {
    match run(Cli::parse().task) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("\nxtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(task: Task) -> Result<ExitCode> {
    match task {
        Task::Setup => {
            setup::install_all()?;
            Ok(ExitCode::SUCCESS)
        }
        Task::Test { cargo_args } => {
            let docker = setup::install_all()?;
            summary::run_all_tests(&docker, &cargo_args)
        }
    }
}
