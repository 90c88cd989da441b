//! A PACOM node for multi-process swarm tests: joins one PACOM swarm, sends
//! a deterministic byte stream to every neighbour over its link, checks
//! every stream it receives byte for byte, and prints one JSON line per
//! event on stdout. It runs until stdin closes (its neighbours may still be
//! pulling frames from it after its own streams are checked).
//!
//! ```text
//! pacom-swarm-node --seed HEX32 --size BYTES --port PORT [--peers A:P,B:Q]
//!                  [--mib N] [--mode public|private] [--rate BLOCKS_PER_SEC]
//!                  [--initial FRACTION] [--expect NEIGHBOURS]
//! ```
//!
//! Each stream starts with a 10-byte header (sender's listen port, stream
//! length, big endian) and continues with [`ByteStream`] keyed by that port.
//! Events: `joined`, `up`, `received` (a stream checked complete),
//! `corrupt`, `down`, `swarm_complete`, `progress` (every 2 s) and `done`
//! (all expected streams complete, with each link's frame counts).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use interop_tests::byte_stream::{ByteStream, StreamCheck};
use pacom_bt::node::{LinkEvent, Links, NeighbourId, PacomSwarm, SwarmConfig};
use pacom_bt::{Engine, EngineConfig};
use pacom_core::link::Mode;
use pacom_core::pacom_file::{CoverKind, PacomFile, PacomFileOptions};
use pacom_core::schedule::{PacerConfig, Rate};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

const MIB: u64 = 1 << 20;
const HEADER_LEN: usize = 10;
/// The writer keeps at most this much queued per neighbour.
const QUEUE_TARGET: usize = 4 << 20;
const CHUNK: usize = 256 << 10;

struct Args {
    seed: [u8; 32],
    size: u64,
    port: u16,
    peers: Vec<SocketAddr>,
    bytes: u64,
    mode: Mode,
    rate: Rate,
    initial: f64,
    expect: usize,
}

fn parse_args() -> Result<Args> {
    let mut kv = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let key = k
            .strip_prefix("--")
            .ok_or_else(|| anyhow!("unexpected argument {k}"))?;
        let v = it.next().ok_or_else(|| anyhow!("--{key} needs a value"))?;
        kv.insert(key.to_string(), v);
    }
    let get = |k: &str| kv.get(k).map(String::as_str);
    let seed_hex = get("seed").context("--seed is required")?;
    let seed: [u8; 32] = hex::decode(seed_hex)?
        .try_into()
        .map_err(|_| anyhow!("--seed must be 32 bytes of hex"))?;
    let peers = match get("peers") {
        Some(p) if !p.is_empty() => p
            .split(',')
            .map(|a| a.parse().with_context(|| format!("bad peer address {a}")))
            .collect::<Result<Vec<_>>>()?,
        _ => Vec::new(),
    };
    let mode = match get("mode").unwrap_or("public") {
        "public" => Mode::Public,
        "private" => Mode::Private,
        m => bail!("unknown mode {m}"),
    };
    let rate = match get("rate") {
        None | Some("unlimited") => Rate::Unlimited,
        Some(r) => Rate::BlocksPerSec(r.parse()?),
    };
    Ok(Args {
        seed,
        size: get("size").context("--size is required")?.parse()?,
        port: get("port").context("--port is required")?.parse()?,
        peers,
        bytes: (get("mib").unwrap_or("1").parse::<f64>()? * MIB as f64) as u64,
        mode,
        rate,
        initial: get("initial").unwrap_or("0.5").parse()?,
        expect: get("expect").unwrap_or("1").parse()?,
    })
}

fn emit(v: Value) {
    println!("{v}");
}

/// A test group key for private mode, derived from the swarm seed.
fn private_group_key(seed: &[u8; 32]) -> [u8; 32] {
    let mut k = *seed;
    for (i, b) in k.iter_mut().enumerate() {
        *b ^= 0xa5 ^ i as u8;
    }
    k
}

/// Sends our stream to one neighbour, never letting more than
/// [`QUEUE_TARGET`] wait in its output queue.
async fn write_stream(links: Links, n: NeighbourId, port: u16, total: u64) {
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(&port.to_be_bytes());
    header.extend_from_slice(&total.to_be_bytes());
    if links.write(n, &header).is_err() {
        return;
    }
    let mut stream = ByteStream::new(u64::from(port));
    let mut left = total;
    while left > 0 {
        match links.queued(n) {
            None => return,
            Some(q) if q >= QUEUE_TARGET => {
                tokio::time::sleep(Duration::from_millis(2)).await;
                continue;
            }
            Some(_) => {}
        }
        let k = left.min(CHUNK as u64) as usize;
        if links.write(n, &stream.take(k)).is_err() {
            return;
        }
        left -= k as u64;
    }
}

/// What arrived from one neighbour.
struct Incoming {
    header: Vec<u8>,
    from_port: Option<u16>,
    check: Option<StreamCheck>,
    reported: bool,
}

impl Incoming {
    fn new() -> Self {
        Self {
            header: Vec::new(),
            from_port: None,
            check: None,
            reported: false,
        }
    }

