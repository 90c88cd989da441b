//! PACOM swarms of in-process nodes over real loopback TCP: links carry
//! bytes in order, the wire observer sees every REQUEST and PIECE, a peer
//! that misbehaves loses its own link only, and leaving closes every link.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pacom_bt::node::{
    LinkEvent, Links, NeighbourId, PacomSwarm, SwarmConfig, PIECE_HEADER_WIRE_SIZE,
    REQUEST_WIRE_SIZE,
};
use pacom_bt::wire::{BlockRequest, FrameReader, Handshake, WireMsg};
use pacom_bt::{Engine, EngineConfig};
use pacom_core::link::DEFAULT_PUBLIC_GROUP_KEY;
use pacom_core::pacom_file::{CoverKind, PacomFile, PacomFileOptions};
use pacom_core::schedule::{PacerConfig, Rate};
use pacom_core::stats::{Direction, WireEvent};
use pacom_core::tag::make_peer_id;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc::UnboundedReceiver;

mod common;

use common::{next_event, pattern, read_bytes, wait_up};

const MIB: u64 = 1 << 20;

struct Node {
    engine: Engine,
    links: Links,
    events: UnboundedReceiver<LinkEvent>,
    swarm: PacomSwarm,
}

fn file(size: u64) -> Arc<PacomFile> {
    Arc::new(
        PacomFile::generate(
            [0x42; 32],
            &CoverKind::Archive,
            &PacomFileOptions::with_size(size),
        )
        .expect("PACOM file"),
    )
}

