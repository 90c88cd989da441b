//! Goodput of one PACOM link between two in-process nodes on loopback at
//! unlimited pacing, in public mode (ciphertext blocks) and in private mode
//! (frames hidden in the samples of a WAV file by the PCM carrier), beside
//! the AES-256-GCM seal rate of 16 KiB blocks measured in the same run (the
//! cost every frame pays at least once).
//!
//!   cargo bench -p interop-tests --bench swarm_links
//!   PACOM_BENCH_MIB=128 PACOM_BENCH_PRIVATE_KIB=512 cargo bench -p interop-tests --bench swarm_links
//!
//! Both directions run at once; each row is one direction's link bytes per
//! second, checked byte for byte after the clock stops, and the link bytes
//! each downloaded block carried on average.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{bail, Context, Result};
use interop_tests::byte_stream::{ByteStream, StreamCheck};
use pacom_bt::node::{LinkEvent, Links, NeighbourId, PacomSwarm, SwarmConfig};
use pacom_bt::{Engine, EngineConfig};
use pacom_core::pacom_file::{PacomFile, PacomFileOptions};
use pacom_core::swarm_profile::SwarmProfile;
use stego::pcm::PayloadRate;
use tokio::sync::mpsc::UnboundedReceiver;

const MIB: u64 = 1 << 20;
const BLOCK: usize = 16384;

/// Seals 16 KiB blocks for about `secs` seconds; bytes per second.
fn seal_rate(secs: f64) -> f64 {
    let cipher = Aes256Gcm::new(&[7u8; 32].into());
    let mut block = vec![0x5au8; BLOCK];
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed().as_secs_f64() < secs {
        for _ in 0..64 {
            let mut nonce = [0u8; 12];
            nonce[..8].copy_from_slice(&n.to_le_bytes());
            let tag = cipher
                .encrypt_in_place_detached(Nonce::from_slice(&nonce), b"", &mut block)
                .expect("sealing never fails for 16 KiB");
            std::hint::black_box(&tag);
            n += 1;
        }
    }
    (n * BLOCK as u64) as f64 / start.elapsed().as_secs_f64()
}

async fn node(
    profile: &SwarmProfile,
    file: Arc<PacomFile>,
    peers: Vec<std::net::SocketAddr>,
) -> Result<(Engine, Links, UnboundedReceiver<LinkEvent>, PacomSwarm)> {
    let engine = Engine::start(EngineConfig {
        listen: "127.0.0.1:0".parse()?,
        ..Default::default()
    })
    .await?;
    let (links, events) = Links::new();
    let mut cfg = SwarmConfig::with_profile(file, profile);
    cfg.initial_peers = peers;
    let swarm = PacomSwarm::join(&engine, &links, cfg).await?;
    Ok((engine, links, events, swarm))
}

async fn wait_up(events: &mut UnboundedReceiver<LinkEvent>) -> Result<NeighbourId> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await? {
            Some(LinkEvent::Up { neighbour, .. }) => return Ok(neighbour),
            Some(_) => {}
            None => bail!("links closed"),
        }
    }
}

