//! The harness against the real programs: libtorrent seeds to librqbit and to
//! another libtorrent (peers found through opentracker), opentracker answers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use interop_tests::files::{compare_paths, write_random_file, write_random_tree};
use interop_tests::libtorrent::{LibtorrentPeer, LtAdd, LtOptions};
use interop_tests::opentracker::Opentracker;
use interop_tests::rqbit::RqbitPeer;

const MIB: u64 = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_seeds_32_mib_to_librqbit() -> Result<()> {
    interop_tests::init_tracing();
    let dir = tempfile::tempdir()?;
    let seed_dir = dir.path().join("seed");
    let down_dir = dir.path().join("down");
    std::fs::create_dir_all(&down_dir)?;
    write_random_file(&seed_dir.join("data.bin"), 32 * MIB, 1)?;

    let mut seeder = LibtorrentPeer::start(LtOptions::default()).await?;
    let torrent = seeder
        .create_torrent(&seed_dir.join("data.bin"), 0, &[])
        .await?;
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

    let rqbit = RqbitPeer::start(&down_dir).await?;
    let handle = rqbit
        .add(&torrent.bytes, &down_dir, vec![seeder.addr()])
        .await?;
    RqbitPeer::wait_complete(&handle, Duration::from_secs(50)).await?;
    compare_paths(&seed_dir.join("data.bin"), &down_dir.join("data.bin"))?;
    seeder.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_to_libtorrent_through_opentracker() -> Result<()> {
    interop_tests::init_tracing();
    let dir = tempfile::tempdir()?;
    let seed_dir = dir.path().join("seed");
    let down_dir = dir.path().join("down");
    std::fs::create_dir_all(&down_dir)?;
    write_random_tree(&seed_dir, "tree", 9)?;

    let mut seeder = LibtorrentPeer::start(LtOptions::default()).await?;
    let torrent = seeder
        .create_torrent(&seed_dir.join("tree"), 16384, &[])
        .await?;
    let tracker = Opentracker::start(&[torrent.info_hash])?;
    let trackers = vec![tracker.announce_url()];
    let ih = seeder
        .add_torrent(
            &torrent.bytes,
            &LtAdd {
                save_path: seed_dir.clone(),
                seed: true,
                trackers: trackers.clone(),
                ..Default::default()
            },
        )
        .await?;
    let mut leecher = LibtorrentPeer::start(LtOptions::default()).await?;
    leecher
        .add_torrent(
            &torrent.bytes,
            &LtAdd {
                save_path: down_dir.clone(),
                trackers,
                ..Default::default()
            },
        )
        .await?;

    // No peers given: the only way to meet is the tracker. Whoever announced
    // first saw nobody, so re-announce until they meet.
    let start = Instant::now();
    loop {
        let st = leecher.status(ih).await?;
        if st.is_seeding {
            break;
        }
        if start.elapsed() > Duration::from_secs(50) {
            bail!("leecher not done after 50 s: {st:?}");
        }
        if st.num_peers == 0 {
            seeder.force_reannounce(ih).await?;
            leecher.force_reannounce(ih).await?;
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    compare_paths(&seed_dir.join("tree"), &down_dir.join("tree"))?;
    leecher.shutdown().await?;
    seeder.shutdown().await
}

/// One raw HTTP GET; returns the whole response.
fn http_get(addr: std::net::SocketAddr, path: &str) -> Result<Vec<u8>> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(out)
}

fn announce_path(info_hash: [u8; 20]) -> String {
    let ih: String = info_hash.iter().map(|b| format!("%{b:02X}")).collect();
    format!("/announce?info_hash={ih}&peer_id=-XX0000-123456789012&port=7777&uploaded=0&downloaded=0&left=1&compact=1")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn opentracker_answers_whitelisted_hashes_only() -> Result<()> {
    let allowed = [0x11; 20];
    let later = [0x22; 20];
    let tracker = Opentracker::start(&[allowed])?;
    assert!(tracker.announce_url().starts_with("http://127.0.0.1:"));

    let ok = http_get(tracker.addr(), &announce_path(allowed))?;
    assert!(
        contains(&ok, b"8:intervali"),
        "{}",
        String::from_utf8_lossy(&ok)
    );
    // Compact answer includes the asking peer: 127.0.0.1:7777.
    assert!(contains(&ok, &[127, 0, 0, 1, 0x1e, 0x61]));

    let refused = http_get(tracker.addr(), &announce_path(later))?;
    assert!(contains(&refused, b"failure reason"));

    tracker.allow(later)?;
    let start = Instant::now();
    loop {
        let r = http_get(tracker.addr(), &announce_path(later))?;
        if contains(&r, b"8:intervali") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "whitelist reload did not take effect"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