async fn node(
    file: Arc<PacomFile>,
    peers: Vec<std::net::SocketAddr>,
    tune: impl FnOnce(&mut SwarmConfig),
) -> Node {
    let engine = Engine::start(EngineConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        ..Default::default()
    })
    .await
    .expect("engine");
    let (links, events) = Links::new();
    let mut cfg = SwarmConfig::public(file);
    cfg.initial_peers = peers;
    tune(&mut cfg);
    let swarm = PacomSwarm::join(&engine, &links, cfg).await.expect("join");
    Node {
        engine,
        links,
        events,
        swarm,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paced_link_carries_bytes_and_observer_sees_every_message() {
    // 3072 blocks: each side can pull ~768 from the other, more than the
    // ~500 requests of the run at 100 blocks/s.
    let f = file(48 * MIB);
    let seen: Arc<Mutex<Vec<(NeighbourId, WireEvent)>>> = Arc::default();
    let record = seen.clone();
    let rate = 100.0;
    let paced = move |c: &mut SwarmConfig| {
        c.pacer = PacerConfig {
            rate: Rate::BlocksPerSec(rate),
            ..PacerConfig::default()
        };
    };
    let mut a = node(f.clone(), Vec::new(), |c| {
        paced(c);
        c.observer = Some(Arc::new(move |n, e| record.lock().unwrap().push((n, e))));
    })
    .await;
    let mut b = node(f.clone(), vec![a.engine.local_addr()], paced).await;
    let na = wait_up(&mut a.events).await;
    let nb = wait_up(&mut b.events).await;
    let start = seen.lock().unwrap().first().map(|(_, e)| e.at);

    let ab = pattern(300_000, 1);
    let ba = pattern(200_000, 2);
    a.links.write(na, &ab).expect("write");
    b.links.write(nb, &ba).expect("write");
    assert_eq!(read_bytes(&mut b.events, ab.len()).await, ab);
    assert_eq!(read_bytes(&mut a.events, ba.len()).await, ba);
    tokio::time::sleep(Duration::from_secs(3)).await;

    let events = seen.lock().unwrap().clone();
    assert!(events.iter().all(|(n, _)| *n == na));
    let span = events.last().unwrap().1.at - start.unwrap_or_default();
    let count = |size: u32, dir: Direction| {
        events
            .iter()
            .filter(|(_, e)| e.size == size && e.dir == dir)
            .count() as f64
    };
    let piece = PIECE_HEADER_WIRE_SIZE + 16384;
    for e in &events {
        assert!(
            e.1.size == REQUEST_WIRE_SIZE || e.1.size == piece,
            "unexpected size {}",
            e.1.size
        );
    }
    // Requests at the configured Poisson rate (plus the initial burst of h).
    let expected = rate * span.as_secs_f64();
    let sent = count(REQUEST_WIRE_SIZE, Direction::Out);
    assert!(
        (sent - expected).abs() < 0.25 * expected + 20.0,
        "{sent} requests in {span:?}, expected ~{expected}"
    );
    // Every request is answered, in both directions (at most h in flight).
    assert!(count(piece, Direction::In) >= sent - 10.0);
    let asked = count(REQUEST_WIRE_SIZE, Direction::In);
    assert!(asked > 0.5 * expected);
    assert!(count(piece, Direction::Out) >= asked - 1.0);
    let stats = a.links.neighbours();
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].stats.bytes_sent, ab.len() as u64);
    assert_eq!(stats[0].stats.bytes_received, ba.len() as u64);
    a.swarm.leave().await;
    b.swarm.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_request_closes_only_that_link() {
    // Paced, and a file large enough that the A–B link cannot use up its
    // blocks (and close as starved) before the test leaves: ~768 blocks
    // each way at 100 blocks/s.
    let f = file(48 * MIB);
    let paced = |c: &mut SwarmConfig| {
        c.pacer = PacerConfig {
            rate: Rate::BlocksPerSec(100.0),
            ..PacerConfig::default()
        };
    };
    let mut a = node(f.clone(), Vec::new(), paced).await;
    let mut b = node(f.clone(), vec![a.engine.local_addr()], paced).await;
    let na_b = wait_up(&mut a.events).await;
    let nb = wait_up(&mut b.events).await;

    // A PACOM-tagged peer that asks for a block off the block grid.
    let id = make_peer_id(
        &DEFAULT_PUBLIC_GROUP_KEY,
        &f.info_hash,
        b"-XX0001-",
        &mut rand::rngs::OsRng,
    );
    let stream = TcpStream::connect(a.engine.local_addr())
        .await
        .expect("connect");
    let (rd, mut wr) = stream.into_split();
    wr.write_all(&Handshake::new(f.info_hash, id).encode())
        .await
        .expect("handshake");
    let mut reader = FrameReader::new(rd, 1 << 20);
    let theirs = reader.read_raw(68).await.expect("their handshake");
    assert_eq!(&theirs[28..48], &f.info_hash[..]);
    let rogue = wait_up(&mut a.events).await;
    assert_ne!(rogue, na_b);
    let mut out = bytes::BytesMut::new();
    WireMsg::Request(BlockRequest {
        index: 0,
        begin: 1,
        length: 16384,
    })
    .encode(&mut out);
    wr.write_all(&out).await.expect("request");
    let reason = loop {
        match next_event(&mut a.events).await {
            LinkEvent::Down { neighbour, reason } => {
                assert_eq!(neighbour, rogue);
                break reason;
            }
            LinkEvent::Data { neighbour, .. } => assert_eq!(neighbour, na_b),
            _ => {}
        }
    };
    assert!(reason.contains("bad block"), "reason: {reason}");
    // The rogue connection is closed; it may have been sent our greeting.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if reader.next().await.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "rogue connection left open");

    // The link to B is unaffected.
    let data = pattern(100_000, 3);
    a.links.write(na_b, &data).expect("write");
    assert_eq!(read_bytes(&mut b.events, data.len()).await, data);
    b.links.write(nb, &data[..1000]).expect("write");
    assert_eq!(read_bytes(&mut a.events, 1000).await, data[..1000]);

    // Leaving reports every link down, once.
    a.swarm.leave().await;
    let mut downs = 0;
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(500), a.events.recv()).await
    {
        if let LinkEvent::Down { neighbour, reason } = ev {
            assert_eq!(neighbour, na_b);
            assert_eq!(reason, "left the swarm");
            downs += 1;
        }
    }
    assert_eq!(downs, 1);
    assert!(a.links.write(na_b, b"x").is_err());
    b.swarm.leave().await;
}
