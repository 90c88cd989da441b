//! The HAVE-order decoder (Algorithm 3) on HAVE sequences recorded from real
//! downloads: ordinary libtorrent clients are never read as hiding anything,
//! and our engine with the HAVE-order picker (Algorithm 2), downloading the
//! same torrent among them, is read as the x it hides.
//!
//! Our engine seeds F (upload-limited, so downloads take seconds and peers
//! stay connected) and a second engine downloads it slowly; both record each
//! connection's HAVEs with the engine's observation API, and every prefix
//! of every sequence is decoded. Phase 1: three libtorrent clients download
//! F from the seed and each other. Phase 2: an engine with the HAVE-order
//! picker downloads F from the seed and the libtorrent clients.
//!
//! The phases are apart on purpose: a libtorrent client that downloads
//! mostly from a bootstrap node inherits its class structure (rarest first
//! takes what that peer has), so its order can read as the same x. That
//! costs a newcomer one DHT lookup of a swarm derived from the wrong IP.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use interop_tests::popular::PopularTorrent;
use pacom_bt::node::HaveOrderPicker;
use pacom_bt::{AddTorrent, Engine, EngineConfig, StorageSpec, TorrentHandle, TorrentSource};
use pacom_core::bootstrap::{DecoderParams, HaveOrderDecoder};

const KEY: [u8; 32] = [0x5a; 32];
const HIDDEN_X: u8 = 37;
const PIECE: u32 = 16 * 1024;
const PIECES: u64 = 384;
const LIMIT: Duration = Duration::from_secs(60);

/// Decodes every prefix of `order` from the shortest window on; returns the
/// distinct results and the prefix length of the first decode.
fn decode_prefixes(dec: &HaveOrderDecoder, order: &[u32]) -> (Vec<u8>, Option<usize>) {
    let start = dec.windows().first().map_or(1, |w| w.len as usize);
    let mut seen = Vec::new();
    let mut first = None;
    for n in start..=order.len() {
        if let Some(d) = dec.decode(&order[..n]) {
            first.get_or_insert(n);
            if !seen.contains(&d.x) {
                seen.push(d.x);
            }
        }
    }
    (seen, first)
}

struct Reads {
    peer: SocketAddr,
    haves: usize,
    default: Vec<u8>,
    strict: Vec<u8>,
    first: Option<usize>,
}

/// Decodes every sequence `handles` recorded from peers at `ip`, printing a row each.
fn read_all(handles: &[&TorrentHandle], ip: IpAddr, dec: &[HaveOrderDecoder; 2]) -> Vec<Reads> {
    let mut out = Vec::new();
    for h in handles {
        for (peer, order) in h.have_sequences() {
            if peer.ip() != ip {
                continue;
            }
            let (default, first) = decode_prefixes(&dec[0], &order);
            let (strict, _) = decode_prefixes(&dec[1], &order);
            let r = Reads {
                peer,
                haves: order.len(),
                default,
                strict,
                first,
            };
            println!(
                "{:<22} {:>6} {:>14} {:>14} {:>11}",
                r.peer.to_string(),
                r.haves,
                format!("{:?}", r.default),
                format!("{:?}", r.strict),
                r.first.map_or("-".into(), |n| n.to_string())
            );
            out.push(r);
        }
    }
    out
}

