//! Our engine against itself and against hostile peers, over loopback TCP.

use pacom_bt::magnet::Magnet;
use pacom_bt::metainfo::{create_from_bytes, CreateOptions, Metainfo};
use pacom_bt::{AddTorrent, Engine, EngineConfig, StorageSpec, TorrentHandle, TorrentSource};
use rand::{Rng, SeedableRng};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LIMIT: Duration = Duration::from_secs(60);

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill(&mut v[..]);
    v
}

fn torrent(data: &[u8], piece: u32) -> Metainfo {
    let opts = CreateOptions {
        piece_length: Some(piece),
        ..Default::default()
    };
    create_from_bytes("payload.bin", data, &opts).expect("create torrent")
}

async fn engine() -> Engine {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let cfg = EngineConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    Engine::start(cfg).await.expect("engine")
}

async fn seeder(m: &Metainfo, data: &[u8], dir: &Path) -> (Engine, TorrentHandle) {
    std::fs::write(dir.join("payload.bin"), data).unwrap();
    let e = engine().await;
    let mut add = AddTorrent::new(
        TorrentSource::Metainfo(Box::new(m.clone())),
        StorageSpec::Dir(dir.to_path_buf()),
    );
    add.seed_only = true;
    let h = e.add_torrent(add).await.expect("add seed");
    assert!(h.stats().complete, "seeder must verify its data");
    (e, h)
}

async fn leech(
    source: TorrentSource,
    dir: &Path,
    peers: Vec<SocketAddr>,
) -> (Engine, TorrentHandle) {
    let e = engine().await;
    let mut add = AddTorrent::new(source, StorageSpec::Dir(dir.to_path_buf()));
    add.initial_peers = peers;
    let h = e.add_torrent(add).await.expect("add leech");
    (e, h)
}

