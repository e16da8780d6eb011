//! Topologies: N nodes (node 0 = host/coordinator, 1..N devices) and a
//! directed table of packet reception ratios (docs/linkmodel.md#topologies).
//!
//! A topology comes from an explicit [`LinkTable`], from node positions and a
//! log-distance [`PathLoss`] model, or from a generator ([`Topology::line`],
//! [`Topology::grid`], [`Topology::random_geometric`],
//! [`Topology::testbed20`]). [`Topology::validate`] rejects disconnected
//! topologies, naming the nodes that cannot be reached.

use std::collections::VecDeque;

use rand_core::Rng;
use rocknet_core::rng::{Purpose, keyed_rng};
use serde::Deserialize;

use crate::phy::PhyKind;

/// Path-loss links with a PRR below this are treated as absent (the logistic
/// curve never reaches 0; without a cut-off every pair would be a link the
/// flood model has to draw for).
pub const MIN_PRR: f64 = 1e-4;

/// A node index: 0 is the host, 1.. are devices.
pub type NodeId = usize;

/// The largest topology (nodes including the host) a config may build. The
/// link table is `n × n` and wire source ids are `u16` with 65 535 reserved
/// for the relay, so this must stay well below `u16::MAX`.
pub const MAX_NODES: usize = 4096;
const _: () = assert!(MAX_NODES < u16::MAX as usize);

/// Links with a PRR above this count as usable for connectivity checks and
/// hop distances.
pub const USABLE_PRR: f64 = 0.1;

/// Errors building or validating a topology.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TopologyError {
    /// Fewer than two nodes (a host and at least one device are needed).
    #[error("a topology needs the host and at least one device, got {0} node(s)")]
    TooSmall(usize),
    /// A PRR outside [0, 1] or not finite.
    #[error("link {from}→{to}: PRR {prr} is not in [0, 1]")]
    BadPrr {
        /// Transmitter.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// The offending value.
        prr: f64,
    },
    /// A link names a node that does not exist.
    #[error("link {from}→{to} names a node outside 0..{nodes}")]
    NoSuchNode {
        /// Transmitter.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// Number of nodes.
        nodes: usize,
    },
    /// Some nodes cannot reach node 0 or be reached from it over usable links.
    #[error(
        "topology is disconnected: node(s) {unreachable:?} cannot exchange packets with node 0 \
         over links with PRR > {USABLE_PRR}"
    )]
    Disconnected {
        /// The unreachable nodes, ascending.
        unreachable: Vec<NodeId>,
    },
    /// A generator parameter is out of range.
    #[error("{0}")]
    BadParameter(String),
}

/// A directed table of PRRs, `prr(from, to)`; the diagonal is 0.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkTable {
    n: usize,
    prr: Vec<f64>,
}

impl LinkTable {
    /// `n` nodes with no links.
    ///
    /// # Panics
    /// If `n > MAX_NODES` (configs are checked with [`LinkTable::try_new`]).
    pub fn new(n: usize) -> Self {
        match Self::try_new(n) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    /// `n` nodes with no links, or an error if `n > MAX_NODES`.
    pub fn try_new(n: usize) -> Result<Self, TopologyError> {
        check_nodes("nodes", n)?;
        Ok(Self {
            n,
            prr: vec![0.0; n * n],
        })
    }

    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.n
    }

    /// PRR of the directed link `from → to`.
    pub fn prr(&self, from: NodeId, to: NodeId) -> f64 {
        self.prr[from * self.n + to]
    }

    /// Sets the PRR of `from → to`.
    pub fn set(&mut self, from: NodeId, to: NodeId, prr: f64) {
        self.prr[from * self.n + to] = prr;
    }

    /// Sets both directions between `a` and `b`.
    pub fn set_symmetric(&mut self, a: NodeId, b: NodeId, prr: f64) {
        self.set(a, b, prr);
        self.set(b, a, prr);
    }

    /// Checks every PRR is in [0, 1] and the diagonal is 0.
    pub fn check(&self) -> Result<(), TopologyError> {
        for from in 0..self.n {
            for to in 0..self.n {
                let prr = self.prr(from, to);
                if !(0.0..=1.0).contains(&prr) || (from == to && prr != 0.0) {
                    return Err(TopologyError::BadPrr { from, to, prr });
                }
            }
        }
        Ok(())
    }
}

/// A node position in metres.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Position {
    /// x in metres.
    pub x: f64,
    /// y in metres.
    pub y: f64,
}

