//! `pacom demo`: a whole PACOM world on loopback in one process, nothing to
//! install. The world is built in stages — nodes, how they meet, links —
//! so a bootstrap stage (local DHT testnet and a popular-torrent swarm whose
//! HAVE order leads to the PACOM swarm) can replace the static meeting.
//! Then a circuit is built end to end, a message and a file cross it, and
//! every step is timed. Exits non-zero if any step fails.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use md5::{Digest, Md5};
use pacom_bt::node::{NodeConfig, NodeHandle, PacomNode};
use pacom_bt::EngineConfig;
use pacom_core::identity::Identity;
use pacom_core::pacom_file::PacomFile;
use pacom_core::session::Event;
use rand::{Rng, RngCore, SeedableRng};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::config::{Config, ModeName, SwarmEntry};
use crate::setup;

/// Size of the demo's PACOM file: every block a link downloads, data or
/// cover, uses one up, so it must outlast the demo at the demo's rates.
/// Synthesised audio (private mode) is slow to generate, so it is smaller.
const PUBLIC_FILE_SIZE: u64 = 256 << 20;
const PRIVATE_FILE_SIZE: u64 = 24 << 20;
const LINK_BLOCKS_PER_SEC: f64 = 200.0;

struct Step {
    start: Instant,
}

impl Step {
    fn begin(name: &str) -> Step {
        eprint!("{name:<40} ");
        Step {
            start: Instant::now(),
        }
    }
    fn done(self, detail: impl std::fmt::Display) -> Duration {
        let t = self.start.elapsed();
        println!("ok  {:>8.2} s  {detail}", t.as_secs_f64());
        t
    }
}

pub fn run(nodes: usize, mode: ModeName) -> Result<()> {
    if !(2..=16).contains(&nodes) {
        bail!("--nodes must be between 2 and 16");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(demo(nodes, mode))
}

/// The world's shared settings: one PACOM swarm and its file.
struct World {
    cfg: Config,
    key: [u8; 32],
    file: Arc<PacomFile>,
}

impl World {
    fn new(mode: ModeName) -> Result<World> {
        let mut rng = rand::rngs::StdRng::from_entropy();
        let mut cfg = Config::new("127.0.0.1:0".parse()?, mode, None);
        cfg.rates.link_blocks_per_sec = LINK_BLOCKS_PER_SEC;
        cfg.circuit.handshake_timeout_secs = 5.0;
        let key = match mode {
            ModeName::Public => pacom_core::link::DEFAULT_PUBLIC_GROUP_KEY,
            ModeName::Private => rng.gen(),
        };
        let seed: [u8; 32] = rng.gen();
        let entry = SwarmEntry {
            seed: Some(hex::encode(seed)),
            x: None,
            bootstrap_ip: None,
            date: None,
            size: match mode {
                ModeName::Public => PUBLIC_FILE_SIZE,
                ModeName::Private => PRIVATE_FILE_SIZE,
            },
            piece_length: None,
            peers: Vec::new(),
            initial_fraction: 0.5,
        };
        let file = setup::pacom_file(&cfg, &key, &entry)?;
        Ok(World {
            cfg,
            key,
            file: Arc::new(file),
        })
    }

    /// How node `i` meets the others: the static stage puts the nodes on a
    /// line (each knows its predecessor), so circuits have several hops.
    fn meeting_peers(&self, i: usize, addrs: &[SocketAddr]) -> Vec<SocketAddr> {
        if i == 0 {
            Vec::new()
        } else {
            vec![addrs[i - 1]]
        }
    }

    async fn start_node(&self, identity: Identity, peers: Vec<SocketAddr>) -> Result<PacomNode> {
        // Members of a swarm regenerate the same file; in one process they share it.
        let swarm = setup::swarm_config(&self.cfg, self.key, self.file.clone(), peers, 0.5);
        let cfg = NodeConfig {
            identity,
            circuits: setup::circuit_config(&self.cfg),
            engine: EngineConfig {
                listen: self.cfg.listen,
                ..EngineConfig::default()
            },
            swarms: vec![swarm],
        };
        Ok(PacomNode::start(cfg).await?)
    }
}

async fn wait_event(
    rx: &mut UnboundedReceiver<Event>,
    timeout: Duration,
    mut pred: impl FnMut(&Event) -> bool,
) -> Result<Event> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(ev)) if pred(&ev) => return Ok(ev),
            Ok(Some(_)) => {}
            Ok(None) => bail!("the node stopped"),
            Err(_) => bail!("timed out after {timeout:?}"),
        }
    }
}

async fn received(rx: &mut UnboundedReceiver<Event>, timeout: Duration) -> Result<Vec<u8>> {
    match wait_event(rx, timeout, |e| matches!(e, Event::MessageReceived { .. })).await? {
        Event::MessageReceived { data, .. } => Ok(data),
        _ => bail!("unexpected event"),
    }
}

