//! `pacom run`: the node daemon. It runs a `PacomNode`, serves the control
//! socket, writes received messages to the inbox, sends what clients hand it
//! (through the persistent outbox) and stops cleanly on SIGINT/SIGTERM.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use pacom_bt::node::{CircuitOpener, HandleError, NeighbourId, NodeHandle, PacomNode, StreamHub};
use pacom_bt::proxy::{IsolationKey, TargetAddr};
use pacom_core::envelope::{file_packets, Body, Chunk, Envelope, Packet};
use pacom_core::identity::{Contact, Identity};
use pacom_core::link::LinkStats;
use pacom_core::session::Event;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc};

use crate::config::{Config, Overrides};
use crate::control::{Request, Response};
use crate::datadir::DataDir;
use crate::inbox::{unix_now, Inbox, Record};
use crate::{outbox, setup, status};

/// File bytes per chunk message: small enough for a smooth progress bar.
pub const CHUNK_LEN: usize = 256 * 1024;

/// Frame counts of one link at one instant, for rates.
#[derive(Clone, Copy)]
pub struct Sample {
    pub at: Instant,
    pub stats: LinkStats,
}

/// Per-neighbour rates over the last sampling interval, frames per second.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rates {
    pub data_in: f64,
    pub cover_in: f64,
    pub data_out: f64,
    pub cover_out: f64,
}

