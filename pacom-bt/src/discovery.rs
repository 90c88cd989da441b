//! Where peers come from: trackers, the DHT, or anything else that can
//! announce us and list peers. The torrent polls each source periodically.

use crate::metainfo::InfoHash;
use futures::future::BoxFuture;
use std::net::SocketAddr;

/// The tracker-style event of an announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnounceEvent {
    Started,
    /// A periodic re-announce.
    None,
    Completed,
    Stopped,
}

/// An error from a peer source; the torrent logs it and tries again later.
#[derive(Debug, thiserror::Error)]
#[error("peer source {source_name}: {message}")]
pub struct DiscoveryError {
    pub source_name: String,
    pub message: String,
}

/// Transfer totals sent with an announce (trackers want them; the DHT does not).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransferStats {
    pub uploaded: u64,
    pub downloaded: u64,
    /// Bytes still missing; `None` while the metadata is unknown (magnets).
    pub left: Option<u64>,
}

/// A source of peers for a torrent (HTTP tracker, mainline DHT, ...).
pub trait PeerSource: Send + Sync {
    /// A short name for logs.
    fn name(&self) -> &str;

    /// Tells the source we take part in `info_hash` on `port`.
    fn announce(
        &self,
        info_hash: InfoHash,
        port: u16,
        event: AnnounceEvent,
    ) -> BoxFuture<'_, Result<(), DiscoveryError>>;

    /// Like [`PeerSource::announce`], with our transfer totals. The torrent
    /// calls this one; sources that report totals (trackers) override it.
    fn announce_with_stats(
        &self,
        info_hash: InfoHash,
        port: u16,
        event: AnnounceEvent,
        _stats: TransferStats,
    ) -> BoxFuture<'_, Result<(), DiscoveryError>> {
        self.announce(info_hash, port, event)
    }

    /// Peers the source knows for `info_hash`.
    fn get_peers(
        &self,
        info_hash: InfoHash,
    ) -> BoxFuture<'_, Result<Vec<SocketAddr>, DiscoveryError>>;
}

/// A fixed list of peers; useful in tests and for `--peer`.
#[derive(Debug, Clone, Default)]
pub struct StaticPeers(pub Vec<SocketAddr>);

impl PeerSource for StaticPeers {
    fn name(&self) -> &str {
        "static"
    }

    fn announce(
        &self,
        _info_hash: InfoHash,
        _port: u16,
        _event: AnnounceEvent,
    ) -> BoxFuture<'_, Result<(), DiscoveryError>> {
        Box::pin(async { Ok(()) })
    }

    fn get_peers(
        &self,
        _info_hash: InfoHash,
    ) -> BoxFuture<'_, Result<Vec<SocketAddr>, DiscoveryError>> {
        let peers = self.0.clone();
        Box::pin(async move { Ok(peers) })
    }
}
