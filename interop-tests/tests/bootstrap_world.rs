//! Joining the PACOM network in a small local world (paper §3.3).
//!
//! A popular torrent F is seeded by libtorrent and downloaded by ordinary
//! libtorrent clients. One PACOM bootstrap node downloads F too, hiding the
//! x of a non-full swarm in its HAVE order; it has three swarms of cap 2
//! (itself and one newcomer each). Three newcomers, each its own engine on
//! its own 127.0.0.x with its own DHT node, know only the group key and F
//! with its peers (no tracker: every F peer is introduced to every other,
//! so nobody is told which one is the bootstrap node). One after the other
//! each reads x from the HAVE orders, derives the swarm's info hash from
//! (x, the peer's IP, today), finds it on a `mainline` DHT testnet and
//! joins; because each join fills a swarm, each newcomer must find a
//! different swarm, and after the third the bootstrap node stops hiding
//! (Case 1). Link bytes then flow both ways between each newcomer and the
//! bootstrap node.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use interop_tests::dht_testnet::{DhtTestnet, TEST_REQUEST_TIMEOUT};
use interop_tests::popular::PopularTorrent as Popular;
use pacom_bt::dht::{Dht, DhtConfig};
use pacom_bt::node::{
    FileRecipe, JoinConfig, JoinNode, JoinStatus, LinkEvent, LinkTiming, Links, NeighbourId,
    PopularTorrent, SwarmTemplate,
};
use pacom_bt::{Engine, EngineConfig, StorageSpec};
use pacom_core::bootstrap::{DecoderParams, RoleConfig, RolloverPolicy};
use pacom_core::link::Mode;
use pacom_core::pacom_file::{CoverKind, PacomFileOptions};
use pacom_core::schedule::{PacerConfig, Rate};
use tokio::sync::mpsc::UnboundedReceiver;

const KEY: [u8; 32] = [0x42; 32];
const PIECE: u32 = 16 * 1024;
/// 640 pieces: at 192 KiB/s the bootstrap node needs ~55 s for F.
const F_LEN: u64 = 640 * 16 * 1024 - 777;
const STEP: Duration = Duration::from_secs(40);

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

struct Node {
    engine: Arc<Engine>,
    links: Links,
    events: UnboundedReceiver<LinkEvent>,
    join: JoinNode,
}

async fn node(
    last: u8,
    download_limit: Option<u64>,
    dht_boot: Vec<SocketAddr>,
    f: &Popular,
    f_peers: Vec<SocketAddr>,
    bootstrap: bool,
) -> Result<Node> {
    let engine = Arc::new(
        Engine::start(EngineConfig {
            listen: SocketAddr::new(ip(last), 0),
            download_limit,
            // A short request pipeline: pieces already requested complete
            // in the old class after an advert changes.
            min_requests: 2,
            max_requests: 4,
            discovery_interval: Duration::from_secs(2),
            ..Default::default()
        })
        .await?,
    );
    let dht = Dht::start(DhtConfig {
        bootstrap: dht_boot,
        bind: Some(SocketAddr::new(ip(last), 0)),
        server_mode: true,
        request_timeout: Some(TEST_REQUEST_TIMEOUT),
    })?;
    ensure!(dht.bootstrapped().await, "DHT node of 127.0.0.{last} alone");
    let (links, events) = Links::new();
    let cfg = JoinConfig {
        recipe: FileRecipe {
            group_key: KEY,
            kind: CoverKind::Archive,
            // Large enough that paced links stay busy for the whole test.
            options: PacomFileOptions::with_size(32 * 1024 * 1024),
            cache: Default::default(),
        },
        public_ip: ip(last),
        popular: vec![PopularTorrent {
            metainfo: f.metainfo.clone(),
            storage: StorageSpec::Memory,
            initial_peers: f_peers,
            peer_sources: Vec::new(),
        }],
        swarm: SwarmTemplate {
            mode: Mode::Private,
            carrier: Arc::new(stego::CiphertextCarrier),
            carrier_for: None,
            // 20 blocks/s (320 KiB/s): half the file takes ~50 s.
            pacer: PacerConfig {
                rate: Rate::BlocksPerSec(20.0),
                ..PacerConfig::default()
            },
            upload_rate: None,
            initial_fraction: 0.5,
            timing: LinkTiming::default(),
        },
        role: RoleConfig {
            // Newcomers never take the role within the test.
            watch: Duration::from_secs(3600),
            max_swarms: 1,
            ..RoleConfig::default()
        },
        decoder: DecoderParams::default(),
        rollover: RolloverPolicy::default(),
        start_as_bootstrap: bootstrap,
        caps: bootstrap.then(|| vec![2, 2, 2]),
        reannounce: Duration::from_secs(30),
        tick: Duration::from_millis(200),
    };
    let join = JoinNode::start(engine.clone(), links.clone(), dht, cfg);
    Ok(Node {
        engine,
        links,
        events,
        join,
    })
}

