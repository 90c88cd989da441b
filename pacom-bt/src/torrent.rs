//! One torrent inside the engine: its shared state, its background tasks
//! (rates, choking, peer discovery) and the handle given to callers.

use crate::bitfield::Bitfield;
use crate::discovery::{AnnounceEvent, PeerSource, TransferStats};
use crate::engine::EngineShared;
use crate::hook::PeerHook;
use crate::metainfo::{InfoHash, Metainfo};
use crate::observe::HaveEvent;
use crate::state::{Loaded, PeerCmd, State};
use crate::storage::{recheck, FileStorage, MemoryStorage, Storage, StorageError};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};

/// Builds a torrent's storage once its info dict is known.
pub type StorageFactory =
    Box<dyn FnOnce(&Metainfo) -> Result<Arc<dyn Storage>, StorageError> + Send>;

/// Where a torrent's data lives.
pub enum StorageSpec {
    /// Files under this directory (created as needed; existing data is rechecked).
    Dir(PathBuf),
    /// In memory (tests, generated content).
    Memory,
    /// Storage built by the caller once the info dict is known (PACOM cover
    /// files are generated, not read from disk).
    Custom(StorageFactory),
    /// Like `Custom`, for storage that holds every piece by construction
    /// (a PACOM cover file rendered from the seed its hashes came from):
    /// not rechecked, which would render the whole file a second time.
    Generated(StorageFactory),
}

impl std::fmt::Debug for StorageSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageSpec::Dir(d) => f.debug_tuple("Dir").field(d).finish(),
            StorageSpec::Memory => f.write_str("Memory"),
            StorageSpec::Custom(_) => f.write_str("Custom"),
            StorageSpec::Generated(_) => f.write_str("Generated"),
        }
    }
}

/// A snapshot of a torrent's progress.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TorrentStats {
    pub pieces_have: u32,
    pub pieces_total: u32,
    /// Verified-or-pending payload bytes received from peers.
    pub bytes_downloaded: u64,
    pub bytes_uploaded: u64,
    /// Bytes received that were not needed (duplicates in endgame, unrequested).
    pub bytes_wasted: u64,
    pub peers_connected: usize,
    /// Bytes per second.
    pub download_rate: f64,
    pub upload_rate: f64,
    pub complete: bool,
    /// Whether the metadata is known (always, except for magnets early on).
    pub has_metadata: bool,
}

/// Errors of a torrent.
#[derive(Debug, thiserror::Error)]
pub enum TorrentError {
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("metadata from peers is invalid: {0}")]
    Metadata(String),
    #[error("the torrent was shut down")]
    Shutdown,
}

pub(crate) struct Torrent {
    pub info_hash: InfoHash,
    pub peer_id: [u8; 20],
    pub engine: Arc<EngineShared>,
    pub state: Mutex<State>,
    pub seed_only: bool,
    pub hook: Option<Arc<dyn PeerHook>>,
    pub trackers: Vec<String>,
    storage_spec: Mutex<Option<StorageSpec>>,
    /// Addresses connected or being connected (de-duplication).
    pub connecting: Mutex<HashSet<SocketAddr>>,
    pub complete: watch::Sender<bool>,
    pub metadata_ready: watch::Sender<bool>,
    pub shutdown: watch::Sender<bool>,
}