fn cover_share(handles: &[NodeHandle]) -> (u64, u64) {
    let mut data = 0;
    let mut cover = 0;
    for h in handles {
        for n in h.neighbours() {
            data += n.stats.data_frames_sent;
            cover += n.stats.cover_frames_sent;
        }
    }
    (data, cover)
}

async fn demo(n: usize, mode: ModeName) -> Result<()> {
    let t0 = Instant::now();
    let s = Step::begin("PACOM file and identities");
    let world = tokio::task::spawn_blocking(move || World::new(mode)).await??;
    let ids = tokio::task::spawn_blocking(move || {
        let mut rng = rand::rngs::OsRng;
        (0..n)
            .map(|_| Identity::generate(&mut rng, pacom_core::identity::DEFAULT_KEY_BITS))
            .collect::<Result<Vec<_>, _>>()
    })
    .await??;
    s.done(format!(
        "{} MiB {} file, {n} identities",
        world.file.length >> 20,
        match mode {
            ModeName::Public => "public archive",
            ModeName::Private => "private audio",
        }
    ));

    let s = Step::begin("nodes started, meeting on a line");
    let mut nodes = Vec::new();
    let mut addrs = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let peers = world.meeting_peers(i, &addrs);
        let node = world.start_node(id.clone(), peers).await?;
        addrs.push(node.local_addr());
        nodes.push(node);
    }
    s.done(format!("{n} nodes on 127.0.0.1"));

    let res = exercise(&world, &nodes, &ids).await;
    for node in nodes {
        node.shutdown().await;
    }
    res?;
    println!("all steps succeeded in {:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}

async fn exercise(world: &World, nodes: &[PacomNode], ids: &[Identity]) -> Result<()> {
    let n = nodes.len();
    let handles: Vec<NodeHandle> = nodes.iter().map(|x| x.handle().clone()).collect();
    let s = Step::begin("PACOM links up");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = handles.iter().enumerate().all(|(i, h)| {
            let want = if i == 0 || i == n - 1 { 1 } else { 2 };
            h.neighbours().len() >= want
        });
        if ok {
            break;
        }
        if Instant::now() > deadline {
            bail!("PACOM links did not come up within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.done(format!("{} links", n - 1));

    let (src, dst) = (&handles[0], &handles[n - 1]);
    let mut src_ev = src.subscribe();
    let mut dst_ev = dst.subscribe();
    let s = Step::begin("circuit set-up (flooded handshake)");
    let session = src.connect(ids[n - 1].contact()).await?;
    wait_event(
        &mut src_ev,
        Duration::from_secs(30),
        |e| matches!(e, Event::CircuitBuilt { session: x, .. } if *x == session),
    )
    .await
    .context("building a circuit")?;
    let circuits = src.status().await?.sessions;
    let count = circuits
        .iter()
        .find(|x| x.id == session)
        .map_or(0, |x| x.circuits.len());
    s.done(format!("{count} circuit(s) through {} relays", n - 2));

    let s = Step::begin("message latency");
    let msg = b"hello through the swarm".to_vec();
    src.send(session, msg.clone()).await?.outcome().await?;
    let got = received(&mut dst_ev, Duration::from_secs(10)).await?;
    if got != msg {
        bail!("the message arrived altered");
    }
    s.done("delivered and acknowledged, bytes identical");

    let size = match world.cfg.mode {
        ModeName::Public => 5 << 20,
        ModeName::Private => 64 << 10,
    };
    let mut data = vec![0u8; size];
    rand::rngs::OsRng.fill_bytes(&mut data);
    let s = Step::begin("file transfer");
    let pending = src.send(session, data.clone()).await?;
    pending.outcome().await.context("sending the file")?;
    let got = received(&mut dst_ev, Duration::from_secs(30)).await?;
    if Md5::digest(&got) != Md5::digest(&data) || got.len() != data.len() {
        bail!("the file arrived altered");
    }
    let t = s.start.elapsed().as_secs_f64();
    s.done(format!(
        "{} KiB, MD5 identical, {:.2} MiB/s",
        size >> 10,
        size as f64 / t / (1 << 20) as f64
    ));

    let s = Step::begin("cover traffic on all links");
    let (data_frames, cover_frames) = cover_share(&handles);
    if data_frames == 0 || cover_frames == 0 {
        bail!("expected both data and cover frames (data {data_frames}, cover {cover_frames})");
    }
    let share = cover_frames as f64 / (data_frames + cover_frames) as f64;
    s.done(format!(
        "{:.1}% of frames were cover ({cover_frames} cover, {data_frames} data)",
        share * 100.0
    ));
    Ok(())
}
