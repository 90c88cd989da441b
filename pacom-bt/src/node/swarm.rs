//! One PACOM swarm: the PACOM file as an engine torrent that outside
//! clients get genuine blocks from, with every tagged PACOM peer claimed
//! and run as a link (Algorithm 1).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pacom_core::analysis::LeakyAnswerer;
use pacom_core::link::{LinkConfig, Mode};
use pacom_core::pacom_file::PacomFile;
use pacom_core::schedule::{Geometry, PacerConfig, Progress, RequestPacer, UploadPacer};
use pacom_core::stats::WireEvent;
use pacom_core::swarm_profile::SwarmProfile;
use pacom_core::tag::{is_pacom_peer, make_peer_id, PREFIX_LEN};
use rand::rngs::OsRng;
use rand::seq::index::sample;

use super::cover_storage::CoverStorage;
use super::link_task;
use super::swarm_state::{SwarmParts, SwarmState};
use super::{Links, NeighbourId};
use crate::discovery::PeerSource;
use crate::engine::{AddTorrent, Engine, EngineError, TorrentSource};
use crate::hook::{ClaimedPeer, PeerDecision, PeerHook};
use crate::metainfo::{InfoHash, Metainfo};
use crate::storage::Storage;
use crate::torrent::{StorageSpec, TorrentHandle};
use crate::wire::BLOCK_SIZE;

/// Receives every REQUEST and PIECE a link sends or receives (time since
/// the swarm was joined, wire size, direction), e.g. for the independence
/// test. Called on the link's task: keep it cheap.
pub type WireObserver = Arc<dyn Fn(NeighbourId, WireEvent) + Send + Sync>;

/// Timers of every link of a swarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkTiming {
    /// An unanswered request may be asked again after this long.
    pub request_timeout: Duration,
    /// A KEEPALIVE goes out after this long without sending anything.
    pub keepalive_interval: Duration,
    /// A peer silent this long is dropped.
    pub idle_timeout: Duration,
}

impl Default for LinkTiming {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            keepalive_interval: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(180),
        }
    }
}

/// How a node takes part in one PACOM swarm.
pub struct SwarmConfig {
    pub file: Arc<PacomFile>,
    /// Public mode uses [`pacom_core::link::DEFAULT_PUBLIC_GROUP_KEY`].
    pub group_key: [u8; 32],
    pub mode: Mode,
    /// How a frame rides in a block (ciphertext in public mode).
    pub carrier: Arc<dyn stego::Carrier>,
    /// Download pacing of each link (rate, h).
    pub pacer: PacerConfig,
    /// Upload limit of this swarm's links, bytes per second (`None`: answer at once).
    pub upload_rate: Option<f64>,
    /// Share of pieces this node starts with towards PACOM peers.
    pub initial_fraction: f64,
    pub initial_peers: Vec<SocketAddr>,
    pub peer_sources: Vec<Arc<dyn PeerSource>>,
    /// Sees every REQUEST and PIECE of every link of the swarm.
    pub observer: Option<WireObserver>,
    pub timing: LinkTiming,
    /// **Positive control of the independence test only; `None` in every
    /// real node.** Makes each link a deliberately data-driven answerer
    /// ([`pacom_core::analysis::LeakyAnswerer`]): while its output queue is
    /// empty it answers at most this many requests per second. It breaks
    /// Theorem 1 on purpose, so the test can show it would catch that.
    pub leaky_control: Option<f64>,
    /// Keep the swarm going (a configured swarm, not one found by
    /// bootstrapping): re-dial `initial_peers` whenever no link is up, and
    /// once every block we could exchange is used up, start afresh (every
    /// piece we lacked plus a random `initial_fraction` of those we had)
    /// instead of leaving.
    pub renew: bool,
}

impl SwarmConfig {
    /// A public-mode swarm (published group key, ciphertext carrier) with
    /// unlimited pacing, half the pieces to start with and no peers yet.
    pub fn public(file: Arc<PacomFile>) -> Self {
        Self {
            file,
            group_key: pacom_core::link::DEFAULT_PUBLIC_GROUP_KEY,
            mode: Mode::Public,
            carrier: Arc::new(stego::CiphertextCarrier),
            pacer: PacerConfig::default(),
            upload_rate: None,
            initial_fraction: 0.5,
            initial_peers: Vec::new(),
            peer_sources: Vec::new(),
            observer: None,
            timing: LinkTiming::default(),
            leaky_control: None,
            renew: false,
        }
    }

