//! PACOM swarms between real processes over loopback TCP: every process is
//! a `pacom-swarm-node` (our engine plus the swarm runtime) that sends a
//! deterministic stream to each neighbour through its link and checks every
//! stream it receives byte for byte. A real libtorrent client then joins a
//! swarm as an outsider and downloads the PACOM file with valid hashes while
//! the links keep running.
//!
//! A node can only pull frames from a neighbour while it lacks blocks the
//! neighbour has: with half the pieces each at the start, two nodes can move
//! about a quarter of the file each way, so the file is sized for the amount.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use interop_tests::libtorrent::{LibtorrentPeer, LtAdd, LtOptions};
use interop_tests::ports::free_port;
use interop_tests::swarm_node::{collect_until, NodeEvent, NodeSpec, SwarmNode};
use pacom_core::pacom_file::{CoverKind, PacomFile, PacomFileOptions};
use sha1::{Digest, Sha1};
use tokio::sync::mpsc;

const MIB: u64 = 1 << 20;
/// Link bytes before each stream (sender port and length).
const HEADER_LEN: u64 = 10;

fn node_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_pacom-swarm-node"))
}

/// What a swarm of node processes shares.
struct Plan {
    seed_hex: String,
    file_size: u64,
    mib: f64,
    mode: &'static str,
    rate: Option<f64>,
}

struct Swarm {
    nodes: Vec<SwarmNode>,
    events: mpsc::UnboundedReceiver<NodeEvent>,
    /// Every event seen so far.
    log: Vec<NodeEvent>,
}

impl Swarm {
    /// Starts `n` nodes one after the other; node i dials nodes 0..i, so the
    /// swarm is a full mesh with one connection per pair.
    async fn full_mesh(plan: &Plan, n: usize) -> Result<Swarm> {
        let (tx, events) = mpsc::unbounded_channel();
        let mut swarm = Swarm {
            nodes: Vec::new(),
            events,
            log: Vec::new(),
        };
        for i in 0..n {
            let spec = NodeSpec {
                seed_hex: plan.seed_hex.clone(),
                file_size: plan.file_size,
                port: free_port()?,
                peers: swarm.nodes.iter().map(SwarmNode::addr).collect(),
                mib: plan.mib,
                mode: plan.mode,
                rate: plan.rate,
                initial_fraction: 0.5,
                expect: n - 1,
            };
            swarm
                .nodes
                .push(SwarmNode::spawn(node_bin(), i, spec, tx.clone())?);
            // Later nodes dial this one: wait until it listens.
            let seen = collect_until(&mut swarm.events, Duration::from_secs(60), |e| {
                e.node == i && e.kind() == "joined"
            })
            .await?;
            swarm.log.extend(seen);
        }
        Ok(swarm)
    }

    /// Waits until every node has checked every expected stream.
    async fn wait_done(&mut self, timeout: Duration) -> Result<()> {
        let n = self.nodes.len();
        let mut done: Vec<bool> = (0..n)
            .map(|i| self.log.iter().any(|e| e.node == i && e.kind() == "done"))
            .collect();
        if done.iter().all(|d| *d) {
            return Ok(());
        }
        let seen = collect_until(&mut self.events, timeout, |e| {
            if e.kind() == "done" {
                done[e.node] = true;
            }
            done.iter().all(|d| *d)
        })
        .await?;
        self.log.extend(seen);
        Ok(())
    }

    fn events_of<'a>(&'a self, node: usize, kind: &'a str) -> impl Iterator<Item = &'a NodeEvent> {
        self.log
            .iter()
            .filter(move |e| e.node == node && e.kind() == kind)
    }

    /// Checks every node received every neighbour's whole stream, every
    /// link carried exactly the streams' bytes, and no link went down.
    fn check_streams(&self, plan: &Plan) -> Result<()> {
        let n = self.nodes.len();
        let stream = (plan.mib * MIB as f64) as u64;
        for i in 0..n {
            let mut from: Vec<u64> = self
                .events_of(i, "received")
                .map(|e| {
                    ensure!(e.value["bytes"] == stream, "short stream: {}", e.value);
                    e.value["from_port"].as_u64().context("from_port")
                })
                .collect::<Result<_>>()?;
            from.sort_unstable();
            let mut want: Vec<u64> = (0..n)
                .filter(|j| *j != i)
                .map(|j| u64::from(self.nodes[j].spec.port))
                .collect();
            want.sort_unstable();
            ensure!(
                from == want,
                "node {i} got streams from {from:?}, want {want:?}"
            );
            let down: Vec<_> = self.events_of(i, "down").map(|e| &e.value).collect();
            ensure!(down.is_empty(), "node {i} lost links: {down:?}");
            let done = self.events_of(i, "done").next().context("no done event")?;
            let links = done.value["links"].as_array().context("links")?;
            ensure!(links.len() == n - 1, "node {i} has {} links", links.len());
            for l in links {
                // A neighbour's stream is complete when `done` is printed;
                // ours may still be on its way.
                ensure!(
                    l["bytes_received"] == stream + HEADER_LEN,
                    "node {i} link {l}: wrong byte count"
                );
                ensure!(l["bytes_sent"].as_u64().unwrap_or(0) <= stream + HEADER_LEN);
            }
        }
        Ok(())
    }