impl Position {
    /// Euclidean distance in metres.
    pub fn distance(self, other: Self) -> f64 {
        ((self.x - other.x).powi(2) + (self.y - other.y).powi(2)).sqrt()
    }
}

/// The SNR → PRR curve: a logistic `PRR = 1 / (1 + exp(−(SNR − snr50) / width))`.
///
/// This is an empirical fit of the "transitional region" shape measured for
/// low-power radios (Zuniga & Krishnamachari, SECON 2004), not a BER
/// derivation: PRR is 50 % at `snr50_db`, 10 %/90 % at `snr50 ∓ width·ln 9`
/// (±3.3 dB for the default width of 1.5 dB).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnrCurve {
    /// SNR (dB) at which half of the packets get through.
    pub snr50_db: f64,
    /// Logistic scale (dB).
    pub width_db: f64,
}

impl SnrCurve {
    /// The curve of a PHY, with the default noise floor of −100 dBm:
    /// `snr50 = sensitivity − noise floor`, sensitivities from the nRF52840
    /// Product Specification v1.7 §6.20.15: BLE 2M −92 dBm (8 dB), BLE 1M
    /// −95 dBm (5 dB), IEEE 802.15.4 −100 dBm (0 dB, DSSS spreading gain).
    pub const fn for_phy(kind: PhyKind) -> Self {
        let snr50_db = match kind {
            PhyKind::Ble2M => 8.0,
            PhyKind::Ble1M => 5.0,
            PhyKind::Ieee802154 => 0.0,
        };
        Self {
            snr50_db,
            width_db: 1.5,
        }
    }

    /// PRR at `snr_db`.
    pub fn prr(&self, snr_db: f64) -> f64 {
        1.0 / (1.0 + (-(snr_db - self.snr50_db) / self.width_db).exp())
    }
}

/// Log-distance path loss with log-normal shadowing:
/// `RSSI = P_tx − (PL₀ + 10·n·log₁₀(d / 1 m)) + X_σ`, `SNR = RSSI − noise`,
/// `PRR = curve(SNR)` (set to 0 below [`MIN_PRR`]). Distances below 1 m count as 1 m. `X_σ` is drawn once
/// per unordered node pair from `keyed_rng(seed, Topology, i, j)` (links are
/// reciprocal in the mean; both directions share the draw).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PathLoss {
    /// Path-loss exponent n (2 free space, ~3 indoor line of sight).
    pub exponent: f64,
    /// Loss at the 1 m reference distance, dB (40.05 dB = free space at 2.44 GHz).
    pub reference_loss_db: f64,
    /// Standard deviation of the shadowing term, dB.
    pub shadowing_sigma_db: f64,
    /// Transmit power, dBm (+8 dBm: nRF52840 maximum, RockNet's setting).
    pub tx_power_dbm: f64,
    /// Noise floor, dBm.
    pub noise_floor_dbm: f64,
    /// SNR → PRR curve.
    pub curve: SnrCurve,
}

impl Default for PathLoss {
    /// Indoor 2.4 GHz, BLE 2M at +8 dBm: n = 3, PL₀ = 40.05 dB, σ = 4 dB,
    /// noise −100 dBm. Mean PRR is 50 % at ≈ 100 m, 10 % at ≈ 129 m.
    fn default() -> Self {
        Self {
            exponent: 3.0,
            reference_loss_db: 40.05,
            shadowing_sigma_db: 4.0,
            tx_power_dbm: 8.0,
            noise_floor_dbm: -100.0,
            curve: SnrCurve::for_phy(PhyKind::Ble2M),
        }
    }
}

impl PathLoss {
    /// Mean SNR (no shadowing) at distance `d` metres.
    pub fn mean_snr_db(&self, d: f64) -> f64 {
        let pl = self.reference_loss_db + 10.0 * self.exponent * d.max(1.0).log10();
        self.tx_power_dbm - pl - self.noise_floor_dbm
    }

    /// Checks the parameters are finite and sensible.
    pub fn check(&self) -> Result<(), TopologyError> {
        let ok = self.exponent.is_finite()
            && self.exponent > 0.0
            && self.reference_loss_db.is_finite()
            && self.shadowing_sigma_db.is_finite()
            && self.shadowing_sigma_db >= 0.0
            && self.tx_power_dbm.is_finite()
            && self.noise_floor_dbm.is_finite()
            && self.curve.snr50_db.is_finite()
            && self.curve.width_db.is_finite()
            && self.curve.width_db > 0.0;
        if ok {
            Ok(())
        } else {
            Err(TopologyError::BadParameter(format!(
                "path loss parameters out of range: {self:?}"
            )))
        }
    }
}