    /// A swarm in `profile`'s mode: its group key, link mode and carrier
    /// (the steganographic one, keyed for this swarm, in private mode).
    pub fn with_profile(file: Arc<PacomFile>, profile: &SwarmProfile) -> Self {
        let carrier = profile.carrier(&file.info_hash);
        Self {
            group_key: profile.group_key,
            mode: profile.mode,
            carrier,
            ..Self::public(file)
        }
    }
}

/// Errors of joining or running a swarm.
#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
    #[error("bad swarm configuration: {0}")]
    Config(String),
}

/// Where a PACOM swarm stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwarmProgress {
    pub blocks_had: u32,
    pub blocks_total: u32,
    pub pieces_had: u32,
    pub pieces_total: u32,
    /// PACOM peers with a live link.
    pub links: usize,
    /// Fresh starts after the file was used up (renewing swarms only).
    pub renewals: u64,
}

/// What a status report reads of a swarm owned by another task.
#[derive(Clone)]
pub struct SwarmView {
    info_hash: InfoHash,
    handle: TorrentHandle,
    state: Arc<SwarmState>,
}

impl SwarmView {
    pub fn info_hash(&self) -> InfoHash {
        self.info_hash
    }

    pub fn handle(&self) -> &TorrentHandle {
        &self.handle
    }

    pub fn progress(&self) -> SwarmProgress {
        progress_of(&self.state)
    }
}

fn progress_of(state: &SwarmState) -> SwarmProgress {
    let p = state.progress();
    SwarmProgress {
        blocks_had: p.blocks_had(),
        blocks_total: state.geometry.num_blocks(),
        pieces_had: p.pieces_had(),
        pieces_total: state.geometry.num_pieces(),
        links: state.live_peers(),
        renewals: state.renewals(),
    }
}

/// A joined PACOM swarm.
pub struct PacomSwarm {
    info_hash: InfoHash,
    handle: TorrentHandle,
    state: Arc<SwarmState>,
}

/// Claims tagged PACOM peers of the swarm and starts their link tasks.
struct Claimer {
    state: Arc<SwarmState>,
}

impl PeerHook for Claimer {
    fn on_handshake(&self, _addr: SocketAddr, peer_id: &[u8; 20]) -> PeerDecision {
        if is_pacom_peer(
            &self.state.link_config.group_key,
            &self.state.info_hash.0,
            peer_id,
        ) {
            PeerDecision::Claim
        } else {
            PeerDecision::Normal
        }
    }

    fn take(&self, peer: ClaimedPeer) {
        link_task::spawn(self.state.clone(), peer);
    }
}

fn config_error(what: impl std::fmt::Display) -> SwarmError {
    SwarmError::Config(what.to_string())
}

/// A random set of `fraction` of the pieces.
fn initial_progress(geometry: Geometry, fraction: f64) -> Result<Progress, SwarmError> {
    if !(0.0..=1.0).contains(&fraction) {
        return Err(config_error(format!(
            "initial fraction {fraction} is not in [0, 1]"
        )));
    }
    let n = geometry.num_pieces();
    let k = ((f64::from(n) * fraction).round() as u32).min(n);
    let pieces = sample(&mut OsRng, n as usize, k as usize)
        .into_iter()
        .map(|i| i as u32);
    Progress::with_pieces(geometry, pieces).map_err(config_error)
}

/// Least time between two re-dials of a renewing swarm's peers.
const REDIAL_INTERVAL: Duration = Duration::from_millis(250);

/// Longest wait before re-dialling when no link ended (a refused or
/// failed dial ends no link).
const REDIAL_CHECK: Duration = Duration::from_millis(500);

/// Re-dials a renewing swarm's configured peers whenever it has no link,
/// until the swarm is left.
async fn redial(state: Arc<SwarmState>, handle: TorrentHandle, peers: Vec<SocketAddr>) {
    let mut shutdown = state.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = state.idle.notified() => {}
            _ = tokio::time::sleep(REDIAL_CHECK) => {}
            _ = shutdown.changed() => {}
        }
        if state.is_leaving() {
            return;
        }
        if state.live_peers() == 0 {
            handle.add_peers(peers.iter().copied());
            tokio::time::sleep(REDIAL_INTERVAL).await;
        }
    }
}

