//! librqbit 9.1 as an in-process BitTorrent peer: no DHT, no trackers,
//! TCP only, peers given explicitly.
//!
//! Torrents for it should come from libtorrent ([`crate::libtorrent`]):
//! librqbit's own `create_torrent` writes one extra piece hash when the
//! content length is an exact multiple of the piece length.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use librqbit::{
    AddTorrent, AddTorrentOptions, ListenerMode, ListenerOptions, ManagedTorrent, Session,
    SessionOptions,
};

/// A librqbit session listening on 127.0.0.1; stops when dropped.
pub struct RqbitPeer {
    pub session: Arc<Session>,
}

impl RqbitPeer {
    /// Starts a session whose default output folder is `dir`.
    pub async fn start(dir: &Path) -> Result<Self> {
        let opts = SessionOptions {
            dht: None,
            disable_trackers: true,
            persistence: None,
            fastresume: false,
            disable_local_service_discovery: true,
            ipv4_only: true,
            listen: Some(ListenerOptions {
                mode: ListenerMode::TcpOnly,
                listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                enable_upnp_port_forwarding: false,
                ipv4_only: true,
                ..Default::default()
            }),
            ..Default::default()
        };
        let session = Session::new_with_opts(dir.to_path_buf(), opts)
            .await
            .context("start librqbit session")?;
        Ok(RqbitPeer { session })
    }

    /// The TCP address other peers connect to.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.session.listen_addr()
    }

    /// Adds a torrent whose data is in (or goes to) `dir`, connecting to `peers`.
    pub async fn add(
        &self,
        torrent: &[u8],
        dir: &Path,
        peers: Vec<SocketAddr>,
    ) -> Result<Arc<ManagedTorrent>> {
        let opts = AddTorrentOptions {
            output_folder: Some(dir.to_string_lossy().into_owned()),
            overwrite: true,
            disable_trackers: true,
            initial_peers: Some(peers),
            ..Default::default()
        };
        let resp = self
            .session
            .add_torrent(AddTorrent::from_bytes(torrent.to_vec()), Some(opts))
            .await?;
        resp.into_handle()
            .context("librqbit did not add the torrent")
    }

    /// Waits until the torrent is complete, or fails after `timeout`.
    pub async fn wait_complete(handle: &ManagedTorrent, timeout: Duration) -> Result<()> {
        tokio::time::timeout(timeout, handle.wait_until_completed())
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "librqbit download not complete after {timeout:?}: {}",
                    handle.stats()
                )
            })?
    }
}

impl Drop for RqbitPeer {
    fn drop(&mut self) {
        // Cancels the session's tasks; listeners and torrents go with them.
        let session = self.session.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { session.stop().await });
        }
    }
}