    async fn stop(self) -> Result<()> {
        for node in self.nodes {
            node.stop().await?;
        }
        Ok(())
    }
}

fn seed_hex(tag: u8) -> String {
    hex::encode([tag; 32])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_move_50_mib_each_way() -> Result<()> {
    let started = Instant::now();
    // Each side can pull ~80 MiB (a quarter of the file) from the other.
    let plan = Plan {
        seed_hex: seed_hex(0x21),
        file_size: 320 * MIB,
        mib: 50.0,
        mode: "public",
        rate: None,
    };
    let mut swarm = Swarm::full_mesh(&plan, 2).await?;
    let joined = started.elapsed();
    swarm.wait_done(Duration::from_secs(150)).await?;
    swarm.check_streams(&plan)?;
    println!(
        "2 nodes, 50 MiB each way: joined after {:.1} s, done after {:.1} s",
        joined.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    swarm.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_processes_full_mesh_private_mode() -> Result<()> {
    let started = Instant::now();
    // 20 directed links of 6 MiB; a link can carry ~12% of the file.
    let plan = Plan {
        seed_hex: seed_hex(0x55),
        file_size: 128 * MIB,
        mib: 6.0,
        mode: "private",
        rate: None,
    };
    let mut swarm = Swarm::full_mesh(&plan, 5).await?;
    swarm.wait_done(Duration::from_secs(150)).await?;
    swarm.check_streams(&plan)?;
    println!(
        "5 nodes, 20 links of 6 MiB: done after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    swarm.stop().await
}

/// Checks a downloaded file piece by piece against the PACOM file's hashes.
fn check_pieces(path: &Path, file: &PacomFile) -> Result<()> {
    let data = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    ensure!(
        data.len() as u64 == file.length,
        "downloaded {} bytes",
        data.len()
    );
    for (i, piece) in data.chunks(file.piece_length as usize).enumerate() {
        let hash: [u8; 20] = Sha1::digest(piece).into();
        ensure!(
            Some(hash) == file.piece_hash(i as u32),
            "piece {i} hash differs"
        );
    }
    let head = file.block(0, 0, 16384)?;
    ensure!(data[..16384] == head[..], "first block is not the cover");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_downloads_the_pacom_file_while_links_run() -> Result<()> {
    let started = Instant::now();
    // Paced links (100 blocks/s each way): the 8 MiB streams take ~5 s, and
    // the links go on with cover frames after that.
    let plan = Plan {
        seed_hex: seed_hex(0x3c),
        file_size: 64 * MIB,
        mib: 8.0,
        mode: "public",
        rate: Some(100.0),
    };
    let seed: [u8; 32] = [0x3c; 32];
    let size = plan.file_size;
    let file = tokio::task::spawn_blocking(move || {
        PacomFile::generate(
            seed,
            &CoverKind::Archive,
            &PacomFileOptions::with_size(size),
        )
    })
    .await??;
    let mut swarm = Swarm::full_mesh(&plan, 2).await?;
    swarm.log.extend(
        collect_until(&mut swarm.events, Duration::from_secs(20), |e| {
            e.kind() == "up"
        })
        .await?,
    );

    let dir = tempfile::tempdir()?;
    let save: PathBuf = dir.path().join("lt");
    std::fs::create_dir_all(&save)?;
    let mut lt = LibtorrentPeer::start(LtOptions::default()).await?;
    let lt_added = Instant::now();
    let ih = lt
        .add_torrent(
            &file.torrent_bytes(&[]),
            &LtAdd {
                save_path: save.clone(),
                seed: false,
                peers: swarm.nodes.iter().map(SwarmNode::addr).collect(),
                trackers: Vec::new(),
            },
        )
        .await?;
    ensure!(
        ih == file.info_hash,
        "libtorrent computed another info hash"
    );
    let st = lt.wait_seeding(ih, Duration::from_secs(60)).await?;
    let lt_done = Instant::now();
    ensure!(
        st.total_wanted_done == file.length,
        "libtorrent status {st:?}"
    );
    check_pieces(&save.join(&file.name), &file)?;

    swarm.wait_done(Duration::from_secs(60)).await?;
    swarm.check_streams(&plan)?;
    // The links were carrying the streams while libtorrent joined.
    for i in 0..2 {
        let got = swarm
            .events_of(i, "received")
            .next()
            .context("no stream received")?;
        ensure!(
            got.at > lt_added,
            "node {i} finished its stream before libtorrent joined"
        );
    }
    println!(
        "libtorrent: {} MiB in {:.1} s beside the links; streams done after {:.1} s; total {:.1} s",
        file.length / MIB,
        (lt_done - lt_added).as_secs_f64(),
        swarm
            .log
            .iter()
            .filter(|e| e.kind() == "done")
            .map(|e| e.at - lt_added)
            .max()
            .unwrap_or_default()
            .as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    lt.shutdown().await?;
    swarm.stop().await
}