impl Torrent {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        info_hash: InfoHash,
        peer_id: [u8; 20],
        engine: Arc<EngineShared>,
        state: State,
        storage: StorageSpec,
        seed_only: bool,
        hook: Option<Arc<dyn PeerHook>>,
        trackers: Vec<String>,
    ) -> Self {
        Self {
            info_hash,
            peer_id,
            engine,
            state: Mutex::new(state),
            seed_only,
            hook,
            trackers,
            storage_spec: Mutex::new(Some(storage)),
            connecting: Mutex::new(HashSet::new()),
            complete: watch::channel(false).0,
            metadata_ready: watch::channel(false).0,
            shutdown: watch::channel(false).0,
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    pub fn is_shutdown(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Opens storage for `metainfo`, rechecks existing data (resume) and
    /// installs the data side. Blocking: call from a blocking context.
    pub fn load(&self, metainfo: Arc<Metainfo>) -> Result<(), TorrentError> {
        let spec = match self.storage_spec.lock() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        };
        let Some(spec) = spec else {
            return Ok(()); // already loaded
        };
        let generated = matches!(spec, StorageSpec::Generated(_));
        let storage: Arc<dyn Storage> = match spec {
            StorageSpec::Dir(dir) => Arc::new(FileStorage::open(&dir, &metainfo.info)?),
            StorageSpec::Memory => Arc::new(MemoryStorage::new(
                usize::try_from(metainfo.info.total_length()).unwrap_or(usize::MAX),
            )),
            StorageSpec::Custom(f) | StorageSpec::Generated(f) => f(&metainfo)?,
        };
        let have = if generated {
            Bitfield::full(metainfo.info.num_pieces())
        } else {
            recheck(storage.as_ref(), &metainfo.info)?
        };
        let complete = have.is_full();
        tracing::info!(
            info_hash = %self.info_hash,
            have = have.count_ones(),
            total = metainfo.info.num_pieces(),
            "torrent data checked"
        );
        {
            let mut st = self.lock();
            st.loaded = Some(Loaded::new(metainfo, storage, have));
            st.metadata = None;
            let keys: Vec<_> = st.peers.keys().copied().collect();
            for k in keys {
                st.apply_early_or_drop(k);
                if let Some(p) = st.peers.get(&k) {
                    let _ = p.tx.send(PeerCmd::MetadataReady);
                }
            }
        }
        self.metadata_ready.send_replace(true);
        if complete {
            self.complete.send_replace(true);
        }
        Ok(())
    }

    pub fn metainfo(&self) -> Option<Arc<Metainfo>> {
        self.lock().loaded.as_ref().map(|l| l.metainfo.clone())
    }

    pub fn stats(&self) -> TorrentStats {
        let st = self.lock();
        let (have, total, complete) = st.loaded.as_ref().map_or((0, 0, false), |l| {
            (l.have.count_ones(), l.have.len(), l.is_complete())
        });
        TorrentStats {
            pieces_have: have,
            pieces_total: total,
            bytes_downloaded: st.downloaded.total(),
            bytes_uploaded: st.uploaded.total(),
            bytes_wasted: st.wasted,
            peers_connected: st.peers.len(),
            download_rate: st.downloaded.rate(),
            upload_rate: st.uploaded.rate(),
            complete,
            has_metadata: st.loaded.is_some(),
        }
    }

    /// What trackers want to hear: totals so far and the bytes still missing.
    pub fn transfer_stats(&self) -> TransferStats {
        let st = self.lock();
        let left = st.loaded.as_ref().map(|l| {
            let info = &l.metainfo.info;
            let have: u64 = l
                .have
                .iter_ones()
                .map(|i| u64::from(info.piece_len(i)))
                .sum();
            info.total_length().saturating_sub(have)
        });
        TransferStats {
            uploaded: st.uploaded.total(),
            downloaded: st.downloaded.total(),
            left,
        }
    }

    /// Connects to peers we are not connected to yet, up to the cap.
    pub fn add_peers(self: &Arc<Self>, peers: impl IntoIterator<Item = SocketAddr>) {
        if self.is_shutdown() {
            return;
        }
        let max = self.engine.config.max_peers_per_torrent;
        let local = self.engine.local_addr;
        let banned = self.lock().banned.clone();
        let mut connecting = match self.connecting.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        for addr in peers {
            if connecting.len() >= max {
                break;
            }
            let is_self = addr == local
                || (addr.port() == local.port()
                    && (addr.ip().is_loopback() || addr.ip().is_unspecified())
                    && local.ip().is_unspecified());
            if is_self || banned.contains(&addr) || !connecting.insert(addr) {
                continue;
            }
            let t = self.clone();
            tokio::spawn(async move {
                crate::peer::connect(t.clone(), addr).await;
                if let Ok(mut c) = t.connecting.lock() {
                    c.remove(&addr);
                }
            });
        }
    }

    /// Background work: rates every second, choking every 10 s (optimistic
    /// rotation every 30 s), and polling peer sources.
    pub fn spawn_tasks(self: &Arc<Self>, sources: Vec<Arc<dyn PeerSource>>) {
        let t = self.clone();
        let mut stop = self.shutdown.subscribe();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut last = Instant::now();
            let mut secs = 0u64;
            let mut rounds = 0u64;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.changed() => break,
                }
                let now = Instant::now();
                let mut st = t.lock();
                st.tick(now.duration_since(last));
                last = now;
                secs += 1;
                if secs >= crate::choke::REGULAR_INTERVAL_SECS {
                    secs = 0;
                    rounds += 1;
                    let rotate = rounds >= crate::choke::OPTIMISTIC_EVERY_ROUNDS;
                    if rotate {
                        rounds = 0;
                    }
                    st.choke_round(rotate);
                }
            }
        });
        for source in sources {
            let t = self.clone();
            let mut stop = self.shutdown.subscribe();
            tokio::spawn(async move {
                let port = t.engine.local_addr.port();
                let interval = t.engine.config.discovery_interval;
                let mut event = AnnounceEvent::Started;
                let mut complete = t.complete.subscribe();
                // The first round runs at once (event `started`), then one
                // per interval; completion announces right away.
                loop {
                    let stats = t.transfer_stats();
                    let announce = source.announce_with_stats(t.info_hash, port, event, stats);
                    if let Err(e) = announce.await {
                        tracing::debug!(error = %e, "announce failed");
                    }
                    event = AnnounceEvent::None;
                    if t.is_shutdown() {
                        break;
                    }
                    match source.get_peers(t.info_hash).await {
                        Ok(peers) => {
                            tracing::debug!(source = source.name(), n = peers.len(), "peers found");
                            t.add_peers(peers);
                        }
                        Err(e) => tracing::debug!(error = %e, "get_peers failed"),
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(interval) => {}
                        r = complete.changed(), if !*complete.borrow() => {
                            if r.is_ok() && *complete.borrow() {
                                event = AnnounceEvent::Completed;
                            }
                        }
                        _ = stop.changed() => {
                            let stats = t.transfer_stats();
                            let bye = source.announce_with_stats(
                                t.info_hash, port, AnnounceEvent::Stopped, stats,
                            );
                            // Bounded: shutdown must not hang on a dead tracker.
                            let _ = tokio::time::timeout(Duration::from_secs(5), bye).await;
                            break;
                        }
                    }
                }
            });
        }
    }
}

