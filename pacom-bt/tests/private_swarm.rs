//! Private mode end to end: two in-process nodes over loopback TCP in a
//! PACOM swarm whose file is a generated WAV recording and whose frames
//! hide in its samples (±1 embedding with syndrome coding), keyed by the
//! group key. A node holding another key is an ordinary peer to them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pacom_bt::node::{LinkEvent, Links, PacomSwarm, SwarmConfig};
use pacom_bt::{Engine, EngineConfig};
use pacom_core::pacom_file::{PacomFile, PacomFileOptions};
use pacom_core::schedule::PacerConfig;
use pacom_core::swarm_profile::SwarmProfile;
use tokio::sync::mpsc::UnboundedReceiver;

mod common;

use common::{pattern, read_bytes, wait_up};

const MIB: u64 = 1 << 20;

struct Node {
    engine: Engine,
    links: Links,
    events: UnboundedReceiver<LinkEvent>,
    _swarm: PacomSwarm,
}

fn private_file(profile: &SwarmProfile, size: u64) -> Arc<PacomFile> {
    Arc::new(
        PacomFile::generate(
            [0x17; 32],
            &profile.cover_kind(),
            &PacomFileOptions::with_size(size),
        )
        .expect("PACOM file"),
    )
}

async fn node(
    profile: &SwarmProfile,
    file: Arc<PacomFile>,
    peers: Vec<std::net::SocketAddr>,
) -> Node {
    let engine = Engine::start(EngineConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        ..Default::default()
    })
    .await
    .expect("engine");
    let (links, events) = Links::new();
    let mut cfg = SwarmConfig::with_profile(file, profile);
    cfg.pacer = PacerConfig::default();
    cfg.initial_peers = peers;
    let swarm = PacomSwarm::join(&engine, &links, cfg).await.expect("join");
    Node {
        engine,
        links,
        events,
        _swarm: swarm,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stego_links_carry_bytes_both_ways_through_a_wav_swarm() {
    let profile = SwarmProfile::private([0x5c; 32]);
    // 24 MiB of audio: ~1500 blocks, so each side has ~750 to pull (~110 kB).
    let file = private_file(&profile, 24 * MIB);
    assert!(file.name.ends_with(".wav"), "{}", file.name);
    let mut a = node(&profile, file.clone(), Vec::new()).await;
    let mut b = node(&profile, file.clone(), vec![a.engine.local_addr()]).await;
    let na = wait_up(&mut a.events).await;
    let nb = wait_up(&mut b.events).await;

    // ~145 frame bytes per 16 KiB block at the default rate.
    let ab = pattern(30_000, 1);
    let ba = pattern(20_000, 2);
    let start = Instant::now();
    a.links.write(na, &ab).expect("write");
    b.links.write(nb, &ba).expect("write");
    assert_eq!(read_bytes(&mut b.events, ab.len()).await, ab);
    assert_eq!(read_bytes(&mut a.events, ba.len()).await, ba);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "private mode: {} link bytes in {secs:.2} s ({:.1} KB/s)",
        ab.len() + ba.len(),
        (ab.len() + ba.len()) as f64 / secs / 1e3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_another_group_key_is_not_a_pacom_neighbour() {
    let ours = SwarmProfile::private([0x5c; 32]);
    let theirs = SwarmProfile::private([0x99; 32]);
    let file = private_file(&ours, 8 * MIB);
    let mut a = node(&ours, file.clone(), Vec::new()).await;
    let mut stranger = node(&theirs, file.clone(), vec![a.engine.local_addr()]).await;
    // Both are seeds of the same torrent to each other and nothing more:
    // neither claims the other as a PACOM link.
    let quiet = Duration::from_secs(3);
    for events in [&mut a.events, &mut stranger.events] {
        match tokio::time::timeout(quiet, events.recv()).await {
            Err(_) => {}
            Ok(ev) => panic!("unexpected link event: {ev:?}"),
        }
    }
    assert!(a.links.neighbours().is_empty());
    assert!(stranger.links.neighbours().is_empty());
}
