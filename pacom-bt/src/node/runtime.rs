//! [`PacomNode`]: a whole PACOM client in one value — the BitTorrent
//! engine, the link hub, the joined PACOM swarms and the circuit driver.

use std::net::SocketAddr;

use pacom_core::identity::Identity;
use pacom_core::session::Config;
use tokio::task::JoinHandle;

use super::driver::spawn_driver;
use super::{Links, NodeHandle, PacomSwarm, SwarmConfig, SwarmError, SwarmProgress};
use crate::engine::{Engine, EngineConfig, EngineError};
use crate::metainfo::InfoHash;
use crate::torrent::TorrentStats;

/// Everything [`PacomNode::start`] needs.
pub struct NodeConfig {
    pub identity: Identity,
    pub circuits: Config,
    pub engine: EngineConfig,
    /// PACOM swarms to join at start. A bootstrap step (HAVE order, DHT)
    /// produces more of these later and hands them to [`PacomNode::join`].
    pub swarms: Vec<SwarmConfig>,
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeStartError {
    #[error("starting the BitTorrent engine: {0}")]
    Engine(#[from] EngineError),
    #[error("joining PACOM swarm {index}: {source}")]
    Swarm {
        index: usize,
        #[source]
        source: SwarmError,
    },
}

/// One PACOM swarm as `pacom status` shows it.
#[derive(Debug, Clone)]
pub struct SwarmStatus {
    pub info_hash: InfoHash,
    pub stats: TorrentStats,
    /// PACOM-side blocks had and live links.
    pub progress: SwarmProgress,
    pub peers: Vec<SocketAddr>,
}

/// A running PACOM client.
pub struct PacomNode {
    engine: Engine,
    links: Links,
    swarms: Vec<PacomSwarm>,
    handle: NodeHandle,
    driver: JoinHandle<()>,
}

impl PacomNode {
    /// Starts the engine, the circuit driver, and joins every configured swarm.
    pub async fn start(cfg: NodeConfig) -> Result<PacomNode, NodeStartError> {
        let engine = Engine::start(cfg.engine).await?;
        let (links, events) = Links::new();
        let (handle, driver) = spawn_driver(cfg.identity, cfg.circuits, links.clone(), events);
        let mut node = PacomNode {
            engine,
            links,
            swarms: Vec::new(),
            handle,
            driver,
        };
        for (index, swarm) in cfg.swarms.into_iter().enumerate() {
            if let Err(source) = node.join(swarm).await {
                node.shutdown().await;
                return Err(NodeStartError::Swarm { index, source });
            }
        }
        Ok(node)
    }

    /// Joins one more PACOM swarm.
    pub async fn join(&mut self, swarm: SwarmConfig) -> Result<InfoHash, SwarmError> {
        let s = PacomSwarm::join(&self.engine, &self.links, swarm).await?;
        let ih = s.info_hash();
        tracing::info!(swarm = %ih, "joined PACOM swarm");
        self.swarms.push(s);
        Ok(ih)
    }

    pub fn handle(&self) -> &NodeHandle {
        &self.handle
    }

    /// Where peers reach our engine.
    pub fn local_addr(&self) -> SocketAddr {
        self.engine.local_addr()
    }

    pub fn swarms(&self) -> Vec<SwarmStatus> {
        self.swarms
            .iter()
            .map(|s| SwarmStatus {
                info_hash: s.info_hash(),
                stats: s.handle().stats(),
                progress: s.progress(),
                peers: s.handle().peers(),
            })
            .collect()
    }

    /// Leaves every swarm, stops the driver and the engine.
    pub async fn shutdown(self) {
        for s in self.swarms {
            s.leave().await;
        }
        self.handle.shutdown().await;
        let _ = self.driver.await;
        self.engine.shutdown().await;
    }
}
