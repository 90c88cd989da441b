//! The `[bootstrap]` section: how a node joins the PACOM network through
//! popular torrents and the DHT (paper §3.3) instead of static `[[swarm]]`
//! peers, with the flags and environment variables that override it.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

/// Whether the node takes the bootstrap role at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    /// Watch the popular torrent's HAVE orders, join what they reveal and
    /// become a bootstrap node only when too few are seen.
    Auto,
    /// Create and announce PACOM swarms at once, hiding x in the HAVE order.
    Bootstrap,
}

/// `[bootstrap]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BootstrapSection {
    pub role: RoleName,
    /// The IP other peers see for this node; it names our own swarms
    /// (IP(Pb)). Defaults to the listen IP when that is not 0.0.0.0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_ip: Option<IpAddr>,
    /// UDP port of our DHT node (0: 6881 if free, else any).
    pub dht_port: u16,
    /// Bytes of every PACOM file; all members of a group must agree.
    pub file_size: u64,
    /// Swarm caps of our own swarms as a bootstrap node; empty draws their
    /// number and caps from the paper's laws.
    pub caps: Vec<u32>,
    /// Seconds to watch HAVE orders before counting bootstrap nodes.
    pub watch_secs: f64,
    /// With fewer bootstrap nodes seen than this, become one.
    pub min_bootstrap_nodes: usize,
    /// PACOM swarms to be in at most.
    pub max_swarms: usize,
    /// Download limit of the popular torrents in bytes per second (0: none).
    pub popular_download_rate: u64,
    /// Peers of the popular torrents to contact besides trackers and DHT.
    pub popular_peers: Vec<SocketAddr>,
}

impl Default for BootstrapSection {
    fn default() -> Self {
        let role = pacom_core::bootstrap::RoleConfig::default();
        BootstrapSection {
            role: RoleName::Auto,
            public_ip: None,
            dht_port: 0,
            file_size: 256 << 20,
            caps: Vec::new(),
            watch_secs: role.watch.as_secs_f64(),
            min_bootstrap_nodes: role.min_bootstrap_nodes,
            max_swarms: role.max_swarms,
            popular_download_rate: 0,
            popular_peers: Vec::new(),
        }
    }
}

/// Flags and environment variables of `[bootstrap]`.
#[derive(Args, Clone, Debug, Default)]
pub struct BootstrapOverrides {
    /// auto (join what HAVE orders reveal) or bootstrap (create swarms at once).
    #[arg(long = "bootstrap-role", env = "PACOM_BOOTSTRAP_ROLE")]
    pub role: Option<RoleName>,
    /// The IP other peers see for this node (names our own swarms).
    #[arg(long, env = "PACOM_PUBLIC_IP")]
    pub public_ip: Option<IpAddr>,
    /// UDP port of our DHT node (0: 6881 if free, else any).
    #[arg(long, env = "PACOM_DHT_PORT")]
    pub dht_port: Option<u16>,
    /// Bytes of every PACOM file (all group members must agree).
    #[arg(long, env = "PACOM_SWARM_FILE_SIZE")]
    pub swarm_file_size: Option<u64>,
    /// Caps of our own swarms as a bootstrap node (repeatable).
    #[arg(long = "swarm-cap", env = "PACOM_SWARM_CAPS", value_delimiter = ',')]
    pub caps: Vec<u32>,
    /// Seconds to watch HAVE orders before counting bootstrap nodes.
    #[arg(long = "bootstrap-watch", env = "PACOM_BOOTSTRAP_WATCH")]
    pub watch_secs: Option<f64>,
    /// Download limit of popular torrents, bytes per second (0: none).
    #[arg(long, env = "PACOM_POPULAR_DOWNLOAD_RATE")]
    pub popular_download_rate: Option<u64>,
    /// A peer of the popular torrents (repeatable).
    #[arg(
        long = "popular-peer",
        env = "PACOM_POPULAR_PEERS",
        value_delimiter = ','
    )]
    pub popular_peers: Vec<SocketAddr>,
}

impl BootstrapSection {
    pub fn apply(&mut self, o: &BootstrapOverrides) {
        if let Some(v) = o.role {
            self.role = v;
        }
        if let Some(v) = o.public_ip {
            self.public_ip = Some(v);
        }
        if let Some(v) = o.dht_port {
            self.dht_port = v;
        }
        if let Some(v) = o.swarm_file_size {
            self.file_size = v;
        }
        if !o.caps.is_empty() {
            self.caps = o.caps.clone();
        }
        if let Some(v) = o.watch_secs {
            self.watch_secs = v;
        }
        if let Some(v) = o.popular_download_rate {
            self.popular_download_rate = v;
        }
        if !o.popular_peers.is_empty() {
            self.popular_peers = o.popular_peers.clone();
        }
    }

    pub fn check(&self) -> Result<()> {
        if self.file_size == 0 {
            bail!("bootstrap.file_size must be positive");
        }
        if self.caps.iter().any(|&c| c < 2) || self.caps.len() > 100 {
            bail!("bootstrap.caps: at most 100 swarms, each cap at least 2");
        }
        if !(self.watch_secs.is_finite() && self.watch_secs >= 0.0 && self.watch_secs < 1e7) {
            bail!("bootstrap.watch_secs must be a non-negative number of seconds");
        }
        if self.max_swarms == 0 {
            bail!("bootstrap.max_swarms must be at least 1");
        }
        Ok(())
    }
}

/// Resolves a `dht_bootstrap` entry ("host:port") to its IPv4 addresses.
pub fn resolve_dht_node(s: &str) -> Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = match s.to_socket_addrs() {
        Ok(a) => a.filter(SocketAddr::is_ipv4).collect(),
        Err(e) => bail!("dht_bootstrap {s:?} is not a reachable host:port ({e})"),
    };
    if addrs.is_empty() {
        bail!("dht_bootstrap {s:?} has no IPv4 address (the DHT is IPv4 only)");
    }
    Ok(addrs)
}

pub const BOOTSTRAP_DOC: &str = "
# Joining through popular torrents and the DHT (used when popular_torrents
# is set, or role = \"bootstrap\"). A bootstrap node creates PACOM swarms,
# announces them on the DHT and hides the x of a non-full one in the order of
# its HAVE messages in the popular torrent; others decode it and join.
# role                   \"auto\" (join what HAVE orders reveal; become a bootstrap
#                        node when fewer than min_bootstrap_nodes are seen within
#                        watch_secs) or \"bootstrap\" (at once)
# public_ip              the IP peers see for this node (default: the listen IP)
# dht_port               UDP port of the DHT node (0: 6881 if free, else any)
# file_size              bytes of every PACOM file; the whole group must agree
# caps                   caps of own swarms, e.g. [4, 4]; [] draws them (Pareto law)
# max_swarms             PACOM swarms to be in at most
# popular_download_rate  bytes/s limit of popular torrents (0: none)
# popular_peers          peers of the popular torrents, \"host:port\", besides
#                        trackers and the DHT
";
