//! Goodput of one PACOM link between two in-process nodes on loopback at
//! unlimited pacing, beside the AES-256-GCM seal rate of 16 KiB blocks
//! measured in the same run (the cost every frame pays at least once).
//!
//!   cargo bench -p interop-tests --bench swarm_links
//!   PACOM_BENCH_MIB=128 cargo bench -p interop-tests --bench swarm_links
//!
//! Both directions run at once; each row is one direction's link bytes per
//! second, checked byte for byte after the clock stops.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{bail, Context, Result};
use interop_tests::byte_stream::{ByteStream, StreamCheck};
use pacom_bt::node::{LinkEvent, Links, NeighbourId, PacomSwarm, SwarmConfig};
use pacom_bt::{Engine, EngineConfig};
use pacom_core::pacom_file::{CoverKind, PacomFile, PacomFileOptions};
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
    file: Arc<PacomFile>,
    peers: Vec<std::net::SocketAddr>,
) -> Result<(Engine, Links, UnboundedReceiver<LinkEvent>, PacomSwarm)> {
    let engine = Engine::start(EngineConfig {
        listen: "127.0.0.1:0".parse()?,
        ..Default::default()
    })
    .await?;
    let (links, events) = Links::new();
    let mut cfg = SwarmConfig::public(file);
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

async fn run() -> Result<()> {
    let mib: u64 = std::env::var("PACOM_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let total = mib * MIB;
    // Each side can pull about a quarter of the file from the other.
    let size = (total * 5).next_multiple_of(1 << 20);
    let file = tokio::task::spawn_blocking(move || {
        PacomFile::generate(
            [9; 32],
            &CoverKind::Archive,
            &PacomFileOptions::with_size(size),
        )
    })
    .await??;
    let file = Arc::new(file);
    let (ea, la, mut ra, sa) = node(file.clone(), Vec::new()).await?;
    let (eb, lb, mut rb, sb) = node(file.clone(), vec![ea.local_addr()]).await?;
    let na = wait_up(&mut ra).await?;
    let nb = wait_up(&mut rb).await?;

    let start = Instant::now();
    let wa = tokio::spawn(write_all(la.clone(), na, 1, total));
    let wb = tokio::spawn(write_all(lb.clone(), nb, 2, total));
    let a_to_b = tokio::spawn(receive(rb, 1, total, start));
    let b_to_a = tokio::spawn(receive(ra, 2, total, start));
    let t_ab = a_to_b.await??;
    let t_ba = b_to_a.await??;
    wa.await??;
    wb.await??;
    sa.leave().await;
    sb.leave().await;
    ea.shutdown().await;
    eb.shutdown().await;

    let seal = seal_rate(1.0);
    let profile = if cfg!(debug_assertions) {
        "dev profile (unoptimised workspace crates)"
    } else {
        "release"
    };
    println!(
        "PACOM link goodput, {mib} MiB each way at once, file {} MiB, loopback TCP, {profile}",
        size / MIB
    );
    println!("{:<40} {:>10} {:>12}", "measure", "MB/s", "vs AES seal");
    let rows = [
        ("AES-256-GCM seal, 16 KiB blocks, 1 core", seal),
        ("link goodput A -> B", total as f64 / t_ab.as_secs_f64()),
        ("link goodput B -> A", total as f64 / t_ba.as_secs_f64()),
    ];
    for (name, rate) in rows {
        println!("{name:<40} {:>10.1} {:>12.3}", rate / 1e6, rate / seal);
    }
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