async fn complete(h: &TorrentHandle) {
    tokio::time::timeout(LIMIT, h.wait_complete())
        .await
        .expect("download timed out")
        .expect("torrent shut down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_from_our_seeder_various_piece_sizes() {
    for (len, piece) in [
        (3 * 1024 * 1024 + 1234, 32 * 1024),
        (4 * 1024 * 1024, 256 * 1024),
        (1024 * 1024 + 7, 16 * 1024),
    ] {
        let d = data(len, len as u64);
        let m = torrent(&d, piece);
        let sd = tempfile::tempdir().unwrap();
        let ld = tempfile::tempdir().unwrap();
        let (se, sh) = seeder(&m, &d, sd.path()).await;
        let (le, lh) = leech(
            TorrentSource::Metainfo(Box::new(m.clone())),
            ld.path(),
            vec![se.local_addr()],
        )
        .await;
        complete(&lh).await;
        let got = std::fs::read(ld.path().join("payload.bin")).unwrap();
        assert!(
            got == d,
            "downloaded bytes differ (len {len}, piece {piece})"
        );
        let s = lh.stats();
        assert_eq!(s.pieces_have, m.info.num_pieces());
        assert!(sh.stats().bytes_uploaded >= len as u64);
        // The seeder sees a HAVE for every piece, in the order we completed
        // them (the last ones may still be in flight: wait for them).
        let all: Vec<u32> = (0..m.info.num_pieces()).collect();
        let mut sorted = Vec::new();
        for _ in 0..100 {
            let seqs = sh.have_sequences();
            sorted = seqs.values().next().cloned().unwrap_or_default();
            sorted.sort_unstable();
            if sorted == all {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(sorted, all);
        le.shutdown().await;
        se.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_download_fetches_metadata_from_our_seeder() {
    let d = data(2 * 1024 * 1024 + 99, 7);
    let m = torrent(&d, 64 * 1024);
    let sd = tempfile::tempdir().unwrap();
    let ld = tempfile::tempdir().unwrap();
    let (se, _sh) = seeder(&m, &d, sd.path()).await;
    let magnet = Magnet::parse(&m.magnet().to_uri()).unwrap();
    let (le, lh) = leech(
        TorrentSource::Magnet(magnet),
        ld.path(),
        vec![se.local_addr()],
    )
    .await;
    // No assertion that metadata is still missing here: on loopback it can
    // arrive before `leech` returns.
    complete(&lh).await;
    let got_meta = lh.metainfo().expect("metadata");
    assert_eq!(got_meta.info_hash, m.info_hash);
    assert!(std::fs::read(ld.path().join("payload.bin")).unwrap() == d);
    le.shutdown().await;
    se.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_rechecks_existing_half() {
    let d = data(2 * 1024 * 1024, 11);
    let m = torrent(&d, 64 * 1024);
    let sd = tempfile::tempdir().unwrap();
    let ld = tempfile::tempdir().unwrap();
    let mut half = d.clone();
    for b in &mut half[d.len() / 2..] {
        *b = 0;
    }
    std::fs::write(ld.path().join("payload.bin"), &half).unwrap();
    // Added without peers first: the recheck alone finds the first half.
    let (le, lh) = leech(
        TorrentSource::Metainfo(Box::new(m.clone())),
        ld.path(),
        vec![],
    )
    .await;
    assert_eq!(lh.stats().pieces_have, m.info.num_pieces() / 2);
    let (se, _sh) = seeder(&m, &d, sd.path()).await;
    lh.add_peers([se.local_addr()]);
    complete(&lh).await;
    assert!(std::fs::read(ld.path().join("payload.bin")).unwrap() == d);
    // Only the missing half travelled.
    assert!(lh.stats().bytes_downloaded <= (d.len() / 2 + 64 * 1024) as u64);
    le.shutdown().await;
    se.shutdown().await;
}

/// How a hostile peer misbehaves after accepting our connection.
#[derive(Clone, Copy, Debug)]
enum Evil {
    Garbage,
    HugeLength,
    WrongInfoHash,
    SpareBits,
    BadPieces,
}

/// A raw-TCP peer; its task returns true when we closed the connection.
async fn evil_peer(kind: Evil, m: &Metainfo) -> (SocketAddr, tokio::task::JoinHandle<bool>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let info_hash = m.info_hash.0;
    let n = m.info.num_pieces() as usize;
    let task = tokio::spawn(async move {
        let Ok((mut s, _)) = l.accept().await else {
            return false;
        };
        let mut hs = [0u8; 68];
        if s.read_exact(&mut hs).await.is_err() {
            return false;
        }
        let mut reply = Vec::new();
        reply.push(19u8);
        reply.extend_from_slice(b"BitTorrent protocol");
        reply.extend_from_slice(&[0u8; 8]);
        match kind {
            Evil::Garbage => {
                let _ = s.write_all(&[0xAB; 200]).await;
                return closed(&mut s).await;
            }
            Evil::WrongInfoHash => reply.extend_from_slice(&[0x55; 20]),
            _ => reply.extend_from_slice(&info_hash),
        }
        reply.extend_from_slice(b"-EV0001-evilevilevil");
        let _ = s.write_all(&reply).await;
        match kind {
            Evil::HugeLength => {
                let _ = s.write_all(&0xFFFF_FFF0u32.to_be_bytes()).await;
                let _ = s.write_all(&[7u8; 64]).await;
            }
            Evil::SpareBits => {
                let mut bits = vec![0xFFu8; n.div_ceil(8)];
                if let Some(last) = bits.last_mut() {
                    *last = 0xFF; // spare bits set (n is not a multiple of 8)
                }
                let _ = s.write_all(&msg(5, &bits)).await;
            }
            Evil::BadPieces => {
                let mut bits = vec![0u8; n.div_ceil(8)];
                for i in 0..n {
                    bits[i / 8] |= 0x80 >> (i % 8);
                }
                let _ = s.write_all(&msg(5, &bits)).await;
                let _ = s.write_all(&msg(1, &[])).await;
                return serve_garbage(&mut s).await;
            }
            _ => {}
        }
        closed(&mut s).await
    });
    (addr, task)
}

fn msg(id: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
    v.push(id);
    v.extend_from_slice(payload);
    v
}

/// Waits (bounded) for the other side to close.
async fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    let res = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    })
    .await;
    res.unwrap_or(false)
}

/// Answers every REQUEST with random bytes until we are disconnected.
async fn serve_garbage(s: &mut TcpStream) -> bool {
    let res = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let mut len = [0u8; 4];
            if s.read_exact(&mut len).await.is_err() {
                return true;
            }
            let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
            if s.read_exact(&mut body).await.is_err() {
                return true;
            }
            if body.first() == Some(&6) && body.len() == 13 {
                let length = u32::from_be_bytes([body[9], body[10], body[11], body[12]]);
                let mut payload = body[1..9].to_vec();
                payload.extend(std::iter::repeat_n(0x5Au8, length as usize));
                if s.write_all(&msg(7, &payload)).await.is_err() {
                    return true;
                }
            }
        }
    })
    .await;
    res.unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peers_are_dropped_and_download_completes() {
    // 37 pieces: not a multiple of 8, so a bitfield can carry spare bits.
    let d = data(37 * 32 * 1024 - 100, 3);
    let m = torrent(&d, 32 * 1024);
    for kind in [
        Evil::Garbage,
        Evil::HugeLength,
        Evil::WrongInfoHash,
        Evil::SpareBits,
        Evil::BadPieces,
    ] {
        let sd = tempfile::tempdir().unwrap();
        let ld = tempfile::tempdir().unwrap();
        let (evil_addr, evil) = evil_peer(kind, &m).await;
        let (le, lh) = leech(
            TorrentSource::Metainfo(Box::new(m.clone())),
            ld.path(),
            vec![evil_addr],
        )
        .await;
        if matches!(kind, Evil::BadPieces) {
            // Let the bad peer be the only source for a while.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let (se, _sh) = seeder(&m, &d, sd.path()).await;
        lh.add_peers([se.local_addr()]);
        complete(&lh).await;
        assert!(std::fs::read(ld.path().join("payload.bin")).unwrap() == d);
        assert!(evil.await.unwrap(), "{kind:?} peer was not disconnected");
        le.shutdown().await;
        se.shutdown().await;
    }
}
