//! [`PacomNode`]: a whole PACOM client in one value — the BitTorrent
//! engine, the link hub, the PACOM swarms (configured ones, and those a
//! [`JoinNode`] finds or creates through a popular torrent and the DHT) and
//! the circuit driver.

use std::net::SocketAddr;
use std::sync::Arc;

use pacom_core::identity::Identity;
use pacom_core::session::Config;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::driver::spawn_driver;
use super::joining::{CompletionNotifier, JoinConfig, JoinNode, JoinStatus};
use super::{LinkEvent, Links, NodeHandle, PacomSwarm, SwarmConfig, SwarmError, SwarmProgress};
use crate::dht::{Dht, DhtConfig, DhtError};
use crate::dht_source::DhtSource;
use crate::discovery::PeerSource;
use crate::engine::{Engine, EngineConfig, EngineError};
use crate::metainfo::InfoHash;
use crate::torrent::TorrentStats;

/// Joining the network through a popular torrent and the DHT (paper §3.3).
pub struct NodeJoin {
    /// The node's own DHT node.
    pub dht: DhtConfig,
    pub join: JoinConfig,
}

/// Everything [`PacomNode::start`] needs.
pub struct NodeConfig {
    pub identity: Identity,
    pub circuits: Config,
    pub engine: EngineConfig,
    /// PACOM swarms to join at start (static peers, no bootstrap).
    pub swarms: Vec<SwarmConfig>,
    /// Find (or create) swarms by HAVE-order decoding; `None`: static only.
    pub join: Option<NodeJoin>,
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
    #[error("starting the DHT node: {0}")]
    Dht(#[from] DhtError),
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

/// The popular torrent being downloaded as bootstrap cover.
#[derive(Debug, Clone)]
pub struct PopularStatus {
    pub info_hash: InfoHash,
    pub stats: TorrentStats,
}

/// A running PACOM client.
pub struct PacomNode {
    engine: Arc<Engine>,
    links: Links,
    swarms: Vec<PacomSwarm>,
    join: Option<JoinNode>,
    dht: Option<Dht>,
    handle: NodeHandle,
    driver: JoinHandle<()>,
    relay: JoinHandle<()>,
}

impl PacomNode {
    /// Starts the engine, the circuit driver, joins every configured swarm
    /// and, when configured, starts joining through the popular torrents.
    pub async fn start(cfg: NodeConfig) -> Result<PacomNode, NodeStartError> {
        let engine = Arc::new(Engine::start(cfg.engine).await?);
        let (links, mut raw_events) = Links::new();
        // The DHT node blocks briefly while it binds; keep that off the runtime.
        let dht = match &cfg.join {
            Some(j) => {
                let dc = j.dht.clone();
                let started = tokio::task::spawn_blocking(move || Dht::start(dc))
                    .await
                    .map_err(|e| DhtError::Start(std::io::Error::other(e.to_string())));
                match started.and_then(|r| r) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        engine.shutdown().await;
                        return Err(e.into());
                    }
                }
            }
            None => None,
        };
        let join = match (cfg.join, &dht) {
            (Some(mut j), Some(d)) => {
                // Like any client, find (and be found by) the popular
                // torrents' peers on the DHT.
                for p in &mut j.join.popular {
                    p.peer_sources
                        .push(Arc::new(DhtSource::new(d.clone())) as Arc<dyn PeerSource>);
                }
                Some(JoinNode::start(
                    engine.clone(),
                    links.clone(),
                    d.clone(),
                    j.join,
                ))
            }
            _ => None,
        };
        // Completed swarms go to the joining task as well as to the driver.
        let notifier: Option<CompletionNotifier> = join.as_ref().map(JoinNode::notifier);
        let (tx, events) = mpsc::unbounded_channel();
        let relay = tokio::spawn(async move {
            while let Some(ev) = raw_events.recv().await {
                if let (LinkEvent::SwarmComplete { swarm }, Some(n)) = (&ev, &notifier) {
                    n.swarm_complete(*swarm);
                }
                if tx.send(ev).is_err() {
                    break;
                }
            }
        });
        let (handle, driver) = spawn_driver(cfg.identity, cfg.circuits, links.clone(), events);
        let mut node = PacomNode {
            engine,
            links,
            swarms: Vec::new(),
            join,
            dht,
            handle,
            driver,
            relay,
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

    /// Where our DHT node listens, when the node joins through the DHT.
    pub fn dht_addr(&self) -> Option<SocketAddr> {
        self.dht.as_ref().map(Dht::local_addr)
    }

    /// What joining has done so far (`None`: static swarms only).
    pub fn join_status(&self) -> Option<JoinStatus> {
        self.join.as_ref().map(JoinNode::status)
    }

    /// The joining task, to wait on its status.
    pub fn joining(&self) -> Option<&JoinNode> {
        self.join.as_ref()
    }

    /// The popular torrent being downloaded now, with its progress.
    pub fn popular(&self) -> Option<PopularStatus> {
        let ih = self.join_status()?.popular?;
        let h = self
            .engine
            .torrents()
            .into_iter()
            .find(|h| h.info_hash() == ih)?;
        Some(PopularStatus {
            info_hash: ih,
            stats: h.stats(),
        })
    }

    /// Configured swarms and those joined or created by bootstrapping.
    pub fn swarms(&self) -> Vec<SwarmStatus> {
        let mut out: Vec<SwarmStatus> = self
            .swarms
            .iter()
            .map(|s| SwarmStatus {
                info_hash: s.info_hash(),
                stats: s.handle().stats(),
                progress: s.progress(),
                peers: s.handle().peers(),
            })
            .collect();
        if let Some(j) = &self.join {
            let mut joined = j.swarms();
            joined.sort_by_key(|v| v.info_hash().0);
            out.extend(joined.into_iter().map(|v| SwarmStatus {
                info_hash: v.info_hash(),
                stats: v.handle().stats(),
                progress: v.progress(),
                peers: v.handle().peers(),
            }));
        }
        out
    }

    /// Stops joining, leaves every swarm, stops the driver and the engine.
    pub async fn shutdown(self) {
        if let Some(j) = self.join {
            j.stop().await;
        }
        for s in self.swarms {
            s.leave().await;
        }
        self.handle.shutdown().await;
        let _ = self.driver.await;
        self.relay.abort();
        self.engine.shutdown().await;
    }
}
