//! Our engine against libtorrent 2.0 with peers found only through peer
//! discovery: opentracker and a loopback DHT. No test hands out addresses.
//!
//! DHT arrangement: libtorrent nodes get no answers from `mainline` nodes
//! (see `interop_tests::dht_testnet`), so every libtorrent test uses a DHT of
//! libtorrent nodes (`LtDhtNet`) that our `mainline`-based node queries and
//! announces into; our engine against our engine uses a `mainline` testnet.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use interop_tests::dht_testnet::{test_node_config, DhtTestnet, LtDhtNet};
use interop_tests::files::{compare_paths, write_random_file, write_random_tree};
use interop_tests::libtorrent::{LibtorrentPeer, LtAdd, LtOptions};
use interop_tests::opentracker::Opentracker;
use pacom_bt::dht::Dht;
use pacom_bt::dht_source::DhtSource;
use pacom_bt::discovery::PeerSource;
use pacom_bt::metainfo::{create_from_path, CreateOptions, Metainfo};
use pacom_bt::tracker_source::TrackerSource;
use pacom_bt::{AddTorrent, Engine, EngineConfig, StorageSpec, TorrentHandle, TorrentSource};

const MIB: u64 = 1024 * 1024;
/// Upper bound for one transfer; a hang fails instead of blocking the suite.
const LIMIT: Duration = Duration::from_secs(50);

async fn engine() -> Result<Engine> {
    let cfg = EngineConfig {
        listen: "127.0.0.1:0".parse()?,
        discovery_interval: Duration::from_secs(1),
        ..Default::default()
    };
    Ok(Engine::start(cfg).await?)
}

async fn libtorrent(dht_bootstrap: Vec<std::net::SocketAddr>) -> Result<LibtorrentPeer> {
    LibtorrentPeer::start(LtOptions {
        port: 0,
        dht: !dht_bootstrap.is_empty(),
        dht_bootstrap,
    })
    .await
}

/// Adds `m` to `engine`, downloading into `dir` with only `sources` for peers.
async fn leech(
    engine: &Engine,
    m: Metainfo,
    dir: &Path,
    sources: Vec<Arc<dyn PeerSource>>,
) -> Result<TorrentHandle> {
    let mut add = AddTorrent::new(
        TorrentSource::Metainfo(Box::new(m)),
        StorageSpec::Dir(dir.to_path_buf()),
    );
    add.peer_sources = sources;
    Ok(engine.add_torrent(add).await?)
}

async fn seed(
    engine: &Engine,
    m: Metainfo,
    dir: &Path,
    sources: Vec<Arc<dyn PeerSource>>,
) -> Result<TorrentHandle> {
    let mut add = AddTorrent::new(
        TorrentSource::Metainfo(Box::new(m)),
        StorageSpec::Dir(dir.to_path_buf()),
    );
    add.peer_sources = sources;
    add.seed_only = true;
    let h = engine.add_torrent(add).await?;
    if !h.stats().complete {
        bail!("seeder data does not verify: {:?}", h.stats());
    }
    Ok(h)
}

async fn wait_complete(h: &TorrentHandle) -> Result<()> {
    tokio::time::timeout(LIMIT, h.wait_complete())
        .await
        .with_context(|| format!("download incomplete: {:?}", h.stats()))??;
    Ok(())
}

/// A torrent of one file made by our own code (for our seeders).
/// How a libtorrent leecher with no peer is asked to look again.
#[derive(Clone, Copy)]
enum Nudge {
    Tracker,
    Dht,
}

/// Waits until the libtorrent leecher `lt` has the whole torrent from our
/// seeder `h`. A lookup made before our announce landed finds nobody, and
/// libtorrent's next one would be minutes away, so while it has no peer it is
/// nudged to announce again.
async fn lt_finishes_from(
    lt: &mut LibtorrentPeer,
    ih: [u8; 20],
    h: &TorrentHandle,
    nudge: Nudge,
) -> Result<()> {
    let done = tokio::time::timeout(LIMIT, async {
        loop {
            if let Ok(st) = lt.wait_seeding(ih, Duration::from_secs(2)).await {
                return anyhow::Ok(st);
            }
            if lt.status(ih).await?.num_peers == 0 {
                match nudge {
                    Nudge::Tracker => lt.force_reannounce(ih).await?,
                    Nudge::Dht => lt.force_dht_announce(ih).await?,
                }
            }
        }
    })
    .await;
    let st =
        done.with_context(|| format!("libtorrent did not finish; seeder {:?}", h.stats()))??;
    assert!(st.is_seeding);
    assert!(h.stats().bytes_uploaded >= 32 * MIB);
    Ok(())
}