/// The neighbour on `swarm` that came up on `events` (others are kept).
async fn neighbour_on(
    events: &mut UnboundedReceiver<LinkEvent>,
    swarm: pacom_bt::metainfo::InfoHash,
    seen: &mut Vec<LinkEvent>,
) -> Result<NeighbourId> {
    let up = |e: &LinkEvent| match e {
        LinkEvent::Up {
            neighbour,
            swarm: s,
            ..
        } if *s == swarm => Some(*neighbour),
        _ => None,
    };
    if let Some(n) = seen.iter().find_map(up) {
        return Ok(n);
    }
    loop {
        let e = tokio::time::timeout(STEP, events.recv())
            .await
            .context("no link came up")?
            .context("link events closed")?;
        let hit = up(&e);
        seen.push(e);
        if let Some(n) = hit {
            return Ok(n);
        }
    }
}

/// Waits until `want` arrived, concatenating `Data` events per neighbour.
async fn receive(
    events: &mut UnboundedReceiver<LinkEvent>,
    got: &mut HashMap<NeighbourId, Vec<u8>>,
    want: &[u8],
) -> Result<NeighbourId> {
    loop {
        if let Some((n, _)) = got
            .iter()
            .find(|(_, b)| b.windows(want.len()).any(|w| w == want))
        {
            return Ok(*n);
        }
        let e = tokio::time::timeout(STEP, events.recv())
            .await
            .with_context(|| format!("{:?} never arrived", String::from_utf8_lossy(want)))?
            .context("link events closed")?;
        if let LinkEvent::Data { neighbour, bytes } = e {
            got.entry(neighbour).or_default().extend_from_slice(&bytes);
        }
    }
}