impl State {
    fn apply_early_or_drop(&mut self, key: crate::state::PeerKey) {
        if let Err(e) = self.apply_early(key) {
            tracing::debug!(error = %e, "dropping peer after metadata");
            if let Some(p) = self.peers.get(&key) {
                let _ = p.tx.send(PeerCmd::Disconnect);
            }
        }
    }
}

/// The caller's handle on a torrent.
#[derive(Clone)]
pub struct TorrentHandle {
    pub(crate) torrent: Arc<Torrent>,
}

impl TorrentHandle {
    pub fn info_hash(&self) -> InfoHash {
        self.torrent.info_hash
    }

    /// The peer id this torrent uses in handshakes.
    pub fn peer_id(&self) -> [u8; 20] {
        self.torrent.peer_id
    }

    pub fn stats(&self) -> TorrentStats {
        self.torrent.stats()
    }

    /// The metainfo, once known (immediately unless added from a magnet).
    pub fn metainfo(&self) -> Option<Arc<Metainfo>> {
        self.torrent.metainfo()
    }

    /// Waits until the metadata is known.
    pub async fn wait_metadata(&self) -> Result<Arc<Metainfo>, TorrentError> {
        let mut rx = self.torrent.metadata_ready.subscribe();
        let mut stop = self.torrent.shutdown.subscribe();
        loop {
            if let Some(m) = self.metainfo() {
                return Ok(m);
            }
            tokio::select! {
                r = rx.changed() => r.map_err(|_| TorrentError::Shutdown)?,
                _ = stop.changed() => return Err(TorrentError::Shutdown),
            }
        }
    }

    /// Waits until every piece is verified.
    pub async fn wait_complete(&self) -> Result<(), TorrentError> {
        let mut rx = self.torrent.complete.subscribe();
        let mut stop = self.torrent.shutdown.subscribe();
        loop {
            if *rx.borrow_and_update() {
                return Ok(());
            }
            if self.torrent.is_shutdown() {
                return Err(TorrentError::Shutdown);
            }
            tokio::select! {
                r = rx.changed() => r.map_err(|_| TorrentError::Shutdown)?,
                _ = stop.changed() => return Err(TorrentError::Shutdown),
            }
        }
    }

    /// Connects to more peers (de-duplicated, capped).
    pub fn add_peers(&self, peers: impl IntoIterator<Item = SocketAddr>) {
        self.torrent.add_peers(peers);
    }

    /// For each peer address, the HAVE indices it sent, in order (pieces in
    /// its initial BITFIELD are not included).
    pub fn have_sequences(&self) -> HashMap<SocketAddr, Vec<u32>> {
        self.torrent.lock().haves.sequences()
    }

    /// Every HAVE received from now on.
    pub fn subscribe_haves(&self) -> broadcast::Receiver<HaveEvent> {
        self.torrent.lock().haves.subscribe()
    }

    /// Addresses of connected peers.
    pub fn peers(&self) -> Vec<SocketAddr> {
        self.torrent.lock().peers.values().map(|p| p.addr).collect()
    }

    /// Disconnects all peers, stops background tasks, flushes storage and
    /// removes the torrent from the engine.
    pub async fn shutdown(&self) {
        self.torrent.shutdown.send_replace(true);
        let storage = {
            let st = self.torrent.lock();
            for p in st.peers.values() {
                let _ = p.tx.send(PeerCmd::Disconnect);
            }
            st.loaded.as_ref().map(|l| l.storage.clone())
        };
        if let Some(s) = storage {
            let _ = tokio::task::spawn_blocking(move || s.flush()).await;
        }
        self.torrent.engine.remove_torrent(&self.torrent.info_hash);
    }
}