    /// Feeds bytes; returns false on the first corrupt byte.
    fn feed(&mut self, mut bytes: &[u8]) -> bool {
        if self.check.is_none() {
            let k = (HEADER_LEN - self.header.len()).min(bytes.len());
            self.header.extend_from_slice(&bytes[..k]);
            bytes = &bytes[k..];
            if self.header.len() < HEADER_LEN {
                return true;
            }
            let port = u16::from_be_bytes([self.header[0], self.header[1]]);
            let mut len = [0u8; 8];
            len.copy_from_slice(&self.header[2..HEADER_LEN]);
            self.from_port = Some(port);
            self.check = Some(StreamCheck::new(u64::from(port), u64::from_be_bytes(len)));
        }
        match &mut self.check {
            Some(c) => c.feed(bytes),
            None => true,
        }
    }

    fn received(&self) -> u64 {
        self.check.as_ref().map_or(0, StreamCheck::received)
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let started = Instant::now();
    let file = PacomFile::generate(
        args.seed,
        &CoverKind::Archive,
        &PacomFileOptions::with_size(args.size),
    )?;
    let file = Arc::new(file);
    let engine = Engine::start(EngineConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], args.port)),
        ..Default::default()
    })
    .await?;
    let (links, mut events) = Links::new();
    let mut cfg = SwarmConfig::public(file.clone());
    if args.mode == Mode::Private {
        cfg.mode = Mode::Private;
        cfg.group_key = private_group_key(&args.seed);
    }
    cfg.pacer = PacerConfig {
        rate: args.rate,
        ..PacerConfig::default()
    };
    cfg.initial_fraction = args.initial;
    cfg.initial_peers = args.peers.clone();
    let swarm = PacomSwarm::join(&engine, &links, cfg).await?;
    emit(json!({
        "event": "joined",
        "port": args.port,
        "info_hash": hex::encode(file.info_hash),
        "peer_id": hex::encode(swarm.peer_id()),
        "pieces": file.num_pieces(),
        "progress_blocks": swarm.progress().blocks_had,
        "blocks": swarm.progress().blocks_total,
        "secs": started.elapsed().as_secs_f64(),
    }));

    let mut stdin_closed = tokio::spawn(async {
        let mut buf = [0u8; 64];
        let mut stdin = tokio::io::stdin();
        while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    let mut incoming: HashMap<NeighbourId, Incoming> = HashMap::new();
    let mut complete = 0usize;
    let mut done = false;
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        let ev = tokio::select! {
            ev = events.recv() => ev,
            _ = &mut stdin_closed => break,
            _ = tick.tick() => {
                let p = swarm.progress();
                let rx: Vec<Value> = incoming.iter().map(|(n, i)| json!({
                    "neighbour": n.0, "from_port": i.from_port, "bytes": i.received(),
                })).collect();
                emit(json!({
                    "event": "progress", "secs": started.elapsed().as_secs_f64(),
                    "blocks_had": p.blocks_had, "blocks": p.blocks_total,
                    "links": p.links, "incoming": rx,
                }));
                continue;
            }
        };
        let Some(ev) = ev else { break };
        match ev {
            LinkEvent::Up {
                neighbour, addr, ..
            } => {
                emit(
                    json!({"event": "up", "neighbour": neighbour.0, "addr": addr.to_string(),
                    "secs": started.elapsed().as_secs_f64()}),
                );
                incoming.insert(neighbour, Incoming::new());
                tokio::spawn(write_stream(
                    links.clone(),
                    neighbour,
                    args.port,
                    args.bytes,
                ));
            }
            LinkEvent::Data { neighbour, bytes } => {
                let inc = incoming.entry(neighbour).or_insert_with(Incoming::new);
                if !inc.feed(&bytes) {
                    if !inc.reported {
                        inc.reported = true;
                        let at = inc.check.as_ref().and_then(|c| c.first_error);
                        emit(json!({"event": "corrupt", "neighbour": neighbour.0,
                            "from_port": inc.from_port, "at": at}));
                    }
                } else if !inc.reported && inc.check.as_ref().is_some_and(StreamCheck::is_complete)
                {
                    inc.reported = true;
                    complete += 1;
                    emit(json!({"event": "received", "neighbour": neighbour.0,
                        "from_port": inc.from_port, "bytes": inc.received(),
                        "secs": started.elapsed().as_secs_f64()}));
                }
            }
            LinkEvent::Down { neighbour, reason } => {
                emit(
                    json!({"event": "down", "neighbour": neighbour.0, "reason": reason,
                    "secs": started.elapsed().as_secs_f64()}),
                );
            }
            LinkEvent::SwarmComplete { .. } => {
                emit(json!({"event": "swarm_complete", "secs": started.elapsed().as_secs_f64()}));
            }
        }
        if !done && complete >= args.expect {
            done = true;
            let stats: Vec<Value> = links
                .neighbours()
                .iter()
                .map(|n| {
                    json!({
                        "neighbour": n.id.0,
                        "addr": n.addr.to_string(),
                        "bytes_sent": n.stats.bytes_sent,
                        "bytes_received": n.stats.bytes_received,
                        "data_frames_sent": n.stats.data_frames_sent,
                        "cover_frames_sent": n.stats.cover_frames_sent,
                        "data_frames_received": n.stats.data_frames_received,
                        "cover_frames_received": n.stats.cover_frames_received,
                    })
                })
                .collect();
            emit(
                json!({"event": "done", "secs": started.elapsed().as_secs_f64(),
                "links": stats}),
            );
        }
    }
    swarm.leave().await;
    engine.shutdown().await;
    Ok(())
}
