//! The mix network of the paper's Fig. 12 with the circuits of Table 3,
//! run as real processes (`pacom lab mix-node`) in lab namespaces: six
//! continuous-time mixes P1–P6, sources P11–P14 and sinks P7–P10, every host
//! pair delayed by a one-way delay uniform in [1, 100] ms on the switch.
//! The observer is the switch's frame log: packet times on each link, at
//! both ends, and nothing else.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use pacom_core::analysis::{Flow, Packet};
use pacom_lab::{FrameRecord, Lab, Topology};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rand_distr::{Distribution, Exp};

use super::error::LabCmdError;
use super::network::{Hop, Link, Observation, RunPlan};

/// Table 3: source, three mixes, sink.
pub const CIRCUITS: [[&str; 5]; 4] = [
    ["p14", "p1", "p4", "p2", "p10"],
    ["p13", "p1", "p5", "p2", "p9"],
    ["p12", "p3", "p5", "p6", "p8"],
    ["p11", "p3", "p4", "p6", "p7"],
];

/// First TCP port; circuit i listens on `BASE_PORT + i` at every hop.
const BASE_PORT: u16 = 7100;

/// Frames longer than a bare TCP header carry data; shorter ones are ACKs.
const MIN_DATA_FRAME: u32 = 100;

/// Default traffic of a source: a Poisson process whose rate switches
/// between a busy and a quiet level (exponential periods), the bursty shape
/// of interactive flows the flow-correlation attacks feed on.
pub fn bursty_schedule<R: Rng + ?Sized>(rng: &mut R, seconds: f64) -> Vec<f64> {
    let (busy, quiet) = (80.0, 5.0);
    let (mean_busy, mean_quiet) = (1.0, 1.5);
    let mut out = Vec::new();
    let mut t = 0.0;
    let mut on = rng.gen_bool(0.4);
    while t < seconds {
        let period = Exp::new(1.0 / if on { mean_busy } else { mean_quiet })
            .expect("positive rate")
            .sample(rng);
        let end = (t + period).min(seconds);
        let gap = Exp::new(if on { busy } else { quiet }).expect("positive rate");
        let mut u = t + gap.sample(rng);
        while u < end {
            out.push(u);
            u += gap.sample(rng);
        }
        t = end;
        on = !on;
    }
    out
}

/// Kills and reaps the processes it holds, also on an early return.
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn hosts() -> Vec<String> {
    (1..=14).map(|i| format!("p{i}")).collect()
}

fn addr(lab: &Lab, host: &str, circuit: usize) -> Result<SocketAddr, LabCmdError> {
    Ok(SocketAddr::from((
        lab.addr(host)?,
        BASE_PORT + circuit as u16,
    )))
}

/// Brings the network up, drives the schedules through it and returns the
/// observed links. The lab (namespaces, switch, processes) is gone when
/// this returns, whether it succeeded or not.
pub fn run(plan: &RunPlan) -> Result<Observation, LabCmdError> {
    if plan.only.is_some() {
        return Err(LabCmdError::Param(
            "--only-circuit is for the PACOM network (mix circuits share relays by design)".into(),
        ));
    }
    let mut rng = ChaCha20Rng::seed_from_u64(plan.seed);
    let schedules = match &plan.schedules {
        Some(s) if s.len() == CIRCUITS.len() => s.clone(),
        Some(s) => {
            return Err(LabCmdError::Param(format!(
                "{} schedules for {} circuits",
                s.len(),
                CIRCUITS.len()
            )))
        }
        None => (0..CIRCUITS.len())
            .map(|_| bursty_schedule(&mut rng, plan.seconds))
            .collect(),
    };
    let names = hosts();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let topology = Topology::full_mesh(&refs, 78, 1.0, 100.0, plan.seed);
    let lab = Lab::up(&topology)?;
    let exe = std::env::current_exe()
        .map_err(|e| LabCmdError::Failed(format!("locating the pacom binary: {e}")))?;
    let exe = exe.to_string_lossy().to_string();
    let tmp = std::env::temp_dir().join(format!("pacom-lab-mix-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(|source| LabCmdError::File {
        path: tmp.clone(),
        source,
    })?;
    let result = drive(&lab, &exe, &tmp, plan, &schedules);
    let _ = std::fs::remove_dir_all(&tmp);
    let records = result?;
    observation(&lab, &records, plan.seconds)
}

