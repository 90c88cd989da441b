//! The HAVE-order decoder (Algorithm 3) on HAVE sequences recorded from real
//! downloads: ordinary libtorrent clients are never read as hiding anything,
//! and our engine with the HAVE-order picker (Algorithm 2), downloading the
//! same torrent among them, is read as the x it hides.
//!
//! One libtorrent seeder, three libtorrent downloaders, a PACOM engine that
//! hides x and an observing engine; everyone is introduced directly. The
//! observer records each connection's HAVEs with the engine's observation
//! API and decodes every prefix of every sequence.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
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

async fn engine(ip: [u8; 4], download_limit: u64) -> Result<Arc<Engine>> {
    let cfg = EngineConfig {
        listen: SocketAddr::from((ip, 0)),
        download_limit: Some(download_limit),
        ..Default::default()
    };
    Ok(Arc::new(Engine::start(cfg).await?))
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_orders_never_decode_and_the_hiding_engine_does() -> Result<()> {
    interop_tests::init_tracing();
    let mut f = PopularTorrent::start(PIECES * u64::from(PIECE) - 1000, PIECE, 61).await?;
    let ih = f.metainfo.info_hash;
    let n = f.metainfo.info.num_pieces();

    // The observer downloads slowly so it is still a leecher (and connected)
    // while everyone else downloads.
    let observer = engine([127, 0, 0, 2], 128 * 1024).await?;
    let mut add = AddTorrent::new(
        TorrentSource::Metainfo(Box::new(f.metainfo.clone())),
        StorageSpec::Memory,
    );
    add.initial_peers = vec![f.seeder_addr()];
    let watched: TorrentHandle = observer.add_torrent(add).await?;
    let observer_addr = observer.local_addr();

    // The hiding engine: ~6 s for the whole torrent.
    let hider = engine([127, 0, 0, 3], 1024 * 1024).await?;
    let (picker, control) = HaveOrderPicker::new(&KEY, &ih.0, n, Some(HIDDEN_X));
    let mut add = AddTorrent::new(
        TorrentSource::Metainfo(Box::new(f.metainfo.clone())),
        StorageSpec::Memory,
    );
    add.picker = Some(Box::new(picker));
    add.initial_peers = vec![f.seeder_addr(), observer_addr];
    let hiding = hider.add_torrent(add).await?;
    let hider_addr = hider.local_addr();

    for _ in 0..3 {
        f.add_leecher(&[observer_addr, hider_addr]).await?;
    }
    f.wait_leechers(LIMIT).await?;
    tokio::time::timeout(LIMIT, hiding.wait_complete())
        .await
        .context("hiding engine did not finish")??;
    // Let the last HAVEs arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sequences = watched.have_sequences();

    let default = HaveOrderDecoder::new(&KEY, &ih.0, &DecoderParams::default())?;
    let strict_params = DecoderParams {
        false_positive: 1e-6,
        ..DecoderParams::default()
    };
    let strict = HaveOrderDecoder::new(&KEY, &ih.0, &strict_params)?;
    println!(
        "decoder false-positive bound per call: default {:.2e}, strict {:.2e}",
        default.false_positive_bound(),
        strict.false_positive_bound()
    );
    println!(
        "{:<22} {:>6} {:>14} {:>14} {:>12}",
        "peer", "HAVEs", "default reads", "strict reads", "first read"
    );
    let hider_ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
    let mut libtorrent_sequences = 0;
    let mut hider_seen = false;
    let mut default_false = 0;
    for (peer, order) in &sequences {
        let (d_reads, d_first) = decode_prefixes(&default, order);
        let (s_reads, _) = decode_prefixes(&strict, order);
        println!(
            "{:<22} {:>6} {:>14} {:>14} {:>12}",
            peer.to_string(),
            order.len(),
            format!("{d_reads:?}"),
            format!("{s_reads:?}"),
            d_first.map_or("-".into(), |n| n.to_string())
        );
        if peer.ip() == hider_ip {
            hider_seen = true;
            ensure!(order.len() as u32 >= n / 2, "too few HAVEs from the hider");
            ensure!(
                d_reads == vec![HIDDEN_X] && s_reads == vec![HIDDEN_X],
                "hider read as {d_reads:?} / {s_reads:?}, hides {HIDDEN_X}"
            );
            ensure!(
                d_first.is_some_and(|n| n <= 64),
                "read too late: {d_first:?}"
            );
        } else if order.len() >= 64 {
            libtorrent_sequences += 1;
            ensure!(s_reads.is_empty(), "libtorrent order read as {s_reads:?}");
            default_false += d_reads.len();
        }
    }
    println!(
        "libtorrent sequences: {libtorrent_sequences}, default-parameter false reads: {default_false}, \
         hider noisy choices: {}",
        control.noisy_choices()
    );
    ensure!(
        hider_seen,
        "no HAVEs from the hider: {:?}",
        sequences.keys()
    );
    ensure!(
        libtorrent_sequences >= 3,
        "only {libtorrent_sequences} libtorrent sequences"
    );
    watched.shutdown().await;
    hiding.shutdown().await;
    Ok(())
}
