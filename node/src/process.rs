//! The device process (`rocknet node`): joins the coordinator, builds its device from
//! the plan, registers with the relay and runs rounds until the schedule
//! ends. It survives anything the network does: deliveries are checked by
//! [`DeviceNode`], and if the relay goes quiet it registers again and
//! resumes at the round the relay names.

use std::io::BufReader;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rocknet_core::classifier::{DeviceBuffers, DeviceModel};
use rocknet_core::series::SeriesView;
use rocknet_core::storage::HeapStorage;

use crate::experiment::Experiment;
use crate::protocol::{DeviceNode, NodeSetup, OwnedShard, WireInput, node_of};
use crate::relay_link::{RelayLink, RoundEnd};
use crate::schedule::Schedule;
use crate::telemetry::{self, MemoryReport, ToCoordinator, ToNode};

/// Fault injection for the tests of the coordinator's abort path:
/// `<device>@<round>` makes that device fail with an error when it reaches
/// that round.
pub const INJECT_ERROR_ENV: &str = "ROCKNET_INJECT_DEVICE_ERROR";

/// The round at which device `device` must fail, from
/// [`INJECT_ERROR_ENV`] (`None`: unset, or another device).
fn injected_error_round(device: usize) -> Result<Option<u32>> {
    let Ok(spec) = std::env::var(INJECT_ERROR_ENV) else {
        return Ok(None);
    };
    let parsed = spec.split_once('@').and_then(|(d, r)| {
        Some((
            d.trim().parse::<usize>().ok()?,
            r.trim().parse::<u32>().ok()?,
        ))
    });
    match parsed {
        Some((d, r)) => Ok((d == device).then_some(r)),
        None => bail!("{INJECT_ERROR_ENV}={spec:?}: expected <device>@<round>, e.g. 2@100"),
    }
}

/// Where a node finds the others.
#[derive(Debug, Clone)]
pub struct NodeArgs {
    /// Device index (radio node `device + 1`).
    pub device: usize,
    /// The relay's data address.
    pub relay: SocketAddr,
    /// The coordinator's telemetry address.
    pub coordinator: SocketAddr,
    /// Give up joining after this long (the coordinator may start later).
    pub join_timeout: Duration,
}

/// Runs one device to the end of the schedule (or until the coordinator
/// says stop or goes away).
pub fn run(args: &NodeArgs) -> Result<()> {
    let (stream, plan) = join(args)?;
    let mut writer = stream.try_clone().context("cloning the telemetry stream")?;
    let (config, config_hash) = match plan {
        ToNode::Plan {
            config,
            config_hash,
        } => (config, config_hash),
        ToNode::Refused { reason } => {
            bail!("the coordinator refused device {}: {reason}", args.device)
        }
        ToNode::Stop => return Ok(()),
    };
    if config.hash() != config_hash {
        bail!("the plan's config hash does not match its config (different rocknet versions?)");
    }
    let stop = Arc::new(AtomicBool::new(false));
    {
        // The coordinator's Stop (or its end of stream) ends the run.
        let stop = stop.clone();
        let mut reader = BufReader::new(stream);
        std::thread::spawn(move || {
            while let Ok(Some(msg)) = telemetry::recv::<_, ToNode>(&mut reader) {
                if matches!(msg, ToNode::Stop) {
                    break;
                }
            }
            stop.store(true, Ordering::SeqCst);
        });
    }
    let result = (|| {
        let exp = Experiment::prepare(config).context("preparing the experiment from the plan")?;
        match exp.int8_scale {
            None => {
                let (tr, te) = (exp.train.values.clone(), exp.test.values.clone());
                run_device::<f32>(args, &exp, config_hash, &tr, &te, &mut writer, &stop)
            }
            Some(scale) => {
                let q = |v: &[f32]| {
                    let mut out = vec![0i8; v.len()];
                    scale.quantize_into(v, &mut out);
                    out
                };
                let (tr, te) = (q(&exp.train.values), q(&exp.test.values));
                run_device::<i8>(args, &exp, config_hash, &tr, &te, &mut writer, &stop)
            }
        }
    })();
    if let Err(e) = &result {
        let _ = telemetry::send(
            &mut writer,
            &ToCoordinator::Error {
                device: args.device,
                message: format!("{e:#}"),
            },
        );
    }
    result
}