/// A uniform f64 in [0, 1) from 53 random bits.
pub(crate) fn unit_f64<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A standard normal deviate (Box–Muller; written out so the values never
/// change with a dependency's version).
fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1 = 1.0 - unit_f64(rng); // (0, 1]
    let u2 = unit_f64(rng);
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Node 0 (host) plus devices, and the directed PRR of every link.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    links: LinkTable,
    positions: Option<Vec<Position>>,
}

/// The seed of [`Topology::testbed20`]'s shadowing draws (fixed, so the
/// layout never changes with the experiment seed).
pub const TESTBED20_SEED: u64 = 20;

impl Topology {
    /// A topology from an explicit link table.
    pub fn from_links(links: LinkTable) -> Self {
        Self {
            links,
            positions: None,
        }
    }

    /// A topology from positions and a path-loss model; `seed` keys the
    /// shadowing draws.
    pub fn from_positions(positions: Vec<Position>, path_loss: &PathLoss, seed: u64) -> Self {
        let n = positions.len();
        let mut links = LinkTable::new(n);
        for i in 0..n {
            for j in i + 1..n {
                let shadow = if path_loss.shadowing_sigma_db > 0.0 {
                    let mut rng = keyed_rng(seed, Purpose::Topology, i as u64, j as u64);
                    path_loss.shadowing_sigma_db * standard_normal(&mut rng)
                } else {
                    0.0
                };
                let snr = path_loss.mean_snr_db(positions[i].distance(positions[j])) + shadow;
                let prr = path_loss.curve.prr(snr);
                links.set_symmetric(i, j, if prr < MIN_PRR { 0.0 } else { prr });
            }
        }
        Self {
            links,
            positions: Some(positions),
        }
    }

    /// A chain 0 — 1 — … — `devices`, every hop with PRR `prr` both ways.
    pub fn line(devices: usize, prr: f64) -> Self {
        let mut links = LinkTable::new(devices + 1);
        for i in 0..devices {
            links.set_symmetric(i, i + 1, prr);
        }
        Self::from_links(links)
    }

    /// `width × height` nodes on a square grid `spacing` metres apart (node 0,
    /// the host, at the corner (0, 0); row-major), default [`PathLoss`].
    pub fn grid(width: usize, height: usize, spacing: f64, seed: u64) -> Self {
        let positions = (0..height)
            .flat_map(|r| {
                (0..width).map(move |c| Position {
                    x: c as f64 * spacing,
                    y: r as f64 * spacing,
                })
            })
            .collect();
        Self::from_positions(positions, &PathLoss::default(), seed)
    }

    /// The host at the centre of an `area × area` metre square and `devices`
    /// devices uniformly in it (positions from `keyed_rng(seed, Topology,
    /// u64::MAX, 0)`), default [`PathLoss`]. May be disconnected: validate.
    pub fn random_geometric(devices: usize, area: f64, seed: u64) -> Self {
        let mut rng = keyed_rng(seed, Purpose::Topology, u64::MAX, 0);
        let mut positions = vec![Position {
            x: area / 2.0,
            y: area / 2.0,
        }];
        for _ in 0..devices {
            let x = unit_f64(&mut rng) * area;
            let y = unit_f64(&mut rng) * area;
            positions.push(Position { x, y });
        }
        Self::from_positions(positions, &PathLoss::default(), seed)
    }

    /// The positions of [`Topology::testbed20`]: an office wing 140 m × 30 m;
    /// the host at (0, 15); devices 1–10 along the south corridor at
    /// y = 5 m, x = 10, 24, …, 136 m; devices 11–20 along the north corridor at
    /// y = 25 m, x = 17, 31, …, 143 m.
    pub fn testbed20_positions() -> Vec<Position> {
        let mut p = vec![Position { x: 0.0, y: 15.0 }];
        for k in 0..10 {
            p.push(Position {
                x: 10.0 + 14.0 * k as f64,
                y: 5.0,
            });
        }
        for k in 0..10 {
            p.push(Position {
                x: 17.0 + 14.0 * k as f64,
                y: 25.0,
            });
        }
        p
    }