/// Writes `total` bytes of stream `key` into the link, keeping the queue full.
async fn write_all(links: Links, n: NeighbourId, key: u64, total: u64) -> Result<()> {
    let mut s = ByteStream::new(key);
    let mut left = total;
    while left > 0 {
        if links.queued(n).context("link gone")? > 8 << 20 {
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        let k = left.min(1 << 20);
        links.write(n, &s.take(k as usize))?;
        left -= k;
    }
    Ok(())
}

/// Receives one stream; returns when it is complete (and how long it took).
async fn receive(
    mut events: UnboundedReceiver<LinkEvent>,
    key: u64,
    total: u64,
    start: Instant,
) -> Result<Duration> {
    let mut check = StreamCheck::new(key, total);
    loop {
        match events.recv().await {
            Some(LinkEvent::Data { bytes, .. }) => {
                if !check.feed(&bytes) {
                    bail!("corrupt at {:?}", check.first_error);
                }
                if check.is_complete() {
                    return Ok(start.elapsed());
                }
            }
            Some(LinkEvent::Down { reason, .. }) => bail!("link down: {reason}"),
            Some(_) => {}
            None => bail!("links closed"),
        }
    }
}

/// One direction of a pair's run: link bytes per second, and link bytes
/// per block the receiver downloaded (data and cover blocks alike).
#[derive(Clone, Copy)]
struct Direction {
    rate: f64,
    bytes_per_block: f64,
}

/// Two nodes in one swarm of `profile`'s mode; `total` bytes each way at
/// once. Each side can pull about a quarter of the file from the other, so
/// the file is sized from the bytes a block carries.
async fn pair(
    profile: &SwarmProfile,
    seed: u8,
    total: u64,
    link_bytes_per_block: u64,
) -> Result<(Direction, Direction, u64)> {
    let blocks = total.div_ceil(link_bytes_per_block);
    let size = (blocks * BLOCK as u64 * 5).next_multiple_of(1 << 20);
    let kind = profile.cover_kind();
    let file = tokio::task::spawn_blocking(move || {
        PacomFile::generate([seed; 32], &kind, &PacomFileOptions::with_size(size))
    })
    .await??;
    let file = Arc::new(file);
    eprintln!("{:?} mode: file of {} MiB ready", profile.mode, size / MIB);
    let (ea, la, mut ra, sa) = node(profile, file.clone(), Vec::new()).await?;
    let (eb, lb, mut rb, sb) = node(profile, file.clone(), vec![ea.local_addr()]).await?;
    let na = wait_up(&mut ra).await?;
    let nb = wait_up(&mut rb).await?;

    let had = (sa.progress().blocks_had, sb.progress().blocks_had);
    let start = Instant::now();
    let wa = tokio::spawn(write_all(la.clone(), na, 1, total));
    let wb = tokio::spawn(write_all(lb.clone(), nb, 2, total));
    let a_to_b = tokio::spawn(receive(rb, 1, total, start));
    let b_to_a = tokio::spawn(receive(ra, 2, total, start));
    let t_ab = a_to_b.await??;
    let t_ba = b_to_a.await??;
    eprintln!(
        "{:?} mode: {total} bytes each way in {t_ab:?} / {t_ba:?}",
        profile.mode
    );
    // Blocks each side pulled while both streams ran (a little more for
    // the direction that finished first).
    let pulled = (
        sa.progress().blocks_had.saturating_sub(had.0).max(1),
        sb.progress().blocks_had.saturating_sub(had.1).max(1),
    );
    wa.await??;
    wb.await??;
    sa.leave().await;
    sb.leave().await;
    ea.shutdown().await;
    eb.shutdown().await;
    let ab = Direction {
        rate: total as f64 / t_ab.as_secs_f64(),
        bytes_per_block: total as f64 / pulled.1 as f64,
    };
    let ba = Direction {
        rate: total as f64 / t_ba.as_secs_f64(),
        bytes_per_block: total as f64 / pulled.0 as f64,
    };
    Ok((ab, ba, size))
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn run() -> Result<()> {
    let mib = env_u64("PACOM_BENCH_MIB", 64);
    let private_kib = env_u64("PACOM_BENCH_PRIVATE_KIB", 64);
    let public = SwarmProfile::public();
    let private = SwarmProfile::private([0x5c; 32]);
    let rate = PayloadRate::DEFAULT;
    // A 16 KiB block of 16-bit PCM holds 8192 samples.
    let samples = BLOCK / 2;
    let hidden = rate.message_bytes(samples) as u64;
    let (pub_ab, pub_ba, pub_size) = pair(&public, 9, mib * MIB, BLOCK as u64 - 64).await?;
    let (prv_ab, prv_ba, prv_size) = pair(&private, 10, private_kib << 10, hidden / 2).await?;

    let seal = seal_rate(1.0);
    let profile = if cfg!(debug_assertions) {
        "dev profile (unoptimised workspace crates)"
    } else {
        "release"
    };
    println!(
        "PACOM link goodput, both directions at once, loopback TCP, unlimited pacing, {profile}"
    );
    println!(
        "public: {mib} MiB each way, archive file {} MiB, ciphertext carrier",
        pub_size / MIB
    );
    println!(
        "private: {private_kib} KiB each way, WAV file {} MiB, PCM carrier at {:.2} bits/sample ({hidden} bytes hidden per 16 KiB block of {samples} samples)",
        prv_size / MIB,
        rate.bits_per_sample()
    );
    println!(
        "{:<40} {:>12} {:>12} {:>14}",
        "measure", "bytes/s", "vs AES seal", "link B/block"
    );
    println!(
        "{:<40} {:>12.3e} {:>12.3} {:>14}",
        "AES-256-GCM seal, 16 KiB blocks, 1 core", seal, 1.0, "-"
    );
    let rows = [
        ("public link goodput A -> B", pub_ab),
        ("public link goodput B -> A", pub_ba),
        ("private link goodput A -> B", prv_ab),
        ("private link goodput B -> A", prv_ba),
    ];
    for (name, d) in rows {
        println!(
            "{name:<40} {:>12.3e} {:>12.5} {:>14.1}",
            d.rate,
            d.rate / seal,
            d.bytes_per_block
        );
    }
    println!(
        "private/public goodput: {:.5} (A -> B), {:.5} (B -> A)",
        prv_ab.rate / pub_ab.rate,
        prv_ba.rate / pub_ba.rate
    );
    Ok(())
}

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; `cargo test --benches` would not.
    if !std::env::args().any(|a| a == "--bench") {
        println!("swarm_links: skipped (run with cargo bench)");
        return Ok(());
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}
