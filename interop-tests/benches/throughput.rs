//! Loopback download throughput from a libtorrent seeder: the baseline that
//! our engine is measured against.
//!
//!   cargo bench -p interop-tests --bench throughput
//!   PACOM_BENCH_MIB=64 cargo bench -p interop-tests --bench throughput
//!
//! Rows: libtorrent → libtorrent, libtorrent → librqbit, and libtorrent →
//! our engine (see [`engine_downloader`]), with each row's
//! ratio to the libtorrent → libtorrent figure. Every download is checked
//! byte for byte after the clock stops.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, Instant};

use anyhow::Result;
use interop_tests::files::{compare_paths, write_random_file};
use interop_tests::libtorrent::{LibtorrentPeer, LtAdd, LtOptions};
use interop_tests::rqbit::RqbitPeer;
use pacom_bt::metainfo::Metainfo;
use pacom_bt::{AddTorrent, Engine, EngineConfig, StorageSpec, TorrentSource};

const FILE_NAME: &str = "payload.bin";

/// What a downloader under test gets: the torrent, the seeder to connect to,
/// and the directory the file must end up in (as `out_dir/payload.bin`).
pub struct DownloadJob {
    pub torrent: Vec<u8>,
    pub seeder: SocketAddr,
    pub out_dir: PathBuf,
}

/// A downloader: resolves once the whole file is on disk.
pub type Downloader = Box<dyn Fn(DownloadJob) -> Pin<Box<dyn Future<Output = Result<()>>>>>;

/// Our engine downloads from the libtorrent seeder: default settings,
/// files on disk, the seeder given as the only peer.
fn engine_downloader() -> Downloader {
    Box::new(|job: DownloadJob| {
        Box::pin(async move {
            let cfg = EngineConfig {
                listen: "127.0.0.1:0".parse()?,
                ..Default::default()
            };
            let engine = Engine::start(cfg).await?;
            let m = Metainfo::from_bytes(&job.torrent)?;
            let mut add = AddTorrent::new(
                TorrentSource::Metainfo(Box::new(m)),
                StorageSpec::Dir(job.out_dir),
            );
            add.initial_peers = vec![job.seeder];
            let h = engine.add_torrent(add).await?;
            let done = tokio::time::timeout(Duration::from_secs(600), h.wait_complete()).await;
            // Flushes the files before the comparison.
            h.shutdown().await;
            engine.shutdown().await;
            done??;
            Ok(())
        })
    })
}

struct Row {
    name: &'static str,
    result: Result<Duration>,
}

/// Times one download into a fresh directory and verifies it afterwards.
async fn measure(
    name: &'static str,
    downloader: &Downloader,
    torrent: &[u8],
    seeder: SocketAddr,
    source: &std::path::Path,
    scratch: &std::path::Path,
) -> Row {
    let out_dir = scratch.join(name.replace(|c: char| !c.is_ascii_alphanumeric(), "_"));
    let run = async {
        std::fs::create_dir_all(&out_dir)?;
        let job = DownloadJob {
            torrent: torrent.to_vec(),
            seeder,
            out_dir: out_dir.clone(),
        };
        let start = Instant::now();
        downloader(job).await?;
        let elapsed = start.elapsed();
        compare_paths(source, &out_dir.join(FILE_NAME))?;
        std::fs::remove_dir_all(&out_dir)?;
        Ok(elapsed)
    };
    Row {
        name,
        result: run.await,
    }
}

fn libtorrent_downloader() -> Downloader {
    Box::new(|job: DownloadJob| {
        Box::pin(async move {
            let mut lt = LibtorrentPeer::start(LtOptions::default()).await?;
            let ih = lt
                .add_torrent(
                    &job.torrent,
                    &LtAdd {
                        save_path: job.out_dir,
                        peers: vec![job.seeder],
                        ..Default::default()
                    },
                )
                .await?;
            lt.wait_seeding(ih, Duration::from_secs(600)).await?;
            lt.shutdown().await
        })
    })
}

fn rqbit_downloader() -> Downloader {
    Box::new(|job: DownloadJob| {
        Box::pin(async move {
            let rq = RqbitPeer::start(&job.out_dir).await?;
            let handle = rq.add(&job.torrent, &job.out_dir, vec![job.seeder]).await?;
            RqbitPeer::wait_complete(&handle, Duration::from_secs(600)).await?;
            rq.session.stop().await;
            Ok(())
        })
    })
}

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass other
    // flags: only run the (slow) measurement when asked to benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        println!("throughput: skipped (run with cargo bench)");
        return Ok(());
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> Result<()> {
    let mib: u64 = std::env::var("PACOM_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let bytes = mib << 20;
    let dir = tempfile::tempdir()?;
    let seed_dir = dir.path().join("seed");
    let source = seed_dir.join(FILE_NAME);
    write_random_file(&source, bytes, 42)?;

    let mut seeder = LibtorrentPeer::start(LtOptions::default()).await?;
    let torrent = seeder.create_torrent(&source, 0, &[]).await?;
    seeder
        .add_torrent(
            &torrent.bytes,
            &LtAdd {
                save_path: seed_dir.clone(),
                seed: true,
                ..Default::default()
            },
        )
        .await?;
    println!(
        "payload {mib} MiB, {} pieces of {} KiB, loopback TCP, seeder: python3-libtorrent",
        torrent.num_pieces,
        torrent.piece_length / 1024,
    );

    let scratch = dir.path().join("downloads");
    let mut rows = vec![
        measure(
            "libtorrent -> libtorrent",
            &libtorrent_downloader(),
            &torrent.bytes,
            seeder.addr(),
            &source,
            &scratch,
        )
        .await,
        measure(
            "libtorrent -> librqbit",
            &rqbit_downloader(),
            &torrent.bytes,
            seeder.addr(),
            &source,
            &scratch,
        )
        .await,
    ];
    rows.push(
        measure(
            "libtorrent -> pacom engine",
            &engine_downloader(),
            &torrent.bytes,
            seeder.addr(),
            &source,
            &scratch,
        )
        .await,
    );

    let base = match &rows[0].result {
        Ok(d) => Some(d.as_secs_f64()),
        Err(_) => None,
    };
    println!(
        "{:<28} {:>10} {:>10} {:>14}",
        "download", "seconds", "MB/s", "vs lt->lt"
    );
    for row in &rows {
        match &row.result {
            Ok(d) => {
                let secs = d.as_secs_f64();
                let ratio = base
                    .map(|b| format!("{:.2}", b / secs))
                    .unwrap_or_else(|| "-".into());
                println!(
                    "{:<28} {:>10.2} {:>10.1} {:>14}",
                    row.name,
                    secs,
                    bytes as f64 / 1e6 / secs,
                    ratio
                );
            }
            Err(e) => println!("{:<28} failed: {e:#}", row.name),
        }
    }
    seeder.shutdown().await
}