impl PacomSwarm {
    /// Adds the PACOM file to the engine and starts claiming PACOM peers;
    /// their links are registered in `links`.
    pub async fn join(
        engine: &Engine,
        links: &Links,
        cfg: SwarmConfig,
    ) -> Result<PacomSwarm, SwarmError> {
        let file = cfg.file;
        let info_hash = InfoHash(file.info_hash);
        let geometry =
            Geometry::new(file.length, file.piece_length, BLOCK_SIZE).map_err(config_error)?;
        // Reject bad rates here rather than in every link task.
        RequestPacer::new(cfg.pacer, geometry, &mut OsRng).map_err(config_error)?;
        UploadPacer::<()>::new(cfg.upload_rate, BLOCK_SIZE, 1).map_err(config_error)?;
        if let Some(rate) = cfg.leaky_control {
            LeakyAnswerer::<()>::new(rate).map_err(config_error)?;
        }
        let progress = initial_progress(geometry, cfg.initial_fraction)?;
        let metainfo = Metainfo::from_info_bytes(&file.info_bytes, Vec::new())
            .map_err(|e| config_error(format!("PACOM file metainfo: {e}")))?;

        let mut prefix = [0u8; PREFIX_LEN];
        prefix.copy_from_slice(&engine.generate_peer_id()[..PREFIX_LEN]);
        let our_id = make_peer_id(&cfg.group_key, &file.info_hash, &prefix, &mut OsRng);
        let complete = progress.is_complete();
        let state = Arc::new(SwarmState::new(SwarmParts {
            info_hash,
            file: file.clone(),
            geometry,
            progress,
            link_config: LinkConfig {
                mode: cfg.mode,
                group_key: cfg.group_key,
                info_hash: file.info_hash,
            },
            carrier: cfg.carrier,
            pacer: cfg.pacer,
            upload_rate: cfg.upload_rate,
            timing: cfg.timing,
            links: links.clone(),
            observer: cfg.observer,
            leaky_control: cfg.leaky_control,
            our_id,
            listen_port: engine.local_addr().port(),
            renew: cfg.renew.then_some(cfg.initial_fraction),
        }));
        let hook = Arc::new(Claimer {
            state: state.clone(),
        });
        let storage_file = file.clone();
        let mut add = AddTorrent::new(
            TorrentSource::Metainfo(Box::new(metainfo)),
            StorageSpec::Generated(Box::new(move |_: &Metainfo| {
                Ok(Arc::new(CoverStorage::new(storage_file)) as Arc<dyn Storage>)
            })),
        );
        add.peer_id = Some(our_id);
        add.peer_hook = Some(hook);
        add.seed_only = true;
        add.initial_peers = cfg.initial_peers.clone();
        add.peer_sources = cfg.peer_sources;
        let handle = engine.add_torrent(add).await?;
        if complete {
            state.file_completed();
        }
        if cfg.renew && !cfg.initial_peers.is_empty() {
            tokio::spawn(redial(state.clone(), handle.clone(), cfg.initial_peers));
        }
        Ok(PacomSwarm {
            info_hash,
            handle,
            state,
        })
    }

    pub fn info_hash(&self) -> InfoHash {
        self.info_hash
    }

    /// The engine torrent (outside peers, stats, peer discovery).
    pub fn handle(&self) -> &TorrentHandle {
        &self.handle
    }

    /// Our peer id in this swarm (tagged for the group).
    pub fn peer_id(&self) -> [u8; 20] {
        self.state.our_id
    }

    /// Our PACOM-side progress and the number of live links.
    pub fn progress(&self) -> SwarmProgress {
        progress_of(&self.state)
    }

    /// A cheap, cloneable view for status reports while the swarm runs elsewhere.
    pub fn view(&self) -> SwarmView {
        SwarmView {
            info_hash: self.info_hash,
            handle: self.handle.clone(),
            state: self.state.clone(),
        }
    }

    /// Closes every link of the swarm (each reported `Down`) and removes
    /// the torrent.
    pub async fn leave(self) {
        self.state.shutdown.send_replace(true);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.state.live_peers() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.handle.shutdown().await;
    }
}
