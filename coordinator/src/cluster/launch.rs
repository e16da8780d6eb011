//! Child processes of `rocknet run`: the relay and one process per device,
//! all the `rocknet` executable itself (hidden subcommands), so one
//! `cargo run --bin rocknet` builds everything a run needs. Every child is
//! killed when its [`Child`] guard drops — on normal exit, on error, on
//! panic (unwinding) and after Ctrl-C.
//!
//! A child's stderr goes through the coordinator into its log file: the
//! first line that cannot be written (a full disk) stops the run, naming
//! the file and the OS error, and the last lines are kept for the report
//! when a child fails.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ChildStderr, Command, Stdio};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rocknet_linkmodel::cli::READY_PREFIX;

use super::abort::{Abort, Cause};

/// How many of a child's last stderr lines are kept.
const TAIL_LINES: usize = 20;

/// A child's last stderr lines.
type Tail = Arc<Mutex<VecDeque<String>>>;

/// A child process that is killed on drop.
pub struct Child {
    name: String,
    child: std::process::Child,
    log: PathBuf,
    tail: Tail,
}

impl Child {
    /// Its OS process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its name (`relay`, `node 3`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Asks it to stop (SIGTERM, so the relay flushes its trace) and waits
    /// up to `grace`, then kills it.
    pub fn terminate(&mut self, grace: Duration) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills it at once (a simulated crash).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether it has exited, and how.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// How it exited, waiting up to `patience` for it to.
    pub fn exit_within(&mut self, patience: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The error it printed last: from its last `Error: …` line on (the form
    /// a failing `main` prints), joined into one line; else its last line.
    pub fn last_error(&self) -> Option<String> {
        let tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        let lines: Vec<&str> = tail.iter().map(|l| l.trim()).collect();
        match lines.iter().rposition(|l| l.starts_with("Error: ")) {
            Some(i) => {
                let mut joined = String::new();
                for part in lines[i..]
                    .iter()
                    .map(|l| l.trim_start_matches("Error: "))
                    .filter(|l| !l.is_empty() && *l != "Caused by:")
                    .map(strip_cause_index)
                {
                    // An error that prints its source is followed by it
                    // again as the next cause: once is enough.
                    if joined.ends_with(part) {
                        continue;
                    }
                    if !joined.is_empty() {
                        joined.push_str(": ");
                    }
                    joined.push_str(part);
                }
                Some(joined)
            }
            None => lines.last().map(|l| (*l).to_string()),
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.terminate(Duration::from_millis(500));
    }
}

/// Makes the child die with the coordinator even if the coordinator is
/// killed outright (no destructor runs then): Linux's parent-death signal.
fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs between fork and exec and only makes one
        // async-signal-safe system call (prctl).
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
                    .map_err(std::io::Error::from)
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// The `rocknet` executable to spawn children from.
fn self_exe() -> Result<PathBuf> {
    std::env::current_exe().context("locating the rocknet executable")
}

/// Addresses of a started relay.
pub struct RelayProcess {
    /// The process.
    pub child: Child,
    /// Where nodes send packets.
    pub data: SocketAddr,
    /// Where `rocknet ctl` talks.
    pub control: SocketAddr,
}

/// What the relay is started with.
pub struct RelaySpawn<'a> {
    /// Link-model config file.
    pub config: &'a Path,
    /// Trace file.
    pub trace: &'a Path,
    /// Its log (stderr).
    pub log: &'a Path,
    /// Wall-clock pacing.
    pub time_scale: f64,
    /// Round timeout.
    pub round_timeout_ms: u64,
    /// Cluster id.
    pub cluster: u16,
    /// Config hash Hellos must carry.
    pub config_hash: u64,
    /// Longer packets are dropped (the experiment's longest message).
    pub max_packet_len: usize,
}

/// `0: cause` (anyhow's numbered causes) → `cause`.
fn strip_cause_index(line: &str) -> &str {
    match line.split_once(": ") {
        Some((n, rest)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => line,
    }
}

/// What a child's stderr copier does besides copying.
struct Copier {
    /// The child's name (`relay`, `node 3`).
    name: String,
    /// Its log file.
    path: PathBuf,
    /// Raised on the first failed write, and on the child's exit if
    /// `exit_ends_run`.
    abort: Abort,
    /// The child's exit ends the run (the relay's does).
    exit_ends_run: bool,
    /// The child's last lines.
    tail: Tail,
    /// Lines starting with [`READY_PREFIX`] are handed over here.
    ready: Option<Sender<String>>,
}

impl Copier {
    /// Copies `stderr` into `log` line by line until the child closes it
    /// (it exited). After a failed write the pipe is still drained, so the
    /// child never blocks on a full pipe.
    fn run(self, stderr: ChildStderr, mut log: File) {
        let mut writable = true;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if writable && let Err(e) = writeln!(log, "{line}") {
                writable = false;
                self.abort.raise(Cause::Failed(format!(
                    "writing {} ({} log): {e}",
                    self.path.display(),
                    self.name
                )));
            }
            if let Some(tx) = &self.ready
                && line.starts_with(READY_PREFIX)
            {
                let _ = tx.send(line.clone());
            }
            let mut tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
        if self.exit_ends_run {
            self.abort.raise(Cause::Exited { child: self.name });
        }
    }
}

/// Starts `cmd` with its stderr copied into `log` (see [`Copier`]).
fn spawn_logged(
    mut cmd: Command,
    name: String,
    log: &Path,
    abort: &Abort,
    exit_ends_run: bool,
    ready: Option<Sender<String>>,
) -> Result<Child> {
    let file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    die_with_parent(&mut cmd);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting the {name} process"))?;
    let stderr = child.stderr.take().context("the child's stderr")?;
    let tail = Tail::default();
    let copier = Copier {
        name: name.clone(),
        path: log.to_path_buf(),
        abort: abort.clone(),
        exit_ends_run,
        tail: tail.clone(),
        ready,
    };
    std::thread::spawn(move || copier.run(stderr, file));
    Ok(Child {
        name,
        child,
        log: log.to_path_buf(),
        tail,
    })
}

/// Starts the relay on loopback (free ports) and waits for its addresses;
/// its exit (before the run closes) raises `abort`.
pub fn spawn_relay(s: &RelaySpawn<'_>, abort: &Abort) -> Result<RelayProcess> {
    let mut cmd = Command::new(self_exe()?);
    cmd.arg("linkmodel")
        .arg("--config")
        .arg(s.config)
        .args(["--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"])
        .arg("--trace")
        .arg(s.trace)
        .arg("--time-scale")
        .arg(s.time_scale.to_string())
        .arg("--round-timeout-ms")
        .arg(s.round_timeout_ms.to_string())
        .arg("--cluster")
        .arg(s.cluster.to_string())
        .arg("--config-hash")
        .arg(s.config_hash.to_string())
        .arg("--max-packet-len")
        .arg(s.max_packet_len.to_string());
    let (tx, rx) = mpsc::channel();
    let mut child = spawn_logged(cmd, "relay".into(), s.log, abort, true, Some(tx))?;
    let line = match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(l) => l,
        Err(_) => {
            let status = child.exited();
            bail!(
                "the relay did not start (exit status {status:?}); see {}",
                s.log.display()
            );
        }
    };
    let rest = &line[READY_PREFIX.len()..];
    let (data, control) = rest
        .split_once(" control ")
        .context("unexpected relay ready line")?;
    Ok(RelayProcess {
        child,
        data: data.trim().parse().context("relay data address")?,
        control: control.trim().parse().context("relay control address")?,
    })
}

/// Starts device `device`'s process (its exit does not end the run: a
/// device may be killed and replaced).
pub fn spawn_node(
    device: usize,
    relay: SocketAddr,
    coordinator: SocketAddr,
    log: &Path,
    abort: &Abort,
) -> Result<Child> {
    let mut cmd = Command::new(self_exe()?);
    cmd.arg("node")
        .args(["--device", &device.to_string()])
        .args(["--relay", &relay.to_string()])
        .args(["--coordinator", &coordinator.to_string()]);
    spawn_logged(cmd, format!("node {device}"), log, abort, false, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child_with_tail(lines: &[&str]) -> Child {
        let child = Command::new("true").spawn().unwrap();
        Child {
            name: "relay".into(),
            child,
            log: PathBuf::from("relay.log"),
            tail: Arc::new(Mutex::new(lines.iter().map(|l| l.to_string()).collect())),
        }
    }

    #[test]
    fn the_last_error_is_one_line() {
        let c = child_with_tail(&[
            "rocknet-linkmodel: data 127.0.0.1:1 control 127.0.0.1:2",
            "Error: running the relay",
            "",
            "Caused by:",
            "    0: writing the trace /x/trace.jsonl: No space left on device (os error 28)",
            "    1: No space left on device (os error 28)",
        ]);
        assert_eq!(
            c.last_error().unwrap(),
            "running the relay: writing the trace /x/trace.jsonl: No space left on device (os error 28)"
        );
        let c = child_with_tail(&["Error: a", "", "Caused by:", "    0: b", "    1: c"]);
        assert_eq!(c.last_error().unwrap(), "a: b: c");
        let c = child_with_tail(&["warn x", "last words"]);
        assert_eq!(c.last_error().unwrap(), "last words");
        assert_eq!(child_with_tail(&[]).last_error(), None);
    }
}
