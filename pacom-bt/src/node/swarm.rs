//! One PACOM swarm: the PACOM file as an engine torrent that outside
//! clients get genuine blocks from, with every tagged PACOM peer claimed
//! and run as a link (Algorithm 1).

use std::net::SocketAddr;
use std::sync::Arc;

use pacom_core::link::Mode;
use pacom_core::pacom_file::PacomFile;
use pacom_core::schedule::PacerConfig;

use super::Links;
use crate::discovery::PeerSource;
use crate::engine::{Engine, EngineError};
use crate::metainfo::InfoHash;
use crate::torrent::TorrentHandle;

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
}

/// Errors of joining or running a swarm.
#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
    #[error("bad swarm configuration: {0}")]
    Config(String),
}

/// A joined PACOM swarm.
pub struct PacomSwarm {
    info_hash: InfoHash,
    handle: TorrentHandle,
}

impl PacomSwarm {
    /// Adds the PACOM file to the engine and starts claiming PACOM peers;
    /// their links are registered in `links`.
    pub async fn join(
        engine: &Engine,
        links: &Links,
        cfg: SwarmConfig,
    ) -> Result<PacomSwarm, SwarmError> {
        let _ = (engine, links, cfg);
        Err(SwarmError::Config("not implemented yet".into()))
    }

    pub fn info_hash(&self) -> InfoHash {
        self.info_hash
    }

    /// The engine torrent (outside peers, stats, peer discovery).
    pub fn handle(&self) -> &TorrentHandle {
        &self.handle
    }

    /// Closes every link of the swarm (each reported `Down`) and removes
    /// the torrent.
    pub async fn leave(self) {
        self.handle.shutdown().await;
    }
}
