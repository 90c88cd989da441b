//! The engine facade: one listening socket shared by all torrents, global
//! rate limits, and the client fingerprint.

use crate::discovery::PeerSource;
use crate::hook::PeerHook;
use crate::magnet::Magnet;
use crate::metainfo::{InfoHash, Metainfo};
use crate::peer::{self, read_handshake, MAX_FRAME};
use crate::picker::{PiecePicker, RarestFirst};
use crate::ratelimit::RateLimiter;
use crate::state::State;
use crate::torrent::{StorageSpec, Torrent, TorrentError, TorrentHandle};
use crate::tracker_source::TrackerSource;
use crate::wire::FrameReader;
use rand::Rng;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where to accept peers; port 0 picks any free port.
    pub listen: SocketAddr,
    /// Azureus-style peer-id prefix, e.g. `-PC0001-` (at most 20 bytes).
    pub peer_id_prefix: String,
    /// The `v` string of our extended handshake.
    pub client_version: String,
    /// Global upload limit in bytes per second (`None`: unlimited).
    pub upload_limit: Option<u64>,
    /// Global download limit in bytes per second (`None`: unlimited).
    pub download_limit: Option<u64>,
    pub max_peers_per_torrent: usize,
    /// Regular unchoke slots (one optimistic slot comes on top).
    pub upload_slots: usize,
    /// Bounds of the per-peer request pipeline (16 KiB blocks).
    pub min_requests: usize,
    pub max_requests: usize,
    pub handshake_timeout: Duration,
    /// A request unanswered this long is re-requested from other peers.
    pub request_timeout: Duration,
    pub keepalive_interval: Duration,
    /// A peer silent this long is dropped.
    pub idle_timeout: Duration,
    /// How often peer sources are polled.
    pub discovery_interval: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 0)),
            peer_id_prefix: "-PC0001-".into(),
            client_version: concat!("PACOM ", env!("CARGO_PKG_VERSION")).into(),
            upload_limit: None,
            download_limit: None,
            max_peers_per_torrent: 50,
            upload_slots: 4,
            min_requests: 32,
            max_requests: 250,
            handshake_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            keepalive_interval: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(210),
            discovery_interval: Duration::from_secs(60),
        }
    }
}

/// Engine errors.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("torrent {0} is already added")]
    Duplicate(InfoHash),
    #[error("torrent {info_hash}: {source}")]
    Torrent {
        info_hash: InfoHash,
        #[source]
        source: TorrentError,
    },
}

/// What a torrent is added from.
#[derive(Debug, Clone)]
pub enum TorrentSource {
    Metainfo(Box<Metainfo>),
    /// The metadata is fetched from peers (BEP 9).
    Magnet(Magnet),
}

/// Parameters of [`Engine::add_torrent`].
pub struct AddTorrent {
    pub source: TorrentSource,
    pub storage: StorageSpec,
    pub initial_peers: Vec<SocketAddr>,
    pub peer_sources: Vec<Arc<dyn PeerSource>>,
    /// Defaults to rarest first.
    pub picker: Option<Box<dyn PiecePicker>>,
    /// A full peer id for this torrent (PACOM tags it per info hash);
    /// defaults to the engine prefix plus random bytes.
    pub peer_id: Option<[u8; 20]>,
    /// Never request pieces (upload only).
    pub seed_only: bool,
    pub peer_hook: Option<Arc<dyn PeerHook>>,
}

impl AddTorrent {
    pub fn new(source: TorrentSource, storage: StorageSpec) -> Self {
        Self {
            source,
            storage,
            initial_peers: Vec::new(),
            peer_sources: Vec::new(),
            picker: None,
            peer_id: None,
            seed_only: false,
            peer_hook: None,
        }
    }
}

pub(crate) struct EngineShared {
    pub config: EngineConfig,
    pub local_addr: SocketAddr,
    pub upload_limit: Arc<RateLimiter>,
    pub download_limit: Arc<RateLimiter>,
    torrents: Mutex<HashMap<InfoHash, Arc<Torrent>>>,
}

impl EngineShared {
    fn torrents(&self) -> std::sync::MutexGuard<'_, HashMap<InfoHash, Arc<Torrent>>> {
        match self.torrents.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    pub(crate) fn remove_torrent(&self, info_hash: &InfoHash) {
        self.torrents().remove(info_hash);
    }
}

/// The running engine.
pub struct Engine {
    shared: Arc<EngineShared>,
    listener: tokio::task::JoinHandle<()>,
}

