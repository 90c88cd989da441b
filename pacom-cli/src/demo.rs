//! `pacom demo`: a whole PACOM world on loopback in one process, nothing to
//! install. A local DHT testnet and a popular torrent F with plain
//! BitTorrent peers come first; a bootstrap node creates a PACOM swarm,
//! announces it and hides its x in the order of its HAVE messages in F; N
//! newcomers that know only F and the DHT decode x, find the swarm and
//! join (paper §3.3). Then a circuit is built between two newcomers, a
//! message and a file cross it, and every step is timed. Exits non-zero if
//! any step fails.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use md5::{Digest, Md5};

use pacom_bt::node::{JoinStatus, NeighbourId, NodeHandle, PacomNode};
use pacom_core::identity::Identity;
use pacom_core::session::Event;
use rand::RngCore;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::bootstrap_config::RoleName;
use crate::config::ModeName;
use crate::demo_world::{dht_testnet, ip, sizes, Popular, Template};

/// 127.0.0.`BOOTSTRAP_IP` is the bootstrap node, newcomers follow it.
const BOOTSTRAP_IP: u8 = 10;
/// How long joining may take for all newcomers together.
const JOIN_TIMEOUT: Duration = Duration::from_secs(40);

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
        self.done_after(t, detail)
    }
    /// Reports a time measured from elsewhere (steps that ran in parallel).
    fn done_after(self, t: Duration, detail: impl std::fmt::Display) -> Duration {
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

/// Waits until the node's joining status satisfies `pred`.
async fn wait_join(
    node: &PacomNode,
    timeout: Duration,
    what: &str,
    pred: impl FnMut(&JoinStatus) -> bool,
) -> Result<JoinStatus> {
    let join = node.joining().context("the node does not join")?;
    match tokio::time::timeout(timeout, join.wait_for(pred)).await {
        Ok(s) => Ok(s),
        Err(_) => bail!("{what} within {timeout:?}: {:?}", join.status()),
    }
}

/// Waits (bounded) until the bootstrap node no longer hides `x`, and a
/// few more pieces of F, requested under the old x, have arrived.
async fn advert_moved_on(pb: &PacomNode, x: u8) {
    let Some(join) = pb.joining() else { return };
    let moved = join.wait_for(|s| s.advert != Some(x));
    if tokio::time::timeout(Duration::from_secs(10), moved)
        .await
        .is_err()
    {
        return;
    }
    let have = |pb: &PacomNode| pb.popular().map_or(0, |p| p.stats.pieces_have);
    let before = have(pb);
    let deadline = Instant::now() + Duration::from_secs(5);
    while have(pb) < before + 8 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Names a circuit's first hop: each node has its own 127.0.0.x.
fn first_hop(src: &NodeHandle, via: NeighbourId, n: usize) -> String {
    let last = src
        .neighbours()
        .into_iter()
        .find(|nb| nb.id == via)
        .and_then(|nb| match nb.addr.ip() {
            IpAddr::V4(v4) => Some(v4.octets()[3]),
            IpAddr::V6(_) => None,
        });
    match last {
        Some(l) if l == BOOTSTRAP_IP => "first hop: the bootstrap node".into(),
        Some(l) if usize::from(l) == usize::from(BOOTSTRAP_IP) + n => "direct".into(),
        Some(l) if l > BOOTSTRAP_IP => format!("first hop: newcomer {}", l - BOOTSTRAP_IP),
        _ => "first hop unknown".into(),
    }
}

fn frames(handles: &[NodeHandle]) -> (u64, u64) {
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
    let dir = tempfile::tempdir().context("temporary directory")?;

    let s = Step::begin("local DHT testnet");
    let dht = dht_testnet(4).await?;
    let dht_addrs: Vec<_> = dht.iter().map(|d| d.local_addr()).collect();
    s.done(format!("{} mainline nodes on 127.0.0.1", dht.len()));

    let s = Step::begin("popular torrent F");
    let popular = Popular::start(dir.path(), &dht_addrs).await?;
    s.done(format!(
        "{:.1} MiB in {} pieces, a plain seeder and a plain downloader",
        popular.len() as f64 / (1 << 20) as f64,
        popular.metainfo.info.num_pieces()
    ));

    let s = Step::begin("identities");
    let ids = tokio::task::spawn_blocking(move || {
        let mut rng = rand::rngs::OsRng;
        (0..=n)
            .map(|_| Identity::generate(&mut rng, pacom_core::identity::DEFAULT_KEY_BITS))
            .collect::<Result<Vec<_>, _>>()
    })
    .await??;
    s.done(format!("{} RSA-2048 key pairs", n + 1));

    let tpl = Template::new(mode, dir.path(), dht_addrs, popular.torrent.clone())?;
    let mut nodes = Vec::new();
    let res = world(&tpl, &popular, &ids, &mut nodes, n).await;
    // Nodes stop in parallel: each waits for its links to close.
    let stops: Vec<_> = nodes
        .into_iter()
        .map(|node| tokio::spawn(node.shutdown()))
        .collect();
    for s in stops {
        let _ = s.await;
    }
    popular.shutdown().await;
    res?;
    println!("all steps succeeded in {:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}

/// Starts the PACOM nodes into `nodes` (so the caller can stop them on
/// failure) and runs the steps.
async fn world(
    tpl: &Template,
    popular: &Popular,
    ids: &[Identity],
    nodes: &mut Vec<PacomNode>,
    n: usize,
) -> Result<()> {
    let s = Step::begin("bootstrap node: swarm announced");
    // Public mode: one swarm of cap 2 per newcomer, so circuits cross the
    // bootstrap node. Private mode renders audio for every PACOM file
    // (slow), so all newcomers share one swarm there.
    let caps = match tpl.mode {
        ModeName::Public => vec![2; n],
        ModeName::Private => vec![u32::try_from(n + 1).unwrap_or(u32::MAX)],
    };
    let one_swarm = caps.len() == 1;
    let cfg = tpl.config(BOOTSTRAP_IP, RoleName::Bootstrap, caps, &popular.peers);
    let pb = tpl.start(cfg, ids[0].clone(), BOOTSTRAP_IP).await?;
    let pb_addr = pb.local_addr();
    nodes.push(pb);
    let st = wait_join(&nodes[0], JOIN_TIMEOUT, "no own swarm", |s| {
        s.is_bootstrap && s.swarms.iter().any(|e| e.own && e.running)
    })
    .await?;
    s.done(format!(
        "{} swarm(s) of cap {} on the DHT, x = {} hidden in its HAVE order of F",
        st.swarms.len(),
        st.members.first().map_or(0, |m| m.2),
        st.advert.map_or("-".into(), |x| x.to_string())
    ));

    // Newcomers come one after the other; in public mode each fills a
    // swarm (cap 2: the bootstrap node and itself), so the bootstrap node
    // moves its advert on and the next newcomer finds another swarm.
    let mut peers = popular.peers.clone();
    peers.push(pb_addr);
    for (i, id) in ids.iter().enumerate().skip(1) {
        let s = Step::begin(&format!("newcomer {i} joined via HAVE order"));
        let start = Instant::now();
        let last = BOOTSTRAP_IP + i as u8;
        let cfg = tpl.config(last, RoleName::Auto, Vec::new(), &peers);
        nodes.push(tpl.start(cfg, id.clone(), last).await?);
        let st = wait_join(&nodes[i], JOIN_TIMEOUT, "no swarm joined", |s| {
            s.swarms.iter().any(|e| e.running && !e.own)
        })
        .await?;
        let e = st.swarms.iter().find(|e| e.running).context("joined")?;
        if e.bootstrap_ip != ip(BOOTSTRAP_IP) {
            bail!("newcomer {i} joined a swarm of {}", e.bootstrap_ip);
        }
        let found = st
            .lookups
            .iter()
            .find(|l| l.info_hash == Some(e.info_hash))
            .map_or(0, |l| l.peers.len());
        s.done_after(
            start.elapsed(),
            format!(
                "decoded x = {} from {}'s HAVEs, DHT lookup found {found} peer(s)",
                e.x, e.bootstrap_ip
            ),
        );
        peers.push(nodes[i].local_addr());
        if i < n && !one_swarm {
            advert_moved_on(&nodes[0], e.x).await;
        }
    }

    let handles: Vec<NodeHandle> = nodes.iter().map(|x| x.handle().clone()).collect();
    let s = Step::begin("PACOM links up");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !handles.iter().all(|h| !h.neighbours().is_empty()) {
        if Instant::now() > deadline {
            bail!("PACOM links did not come up within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let links: usize = handles.iter().map(|h| h.neighbours().len()).sum::<usize>() / 2;
    s.done(format!("{links} links among {} nodes", nodes.len()));

    exercise(tpl.mode, &handles, &ids[n], n).await
}

async fn exercise(
    mode: ModeName,
    handles: &[NodeHandle],
    dst_id: &Identity,
    n: usize,
) -> Result<()> {
    let (src, dst) = (&handles[1], &handles[n]);
    let mut src_ev = src.subscribe();
    let mut dst_ev = dst.subscribe();
    let s = Step::begin("circuit set-up (flooded handshake)");
    let session = src.connect(dst_id.contact()).await?;
    wait_event(
        &mut src_ev,
        Duration::from_secs(30),
        |e| matches!(e, Event::CircuitBuilt { session: x, .. } if *x == session),
    )
    .await
    .context("building a circuit")?;
    let sessions = src.status().await?.sessions;
    let circuits = sessions
        .iter()
        .find(|x| x.id == session)
        .map(|x| x.circuits.clone())
        .unwrap_or_default();
    let hops: Vec<String> = circuits
        .iter()
        .map(|(_, via)| first_hop(src, *via, n))
        .collect();
    s.done(format!(
        "{} circuit(s) from newcomer 1 to newcomer {n} ({})",
        circuits.len(),
        hops.join(", ")
    ));

    let s = Step::begin("message latency");
    let msg = b"hello through the swarm".to_vec();
    src.send(session, msg.clone()).await?.outcome().await?;
    let got = received(&mut dst_ev, Duration::from_secs(10)).await?;
    if got != msg {
        bail!("the message arrived altered");
    }
    s.done("delivered and acknowledged, bytes identical");

    let size = sizes(mode).payload;
    let mut data = vec![0u8; size];
    rand::rngs::OsRng.fill_bytes(&mut data);
    let (data0, cover0) = frames(handles);
    let s = Step::begin("file transfer");
    let pending = src.send(session, data.clone()).await?;
    pending.outcome().await.context("sending the file")?;
    let got = received(&mut dst_ev, Duration::from_secs(30)).await?;
    if Md5::digest(&got) != Md5::digest(&data) || got.len() != data.len() {
        bail!("the file arrived altered");
    }
    let t = s.start.elapsed().as_secs_f64();
    let note = match mode {
        ModeName::Public => "",
        ModeName::Private => " (private mode: ~145 B hidden per 16 KiB block, so a small file)",
    };
    let rate = size as f64 / t;
    let rate = if rate >= f64::from(1 << 20) {
        format!("{:.2} MiB/s", rate / f64::from(1 << 20))
    } else {
        format!("{:.2} KiB/s", rate / 1024.0)
    };
    s.done(format!("{} KiB, MD5 identical, {rate}{note}", size >> 10));

    let s = Step::begin("cover traffic on all links");
    let (data_frames, cover_frames) = frames(handles);
    if data_frames == 0 || cover_frames == 0 {
        bail!("expected both data and cover frames (data {data_frames}, cover {cover_frames})");
    }
    let share = cover_frames as f64 / (data_frames + cover_frames) as f64;
    let during = (cover_frames - cover0) as f64
        / ((cover_frames - cover0) + (data_frames - data0)).max(1) as f64;
    s.done(format!(
        "{:.1}% of frames were cover ({cover_frames} cover, {data_frames} data; {:.1}% during the file)",
        share * 100.0,
        during * 100.0
    ));
    Ok(())
}