    /// A fixed 20-device + host layout ([`Topology::testbed20_positions`])
    /// under an indoor path-loss model with walls (n = 3.5, otherwise
    /// [`PathLoss::default`]; mean PRR 50 % at ≈ 52 m) and shadowing keyed
    /// by [`TESTBED20_SEED`]. Its diameter over usable links is ≥ 3 hops.
    pub fn testbed20() -> Self {
        Self::from_positions(
            Self::testbed20_positions(),
            &Self::testbed20_path_loss(),
            TESTBED20_SEED,
        )
    }

    /// The path-loss model of [`Topology::testbed20`].
    pub fn testbed20_path_loss() -> PathLoss {
        PathLoss {
            exponent: 3.5,
            ..PathLoss::default()
        }
    }

    /// Number of nodes including the host.
    pub fn nodes(&self) -> usize {
        self.links.nodes()
    }

    /// Number of devices (nodes minus the host).
    pub fn devices(&self) -> usize {
        self.links.nodes().saturating_sub(1)
    }

    /// The link table.
    pub fn links(&self) -> &LinkTable {
        &self.links
    }

    /// Positions, if the topology was built from them.
    pub fn positions(&self) -> Option<&[Position]> {
        self.positions.as_deref()
    }

    /// Hop distances from `from` over usable links (PRR > [`USABLE_PRR`]),
    /// `None` for unreachable nodes.
    pub fn hop_distances(&self, from: NodeId) -> Vec<Option<u32>> {
        bfs(self.nodes(), from, |a, b| self.links.prr(a, b) > USABLE_PRR)
    }

    /// The largest hop distance between any two nodes over usable links, or
    /// `None` if some pair is disconnected.
    pub fn diameter(&self) -> Option<u32> {
        let mut d = 0;
        for s in 0..self.nodes() {
            for h in self.hop_distances(s) {
                d = d.max(h?);
            }
        }
        Some(d)
    }

    /// Checks the table (PRRs in [0, 1], ≥ 2 nodes) and that every node can
    /// both reach and be reached from node 0 over usable links.
    pub fn validate(&self) -> Result<(), TopologyError> {
        let n = self.nodes();
        if n < 2 {
            return Err(TopologyError::TooSmall(n));
        }
        self.links.check()?;
        let fwd = self.hop_distances(0);
        let back = bfs(n, 0, |a, b| self.links.prr(b, a) > USABLE_PRR);
        let unreachable: Vec<NodeId> = (0..n)
            .filter(|&i| fwd[i].is_none() || back[i].is_none())
            .collect();
        if unreachable.is_empty() {
            Ok(())
        } else {
            Err(TopologyError::Disconnected { unreachable })
        }
    }
}

/// Rejects a node count above [`MAX_NODES`], naming `field`.
fn check_nodes(field: &str, n: usize) -> Result<(), TopologyError> {
    if n > MAX_NODES {
        Err(TopologyError::BadParameter(format!(
            "{field}: {n} nodes exceed the maximum of {MAX_NODES}"
        )))
    } else {
        Ok(())
    }
}

/// Node count (host included) of `devices` devices, checked against
/// [`MAX_NODES`].
fn device_nodes(field: &str, devices: usize) -> Result<usize, TopologyError> {
    let n = devices.checked_add(1).ok_or_else(|| {
        TopologyError::BadParameter(format!("{field}: {devices} devices is too many"))
    })?;
    check_nodes(field, n)?;
    Ok(n)
}

fn bfs(n: usize, from: NodeId, edge: impl Fn(NodeId, NodeId) -> bool) -> Vec<Option<u32>> {
    let mut dist = vec![None; n];
    dist[from] = Some(0);
    let mut queue = VecDeque::from([from]);
    while let Some(a) = queue.pop_front() {
        let da = dist[a].unwrap_or(0);
        for (b, d) in dist.iter_mut().enumerate() {
            if d.is_none() && edge(a, b) {
                *d = Some(da + 1);
                queue.push_back(b);
            }
        }
    }
    dist
}

/// One directed (or, with `symmetric`, bidirectional) entry of an explicit
/// link table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkEntry {
    /// Transmitter.
    pub from: NodeId,
    /// Receiver.
    pub to: NodeId,
    /// Packet reception ratio in [0, 1].
    pub prr: f64,
    /// Also set `to → from` (default true).
    #[serde(default = "yes")]
    pub symmetric: bool,
}

fn yes() -> bool {
    true
}

