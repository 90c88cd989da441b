//! The PACOM network of the paper's Fig. 11 as real `pacom run` processes,
//! one per lab namespace: P1–P5 share one PACOM swarm and P4–P8 another
//! (static `[[swarm]]` entries, so every member links to every other), and
//! every host pair is delayed by a one-way delay uniform in [1, 100] ms on
//! the switch. Circuits are built by the nodes' own flooded handshakes
//! between the end points of Table 4, so the relays are whichever the
//! nodes' path choice (fewest-hop copies, then chance) took; the run
//! reads the actual paths back from the nodes' circuit tables (`status`:
//! sessions and relay records) and scores the attacker against those.
//! Traffic: each source sends one message per instant of its schedule
//! through the node's control socket.
//! The observer is the switch's frame log, as for the mix network, with
//! one refinement a wire tap has for free: TCP ports tell apart the two
//! connections P4 and P5 keep (one per shared swarm), so every observed
//! link is one PACOM link.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pacom_core::analysis::{Flow, Packet};
use pacom_lab::{FrameRecord, Lab, Topology};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::Value;

use super::error::LabCmdError;
use super::mixnet::bursty_schedule;
use super::network::{Hop, Link, Observation, RunPlan};
use crate::control::{Client, Request, Response};

/// Fig. 11: the two PACOM swarms.
pub const SWARMS: [&[&str]; 2] = [
    &["p1", "p2", "p3", "p4", "p5"],
    &["p4", "p5", "p6", "p7", "p8"],
];

/// Table 4: source, three relays, target. Only the end points are given to
/// the nodes; the relays in the middle are the paper's.
pub const CIRCUITS: [[&str; 5]; 8] = [
    ["p2", "p1", "p5", "p6", "p7"],
    ["p2", "p3", "p4", "p8", "p6"],
    ["p3", "p2", "p4", "p7", "p8"],
    ["p3", "p1", "p5", "p8", "p7"],
    ["p1", "p3", "p5", "p6", "p8"],
    ["p1", "p2", "p4", "p7", "p6"],
    ["p4", "p7", "p6", "p8", "p5"],
    ["p5", "p3", "p4", "p1", "p2"],
];

/// BitTorrent port of every node.
const PORT: u16 = 6881;
/// PACOM files large enough that no link runs out of blocks in a run.
const FILE_SIZE: u64 = 1 << 30;
/// Frames this long or longer carry block data; shorter ones are ACKs and
/// request/HAVE messages, which the attacker leaves out.
const MIN_DATA_FRAME: u32 = 400;
/// Attempts at the first message of each circuit.
const WARMUP_TRIES: usize = 5;
/// Text of one scheduled message in the attacks (a cell's worth, like the
/// mix sources).
pub const MESSAGE_BYTES: usize = 480;

/// The hosts with their one-way delays, uniform in [1, 100] ms, drawn
/// from `seed`.
pub fn topology(seed: u64) -> Topology {
    let names = hosts();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    Topology::full_mesh(&refs, 79, 1.0, 100.0, seed)
}

pub fn hosts() -> Vec<String> {
    (1..=8).map(|i| format!("p{i}")).collect()
}

