//! Runs `cargo test --release --no-fail-fast` (the workspace's default
//! members: every crate but the firmware, which only builds for
//! thumbv7em-none-eabihf and is tested through `systests`), passing its
//! output through, and closes with a summary: every test binary's counts,
//! whether the system tests (firmware in QEMU, cluster in containers) ran,
//! and one closing line `total: N passed, M failed`.

use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};
use rocknet_systests::DOCKER_UNUSABLE_ENV;

use crate::setup::Docker;

/// The system tests the summary names, by test binary: what they check,
/// and whether they need Docker (skipped when it is unusable).
const SYSTEM_TESTS: [(&str, &str, bool); 3] = [
    (
        "firmware_replay",
        "QEMU replay (firmware = host, bit for bit)",
        false,
    ),
    (
        "containers",
        "container tests (docker compose = loopback)",
        true,
    ),
    ("swarm", "swarm test (docker stack deploy = loopback)", true),
];

/// The counts of one test binary (`test result:` line).
#[derive(Debug, Default, Clone, PartialEq)]
struct Counts {
    passed: u64,
    failed: u64,
    ignored: u64,
}

/// One test binary as cargo announced it, and its result once seen.
#[derive(Debug)]
struct Binary {
    /// What cargo printed after `Running` or `Doc-tests`.
    label: String,
    /// The test binary's crate or target name (`firmware_replay`).
    name: String,
    counts: Option<Counts>,
}

/// Reads cargo test's merged output, line by line.
#[derive(Debug, Default)]
struct Tally {
    binaries: Vec<Binary>,
}

impl Tally {
    fn feed(&mut self, line: &str) {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Running ") {
            // `tests/foo.rs (target/release/deps/foo-0123abcd)`
            let name = rest
                .rsplit_once('(')
                .map(|(_, p)| p.trim_end_matches(')'))
                .and_then(|p| p.rsplit('/').next())
                .and_then(|f| f.rsplit_once('-').map(|(n, _)| n))
                .unwrap_or(rest);
            self.start(rest, name);
        } else if let Some(krate) = t.strip_prefix("Doc-tests ") {
            self.start(t, krate);
        } else if let Some(result) = t.strip_prefix("test result: ")
            && let (Some(counts), Some(b)) = (parse_counts(result), self.binaries.last_mut())
        {
            b.counts = Some(counts);
        }
    }

    fn start(&mut self, label: &str, name: &str) {
        self.binaries.push(Binary {
            label: label.to_string(),
            name: name.to_string(),
            counts: None,
        });
    }

    fn total(&self) -> Counts {
        let mut t = Counts::default();
        for b in &self.binaries {
            match &b.counts {
                Some(c) => {
                    t.passed += c.passed;
                    t.failed += c.failed;
                    t.ignored += c.ignored;
                }
                // It crashed or was killed before printing its result.
                None => t.failed += 1,
            }
        }
        t
    }
}

/// `ok. 5 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; …`
fn parse_counts(result: &str) -> Option<Counts> {
    let mut c = Counts::default();
    let mut seen = 0;
    for part in result.split(';') {
        let words: Vec<&str> = part.split_whitespace().collect();
        let [.., n, what] = words.as_slice() else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        match *what {
            "passed" => c.passed = n,
            "failed" => c.failed = n,
            "ignored" => c.ignored = n,
            _ => continue,
        }
        seen += 1;
    }
    (seen == 3).then_some(c)
}

/// Runs every test and prints the summary; the exit code.
pub fn run_all_tests(docker: &Docker, extra: &[String]) -> Result<ExitCode> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["test", "--release", "--no-fail-fast"]);
    if !extra.is_empty() {
        cmd.args(extra);
    }
    if let Docker::Unusable(why) = docker {
        cmd.env(DOCKER_UNUSABLE_ENV, why);
    }
    println!("\nxtask: running {cmd:?}\n");
    let (reader, writer) = std::io::pipe().context("creating a pipe for cargo test's output")?;
    let mut child = cmd
        .stdout(writer.try_clone()?)
        .stderr(writer)
        .spawn()
        .context("starting cargo test")?;
    // The parent's copies of the write end must close, or the read never ends.
    drop(cmd);
    let mut tally = Tally::default();
    for line in BufReader::new(reader).lines() {
        let line = line.context("reading cargo test's output")?;
        println!("{line}");
        tally.feed(&line);
    }
    let status = child.wait().context("waiting for cargo test")?;
    let total = tally.total();
    print_summary(&tally, docker);
    println!(
        "total: {} passed, {} failed, {} skipped",
        total.passed, total.failed, total.ignored
    );
    let ok = status.success() && total.failed == 0 && total.passed > 0;
    if !status.success() && total.failed == 0 {
        println!("xtask: cargo test exited with {status} (a build failed?)");
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_summary(tally: &Tally, docker: &Docker) {
    println!("\n================ summary of `cargo xtask test` ================");
    for b in &tally.binaries {
        match &b.counts {
            Some(c) => println!(
                "{:>5} passed {:>3} failed {:>3} ignored  {}",
                c.passed, c.failed, c.ignored, b.label
            ),
            None => println!("  no result (crashed?)         {}", b.label),
        }
    }
    println!();
    for (name, what, needs_docker) in SYSTEM_TESTS {
        let found = tally.binaries.iter().find(|b| b.name == name);
        let line = match (found.and_then(|b| b.counts.as_ref()), docker) {
            (_, Docker::Unusable(why)) if needs_docker => {
                format!("SKIPPED: Docker is unusable here ({why})")
            }
            (Some(c), _) if c.failed == 0 && c.passed > 0 => {
                format!("ran, {} passed", c.passed)
            }
            (Some(c), _) => format!("ran, {} passed, {} FAILED", c.passed, c.failed),
            (None, _) if found.is_some() => "FAILED (no result)".into(),
            (None, _) => "did not run (filtered out, or the build failed)".into(),
        };
        println!("{what}: {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cargo_test_output() {
        let mut t = Tally::default();
        for line in [
            "     Running unittests src/lib.rs (target/release/deps/rocknet_core-0a1b2c)",
            "test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s",
            "     Running tests/firmware_replay.rs (target/release/deps/firmware_replay-99ff)",
            "test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 3.2s",
            "     Running tests/containers.rs (target/release/deps/containers-77)",
            "   Doc-tests rocknet_core",
            "test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.5s",
        ] {
            t.feed(line);
        }
        let names: Vec<&str> = t.binaries.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "rocknet_core",
                "firmware_replay",
                "containers",
                "rocknet_core"
            ]
        );
        assert_eq!(t.binaries[2].counts, None);
        // 1 failed test + 1 binary without a result.
        assert_eq!(
            t.total(),
            Counts {
                passed: 15,
                failed: 2,
                ignored: 1
            }
        );
    }

    #[test]
    fn a_result_line_without_all_counts_is_not_a_result() {
        assert_eq!(parse_counts("ok. 3 passed; finished in 1s"), None);
    }
}