/// The `[topology]` section of the config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TopologyConfig {
    /// [`Topology::line`].
    Line {
        /// Devices (hops).
        devices: usize,
        /// PRR of every hop.
        prr: f64,
    },
    /// [`Topology::grid`].
    Grid {
        /// Columns.
        width: usize,
        /// Rows.
        height: usize,
        /// Spacing, metres.
        spacing_m: f64,
    },
    /// [`Topology::random_geometric`]; `seed` defaults to the experiment seed.
    Random {
        /// Devices.
        devices: usize,
        /// Side of the square area, metres.
        area_m: f64,
        /// Layout seed.
        #[serde(default)]
        seed: Option<u64>,
    },
    /// [`Topology::testbed20`].
    Testbed20 {},
    /// [`Topology::from_positions`]; node 0 first.
    Positions {
        /// Node positions, host first.
        positions: Vec<Position>,
        /// Path-loss model (defaults: [`PathLoss::default`]).
        #[serde(default)]
        path_loss: PathLoss,
        /// Shadowing seed; defaults to the experiment seed.
        #[serde(default)]
        seed: Option<u64>,
    },
    /// An explicit link table; unlisted links have PRR 0.
    Links {
        /// Number of nodes including the host.
        nodes: usize,
        /// The links.
        links: Vec<LinkEntry>,
    },
}

