//! A thin async wrapper over the `mainline` DHT (BEP 5) for peer discovery.
//!
//! `mainline` runs its node on a thread of its own; we use its async API so
//! callers can await announces and lookups on tokio. What this wrapper adds:
//! IPv4-only configuration in std types, de-duplicated peer lists (a peer
//! re-announced to one node shows up several times in `mainline`'s replies),
//! and ordering between an announce of a hash and a lookup of the same hash
//! on the same node (a lookup overlapping the node's own in-flight announce
//! is unreliable in `mainline` 8).
//!
//! Interop note: `mainline` ignores KRPC messages whose transaction id is
//! not 4 bytes long, so libtorrent nodes (2-byte ids) get no answers from
//! `mainline` nodes; queries from `mainline` to libtorrent nodes do work.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use mainline::async_dht::AsyncDht;

/// How to start a DHT node.
#[derive(Debug, Clone, Default)]
pub struct DhtConfig {
    /// Nodes to bootstrap from; empty starts a node that others bootstrap from.
    pub bootstrap: Vec<SocketAddr>,
    /// Local address (IPv4 only); `None` = 0.0.0.0 with a random port.
    pub bind: Option<SocketAddr>,
    /// Answer queries from the start instead of `mainline`'s adaptive mode.
    pub server_mode: bool,
    /// Per-request timeout; short values keep loopback tests fast.
    pub request_timeout: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum DhtError {
    #[error("the mainline DHT is IPv4 only, got {0}")]
    Ipv6Unsupported(SocketAddr),
    #[error("could not start the DHT node: {0}")]
    Start(#[from] std::io::Error),
    #[error("DHT announce failed: {0}")]
    Announce(String),
}

/// Serialises announce and lookup of one info hash on one node.
type HashLock = Arc<tokio::sync::Mutex<()>>;

/// A running DHT node; clones share it. The node stops when the last clone drops.
#[derive(Clone)]
pub struct Dht {
    inner: AsyncDht,
    local_addr: SocketAddr,
    /// One lock per info hash: announces hold it, lookups wait for it.
    busy: Arc<Mutex<HashMap<[u8; 20], HashLock>>>,
}

impl std::fmt::Debug for Dht {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dht")
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

fn v4(addr: SocketAddr) -> Result<SocketAddrV4, DhtError> {
    match addr {
        SocketAddr::V4(a) => Ok(a),
        SocketAddr::V6(_) => Err(DhtError::Ipv6Unsupported(addr)),
    }
}

impl Dht {
    /// Starts a node and its `mainline` thread. Blocks briefly to learn its address.
    pub fn start(cfg: DhtConfig) -> Result<Self, DhtError> {
        let mut config = mainline::Config {
            bootstrap: Some(
                cfg.bootstrap
                    .iter()
                    .map(|a| v4(*a))
                    .collect::<Result<_, _>>()?,
            ),
            server_mode: cfg.server_mode,
            ..Default::default()
        };
        if let Some(bind) = cfg.bind {
            let bind = v4(bind)?;
            config.bind_address = Some(*bind.ip());
            if bind.port() != 0 {
                config.port = Some(bind.port());
            }
        }
        if let Some(t) = cfg.request_timeout {
            config.request_timeout = t;
        }
        let node = mainline::Dht::new(config)?;
        #[allow(deprecated)] // the blocking getter is right here: `start` is sync.
        let info = node.info();
        let mut local = info.local_addr();
        if local.ip().is_unspecified() {
            // Report an address peers on this host can reach.
            local.set_ip(Ipv4Addr::LOCALHOST);
        }
        Ok(Dht {
            inner: node.as_async(),
            local_addr: SocketAddr::V4(local),
            busy: Arc::default(),
        })
    }

    /// The UDP address this node listens on (0.0.0.0 is reported as 127.0.0.1).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether the node found any other node (waits for bootstrapping to finish).
    pub async fn bootstrapped(&self) -> bool {
        self.inner.bootstrapped().await
    }

    /// Addresses of the non-stale nodes in the routing table.
    pub async fn routing_table(&self) -> Vec<SocketAddr> {
        self.inner
            .to_bootstrap()
            .await
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect()
    }

    fn lock_for(&self, info_hash: [u8; 20]) -> HashLock {
        let mut map = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(info_hash).or_default().clone()
    }

    /// Forgets the per-hash lock once nobody else holds or waits for it, so
    /// the map does not grow with every hash ever looked up.
    fn release(&self, info_hash: [u8; 20], lock: HashLock) {
        let mut map = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        // Clones are only made under this mutex: 2 = the map's and ours.
        if Arc::strong_count(&lock) == 2 {
            map.remove(&info_hash);
        }
    }

    /// Announces that we serve `info_hash` on `port`, or, with `None`, on the
    /// port our DHT packets come from (BEP 5 `implied_port`).
    pub async fn announce(&self, info_hash: [u8; 20], port: Option<u16>) -> Result<(), DhtError> {
        let lock = self.lock_for(info_hash);
        let guard = lock.lock().await;
        let result = self
            .inner
            .announce_peer(mainline::Id::from(info_hash), port)
            .await
            .map(|_| ())
            .map_err(|e| DhtError::Announce(e.to_string()));
        drop(guard);
        self.release(info_hash, lock);
        result
    }

    /// Looks up peers for `info_hash`; each address appears once, in the
    /// order first seen. An empty list means nobody answered with peers.
    pub async fn get_peers(&self, info_hash: [u8; 20]) -> Result<Vec<SocketAddr>, DhtError> {
        let lock = self.lock_for(info_hash);
        let guard = lock.lock().await;
        let mut stream = self.inner.get_peers(mainline::Id::from(info_hash));
        let mut seen = HashSet::new();
        let mut peers = Vec::new();
        while let Some(batch) = stream.next().await {
            for peer in batch {
                let peer = SocketAddr::new(IpAddr::V4(*peer.ip()), peer.port());
                if seen.insert(peer) {
                    peers.push(peer);
                }
            }
        }
        drop(guard);
        self.release(info_hash, lock);
        Ok(peers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_is_refused() {
        let cfg = DhtConfig {
            bind: Some("[::1]:0".parse().unwrap()),
            ..Default::default()
        };
        assert!(matches!(Dht::start(cfg), Err(DhtError::Ipv6Unsupported(_))));
    }

    #[test]
    fn binds_where_asked() {
        let dht = Dht::start(DhtConfig {
            bind: Some("127.0.0.1:0".parse().unwrap()),
            server_mode: true,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(dht.local_addr().ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_ne!(dht.local_addr().port(), 0);
    }
}
