//! Child processes of `rocknet run`: the relay and one process per device,
//! all the `rocknet` executable itself (hidden subcommands), so one
//! `cargo run --bin rocknet` builds everything a run needs. Every child is
//! killed when its [`Child`] guard drops — on normal exit, on error, on
//! panic (unwinding) and after Ctrl-C.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rocknet_linkmodel::cli::READY_PREFIX;

/// A child process that is killed on drop.
pub struct Child {
    name: String,
    child: std::process::Child,
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

/// Starts the relay on loopback (free ports) and waits for its addresses.
pub fn spawn_relay(s: &RelaySpawn<'_>) -> Result<RelayProcess> {
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
        .arg(s.max_packet_len.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    die_with_parent(&mut cmd);
    let mut child = cmd.spawn().context("starting the relay")?;
    let stderr = child.stderr.take().context("relay stderr")?;
    let mut child = Child {
        name: "relay".into(),
        child,
    };
    let mut log = File::create(s.log).with_context(|| format!("creating {}", s.log.display()))?;
    let (tx, rx) = mpsc::channel();
    // Copy the relay's stderr to its log; hand the ready line over.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = writeln!(log, "{line}");
            if line.starts_with(READY_PREFIX) {
                let _ = tx.send(line);
            }
        }
    });
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

/// Starts device `device`'s process.
pub fn spawn_node(
    device: usize,
    relay: SocketAddr,
    coordinator: SocketAddr,
    log: &Path,
) -> Result<Child> {
    let log_file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let mut cmd = Command::new(self_exe()?);
    cmd.arg("node")
        .args(["--device", &device.to_string()])
        .args(["--relay", &relay.to_string()])
        .args(["--coordinator", &coordinator.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
    die_with_parent(&mut cmd);
    let child = cmd
        .spawn()
        .with_context(|| format!("starting device {device}'s process"))?;
    Ok(Child {
        name: format!("node {device}"),
        child,
    })
}
