//! The flags of the device process (`rocknet node`),
//! and how a deployment's addresses (names or IPs) become socket addresses.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::process::NodeArgs;

/// Flags of one device process.
#[derive(clap::Args, Debug, Clone)]
pub struct NodeCli {
    /// Device index (0-based; radio node id = device + 1).
    #[arg(long, env = "ROCKNET_DEVICE", conflicts_with = "node")]
    pub device: Option<usize>,
    /// The radio node id instead (device = node − 1, node ≥ 1): what a
    /// container name (`node7`) or a Swarm task slot (`{{.Task.Slot}}`)
    /// gives.
    #[arg(long, env = "ROCKNET_NODE")]
    pub node: Option<usize>,
    /// The relay's data address, `host:port`; a host name (a Compose or
    /// Swarm service, e.g. `linkmodel:7700`) is resolved, retrying.
    #[arg(long, env = "ROCKNET_RELAY", default_value = "127.0.0.1:7700")]
    pub relay: String,
    /// The coordinator's telemetry address, `host:port` (names resolved).
    #[arg(long, env = "ROCKNET_COORDINATOR", default_value = "127.0.0.1:7800")]
    pub coordinator: String,
    /// Seconds to keep trying to reach the coordinator (and to resolve the
    /// addresses).
    #[arg(long, default_value_t = 120)]
    pub join_timeout_s: u64,
}

impl NodeCli {
    /// The process arguments: the device index and resolved addresses.
    pub fn resolve(&self) -> Result<NodeArgs> {
        let device = match (self.device, self.node) {
            (Some(d), _) => d,
            (None, Some(0)) => {
                bail!("--node / ROCKNET_NODE: radio node 0 is the host; devices are 1..")
            }
            (None, Some(n)) => n - 1,
            (None, None) => bail!(
                "give the device: --device / ROCKNET_DEVICE (0-based) or --node / ROCKNET_NODE (radio node id, 1-based)"
            ),
        };
        let patience = Duration::from_secs(self.join_timeout_s);
        Ok(NodeArgs {
            device,
            relay: resolve(&self.relay, patience).context("--relay / ROCKNET_RELAY")?,
            coordinator: resolve(&self.coordinator, patience)
                .context("--coordinator / ROCKNET_COORDINATOR")?,
            join_timeout: patience,
        })
    }
}

/// Resolves `host:port` to one socket address (IPv4 preferred), retrying
/// for up to `patience`: in a container deployment a service's name may
/// resolve only once its container runs.
pub fn resolve(spec: &str, patience: Duration) -> Result<SocketAddr> {
    if let Ok(addr) = spec.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if !spec.contains(':') {
        bail!("`{spec}` is not host:port");
    }
    let deadline = Instant::now() + patience;
    loop {
        match spec.to_socket_addrs() {
            Ok(addrs) => {
                let addrs: Vec<SocketAddr> = addrs.collect();
                if let Some(a) = addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()) {
                    return Ok(*a);
                }
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(e).with_context(|| format!("resolving `{spec}`"));
            }
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            bail!("`{spec}` resolves to no address");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        node: NodeCli,
    }

    fn args(a: &[&str]) -> Result<NodeArgs> {
        let mut v = vec!["test"];
        v.extend_from_slice(a);
        Cli::try_parse_from(v)?.node.resolve()
    }

    #[test]
    fn device_or_radio_node() {
        assert_eq!(args(&["--device", "3"]).unwrap().device, 3);
        assert_eq!(args(&["--node", "7"]).unwrap().device, 6);
        assert!(args(&["--node", "0"]).is_err());
        assert!(args(&["--device", "1", "--node", "2"]).is_err());
    }

    #[test]
    fn addresses_are_ips_or_names() {
        let a = args(&[
            "--device",
            "0",
            "--relay",
            "localhost:7700",
            "--coordinator",
            "10.0.0.3:7800",
        ])
        .unwrap();
        assert_eq!(a.relay, "127.0.0.1:7700".parse().unwrap());
        assert_eq!(a.coordinator, "10.0.0.3:7800".parse().unwrap());
        assert!(resolve("no-port", Duration::ZERO).is_err());
        assert!(resolve("name.invalid:7700", Duration::ZERO).is_err());
    }
}