/// Node processes: each in its own process group, killed as a group (and
/// reaped) on drop, also on an early return.
struct Nodes(Vec<Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", c.id())])
                .stderr(Stdio::null())
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn failed(what: impl std::fmt::Display) -> LabCmdError {
    LabCmdError::Failed(what.to_string())
}

/// What a run of the PACOM network produced beyond the observation.
#[derive(Clone, Debug, Default)]
pub struct NodeTraffic {
    pub host: String,
    pub data_frames_sent: u64,
    pub cover_frames_sent: u64,
}

/// Runs Table 4 (or one of its circuits) and observes every link.
pub fn run(plan: &RunPlan) -> Result<Observation, LabCmdError> {
    let active: Vec<usize> = match plan.only {
        Some(i) if (1..=CIRCUITS.len()).contains(&i) => vec![i - 1],
        Some(i) => return Err(LabCmdError::Param(format!("no circuit {i} in Table 4"))),
        None => (0..CIRCUITS.len()).collect(),
    };
    let pairs: Vec<(String, String)> = active
        .iter()
        .map(|&i| (CIRCUITS[i][0].to_string(), CIRCUITS[i][4].to_string()))
        .collect();
    let (mut obs, _) = run_pairs(plan, &pairs)?;
    obs.circuit_ids = active.iter().map(|i| i + 1).collect();
    for h in &mut obs.hops {
        h.circuit = obs.circuit_ids[h.circuit - 1];
    }
    Ok(obs)
}

/// Brings the Fig. 11 network up, builds a circuit from each pair's source
/// to its target, drives the plan's schedules through them and returns the
/// observation and each node's data/cover frame counts over the run. The
/// lab (namespaces, switch, node processes, data directories) is gone when
/// this returns, whether it succeeded or not.
pub fn run_pairs(
    plan: &RunPlan,
    pairs: &[(String, String)],
) -> Result<(Observation, Vec<NodeTraffic>), LabCmdError> {
    if !(plan.link_rate.is_finite() && plan.link_rate > 0.0) {
        return Err(LabCmdError::Param("--link-rate must be > 0".into()));
    }
    if !(0.0..=1.0).contains(&plan.walk_p0) {
        return Err(LabCmdError::Param("--walk-p0 must be in [0, 1]".into()));
    }
    let mut rng = ChaCha20Rng::seed_from_u64(plan.seed);
    let schedules = match &plan.schedules {
        Some(s) if s.len() == pairs.len() => s.clone(),
        Some(s) => {
            return Err(LabCmdError::Param(format!(
                "{} schedules for {} circuits",
                s.len(),
                pairs.len()
            )))
        }
        None => (0..pairs.len())
            .map(|_| bursty_schedule(&mut rng, plan.seconds))
            .collect(),
    };
    let topology = topology(plan.seed);
    let lab = Lab::up(&topology)?;
    let exe = std::env::current_exe().map_err(|e| failed(format!("locating pacom: {e}")))?;
    let tmp = TempDir(std::env::temp_dir().join(format!("pacom-lab-pacom-{}", std::process::id())));
    std::fs::create_dir_all(&tmp.0).map_err(|source| LabCmdError::File {
        path: tmp.0.clone(),
        source,
    })?;
    let mut nodes = Nodes(Vec::new());
    let dirs = start_nodes(&lab, &exe, &tmp.0, plan, &mut nodes)?;
    wait_links(&dirs, &nodes)?;
    let contacts: BTreeMap<String, String> = dirs
        .iter()
        .map(|(h, d)| Ok((h.clone(), str_field(&status(d)?, "contact")?)))
        .collect::<Result<_, LabCmdError>>()?;
    // One delivered message per pair builds its circuit before we watch.
    std::thread::scope(|s| {
        let handles: Vec<_> = pairs
            .iter()
            .map(|(src, dst)| {
                let (d, to) = (&dirs[src], &contacts[dst]);
                // A random walk may miss the target: the node gives up
                // after its retries, and the next message starts afresh.
                s.spawn(move || {
                    let mut last = Ok(());
                    for _ in 0..WARMUP_TRIES {
                        last = send(d, to, "hello", true);
                        if last.is_ok() {
                            break;
                        }
                    }
                    last
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(failed("sender panicked"))))
            .collect::<Result<Vec<()>, _>>()
    })?;
    let snaps = snapshot(&dirs)?;
    let wiring = Wiring::new(&lab, &snaps)?;
    let before = paths(&wiring, &snaps, pairs);
    let counts_before = traffic(&dirs)?;
    let log = lab.frame_log();
    log.start();
    let t0 = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = pairs
            .iter()
            .zip(&schedules)
            .map(|((src, dst), times)| {
                let (d, to) = (&dirs[src], &contacts[dst]);
                s.spawn(move || drive(d, to, times, t0, plan.message_bytes))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(failed("sender panicked"))))
            .collect::<Result<Vec<()>, _>>()
    })?;
    let rest = Duration::from_secs_f64(plan.seconds + 1.0).saturating_sub(t0.elapsed());
    std::thread::sleep(rest);
    let records = log.take();
    let counts_after = traffic(&dirs)?;
    let after = paths(&wiring, &snapshot(&dirs)?, pairs);
    let node_traffic = counts_after
        .into_iter()
        .zip(counts_before)
        .map(|(a, b)| NodeTraffic {
            host: a.host,
            data_frames_sent: a.data_frames_sent - b.data_frames_sent,
            cover_frames_sent: a.cover_frames_sent - b.cover_frames_sent,
        })
        .collect();
    // A circuit rebuilt during the run has no single path: leave it out.
    let stable: Vec<Option<CircuitPath>> = before
        .into_iter()
        .zip(after)
        .map(|(b, a)| if a.is_some() && a == b { b } else { None })
        .collect();
    drop(nodes);
    let obs = observation(&lab, &wiring, &records, plan.seconds, &stable)?;
    Ok((obs, node_traffic))
}

fn start_nodes(
    lab: &Lab,
    exe: &Path,
    tmp: &Path,
    plan: &RunPlan,
    nodes: &mut Nodes,
) -> Result<BTreeMap<String, PathBuf>, LabCmdError> {
    use std::os::unix::process::CommandExt;
    let seeds: Vec<String> = (0..SWARMS.len())
        .map(|i| {
            let mut s = [0u8; 32];
            s[..8].copy_from_slice(&plan.seed.to_be_bytes());
            s[8] = i as u8 + 1;
            hex::encode(s)
        })
        .collect();
    let mut dirs = BTreeMap::new();
    for host in hosts() {
        let dir = tmp.join(&host);
        let listen = format!("{}:{PORT}", lab.addr(&host)?);
        let out = Command::new(exe)
            .arg("--data-dir")
            .arg(&dir)
            .args(["init", "--mode", "public", "--listen", &listen])
            .args(["--link-rate", &plan.link_rate.to_string()])
            .args(["--p0", &plan.walk_p0.to_string()])
            .args(["--handshake-window", &plan.handshake_window.to_string()])
            .args(["--circuits", "1", "--handshake-timeout", "5"])
            .env_remove("PACOM_DATA_DIR")
            .output()
            .map_err(|e| failed(format!("pacom init on {host}: {e}")))?;
        if !out.status.success() {
            return Err(failed(format!(
                "pacom init on {host}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let mut extra = String::new();
        for (swarm, members) in SWARMS.iter().enumerate() {
            let Some(me) = members.iter().position(|m| *m == host) else {
                continue;
            };
            // Each pair is dialled once: by the member listed later.
            let peers: Vec<String> = members[..me]
                .iter()
                .map(|m| Ok(format!("\"{}:{PORT}\"", lab.addr(m)?)))
                .collect::<Result<_, LabCmdError>>()?;
            extra.push_str(&format!(
                "\n[[swarm]]\nseed = \"{}\"\nsize = {FILE_SIZE}\npeers = [{}]\ninitial_fraction = 0.5\n",
                seeds[swarm],
                peers.join(", ")
            ));
        }
        let cfg = dir.join("config.toml");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&cfg)
            .and_then(|mut f| f.write_all(extra.as_bytes()))
            .map_err(|source| LabCmdError::File {
                path: cfg.clone(),
                source,
            })?;
        let log =
            std::fs::File::create(dir.join("run.log")).map_err(|source| LabCmdError::File {
                path: dir.join("run.log"),
                source,
            })?;
        let mut cmd = lab.command(&host, &exe.to_string_lossy())?;
        cmd.arg("--data-dir")
            .arg(&dir)
            .arg("run")
            .env("RUST_LOG", "warn")
            .env_remove("PACOM_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .process_group(0);
        nodes.0.push(
            cmd.spawn()
                .map_err(|e| failed(format!("starting the node on {host}: {e}")))?,
        );
        // Nodes dial their static peers once, at start: the earlier members
        // must be answering before the next node comes up.
        let deadline = Instant::now() + Duration::from_secs(60);
        while status(&dir).is_err() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(dir.join("run.log")).unwrap_or_default();
                return Err(failed(format!("the node on {host} did not start: {log}")));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        dirs.insert(host, dir);
    }
    Ok(dirs)
}

/// The node's snapshot (`pacom status --json`) over its control socket.
fn status(dir: &Path) -> Result<Value, LabCmdError> {
    let socket = dir.join("control.sock");
    let mut c = Client::connect(&socket).map_err(|e| failed(format!("{e:#}")))?;
    c.request(&Request::Status)
        .map_err(|e| failed(format!("{e:#}")))?;
    match c.next().map_err(|e| failed(format!("{e:#}")))? {
        Some(Response::Status { status }) => Ok(status),
        other => Err(failed(format!("status of {}: {other:?}", dir.display()))),
    }
}

fn str_field(v: &Value, key: &str) -> Result<String, LabCmdError> {
    v[key]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| failed(format!("status has no {key}")))
}

/// Hands one message to the node; with `wait`, until it is delivered.
fn send(dir: &Path, to: &str, text: &str, wait: bool) -> Result<(), LabCmdError> {
    let mut c = Client::connect(&dir.join("control.sock")).map_err(|e| failed(format!("{e:#}")))?;
    c.request(&Request::Send {
        to: to.to_string(),
        text: Some(text.to_string()),
        file: None,
        wait,
    })
    .map_err(|e| failed(format!("{e:#}")))?;
    loop {
        match c.next().map_err(|e| failed(format!("{e:#}")))? {
            Some(Response::Queued { .. }) if !wait => return Ok(()),
            Some(Response::Delivered) => return Ok(()),
            Some(Response::Failed { reason } | Response::Error { message: reason }) => {
                return Err(failed(format!("sending from {}: {reason}", dir.display())))
            }
            Some(_) => {}
            None => return Err(failed("the node closed the control connection")),
        }
    }
}

/// Sends a message at each schedule instant (seconds after `t0`); instants
/// that are already past when the previous send returns go out together,
/// as one longer message.
fn drive(
    dir: &Path,
    to: &str,
    times: &[f64],
    t0: Instant,
    bytes: usize,
) -> Result<(), LabCmdError> {
    let mut i = 0;
    while i < times.len() {
        let due = Duration::from_secs_f64(times[i]);
        if let Some(wait) = due.checked_sub(t0.elapsed()) {
            std::thread::sleep(wait);
        }
        let now = t0.elapsed().as_secs_f64();
        let n = times[i..].iter().take_while(|&&t| t <= now).count().max(1);
        send(dir, to, &"x".repeat(bytes * n), false)?;
        i += n;
    }
    Ok(())
}

/// Waits until every node has a link to each member of its swarms.
fn wait_links(dirs: &BTreeMap<String, PathBuf>, nodes: &Nodes) -> Result<(), LabCmdError> {
    let deadline = Instant::now() + Duration::from_secs(90);
    for (host, dir) in dirs {
        let want = SWARMS
            .iter()
            .filter(|s| s.contains(&host.as_str()))
            .map(|s| s.len() - 1)
            .sum::<usize>();
        loop {
            let have = status(dir)
                .ok()
                .and_then(|s| s["neighbours"].as_array().map(Vec::len))
                .unwrap_or(0);
            if have >= want {
                break;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(dir.join("run.log")).unwrap_or_default();
                let tail: String = log.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
                return Err(failed(format!(
                    "{host} has {have} of {want} links after 90 s ({} nodes running; log: {tail})",
                    nodes.0.len()
                )));
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    Ok(())
}

/// Each node's data and cover frames sent so far.
fn traffic(dirs: &BTreeMap<String, PathBuf>) -> Result<Vec<NodeTraffic>, LabCmdError> {
    dirs.iter()
        .map(|(host, dir)| {
            let s = status(dir)?;
            let sum = |k: &str| {
                s["neighbours"]
                    .as_array()
                    .map(|ns| ns.iter().filter_map(|n| n[k].as_u64()).sum())
                    .unwrap_or(0)
            };
            Ok(NodeTraffic {
                host: host.clone(),
                data_frames_sent: sum("data_frames_sent"),
                cover_frames_sent: sum("cover_frames_sent"),
            })
        })
        .collect()
}

/// Every node's status.
fn snapshot(dirs: &BTreeMap<String, PathBuf>) -> Result<BTreeMap<String, Value>, LabCmdError> {
    dirs.iter()
        .map(|(h, d)| Ok((h.clone(), status(d)?)))
        .collect()
}

/// Letter of a swarm, by its members.
fn swarm_letter(i: usize) -> char {
    (b'A' + i as u8) as char
}

/// One TCP connection between two nodes, as the wire shows it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Conn {
    dialer: String,
    listener: String,
    /// The dialer's (ephemeral) port; the listener's is [`PORT`].
    port: u16,
    swarm: char,
}

/// Reads hosts, swarms and connections out of the nodes' snapshots.
struct Wiring {
    by_ip: BTreeMap<IpAddr, String>,
    /// Info hash (hex) of each swarm letter.
    swarm_of_hash: BTreeMap<String, char>,
    conns: Vec<Conn>,
}

impl Wiring {
    fn new(lab: &Lab, snaps: &BTreeMap<String, Value>) -> Result<Wiring, LabCmdError> {
        let mut by_ip = BTreeMap::new();
        for h in hosts() {
            by_ip.insert(IpAddr::V4(lab.addr(&h)?), h);
        }
        // A node of one swarm only names that swarm's info hash.
        let mut swarm_of_hash = BTreeMap::new();
        for (i, members) in SWARMS.iter().enumerate() {
            let only = members
                .iter()
                .find(|m| SWARMS.iter().filter(|s| s.contains(m)).count() == 1)
                .ok_or_else(|| failed("a swarm without a member of its own"))?;
            let hash = snaps[*only]["swarms"][0]["info_hash"]
                .as_str()
                .ok_or_else(|| failed(format!("{only} reports no swarm")))?;
            swarm_of_hash.insert(hash.to_string(), swarm_letter(i));
        }
        let mut w = Wiring {
            by_ip,
            swarm_of_hash,
            conns: Vec::new(),
        };
        // Incoming connections show the dialer's ephemeral port.
        for (node, snap) in snaps {
            for n in snap["neighbours"].as_array().into_iter().flatten() {
                let Some((host, addr, swarm)) = w.neighbour(n) else {
                    continue;
                };
                if addr.port() != PORT {
                    w.conns.push(Conn {
                        dialer: host,
                        listener: node.clone(),
                        port: addr.port(),
                        swarm,
                    });
                }
            }
        }
        w.conns.sort();
        Ok(w)
    }

    fn neighbour(&self, n: &Value) -> Option<(String, std::net::SocketAddr, char)> {
        let addr: std::net::SocketAddr = n["addr"].as_str()?.parse().ok()?;
        let host = self.by_ip.get(&addr.ip())?.clone();
        let swarm = *self.swarm_of_hash.get(n["swarm"].as_str()?)?;
        Some((host, addr, swarm))
    }

    /// Host and swarm of neighbour `id` of `node`.
    fn hop(&self, snaps: &BTreeMap<String, Value>, node: &str, id: u64) -> Option<(String, char)> {
        let n = snaps[node]["neighbours"]
            .as_array()?
            .iter()
            .find(|n| n["id"].as_u64() == Some(id))?;
        self.neighbour(n).map(|(h, _, s)| (h, s))
    }
}

/// A circuit as the nodes' tables show it: hosts, and the swarm of each
/// link between consecutive hosts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CircuitPath {
    pub hosts: Vec<String>,
    pub swarms: Vec<char>,
}

/// The path of each pair's circuit, followed through the relay records of
/// the nodes; `None` where a pair has no single live circuit.
fn paths(
    wiring: &Wiring,
    snaps: &BTreeMap<String, Value>,
    pairs: &[(String, String)],
) -> Vec<Option<CircuitPath>> {
    let mut out = Vec::new();
    for (src, dst) in pairs {
        let fp = snaps[dst]["fingerprint"].as_str().unwrap_or_default();
        let circuits: Vec<(String, u64)> = snaps[src]["sessions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["peer"].as_str() == Some(fp))
            .flat_map(|s| s["circuits"].as_array().cloned().unwrap_or_default())
            .filter_map(|c| Some((c["h_id"].as_str()?.to_string(), c["neighbour"].as_u64()?)))
            .collect();
        let path = match circuits.as_slice() {
            [(h_id, first)] => follow(wiring, snaps, src, dst, h_id, *first),
            _ => None,
        };
        out.push(path);
    }
    out
}

fn follow(
    wiring: &Wiring,
    snaps: &BTreeMap<String, Value>,
    src: &str,
    dst: &str,
    h_id: &str,
    first: u64,
) -> Option<CircuitPath> {
    let (next, swarm) = wiring.hop(snaps, src, first)?;
    let mut p = CircuitPath {
        hosts: vec![src.to_string(), next],
        swarms: vec![swarm],
    };
    while p.hosts.last().map(String::as_str) != Some(dst) {
        if p.hosts.len() > hosts().len() {
            return None;
        }
        let cur = p.hosts.last()?.clone();
        let rec = snaps[&cur]["relays"]
            .as_array()?
            .iter()
            .find(|r| r["h_id"].as_str() == Some(h_id))?;
        // Records keep the handshake's direction: `from` is towards the source.
        let prev = wiring.hop(snaps, &cur, rec["from"].as_u64()?)?;
        let (next, swarm) = wiring.hop(snaps, &cur, rec["to"].as_u64()?)?;
        if prev != (p.hosts[p.hosts.len() - 2].clone(), *p.swarms.last()?) {
            return None;
        }
        p.hosts.push(next);
        p.swarms.push(swarm);
    }
    Some(p)
}

/// Turns the frame log into per-connection flows (each direction of each
/// PACOM link) and the relay hops of every circuit whose path is known.
fn observation(
    lab: &Lab,
    wiring: &Wiring,
    records: &[FrameRecord],
    seconds: f64,
    paths: &[Option<CircuitPath>],
) -> Result<Observation, LabCmdError> {
    let mut links: Vec<Link> = Vec::new();
    let mut index = BTreeMap::new();
    let shared = |a: &str, b: &str| {
        SWARMS
            .iter()
            .filter(|s| s.contains(&a) && s.contains(&b))
            .count()
            > 1
    };
    for c in &wiring.conns {
        for (a, b, ports) in [
            (&c.dialer, &c.listener, (c.port, PORT)),
            (&c.listener, &c.dialer, (PORT, c.port)),
        ] {
            let (from, to) = (lab.host_index(a)?, lab.host_index(b)?);
            let data = || {
                records.iter().filter(move |r| {
                    r.from == from
                        && r.to == to
                        && r.tcp_ports == Some(ports)
                        && r.len >= MIN_DATA_FRAME
                })
            };
            let packet = |t: Duration, len: u32| Packet {
                time: t.as_secs_f64(),
                size: len,
            };
            let link = Link {
                from: a.clone(),
                to: b.clone(),
                via: shared(a, b).then_some(c.swarm),
                at_sender: Flow::new(data().map(|r| packet(r.received, r.len)).collect()),
                at_receiver: Flow::new(data().map(|r| packet(r.released, r.len)).collect()),
            };
            if link.at_sender.is_empty() {
                return Err(failed(format!(
                    "no data packets observed on {}",
                    link.name()
                )));
            }
            index.insert((a.clone(), b.clone(), c.swarm), links.len());
            links.push(link);
        }
    }
    let expected: usize = SWARMS.iter().map(|s| s.len() * (s.len() - 1)).sum();
    if links.len() != expected {
        return Err(failed(format!(
            "{} directed links seen, {expected} expected",
            links.len()
        )));
    }
    let mut hops = Vec::new();
    for (ci, path) in paths.iter().enumerate() {
        let Some(p) = path else { continue };
        let h = &p.hosts;
        for k in 1..h.len().saturating_sub(1) {
            let key =
                |a: &String, b: &String, s: char| index.get(&(a.clone(), b.clone(), s)).copied();
            let (Some(input), Some(truth)) = (
                key(&h[k - 1], &h[k], p.swarms[k - 1]),
                key(&h[k], &h[k + 1], p.swarms[k]),
            ) else {
                return Err(failed(format!("circuit path {p:?} uses an unseen link")));
            };
            let candidates = links
                .iter()
                .enumerate()
                .filter(|(_, l)| l.from == h[k] && l.to != h[k - 1])
                .map(|(i, _)| i)
                .collect();
            hops.push(Hop {
                circuit: ci + 1,
                hop: k,
                input,
                candidates,
                truth,
            });
        }
    }
    Ok(Observation {
        links,
        hops,
        duration: seconds,
        circuits: paths
            .iter()
            .map(|p| p.as_ref().map(|p| p.hosts.clone()).unwrap_or_default())
            .collect(),
        circuit_ids: (1..=paths.len()).collect(),
    })
}