impl Engine {
    /// Binds the listening socket and starts accepting peers.
    pub async fn start(config: EngineConfig) -> Result<Engine, EngineError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| EngineError::Listen {
                    addr: config.listen,
                    source,
                })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| EngineError::Listen {
                addr: config.listen,
                source,
            })?;
        let shared = Arc::new(EngineShared {
            upload_limit: Arc::new(RateLimiter::new(config.upload_limit)),
            download_limit: Arc::new(RateLimiter::new(config.download_limit)),
            config,
            local_addr,
            torrents: Mutex::new(HashMap::new()),
        });
        let s = shared.clone();
        let listener = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, addr)) => {
                        let s = s.clone();
                        tokio::spawn(async move {
                            let _ = stream.set_nodelay(true);
                            let (rd, wr) = stream.into_split();
                            let mut reader = FrameReader::new(rd, MAX_FRAME);
                            let hs = match read_handshake(&mut reader, s.config.handshake_timeout)
                                .await
                            {
                                Ok(hs) => hs,
                                Err(e) => {
                                    tracing::debug!(%addr, error = %e, "incoming handshake failed");
                                    return;
                                }
                            };
                            let torrent = s.torrents().get(&InfoHash(hs.info_hash)).cloned();
                            match torrent {
                                Some(t) if !t.is_shutdown() => {
                                    peer::accept(t, addr, reader, wr, hs).await
                                }
                                _ => tracing::debug!(%addr, "incoming peer for unknown torrent"),
                            }
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Ok(Engine { shared, listener })
    }

    /// The address peers can connect to (port resolved when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// A peer id from the configured prefix and random bytes.
    pub fn generate_peer_id(&self) -> [u8; 20] {
        let mut id = [0u8; 20];
        rand::thread_rng().fill(&mut id);
        let prefix = self.shared.config.peer_id_prefix.as_bytes();
        let n = prefix.len().min(20);
        id[..n].copy_from_slice(&prefix[..n]);
        id
    }

    /// Adds a torrent: opens and rechecks its storage (resume), then starts
    /// connecting to its peers.
    pub async fn add_torrent(&self, add: AddTorrent) -> Result<TorrentHandle, EngineError> {
        let (info_hash, metainfo, trackers, magnet_peers) = match add.source {
            TorrentSource::Metainfo(m) => (m.info_hash, Some(Arc::new(*m)), Vec::new(), Vec::new()),
            TorrentSource::Magnet(m) => (m.info_hash, None, m.trackers, m.peers),
        };
        let trackers = metainfo.as_ref().map_or(trackers, |m| m.trackers());
        if self.shared.torrents().contains_key(&info_hash) {
            return Err(EngineError::Duplicate(info_hash));
        }
        let peer_id = add.peer_id.unwrap_or_else(|| self.generate_peer_id());
        let picker = add.picker.unwrap_or_else(|| Box::new(RarestFirst));
        let state = State::new(picker, self.shared.config.upload_slots);
        let torrent = Arc::new(Torrent::new(
            info_hash,
            peer_id,
            self.shared.clone(),
            state,
            add.storage,
            add.seed_only,
            add.peer_hook,
            trackers,
        ));
        if let Some(m) = metainfo {
            let t = torrent.clone();
            let res = tokio::task::spawn_blocking(move || t.load(m))
                .await
                .map_err(|_| TorrentError::Shutdown)
                .and_then(|r| r);
            res.map_err(|source| EngineError::Torrent { info_hash, source })?;
        }
        {
            let mut torrents = self.shared.torrents();
            if torrents.contains_key(&info_hash) {
                return Err(EngineError::Duplicate(info_hash));
            }
            torrents.insert(info_hash, torrent.clone());
        }
        let mut sources = add.peer_sources;
        for url in &torrent.trackers {
            // The caller may already have given a source for this URL.
            if url.starts_with("http://") && !sources.iter().any(|s| s.name() == url) {
                sources.push(Arc::new(TrackerSource::new(url.clone(), peer_id)));
            }
        }
        torrent.spawn_tasks(sources);
        torrent.add_peers(add.initial_peers.into_iter().chain(magnet_peers));
        Ok(TorrentHandle { torrent })
    }

    /// Handles of all torrents.
    pub fn torrents(&self) -> Vec<TorrentHandle> {
        self.shared
            .torrents()
            .values()
            .map(|t| TorrentHandle { torrent: t.clone() })
            .collect()
    }

    /// Stops every torrent and the listener (shared engines stop too).
    pub async fn shutdown(&self) {
        self.listener.abort();
        for h in self.torrents() {
            h.shutdown().await;
        }
    }
}
