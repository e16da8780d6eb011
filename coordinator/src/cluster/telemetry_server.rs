//! The coordinator's end of the telemetry channel: accepts device
//! connections, answers `Join` with the plan, and turns everything else into
//! [`Event`]s for the run loop.

use std::collections::HashMap;
use std::io::{BufReader, ErrorKind};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use rocknet_node::config::ExperimentConfig;
use rocknet_node::telemetry::{self, ToCoordinator, ToNode};

/// What the run loop hears from the devices.
#[derive(Debug)]
pub enum Event {
    /// A device process joined (and got the plan).
    Joined {
        /// Device index.
        device: usize,
        /// Its process id.
        pid: u32,
    },
    /// A message from a device.
    Message(ToCoordinator),
    /// A device's connection closed (process exited or died).
    Disconnected {
        /// Device index.
        device: usize,
    },
    /// A connection was refused (bad device id, garbage).
    Refused {
        /// Peer address.
        peer: SocketAddr,
        /// Why.
        reason: String,
    },
}

/// The listening side.
pub struct TelemetryServer {
    addr: SocketAddr,
    events: Receiver<Event>,
    writers: Arc<Mutex<HashMap<usize, TcpStream>>>,
}

impl TelemetryServer {
    /// Listens on `bind` and serves `config` to devices `0..n_devices`.
    pub fn start(bind: SocketAddr, config: ExperimentConfig, n_devices: usize) -> Result<Self> {
        let listener =
            TcpListener::bind(bind).with_context(|| format!("telemetry listener on {bind}"))?;
        let addr = listener.local_addr()?;
        let (tx, events) = channel();
        let writers = Arc::new(Mutex::new(HashMap::new()));
        let hash = config.hash();
        let plan = ToNode::Plan {
            config,
            config_hash: hash,
        };
        let w = writers.clone();
        std::thread::spawn(move || {
            loop {
                let stream = match listener.accept() {
                    Ok((stream, _)) => stream,
                    // A stop and continue, or a connection that died in
                    // the backlog: keep listening.
                    Err(e)
                        if matches!(
                            e.kind(),
                            ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                        ) =>
                    {
                        continue;
                    }
                    // Out of descriptors or the like: passing, so retry.
                    Err(e) => {
                        tracing::warn!("telemetry accept: {e}");
                        std::thread::sleep(std::time::Duration::from_millis(100));
                        continue;
                    }
                };
                let (tx, w, plan) = (tx.clone(), w.clone(), plan.clone());
                std::thread::spawn(move || serve(stream, tx, w, plan, n_devices));
            }
        });
        Ok(Self {
            addr,
            events,
            writers,
        })
    }

    /// The address devices connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The events so far (non-blocking).
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    /// Tells every connected device to stop.
    pub fn stop_all(&self) {
        let mut w = self.writers.lock().expect("telemetry lock");
        for s in w.values_mut() {
            let _ = telemetry::send(s, &ToNode::Stop);
        }
    }
}

fn serve(
    stream: TcpStream,
    tx: Sender<Event>,
    writers: Arc<Mutex<HashMap<usize, TcpStream>>>,
    plan: ToNode,
    n_devices: usize,
) {
    let peer = stream
        .peer_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let refuse = |reason: String| Event::Refused { peer, reason };
    let device = match telemetry::recv::<_, ToCoordinator>(&mut reader) {
        Ok(Some(ToCoordinator::Join { device, pid })) if device < n_devices => {
            if telemetry::send(&mut writer, &plan).is_err() {
                return;
            }
            if let Ok(w) = writer.try_clone() {
                writers.lock().expect("telemetry lock").insert(device, w);
            }
            let _ = tx.send(Event::Joined { device, pid });
            device
        }
        Ok(Some(ToCoordinator::Join { device, .. })) => {
            let reason = format!("device {device} does not exist (0..{n_devices})");
            let _ = telemetry::send(
                &mut writer,
                &ToNode::Refused {
                    reason: reason.clone(),
                },
            );
            let _ = tx.send(refuse(reason));
            return;
        }
        Ok(other) => {
            let _ = tx.send(refuse(format!("expected Join first, got {other:?}")));
            return;
        }
        Err(e) => {
            let _ = tx.send(refuse(format!("unreadable telemetry: {e}")));
            return;
        }
    };
    while let Ok(Some(msg)) = telemetry::recv::<_, ToCoordinator>(&mut reader) {
        if tx.send(Event::Message(msg)).is_err() {
            return;
        }
    }
    let _ = tx.send(Event::Disconnected { device });
}
