//! A loopback DHT made of `mainline` nodes, and how libtorrent fits in.
//!
//! [`DhtTestnet`] starts N `mainline` nodes on 127.0.0.1 in server mode with
//! a 300 ms request timeout (the default 2 s makes every unanswered query a
//! stall). Each node bootstraps from the ones started before it.
//!
//! libtorrent and `mainline` on one loopback DHT (observed with libtorrent
//! 2.0.8 and mainline 8.0.1):
//! - `mainline` drops KRPC messages whose transaction id is not exactly 4
//!   bytes; libtorrent uses 2-byte ids. So a libtorrent node gets no answer
//!   from a `mainline` node: libtorrent cannot bootstrap from, look up on, or
//!   announce to a `mainline`-only DHT.
//! - The other direction works: `mainline` sends 4-byte ids and libtorrent
//!   echoes them. So the arrangement that works is a DHT of libtorrent nodes
//!   ([`LtDhtNet`]): libtorrent peers announce into it, and our `mainline`
//!   wrapper, bootstrapped from those libtorrent nodes, reads the peers with
//!   `get_peers`. libtorrent needs `dht_restrict_routing_ips` and
//!   `dht_restrict_search_ips` off to keep many nodes of one IP.
//! - libtorrent's DHT works when its session listens on `127.0.0.1:PORT`
//!   (with `0.0.0.0:PORT` and 127.0.0.1 bootstrap nodes its routing table
//!   stayed empty). Routing tables fill slowly: the first node learns the
//!   others within seconds, later nodes may report 0 nodes for a while, and
//!   a fresh seeder's announce may need `force_dht_announce` before a lookup
//!   sees it (the test retries once a second; it usually takes 10-25 s).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Result};
use pacom_bt::dht::{Dht, DhtConfig};

use crate::libtorrent::{LibtorrentPeer, LtOptions};

/// Request timeout for loopback test nodes.
pub const TEST_REQUEST_TIMEOUT: Duration = Duration::from_millis(300);

/// Config for a test node bound to 127.0.0.1 that bootstraps from `bootstrap`.
pub fn test_node_config(bootstrap: Vec<SocketAddr>) -> DhtConfig {
    DhtConfig {
        bootstrap,
        bind: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        server_mode: true,
        request_timeout: Some(TEST_REQUEST_TIMEOUT),
    }
}

/// N `mainline` nodes on loopback; they stop when this drops (unless a test
/// still holds a clone of a node).
pub struct DhtTestnet {
    pub nodes: Vec<Dht>,
}

impl DhtTestnet {
    /// Starts `n` nodes and waits until each has found the others.
    pub async fn start(n: usize) -> Result<Self> {
        let mut nodes: Vec<Dht> = Vec::with_capacity(n);
        for _ in 0..n {
            let boot = nodes.iter().map(Dht::local_addr).collect();
            nodes.push(Dht::start(test_node_config(boot))?);
        }
        for node in nodes.iter().skip(1) {
            if !node.bootstrapped().await {
                bail!("DHT node {} found no other node", node.local_addr());
            }
        }
        Ok(DhtTestnet { nodes })
    }

    /// Addresses to bootstrap from.
    pub fn bootstrap(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(Dht::local_addr).collect()
    }

    /// A fresh node (not part of the testnet's list) that joins this testnet.
    pub async fn join(&self) -> Result<Dht> {
        let node = Dht::start(test_node_config(self.bootstrap()))?;
        if !node.bootstrapped().await {
            bail!("new DHT node could not join the testnet");
        }
        Ok(node)
    }
}

/// A DHT of libtorrent nodes (DHT only, no torrents) that libtorrent peers
/// can announce into and `mainline` nodes can query.
pub struct LtDhtNet {
    pub nodes: Vec<LibtorrentPeer>,
}

impl LtDhtNet {
    /// Starts `n` libtorrent DHT nodes, each bootstrapping from the earlier ones.
    pub async fn start(n: usize) -> Result<Self> {
        let mut nodes: Vec<LibtorrentPeer> = Vec::with_capacity(n);
        for _ in 0..n {
            let boot = nodes.iter().map(LibtorrentPeer::addr).collect();
            nodes.push(
                LibtorrentPeer::start(LtOptions {
                    port: 0,
                    dht: true,
                    dht_bootstrap: boot,
                })
                .await?,
            );
        }
        Ok(LtDhtNet { nodes })
    }

    pub fn bootstrap(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(LibtorrentPeer::addr).collect()
    }

    /// Waits until the first node (everyone's bootstrap node) knows at least
    /// `min` others. libtorrent fills routing tables slowly on loopback: later
    /// nodes may still report 0 when the first already knows them.
    pub async fn wait_connected(&mut self, min: u64, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        let Some(first) = self.nodes.first_mut() else {
            return Ok(());
        };
        while first.dht_nodes().await? < min {
            if tokio::time::Instant::now() > deadline {
                bail!("libtorrent DHT node {} knows < {min} nodes", first.addr());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }
}