/// Connects to the coordinator (retrying until `join_timeout`) and asks for
/// the plan.
fn join(args: &NodeArgs) -> Result<(TcpStream, ToNode)> {
    let start = Instant::now();
    loop {
        match TcpStream::connect_timeout(&args.coordinator, Duration::from_secs(2)) {
            Ok(mut s) => {
                s.set_nodelay(true).ok();
                telemetry::send(
                    &mut s,
                    &ToCoordinator::Join {
                        device: args.device,
                        pid: std::process::id(),
                    },
                )
                .context("sending Join")?;
                let mut r = BufReader::new(s.try_clone().context("cloning the stream")?);
                let plan = telemetry::recv::<_, ToNode>(&mut r)
                    .context("reading the plan")?
                    .context("the coordinator closed the connection before sending the plan")?;
                return Ok((s, plan));
            }
            Err(e) if start.elapsed() < args.join_timeout => {
                tracing::debug!("coordinator at {} not there yet: {e}", args.coordinator);
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "no coordinator at {} after {:?}",
                        args.coordinator, args.join_timeout
                    )
                });
            }
        }
    }
}

fn run_device<T: WireInput>(
    args: &NodeArgs,
    exp: &Experiment,
    config_hash: u64,
    train_values: &[T],
    test_values: &[T],
    writer: &mut TcpStream,
    stop: &AtomicBool,
) -> Result<()> {
    let d = args.device;
    let n_devices = exp.partition.devices();
    if d >= n_devices {
        bail!("device {d} does not exist: the plan has {n_devices} devices (0..{n_devices})");
    }
    let (ch, len) = (exp.train.n_channels, exp.train.length);
    let n_values = ch * len;
    let t0 = Instant::now();
    let spec = exp.device_spec(d)?;
    let mut model = DeviceModel::<T, HeapStorage>::new(spec, DeviceBuffers::allocate(&spec))
        .context("building the device model")?;
    // Fitting needs the whole training set (the reference picks one example
    // per kernel block from all of it); the device keeps only its shards.
    let train_set = SeriesView::new(train_values, exp.train.len(), ch, len)?;
    model.fit(train_set).context("fitting the kernels")?;
    let fit_seconds = t0.elapsed().as_secs_f64();
    let net = &exp.config.network;
    let train_shard = OwnedShard::of(
        exp.partition.shard(exp.train.len(), d)?,
        train_values,
        &exp.train.labels,
        n_values,
    );
    let test_shard = OwnedShard::of(
        exp.partition.shard(exp.test.len(), d)?,
        test_values,
        &exp.test.labels,
        n_values,
    );
    let schedule = Schedule::of(exp);
    let memory = MemoryReport::from(model.footprint());
    let setup = NodeSetup {
        device: d,
        n_devices,
        n_classes: exp.n_classes(),
        n_values,
        cluster: net.cluster,
        config_hash,
        policy: net.missing,
        n_train: exp.train.len(),
        n_test: exp.test.len(),
    };
    let mut node = DeviceNode::new(
        setup,
        exp.partition,
        model,
        schedule,
        train_shard,
        test_shard,
    );
    let rounds = node.rounds();
    let fail_at = injected_error_round(d)?;

    let mut link = RelayLink::bind(args.relay, net.cluster, node_of(d), config_hash)?;
    let mut round = link.register(stop, None)?;
    telemetry::send(
        writer,
        &ToCoordinator::Registered {
            device: d,
            first_round: round,
            memory,
            fit_seconds,
        },
    )?;
    // A round can legitimately take round_timeout (a dead peer) plus pacing;
    // only well beyond that is the relay lost.
    let quiet = Duration::from_millis(net.round_timeout_ms.saturating_mul(3) + 2_000);
    let mut reregistrations = 0u64;
    while u64::from(round) < rounds {
        if fail_at.is_some_and(|r| round >= r) {
            bail!("injected error at round {round} ({INJECT_ERROR_ENV})");
        }
        let packets = node.submissions(round)?;
        let late = link.submit(round, &packets)?;
        match link.collect(round, quiet, stop)? {
            RoundEnd::Done(delivered) => {
                node.finish_round(round, &delivered)?;
                for stats in node.take_finished() {
                    telemetry::send(writer, &ToCoordinator::Pass { device: d, stats })?;
                }
                round += 1;
                if late {
                    reregistrations += 1;
                    tracing::warn!(
                        "device {d}: round {} closed without it; registering again",
                        round - 1
                    );
                    round = round.max(link.register(stop, None)?);
                }
            }
            RoundEnd::Lost => {
                reregistrations += 1;
                tracing::warn!("device {d}: lost the relay in round {round}; registering again");
                round = link.register(stop, None)?;
            }
        }
    }
    let params = node.model().params().iter().map(|v| v.to_bits()).collect();
    let drops = node
        .drops()
        .iter()
        .filter(|&(_, n)| n > 0)
        .map(|(r, n)| (r.name().to_string(), n))
        .collect();
    telemetry::send(
        writer,
        &ToCoordinator::Final {
            device: d,
            params,
            drops,
            rejected: node.rejected,
            beacon_mismatch: node.beacon_mismatch,
            link_drops: link.drops().named(),
            reregistrations,
            peak_rss_bytes: telemetry::peak_rss_bytes(),
        },
    )?;
    Ok(())
}
