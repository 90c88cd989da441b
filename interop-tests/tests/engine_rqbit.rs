//! Our engine against librqbit 9.1, in-process, over loopback TCP, both ways.

use librqbit::{
    AddTorrent as RqAdd, AddTorrentOptions, ListenerMode, ListenerOptions, Session, SessionOptions,
};
use pacom_bt::metainfo::{create_from_bytes, CreateOptions, Metainfo};
use pacom_bt::{AddTorrent, Engine, EngineConfig, StorageSpec, TorrentSource};
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const LEN: usize = 32 * 1024 * 1024 + 12_345;
const PIECE: u32 = 256 * 1024;
const LIMIT: Duration = Duration::from_secs(50);

fn payload() -> Vec<u8> {
    let mut v = vec![0u8; LEN];
    rand_chacha::ChaCha8Rng::seed_from_u64(42).fill(&mut v[..]);
    v
}

fn metainfo(data: &[u8]) -> Metainfo {
    let opts = CreateOptions {
        piece_length: Some(PIECE),
        ..Default::default()
    };
    create_from_bytes("payload.bin", data, &opts).expect("create torrent")
}

async fn rqbit_session(dir: &Path) -> Arc<Session> {
    let opts = SessionOptions {
        dht: None,
        disable_trackers: true,
        disable_local_service_discovery: true,
        fastresume: false,
        persistence: None,
        listen: Some(ListenerOptions {
            mode: ListenerMode::TcpOnly,
            listen_addr: "127.0.0.1:0".parse().unwrap(),
            enable_upnp_port_forwarding: false,
            ..Default::default()
        }),
        ..Default::default()
    };
    Session::new_with_opts(dir.to_path_buf(), opts)
        .await
        .expect("librqbit session")
}

async fn our_engine() -> Engine {
    let cfg = EngineConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    Engine::start(cfg).await.expect("engine")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_download_from_librqbit() {
    let data = payload();
    let m = metainfo(&data);
    let sd = tempfile::tempdir().unwrap();
    let ld = tempfile::tempdir().unwrap();
    std::fs::write(sd.path().join("payload.bin"), &data).unwrap();

    let session = rqbit_session(sd.path()).await;
    let handle = session
        .add_torrent(
            RqAdd::TorrentFileBytes(m.to_bytes().into()),
            Some(AddTorrentOptions {
                output_folder: Some(sd.path().to_string_lossy().into_owned()),
                overwrite: true,
                ..Default::default()
            }),
        )
        .await
        .expect("librqbit add")
        .into_handle()
        .expect("handle");
    tokio::time::timeout(LIMIT, handle.wait_until_completed())
        .await
        .expect("librqbit check timed out")
        .expect("librqbit seeding");
    let seed_addr = session.listen_addr().expect("librqbit listens");

    let engine = our_engine().await;
    let mut add = AddTorrent::new(
        TorrentSource::Metainfo(Box::new(m.clone())),
        StorageSpec::Dir(ld.path().to_path_buf()),
    );
    add.initial_peers = vec![seed_addr];
    let start = Instant::now();
    let ours = engine.add_torrent(add).await.expect("add");
    tokio::time::timeout(LIMIT, ours.wait_complete())
        .await
        .expect("download from librqbit timed out")
        .expect("complete");
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "librqbit -> pacom: {} bytes in {secs:.2} s ({:.1} MiB/s)",
        LEN,
        LEN as f64 / secs / 1048576.0
    );
    assert!(std::fs::read(ld.path().join("payload.bin")).unwrap() == data);
    engine.shutdown().await;
    session.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librqbit_downloads_from_us() {
    let data = payload();
    let m = metainfo(&data);
    let sd = tempfile::tempdir().unwrap();
    let ld = tempfile::tempdir().unwrap();
    std::fs::write(sd.path().join("payload.bin"), &data).unwrap();

    let engine = our_engine().await;
    let mut add = AddTorrent::new(
        TorrentSource::Metainfo(Box::new(m.clone())),
        StorageSpec::Dir(sd.path().to_path_buf()),
    );
    add.seed_only = true;
    let ours = engine.add_torrent(add).await.expect("add");
    assert!(ours.stats().complete);

    let session = rqbit_session(ld.path()).await;
    let start = Instant::now();
    let handle = session
        .add_torrent(
            RqAdd::TorrentFileBytes(m.to_bytes().into()),
            Some(AddTorrentOptions {
                output_folder: Some(ld.path().to_string_lossy().into_owned()),
                initial_peers: Some(vec![engine.local_addr()]),
                overwrite: true,
                ..Default::default()
            }),
        )
        .await
        .expect("librqbit add")
        .into_handle()
        .expect("handle");
    tokio::time::timeout(LIMIT, handle.wait_until_completed())
        .await
        .expect("librqbit download timed out")
        .expect("librqbit complete");
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "pacom -> librqbit: {} bytes in {secs:.2} s ({:.1} MiB/s)",
        LEN,
        LEN as f64 / secs / 1048576.0
    );
    assert!(std::fs::read(ld.path().join("payload.bin")).unwrap() == data);
    assert!(ours.stats().bytes_uploaded >= LEN as u64);
    session.stop().await;
    engine.shutdown().await;
}