async fn wait_status(
    node: &Node,
    what: &str,
    pred: impl FnMut(&JoinStatus) -> bool,
) -> Result<JoinStatus> {
    match tokio::time::timeout(STEP, node.join.wait_for(pred)).await {
        Ok(s) => Ok(s),
        Err(_) => bail!("{what}: {:#?}", node.join.status()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newcomers_find_the_bootstrap_nodes_swarms_through_have_orders() -> Result<()> {
    interop_tests::init_tracing();
    let t0 = std::time::Instant::now();
    let dht = DhtTestnet::start(4).await?;
    let mut f = Popular::start(F_LEN, PIECE, 77).await?;
    let pb_ip = ip(10);

    // The bootstrap node downloads F slowly: its HAVE order carries x for a while.
    let mut pb = node(
        10,
        Some(192 * 1024),
        dht.bootstrap(),
        &f,
        vec![f.seeder_addr()],
        true,
    )
    .await?;
    let pb_status = wait_status(&pb, "bootstrap role not taken", |s| {
        s.is_bootstrap && s.swarms.iter().filter(|e| e.own).count() == 3
    })
    .await?;
    let own: Vec<_> = pb_status.swarms.iter().filter(|s| s.own).cloned().collect();
    ensure!(own.len() == 3, "own swarms: {own:?}");
    let pb_listen = pb.engine.local_addr();
    for _ in 0..2 {
        f.add_leecher(&[pb_listen]).await?;
    }

    let mut pb_got: HashMap<NeighbourId, Vec<u8>> = HashMap::new();
    let mut joined_x = Vec::new();
    let mut newcomers = Vec::new();
    for i in 0..3u8 {
        let mut f_peers = vec![f.seeder_addr(), pb_listen];
        f_peers.extend(f.leechers.iter().map(|(l, _)| l.addr()));
        f_peers.extend(newcomers.iter().map(|n: &Node| n.engine.local_addr()));
        let mut n = node(11 + i, None, dht.bootstrap(), &f, f_peers, false).await?;
        let status = wait_status(&n, "newcomer did not join", |s| {
            s.swarms.iter().any(|e| e.running)
        })
        .await?;
        let entry = status
            .swarms
            .iter()
            .find(|e| e.running)
            .context("joined swarm")?
            .clone();
        ensure!(entry.bootstrap_ip == pb_ip && !entry.own, "{entry:?}");
        ensure!(
            own.iter()
                .any(|o| o.info_hash == entry.info_hash && o.x == entry.x),
            "joined {entry:?}, not a swarm of the bootstrap node"
        );
        ensure!(
            status
                .lookups
                .iter()
                .any(|l| l.info_hash == Some(entry.info_hash) && l.peers.contains(&pb_listen)),
            "the DHT did not list the bootstrap node: {:?}",
            status.lookups
        );
        println!(
            "newcomer {i} joined x = {} after {:.1} s (decoded {:?})",
            entry.x,
            t0.elapsed().as_secs_f64(),
            status.decoded
        );
        joined_x.push(entry.x);

        // Link bytes both ways between the newcomer and the bootstrap node.
        let mut n_seen = Vec::new();
        let to_pb = neighbour_on(&mut n.events, entry.info_hash, &mut n_seen).await?;
        let hello = format!("newcomer {i} says hello through swarm {}", entry.x);
        n.links.write(to_pb, hello.as_bytes())?;
        let to_n = receive(&mut pb.events, &mut pb_got, hello.as_bytes()).await?;
        let back = format!("bootstrap node answers newcomer {i}");
        pb.links.write(to_n, back.as_bytes())?;
        let mut n_got = HashMap::new();
        for e in n_seen.drain(..) {
            if let LinkEvent::Data { neighbour, bytes } = e {
                n_got
                    .entry(neighbour)
                    .or_insert_with(Vec::new)
                    .extend(bytes);
            }
        }
        let from = receive(&mut n.events, &mut n_got, back.as_bytes()).await?;
        ensure!(from == to_pb, "answer came from another neighbour");

        // The swarm is full now (cap 2): the bootstrap node must move on.
        let x = entry.x;
        wait_status(&pb, "advert did not move on", |s| {
            s.members.iter().any(|&(sx, m, _)| sx == x && m >= 2) && s.advert != Some(x)
        })
        .await?;
        // Let the pieces requested under the old x drain from the order.
        let f_handle = pb
            .engine
            .torrents()
            .into_iter()
            .find(|h| h.info_hash() == f.metainfo.info_hash)
            .context("F on the bootstrap node")?;
        let before = f_handle.stats().pieces_have;
        tokio::time::timeout(STEP, async {
            while f_handle.stats().pieces_have < before + 24 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .context("the bootstrap node stopped downloading F")?;
        newcomers.push(n);
    }
    let mut distinct = joined_x.clone();
    distinct.sort_unstable();
    distinct.dedup();
    ensure!(distinct.len() == 3, "newcomers joined x = {joined_x:?}");
    let end = pb.join.status();
    ensure!(end.advert.is_none(), "Case 1 expected: {end:#?}");
    println!(
        "three newcomers in three swarms in {:.1} s; bootstrap node members {:?}",
        t0.elapsed().as_secs_f64(),
        end.members
    );
    for n in newcomers {
        n.join.stop().await;
    }
    pb.join.stop().await;
    Ok(())
}