async fn engine(last: u8, upload: Option<u64>, download: Option<u64>) -> Result<Engine> {
    Ok(Engine::start(EngineConfig {
        listen: SocketAddr::from(([127, 0, 0, last], 0)),
        upload_limit: upload,
        download_limit: download,
        ..Default::default()
    })
    .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_orders_never_decode_and_the_hiding_engine_does() -> Result<()> {
    interop_tests::init_tracing();
    let mut f = PopularTorrent::start(PIECES * u64::from(PIECE) - 1000, PIECE, 61).await?;
    let ih = f.metainfo.info_hash;
    let n = f.metainfo.info.num_pieces();
    let metainfo = f.metainfo.clone();
    let add =
        |storage| AddTorrent::new(TorrentSource::Metainfo(Box::new(metainfo.clone())), storage);

    // Our seed: the only source besides the downloaders themselves.
    let seed_engine = engine(2, Some(768 * 1024), None).await?;
    let mut a = add(StorageSpec::Dir(f.dir.path().to_path_buf()));
    a.seed_only = true;
    let seed = seed_engine.add_torrent(a).await?;
    ensure!(seed.stats().complete, "seed data: {:?}", seed.stats());
    // A slow downloader that stays connected to everyone.
    let watcher_engine = engine(4, None, Some(48 * 1024)).await?;
    let mut a = add(StorageSpec::Memory);
    a.initial_peers = vec![seed_engine.local_addr()];
    let watcher = watcher_engine.add_torrent(a).await?;
    let ours = [seed_engine.local_addr(), watcher_engine.local_addr()];

    let decoders = [
        HaveOrderDecoder::new(&KEY, &ih.0, &DecoderParams::default())?,
        HaveOrderDecoder::new(
            &KEY,
            &ih.0,
            &DecoderParams {
                false_positive: 1e-6,
                ..DecoderParams::default()
            },
        )?,
    ];
    println!(
        "decoder false-positive bound per call: default {:.2e}, strict {:.2e}",
        decoders[0].false_positive_bound(),
        decoders[1].false_positive_bound()
    );
    println!(
        "{:<22} {:>6} {:>14} {:>14} {:>11}",
        "peer", "HAVEs", "default reads", "strict reads", "first read"
    );

    // Phase 1: ordinary libtorrent downloads.
    for _ in 0..3 {
        f.add_leecher_without_seeder(&ours).await?;
    }
    f.wait_leechers(LIMIT).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lt = read_all(
        &[&seed, &watcher],
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        &decoders,
    );
    let long: Vec<&Reads> = lt.iter().filter(|r| r.haves >= 64).collect();
    let calls: usize = long.iter().map(|r| r.haves - 23).sum();
    let default_reads: usize = long.iter().map(|r| r.default.len()).sum();
    println!(
        "phase 1: {} libtorrent sequences of >= 64 HAVEs, {calls} decode calls, \
         default-parameter reads {default_reads}, strict reads {}",
        long.len(),
        long.iter().map(|r| r.strict.len()).sum::<usize>()
    );
    ensure!(
        long.len() >= 3,
        "only {} long libtorrent sequences",
        long.len()
    );
    for r in &long {
        ensure!(
            r.strict.is_empty(),
            "libtorrent order {} read as {:?}",
            r.peer,
            r.strict
        );
    }

    // Phase 2: our engine hides x while downloading F.
    let hider_engine = engine(3, None, Some(1024 * 1024)).await?;
    let (picker, control) = HaveOrderPicker::new(&KEY, &ih.0, n, Some(HIDDEN_X));
    let mut a = add(StorageSpec::Memory);
    a.picker = Some(Box::new(picker));
    a.initial_peers = ours.to_vec();
    a.initial_peers
        .extend(f.leechers.iter().map(|(l, _)| l.addr()));
    let hiding = hider_engine.add_torrent(a).await?;
    tokio::time::timeout(LIMIT, hiding.wait_complete())
        .await
        .context("hiding engine did not finish")??;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hider = read_all(
        &[&seed, &watcher],
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)),
        &decoders,
    );
    println!(
        "phase 2: hider read by {} observers; noisy choices {}",
        hider.len(),
        control.noisy_choices()
    );
    ensure!(
        hider.iter().any(|r| r.haves as u32 >= n / 2),
        "no observer saw half of the hider's HAVEs"
    );
    for r in hider.iter().filter(|r| r.haves >= 64) {
        ensure!(
            r.default == vec![HIDDEN_X] && r.strict == vec![HIDDEN_X],
            "hider read as {:?} / {:?}, hides {HIDDEN_X}",
            r.default,
            r.strict
        );
        ensure!(
            r.first.is_some_and(|k| k <= 64),
            "read too late: {:?}",
            r.first
        );
    }
    for h in [hiding, watcher, seed] {
        h.shutdown().await;
    }
    Ok(())
}
