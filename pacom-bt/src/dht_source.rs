//! The mainline DHT as a [`PeerSource`]; one [`Dht`] node serves every
//! torrent of the engine.

use crate::dht::Dht;
use crate::discovery::{AnnounceEvent, DiscoveryError, PeerSource};
use crate::metainfo::InfoHash;
use futures::future::BoxFuture;
use std::net::SocketAddr;

/// A shared DHT node used for announces and lookups.
#[derive(Clone, Debug)]
pub struct DhtSource {
    dht: Dht,
}

impl DhtSource {
    pub fn new(dht: Dht) -> Self {
        Self { dht }
    }

    fn error(&self, message: String) -> DiscoveryError {
        DiscoveryError {
            source_name: "dht".into(),
            message,
        }
    }
}

impl PeerSource for DhtSource {
    fn name(&self) -> &str {
        "dht"
    }

    /// Announces our TCP port. The DHT has no "stopped": announces expire.
    fn announce(
        &self,
        info_hash: InfoHash,
        port: u16,
        event: AnnounceEvent,
    ) -> BoxFuture<'_, Result<(), DiscoveryError>> {
        Box::pin(async move {
            if event == AnnounceEvent::Stopped {
                return Ok(());
            }
            self.dht
                .announce(info_hash.0, Some(port))
                .await
                .map_err(|e| self.error(e.to_string()))
        })
    }

    fn get_peers(
        &self,
        info_hash: InfoHash,
    ) -> BoxFuture<'_, Result<Vec<SocketAddr>, DiscoveryError>> {
        Box::pin(async move {
            self.dht
                .get_peers(info_hash.0)
                .await
                .map_err(|e| self.error(e.to_string()))
        })
    }
}