impl TopologyConfig {
    /// Builds and validates the topology; `seed` is the experiment seed,
    /// used where the section gives none.
    pub fn build(&self, seed: u64) -> Result<Topology, TopologyError> {
        let bad = |m: &str| Err(TopologyError::BadParameter(m.to_owned()));
        let topo = match self {
            Self::Line { devices, prr } => {
                if *devices == 0 {
                    return bad("line: devices must be ≥ 1");
                }
                device_nodes("line: devices", *devices)?;
                Topology::line(*devices, *prr)
            }
            Self::Grid {
                width,
                height,
                spacing_m,
            } => {
                if !(spacing_m.is_finite() && *spacing_m > 0.0) {
                    return bad("grid: spacing_m must be > 0");
                }
                let n = width.checked_mul(*height).ok_or_else(|| {
                    TopologyError::BadParameter(format!(
                        "grid: width × height ({width} × {height}) overflows"
                    ))
                })?;
                check_nodes("grid: width × height", n)?;
                Topology::grid(*width, *height, *spacing_m, seed)
            }
            Self::Random {
                devices,
                area_m,
                seed: s,
            } => {
                if !(area_m.is_finite() && *area_m > 0.0) {
                    return bad("random: area_m must be > 0");
                }
                device_nodes("random: devices", *devices)?;
                Topology::random_geometric(*devices, *area_m, s.unwrap_or(seed))
            }
            Self::Testbed20 {} => Topology::testbed20(),
            Self::Positions {
                positions,
                path_loss,
                seed: s,
            } => {
                path_loss.check()?;
                check_nodes("positions", positions.len())?;
                if positions
                    .iter()
                    .any(|p| !(p.x.is_finite() && p.y.is_finite()))
                {
                    return bad("positions: coordinates must be finite");
                }
                Topology::from_positions(positions.clone(), path_loss, s.unwrap_or(seed))
            }
            Self::Links { nodes, links } => {
                check_nodes("links: nodes", *nodes)?;
                let mut t = LinkTable::try_new(*nodes)?;
                for l in links {
                    if l.from >= *nodes || l.to >= *nodes {
                        return Err(TopologyError::NoSuchNode {
                            from: l.from,
                            to: l.to,
                            nodes: *nodes,
                        });
                    }
                    if !(0.0..=1.0).contains(&l.prr) || l.from == l.to {
                        return Err(TopologyError::BadPrr {
                            from: l.from,
                            to: l.to,
                            prr: l.prr,
                        });
                    }
                    t.set(l.from, l.to, l.prr);
                    if l.symmetric {
                        t.set(l.to, l.from, l.prr);
                    }
                }
                Topology::from_links(t)
            }
        };
        topo.validate()?;
        Ok(topo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disconnected_topology_is_rejected_naming_nodes() {
        // 0—1—2 connected, 3—4 an island, 5 only hears (no way back).
        let mut t = LinkTable::new(6);
        t.set_symmetric(0, 1, 0.9);
        t.set_symmetric(1, 2, 0.9);
        t.set_symmetric(3, 4, 0.9);
        t.set(2, 5, 0.9);
        t.set(5, 2, 0.05); // below USABLE_PRR
        let err = Topology::from_links(t).validate().unwrap_err();
        assert_eq!(
            err,
            TopologyError::Disconnected {
                unreachable: vec![3, 4, 5]
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("[3, 4, 5]"), "{msg}");
    }

    #[test]
    fn testbed20_is_connected_with_diameter_at_least_3() {
        let t = Topology::testbed20();
        assert_eq!(t.nodes(), 21);
        t.validate().unwrap();
        let d = t.diameter().unwrap();
        let host_ecc = t.hop_distances(0).into_iter().flatten().max().unwrap();
        eprintln!("testbed20: diameter {d}, host eccentricity {host_ecc}");
        assert!(d >= 3, "diameter {d}");
    }

    #[test]
    fn line_hops_and_path_loss_curve() {
        let t = Topology::line(5, 1.0);
        assert_eq!(t.hop_distances(0), (0..=5).map(Some).collect::<Vec<_>>());
        assert_eq!(t.diameter(), Some(5));
        let pl = PathLoss::default();
        // SNR(1 m) = 8 − 40.05 + 100 = 67.95 dB.
        assert!((pl.mean_snr_db(1.0) - 67.95).abs() < 1e-9);
        // 10·3·log10(100) = 60 dB more at 100 m: SNR 7.95 ≈ snr50 → PRR ≈ 0.5.
        assert!((pl.curve.prr(pl.mean_snr_db(100.0)) - 0.5).abs() < 0.01);
        let c = SnrCurve::for_phy(PhyKind::Ble2M);
        assert!((c.prr(8.0 + 1.5 * 9f64.ln()) - 0.9).abs() < 1e-12);
    }

    #[test]
    fn generators_and_config() {
        let g = Topology::grid(4, 4, 30.0, 1);
        assert_eq!(g.nodes(), 16);
        g.validate().unwrap();
        let r = Topology::random_geometric(30, 150.0, 3);
        assert_eq!(r.nodes(), 31);
        assert_eq!(r, Topology::random_geometric(30, 150.0, 3));
        let cfg: TopologyConfig =
            toml::from_str("kind = \"line\"\ndevices = 3\nprr = 0.8").unwrap();
        assert_eq!(cfg.build(0).unwrap(), Topology::line(3, 0.8));
        let cfg: TopologyConfig =
            toml::from_str("kind = \"links\"\nnodes = 3\nlinks = [{from = 0, to = 1, prr = 1.0}]")
                .unwrap();
        assert_eq!(
            cfg.build(0).unwrap_err(),
            TopologyError::Disconnected {
                unreachable: vec![2]
            }
        );
        assert!(toml::from_str::<TopologyConfig>("kind = \"testbed20\"\nextra = 1").is_err());
    }

    #[test]
    fn huge_node_counts_are_rejected_fast_naming_the_field() {
        let start = std::time::Instant::now();
        let cases: [(TopologyConfig, &str); 6] = [
            (
                TopologyConfig::Line {
                    devices: usize::MAX,
                    prr: 0.9,
                },
                "line: devices",
            ),
            (
                TopologyConfig::Line {
                    devices: MAX_NODES,
                    prr: 0.9,
                },
                "line: devices",
            ),
            (
                TopologyConfig::Links {
                    nodes: 1 << 32,
                    links: vec![],
                },
                "links: nodes",
            ),
            (
                TopologyConfig::Grid {
                    width: 1 << 32,
                    height: 1 << 32,
                    spacing_m: 1.0,
                },
                "grid: width × height",
            ),
            (
                TopologyConfig::Grid {
                    width: 65,
                    height: 64,
                    spacing_m: 1.0,
                },
                "grid: width × height",
            ),
            (
                TopologyConfig::Random {
                    devices: usize::MAX,
                    area_m: 10.0,
                    seed: None,
                },
                "random: devices",
            ),
        ];
        for (cfg, field) in cases {
            let err = cfg.build(0).unwrap_err().to_string();
            assert!(err.contains(field), "{cfg:?}: {err}");
        }
        assert!(LinkTable::try_new(MAX_NODES + 1).is_err());
        // From TOML too (u64::MAX devices).
        let cfg: TopologyConfig =
            toml::from_str("kind = \"line\"\ndevices = 18446744073709551615\nprr = 0.9").unwrap();
        assert!(
            cfg.build(0)
                .unwrap_err()
                .to_string()
                .contains("line: devices")
        );
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }
}