fn our_metainfo(path: &Path, piece: u32, trackers: Vec<String>) -> Result<Metainfo> {
    let opts = CreateOptions {
        piece_length: Some(piece),
        trackers,
        ..Default::default()
    };
    Ok(create_from_path(path, &opts)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_download_from_libtorrent_found_via_opentracker() -> Result<()> {
    let sd = tempfile::tempdir()?;
    let ld = tempfile::tempdir()?;
    let file = sd.path().join("f.bin");
    write_random_file(&file, 32 * MIB + 12_345, 11)?;
    let tracker = Opentracker::start(&[])?;
    let url = tracker.announce_url();

    let mut lt = libtorrent(vec![]).await?;
    let t = lt
        .create_torrent(&file, 256 * 1024, std::slice::from_ref(&url))
        .await?;
    tracker.allow(t.info_hash)?;
    lt.add_torrent(
        &t.bytes,
        &LtAdd {
            save_path: sd.path().to_path_buf(),
            seed: true,
            trackers: vec![url.clone()],
            ..Default::default()
        },
    )
    .await?;

    // No peers and no sources given: the tracker comes from the .torrent.
    let e = engine().await?;
    let h = leech(&e, Metainfo::from_bytes(&t.bytes)?, ld.path(), vec![]).await?;
    wait_complete(&h).await?;
    assert!(h.stats().bytes_downloaded >= 32 * MIB);
    compare_paths(&file, &ld.path().join("f.bin"))?;
    e.shutdown().await;
    lt.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_downloads_from_us_found_via_opentracker() -> Result<()> {
    let sd = tempfile::tempdir()?;
    let ld = tempfile::tempdir()?;
    let file = sd.path().join("f.bin");
    // An exact multiple of the piece size: the last piece is a full one.
    write_random_file(&file, 32 * MIB, 12)?;
    let tracker = Opentracker::start(&[])?;
    let url = tracker.announce_url();
    let m = our_metainfo(&file, 1 << 20, vec![])?;
    assert_eq!(m.info.total_length() % u64::from(m.info.piece_length), 0);
    tracker.allow(m.info_hash.0)?;
    let bytes = m.to_bytes();

    let e = engine().await?;
    // The tracker source announces with the torrent's own peer id.
    let peer_id = e.generate_peer_id();
    let add_source = TrackerSource::new(url.clone(), peer_id);
    let mut add = AddTorrent::new(
        TorrentSource::Metainfo(Box::new(m)),
        StorageSpec::Dir(sd.path().to_path_buf()),
    );
    add.peer_id = Some(peer_id);
    add.seed_only = true;
    add.peer_sources = vec![Arc::new(add_source)];
    let h = e.add_torrent(add).await?;
    assert!(h.stats().complete);

    let mut lt = libtorrent(vec![]).await?;
    let ih = lt
        .add_torrent(
            &bytes,
            &LtAdd {
                save_path: ld.path().to_path_buf(),
                seed: false,
                trackers: vec![url],
                ..Default::default()
            },
        )
        .await?;
    lt_finishes_from(&mut lt, ih, &h, Nudge::Tracker).await?;
    compare_paths(&file, &ld.path().join("f.bin"))?;
    e.shutdown().await;
    lt.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_download_from_libtorrent_found_via_dht() -> Result<()> {
    let sd = tempfile::tempdir()?;
    let ld = tempfile::tempdir()?;
    let file = sd.path().join("f.bin");
    write_random_file(&file, 32 * MIB + 1, 13)?;

    let mut net = LtDhtNet::start(3).await?;
    net.wait_connected(2, Duration::from_secs(20)).await?;
    let mut lt = libtorrent(net.bootstrap()).await?;
    let t = lt.create_torrent(&file, 64 * 1024, &[]).await?;
    let ih = lt
        .add_torrent(
            &t.bytes,
            &LtAdd {
                save_path: sd.path().to_path_buf(),
                seed: true,
                ..Default::default()
            },
        )
        .await?;

    let dht = Dht::start(test_node_config(net.bootstrap()))?;
    let e = engine().await?;
    let h = leech(
        &e,
        Metainfo::from_bytes(&t.bytes)?,
        ld.path(),
        vec![Arc::new(DhtSource::new(dht))],
    )
    .await?;
    let done = tokio::time::timeout(LIMIT, async {
        // Until we have a peer, keep libtorrent announcing into its DHT.
        while h.stats().peers_connected == 0 && !h.stats().complete {
            lt.force_dht_announce(ih).await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        h.wait_complete().await?;
        anyhow::Ok(())
    })
    .await;
    done.with_context(|| format!("download incomplete: {:?}", h.stats()))??;
    compare_paths(&file, &ld.path().join("f.bin"))?;
    e.shutdown().await;
    lt.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_downloads_from_us_found_via_dht() -> Result<()> {
    let sd = tempfile::tempdir()?;
    let ld = tempfile::tempdir()?;
    let file = sd.path().join("f.bin");
    write_random_file(&file, 32 * MIB + 777, 14)?;
    let m = our_metainfo(&file, 512 * 1024, vec![])?;
    let bytes = m.to_bytes();

    let mut net = LtDhtNet::start(3).await?;
    net.wait_connected(2, Duration::from_secs(20)).await?;
    // Our node announces into the libtorrent nodes (mainline -> libtorrent
    // queries work); the libtorrent leecher looks up on the same nodes.
    let dht = Dht::start(test_node_config(net.bootstrap()))?;
    let e = engine().await?;
    let h = seed(&e, m, sd.path(), vec![Arc::new(DhtSource::new(dht))]).await?;

    let mut lt = libtorrent(net.bootstrap()).await?;
    let ih = lt
        .add_torrent(
            &bytes,
            &LtAdd {
                save_path: ld.path().to_path_buf(),
                ..Default::default()
            },
        )
        .await?;
    lt_finishes_from(&mut lt, ih, &h, Nudge::Dht).await?;
    compare_paths(&file, &ld.path().join("f.bin"))?;
    e.shutdown().await;
    lt.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_engines_find_each_other_on_a_mainline_testnet() -> Result<()> {
    let sd = tempfile::tempdir()?;
    let ld = tempfile::tempdir()?;
    let file = sd.path().join("f.bin");
    write_random_file(&file, 32 * MIB + 99_999, 15)?;
    let m = our_metainfo(&file, 2 << 20, vec![])?;

    let net = DhtTestnet::start(4).await?;
    let seeder = engine().await?;
    let hs = seed(
        &seeder,
        m.clone(),
        sd.path(),
        vec![Arc::new(DhtSource::new(net.join().await?))],
    )
    .await?;
    let leecher = engine().await?;
    let hl = leech(
        &leecher,
        m,
        ld.path(),
        vec![Arc::new(DhtSource::new(net.join().await?))],
    )
    .await?;
    wait_complete(&hl).await?;
    assert!(hs.stats().bytes_uploaded >= 32 * MIB);
    compare_paths(&file, &ld.path().join("f.bin"))?;
    leecher.shutdown().await;
    seeder.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_download_a_multi_file_torrent_from_libtorrent() -> Result<()> {
    let sd = tempfile::tempdir()?;
    let ld = tempfile::tempdir()?;
    write_random_tree(sd.path(), "tree", 16)?;
    write_random_file(&sd.path().join("tree/sub/big.bin"), 32 * MIB + 3, 17)?;
    let tracker = Opentracker::start(&[])?;
    let url = tracker.announce_url();

    let mut lt = libtorrent(vec![]).await?;
    let t = lt
        .create_torrent(&sd.path().join("tree"), 1 << 20, &[])
        .await?;
    tracker.allow(t.info_hash)?;
    lt.add_torrent(
        &t.bytes,
        &LtAdd {
            save_path: sd.path().to_path_buf(),
            seed: true,
            trackers: vec![url.clone()],
            ..Default::default()
        },
    )
    .await?;

    // The .torrent names no tracker: the source is given explicitly.
    let e = engine().await?;
    let source = TrackerSource::new(url, e.generate_peer_id());
    let h = leech(
        &e,
        Metainfo::from_bytes(&t.bytes)?,
        ld.path(),
        vec![Arc::new(source)],
    )
    .await?;
    wait_complete(&h).await?;
    compare_paths(&sd.path().join("tree"), &ld.path().join("tree"))?;
    e.shutdown().await;
    lt.shutdown().await
}
