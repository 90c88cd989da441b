//! An HTTP tracker as a [`PeerSource`]: each announce is one HTTP request,
//! and the peers of its answer are what the next `get_peers` returns.

use crate::discovery::{AnnounceEvent, DiscoveryError, PeerSource, TransferStats};
use crate::metainfo::InfoHash;
use crate::tracker::{self, AnnounceRequest};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

/// Sent as `left` while the size is unknown (magnet before its metadata):
/// not zero, so the tracker counts us as a leecher.
const LEFT_UNKNOWN: u64 = 1;

/// How many peers we ask for.
const NUMWANT: u32 = 50;

/// One tracker URL, announcing with one peer id.
pub struct TrackerSource {
    url: String,
    peer_id: [u8; 20],
    /// Peers from the last successful answer, per torrent.
    peers: Mutex<HashMap<InfoHash, Vec<SocketAddr>>>,
}

impl TrackerSource {
    /// `peer_id` should be the torrent's handshake peer id, so the tracker
    /// and the peers see one identity.
    pub fn new(url: impl Into<String>, peer_id: [u8; 20]) -> Self {
        Self {
            url: url.into(),
            peer_id,
            peers: Mutex::new(HashMap::new()),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn error(&self, message: String) -> DiscoveryError {
        DiscoveryError {
            source_name: self.url.clone(),
            message,
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<InfoHash, Vec<SocketAddr>>> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn tracker_event(event: AnnounceEvent) -> tracker::AnnounceEvent {
    match event {
        AnnounceEvent::Started => tracker::AnnounceEvent::Started,
        AnnounceEvent::None => tracker::AnnounceEvent::Regular,
        AnnounceEvent::Completed => tracker::AnnounceEvent::Completed,
        AnnounceEvent::Stopped => tracker::AnnounceEvent::Stopped,
    }
}

impl PeerSource for TrackerSource {
    fn name(&self) -> &str {
        &self.url
    }

    fn announce(
        &self,
        info_hash: InfoHash,
        port: u16,
        event: AnnounceEvent,
    ) -> BoxFuture<'_, Result<(), DiscoveryError>> {
        self.announce_with_stats(info_hash, port, event, TransferStats::default())
    }

    fn announce_with_stats(
        &self,
        info_hash: InfoHash,
        port: u16,
        event: AnnounceEvent,
        stats: TransferStats,
    ) -> BoxFuture<'_, Result<(), DiscoveryError>> {
        Box::pin(async move {
            let req = AnnounceRequest {
                info_hash: info_hash.0,
                peer_id: self.peer_id,
                port,
                uploaded: stats.uploaded,
                downloaded: stats.downloaded,
                left: stats.left.unwrap_or(LEFT_UNKNOWN),
                event: tracker_event(event),
                numwant: (event != AnnounceEvent::Stopped).then_some(NUMWANT),
                ip: None,
            };
            let resp = tracker::announce(&self.url, &req)
                .await
                .map_err(|e| self.error(e.to_string()))?;
            if let Some(w) = &resp.warning {
                tracing::info!(tracker = %self.url, warning = %w, "tracker warning");
            }
            if event == AnnounceEvent::Stopped {
                self.cache().remove(&info_hash);
            } else {
                self.cache().insert(info_hash, resp.peers);
            }
            Ok(())
        })
    }

    /// The peers of the last answer (the tracker is only asked on announce).
    fn get_peers(
        &self,
        info_hash: InfoHash,
    ) -> BoxFuture<'_, Result<Vec<SocketAddr>, DiscoveryError>> {
        let peers = self.cache().get(&info_hash).cloned().unwrap_or_default();
        Box::pin(async move { Ok(peers) })
    }
}