pub struct Daemon {
    pub dd: DataDir,
    pub cfg: Config,
    pub identity: Identity,
    pub handle: NodeHandle,
    pub node: Mutex<Option<PacomNode>>,
    pub records: broadcast::Sender<Record>,
    pub rates: Mutex<HashMap<NeighbourId, (Sample, Rates)>>,
    /// The node's circuit streams (for their buffered bytes in `status`).
    pub hub: StreamHub,
    /// Opens the streams `pacom socks` front-ends ask for.
    pub opener: Arc<CircuitOpener>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Daemon {
    pub fn with_node<T>(&self, f: impl FnOnce(&PacomNode) -> T) -> Option<T> {
        lock(&self.node).as_ref().map(f)
    }

    pub fn rates(&self) -> HashMap<NeighbourId, Rates> {
        lock(&self.rates)
            .iter()
            .map(|(k, (_, r))| (*k, *r))
            .collect()
    }
}

pub fn run(dd: DataDir, overrides: Overrides) -> Result<()> {
    dd.require_init()?;
    let mut cfg = Config::load(&dd.config())?;
    cfg.apply(&overrides)?;
    let identity = dd.load_identity()?;
    let socket = dd.socket();
    if socket.exists() {
        if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
            anyhow::bail!("a node is already running on {}", dd.root.display());
        }
        std::fs::remove_file(&socket)
            .with_context(|| format!("cannot remove stale socket {}", socket.display()))?;
    }
    let node_cfg = setup::node_config(&cfg, identity.clone(), &dd.root.join("popular"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(serve(dd, cfg, identity, node_cfg))
}

async fn serve(
    dd: DataDir,
    cfg: Config,
    identity: Identity,
    node_cfg: pacom_bt::node::NodeConfig,
) -> Result<()> {
    let node = PacomNode::start(node_cfg)
        .await
        .context("starting the node")?;
    let listener = UnixListener::bind(dd.socket())
        .with_context(|| format!("cannot listen on {}", dd.socket().display()))?;
    std::fs::set_permissions(dd.socket(), std::fs::Permissions::from_mode(0o600))?;
    let inbox = Inbox::open(dd.clone(), identity.fingerprint())?;
    tracing::info!(
        fingerprint = %identity.fingerprint(),
        listen = %node.local_addr(),
        "node running"
    );
    let proxies = crate::proxy::start(&dd, &cfg, node.handle()).await?;
    println!(
        "pacom node {} listening on {}",
        identity.fingerprint(),
        node.local_addr()
    );
    if let Some(addr) = proxies.socks_addr {
        println!("socks5 proxy listening on {addr}");
    }
    if let Some(addr) = node.dht_addr() {
        println!("joining through popular torrents; DHT node on {addr}");
    }
    let (records, _) = broadcast::channel(256);
    let d = Arc::new(Daemon {
        dd: dd.clone(),
        cfg,
        identity,
        handle: node.handle().clone(),
        node: Mutex::new(Some(node)),
        records,
        rates: Mutex::new(HashMap::new()),
        hub: proxies.hub.clone(),
        opener: proxies.opener.clone(),
    });

    tokio::spawn(receive(d.clone(), inbox));
    tokio::spawn(sample_rates(d.clone()));
    for entry in outbox::load_all(&dd.outbox()) {
        tracing::info!(path = %entry.path.display(), "re-sending queued message");
        tokio::spawn(deliver(d.clone(), entry, None));
    }
    let accept = {
        let d = d.clone();
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((s, _)) => {
                        tokio::spawn(client(d.clone(), s));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "control socket accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        })
    };

    wait_for_signal().await?;
    tracing::info!("shutting down");
    accept.abort();
    proxies.abort();
    let _ = std::fs::remove_file(dd.socket());
    let node = lock(&d.node).take();
    if let Some(node) = node {
        if tokio::time::timeout(Duration::from_secs(10), node.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("node shutdown timed out");
        }
    }
    let queued = outbox::load_all(&dd.outbox()).len();
    if queued > 0 {
        tracing::info!(queued, "undelivered messages kept in the outbox");
    }
    Ok(())
}

pub async fn wait_for_signal() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

/// Node events → inbox and subscribers.
async fn receive(d: Arc<Daemon>, mut inbox: Inbox) {
    let mut events = d.handle.subscribe();
    while let Some(ev) = events.recv().await {
        match ev {
            Event::MessageReceived { data, .. } => {
                if let Some(rec) = inbox.on_message(&data) {
                    tracing::info!(kind = %rec.kind, "message received");
                    let _ = d.records.send(rec);
                }
            }
            Event::CircuitBuilt { session, .. } => {
                tracing::info!(?session, "circuit built")
            }
            Event::SessionAccepted { session } => {
                tracing::info!(?session, "session accepted")
            }
            Event::CircuitLost { session, .. } => tracing::info!(?session, "circuit lost"),
            Event::SessionFailed { session, reason } => {
                tracing::info!(?session, ?reason, "session failed")
            }
            _ => {}
        }
    }
}

async fn sample_rates(d: Arc<Daemon>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let now = Instant::now();
        let mut rates = lock(&d.rates);
        let live = d.handle.neighbours();
        rates.retain(|id, _| live.iter().any(|n| n.id == *id));
        for n in live {
            let s = n.stats;
            let r = match rates.get(&n.id) {
                Some((prev, _)) => {
                    let dt = now.duration_since(prev.at).as_secs_f64().max(1e-3);
                    let p = prev.stats;
                    let f = |a: u64, b: u64| a.saturating_sub(b) as f64 / dt;
                    Rates {
                        data_in: f(s.data_frames_received, p.data_frames_received),
                        cover_in: f(s.cover_frames_received, p.cover_frames_received),
                        data_out: f(s.data_frames_sent, p.data_frames_sent),
                        cover_out: f(s.cover_frames_sent, p.cover_frames_sent),
                    }
                }
                None => Rates::default(),
            };
            rates.insert(n.id, (Sample { at: now, stats: s }, r));
        }
    }
}

/// Sends an outbox entry; reports progress to `tx` when someone waits.
async fn deliver(
    d: Arc<Daemon>,
    entry: outbox::Entry,
    tx: Option<mpsc::UnboundedSender<Response>>,
) {
    let total: u64 = entry.packets.iter().map(|p| p.len() as u64).sum();
    let report = |r: Response| {
        if let Some(tx) = &tx {
            let _ = tx.send(r);
        }
    };
    let res: Result<(), HandleError> = async {
        let session = d.handle.connect(&entry.to).await?;
        let mut pending = Vec::new();
        for p in &entry.packets {
            pending.push((p.len() as u64, d.handle.send(session, p.clone()).await?));
        }
        let mut done = 0;
        for (len, pm) in pending {
            pm.outcome().await?;
            done += len;
            report(Response::Progress { done, total });
        }
        Ok(())
    }
    .await;
    match res {
        Ok(()) => {
            outbox::remove(&entry);
            tracing::info!("message delivered");
            report(Response::Delivered);
        }
        Err(HandleError::Stopped) => report(Response::Kept {
            reason: "the node stopped before delivery; the message stays in the outbox".into(),
        }),
        Err(e) => {
            outbox::remove(&entry);
            tracing::info!(error = %e, "message failed");
            report(Response::Failed {
                reason: e.to_string(),
            });
        }
    }
}

/// Signs and queues a message; returns the outbox entry and its size.
fn prepare(
    d: &Daemon,
    to: &Contact,
    text: Option<String>,
    file: Option<Vec<u8>>,
    name: String,
) -> Result<outbox::Entry> {
    let mut rng = rand::rngs::OsRng;
    let now = unix_now();
    let packets = match (text, file) {
        (Some(t), None) => {
            let env = Envelope::seal(&mut rng, &d.identity, to.fingerprint(), now, Body::Text(t))?;
            vec![Packet::Envelope(Box::new(env)).encode()]
        }
        (None, Some(data)) => {
            let (body, parts) = file_packets(&name, &data, CHUNK_LEN);
            let env = Envelope::seal(&mut rng, &d.identity, to.fingerprint(), now, body)?;
            let file_id = env.id;
            let mut v = vec![Packet::Envelope(Box::new(env)).encode()];
            for (i, data) in parts.into_iter().enumerate() {
                v.push(
                    Packet::Chunk(Chunk {
                        file_id,
                        index: i as u32,
                        data,
                    })
                    .encode(),
                );
            }
            v
        }
        _ => anyhow::bail!("give exactly one of text or file"),
    };
    let mut id = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rng, &mut id);
    outbox::store(&d.dd.outbox(), to, packets, &id)
}

async fn write(w: &mut tokio::net::unix::OwnedWriteHalf, r: &Response) -> std::io::Result<()> {
    let mut line = serde_json::to_string(r).unwrap_or_else(|_| "{}".into());
    line.push('\n');
    w.write_all(line.as_bytes()).await
}

/// Longest request line accepted.
const MAX_REQUEST: u64 = 1 << 20;

async fn client(d: Arc<Daemon>, s: UnixStream) {
    let (rd, mut wr) = s.into_split();
    let mut rd = BufReader::new(rd);
    let mut line = String::new();
    match (&mut rd).take(MAX_REQUEST).read_line(&mut line).await {
        Ok(n) if n > 0 => {}
        _ => return,
    }
    let req: Request = match serde_json::from_str(&line) {
        Ok(r) => r,
        Err(e) => {
            let _ = write(
                &mut wr,
                &Response::Error {
                    message: format!("bad request: {e}"),
                },
            )
            .await;
            return;
        }
    };
    match req {
        Request::Status => {
            let st = status::snapshot(&d).await;
            let _ = write(&mut wr, &Response::Status { status: st }).await;
        }
        Request::Send {
            to,
            text,
            file,
            wait,
        } => {
            let res = async {
                let contact =
                    Contact::parse(&to).map_err(|e| anyhow::anyhow!("malformed contact: {e}"))?;
                let (data, name) = match &file {
                    Some(p) => {
                        let bytes = tokio::fs::read(p)
                            .await
                            .with_context(|| format!("cannot read {}", p.display()))?;
                        let name = p
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_else(|| "file".into());
                        (Some(bytes), name)
                    }
                    None => (None, String::new()),
                };
                let d2 = d.clone();
                tokio::task::spawn_blocking(move || prepare(&d2, &contact, text, data, name))
                    .await
                    .context("signing task failed")?
            }
            .await;
            let entry = match res {
                Ok(e) => e,
                Err(e) => {
                    let _ = write(
                        &mut wr,
                        &Response::Error {
                            message: format!("{e:#}"),
                        },
                    )
                    .await;
                    return;
                }
            };
            let bytes = entry.packets.iter().map(|p| p.len() as u64).sum();
            if write(&mut wr, &Response::Queued { bytes }).await.is_err() {
                tokio::spawn(deliver(d, entry, None));
                return;
            }
            if wait {
                let (tx, mut rx) = mpsc::unbounded_channel();
                tokio::spawn(deliver(d, entry, Some(tx)));
                while let Some(r) = rx.recv().await {
                    if write(&mut wr, &r).await.is_err() {
                        break;
                    }
                }
            } else {
                tokio::spawn(deliver(d, entry, None));
            }
        }
        Request::OpenStream {
            exits,
            isolation,
            host,
            port,
        } => open_stream(&d, rd, wr, exits, IsolationKey(isolation), &host, port).await,
        Request::Subscribe => {
            let mut rx = d.records.subscribe();
            loop {
                match rx.recv().await {
                    Ok(record) => {
                        if write(&mut wr, &Response::Message { record }).await.is_err() {
                            break;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        }
    }
}

/// Serves `pacom socks`: opens the stream, answers, then carries it.
async fn open_stream(
    d: &Daemon,
    rd: BufReader<tokio::net::unix::OwnedReadHalf>,
    mut wr: tokio::net::unix::OwnedWriteHalf,
    exits: Vec<String>,
    isolation: IsolationKey,
    host: &str,
    port: u16,
) {
    let exits: Result<Vec<Contact>, _> = exits.iter().map(|c| Contact::parse(c)).collect();
    let Ok(exits) = exits else {
        let message = "malformed exit contact".to_string();
        let _ = write(&mut wr, &Response::Error { message }).await;
        return;
    };
    let target = match host.parse() {
        Ok(ip) => TargetAddr::Ip(std::net::SocketAddr::new(ip, port)),
        Err(_) => TargetAddr::Domain(host.to_string(), port),
    };
    match d.opener.open_via(&exits, isolation, target).await {
        Ok((st_r, st_w)) => {
            if write(&mut wr, &Response::StreamOpen).await.is_ok() {
                crate::stream_pipe::serve(rd, wr, st_r, st_w).await;
            }
        }
        Err(e) => {
            let refused = Response::StreamRefused {
                code: e.exit_reply().wire_code(),
                reason: e.to_string(),
            };
            let _ = write(&mut wr, &refused).await;
        }
    }
}