fn spawn(lab: &Lab, host: &str, exe: &str, args: &[String]) -> Result<Child, LabCmdError> {
    let mut cmd = lab.command(host, exe)?;
    cmd.args(["lab", "mix-node"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    cmd.spawn()
        .map_err(|e| LabCmdError::Failed(format!("spawning a mix node on {host}: {e}")))
}

fn drive(
    lab: &Lab,
    exe: &str,
    tmp: &std::path::Path,
    plan: &RunPlan,
    schedules: &[Vec<f64>],
) -> Result<Vec<FrameRecord>, LabCmdError> {
    let mut procs = Procs(Vec::new());
    // Sinks and mixes first, last hop first, so every next hop is listening.
    let mut routes: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut sinks: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (i, c) in CIRCUITS.iter().enumerate() {
        for w in c[1..].windows(2) {
            let route = format!("{}={}", addr(lab, w[0], i)?, addr(lab, w[1], i)?);
            routes.entry(w[0]).or_default().push(route);
        }
        sinks
            .entry(c[4])
            .or_default()
            .push(addr(lab, c[4], i)?.to_string());
    }
    for (host, listen) in &sinks {
        let mut args = vec!["sink".to_string()];
        for l in listen {
            args.extend(["--listen".to_string(), l.clone()]);
        }
        procs.0.push(spawn(lab, host, exe, &args)?);
    }
    for (k, (host, rs)) in routes.iter().enumerate() {
        let mut args = vec![
            "mix".to_string(),
            "--mean-delay-ms".into(),
            plan.mix_delay_ms.to_string(),
            "--flow-seed".into(),
            (plan.seed ^ (k as u64 + 1) << 40).to_string(),
        ];
        for r in rs {
            args.extend(["--route".to_string(), r.clone()]);
        }
        procs.0.push(spawn(lab, host, exe, &args)?);
    }
    // Give the listeners a moment to bind (sources retry connecting anyway).
    std::thread::sleep(Duration::from_millis(500));
    let log = lab.frame_log();
    log.start();
    let mut sources = Vec::new();
    for (i, (c, times)) in CIRCUITS.iter().zip(schedules).enumerate() {
        let path = tmp.join(format!("circuit{}.txt", i + 1));
        let text: String = times.iter().map(|t| format!("{t:.6}\n")).collect();
        std::fs::write(&path, text).map_err(|source| LabCmdError::File {
            path: path.clone(),
            source,
        })?;
        let args = vec![
            "source".to_string(),
            "--connect".into(),
            addr(lab, c[1], i)?.to_string(),
            "--schedule".into(),
            path.to_string_lossy().to_string(),
        ];
        sources.push(spawn(lab, c[0], exe, &args)?);
    }
    let deadline = Instant::now() + Duration::from_secs_f64(plan.seconds + 30.0);
    for (i, mut s) in sources.into_iter().enumerate() {
        loop {
            if let Some(status) = s
                .try_wait()
                .map_err(|e| LabCmdError::Failed(format!("waiting for source {}: {e}", i + 1)))?
            {
                if !status.success() {
                    return Err(LabCmdError::Failed(format!(
                        "source of circuit {} exited with {status}",
                        i + 1
                    )));
                }
                break;
            }
            if Instant::now() > deadline {
                let _ = s.kill();
                let _ = s.wait();
                return Err(LabCmdError::Failed(format!(
                    "source of circuit {} did not finish",
                    i + 1
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // Cells still inside the mixes and on the links: a few hundred ms.
    std::thread::sleep(Duration::from_millis(1500));
    Ok(log.take())
}

/// Turns the frame log into per-link flows and the hops' ground truth.
fn observation(
    lab: &Lab,
    records: &[FrameRecord],
    seconds: f64,
) -> Result<Observation, LabCmdError> {
    let names = hosts();
    let index: Vec<usize> = names
        .iter()
        .map(|h| lab.host_index(h))
        .collect::<Result<_, _>>()?;
    let mut links: Vec<Link> = Vec::new();
    let mut by_ports = BTreeMap::new();
    for c in CIRCUITS.iter() {
        for w in c.windows(2) {
            let key = (w[0].to_string(), w[1].to_string());
            if by_ports.contains_key(&key) {
                continue;
            }
            let from = index[names.iter().position(|n| n == w[0]).expect("known host")];
            let to = index[names.iter().position(|n| n == w[1]).expect("known host")];
            let data = || {
                records
                    .iter()
                    .filter(move |r| r.from == from && r.to == to && r.len > MIN_DATA_FRAME)
            };
            let packet = |t: Duration, len: u32| Packet {
                time: t.as_secs_f64(),
                size: len,
            };
            by_ports.insert(key, links.len());
            links.push(Link {
                from: w[0].to_string(),
                to: w[1].to_string(),
                via: None,
                at_sender: Flow::new(data().map(|r| packet(r.received, r.len)).collect()),
                at_receiver: Flow::new(data().map(|r| packet(r.released, r.len)).collect()),
            });
        }
    }
    let mut hops = Vec::new();
    for (ci, c) in CIRCUITS.iter().enumerate() {
        for h in 1..=3 {
            let relay = c[h];
            let input = by_ports[&(c[h - 1].to_string(), relay.to_string())];
            let truth = by_ports[&(relay.to_string(), c[h + 1].to_string())];
            let candidates: Vec<usize> = links
                .iter()
                .enumerate()
                .filter(|(_, l)| l.from == relay)
                .map(|(i, _)| i)
                .collect();
            hops.push(Hop {
                circuit: ci + 1,
                hop: h,
                input,
                candidates,
                truth,
            });
        }
    }
    for l in &links {
        if l.at_sender.is_empty() {
            return Err(LabCmdError::Failed(format!(
                "no data packets observed on {}",
                l.name()
            )));
        }
    }
    Ok(Observation {
        links,
        hops,
        duration: seconds,
        circuits: CIRCUITS
            .iter()
            .map(|c| c.iter().map(|s| s.to_string()).collect())
            .collect(),
        circuit_ids: (1..=CIRCUITS.len()).collect(),
    })
}
