//! A stand-in for a popular BitTorrent torrent F: a libtorrent seeder and
//! ordinary libtorrent downloaders, introduced to each other directly (no
//! tracker, no DHT), that PACOM nodes download alongside.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use pacom_bt::metainfo::Metainfo;

use crate::files::write_random_file;
use crate::libtorrent::{LibtorrentPeer, LtAdd, LtOptions, LtTorrent};

/// A popular torrent seeded by libtorrent.
pub struct PopularTorrent {
    pub dir: tempfile::TempDir,
    pub seeder: LibtorrentPeer,
    pub torrent: LtTorrent,
    pub metainfo: Metainfo,
    /// Ordinary libtorrent downloaders added so far.
    pub leechers: Vec<(LibtorrentPeer, tempfile::TempDir)>,
}

impl PopularTorrent {
    /// Writes `len` random bytes, makes a torrent of `piece` byte pieces with
    /// libtorrent and seeds it.
    pub async fn start(len: u64, piece: u32, seed: u64) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("popular.bin");
        write_random_file(&file, len, seed)?;
        let mut seeder = LibtorrentPeer::start(LtOptions::default()).await?;
        let torrent = seeder.create_torrent(&file, piece, &[]).await?;
        seeder
            .add_torrent(
                &torrent.bytes,
                &LtAdd {
                    save_path: dir.path().to_path_buf(),
                    seed: true,
                    ..Default::default()
                },
            )
            .await?;
        let metainfo = Metainfo::from_bytes(&torrent.bytes).context("libtorrent's torrent")?;
        Ok(Self {
            dir,
            seeder,
            torrent,
            metainfo,
            leechers: Vec::new(),
        })
    }

    /// The seeder's address.
    pub fn seeder_addr(&self) -> SocketAddr {
        self.seeder.addr()
    }

    /// Starts an ordinary libtorrent downloader that connects to the seeder,
    /// the earlier downloaders and `extra` peers.
    pub async fn add_leecher(&mut self, extra: &[SocketAddr]) -> Result<SocketAddr> {
        self.leecher(true, extra).await
    }

    /// Like [`add_leecher`](Self::add_leecher) but without the libtorrent
    /// seeder: the data has to come from `extra` peers.
    pub async fn add_leecher_without_seeder(&mut self, extra: &[SocketAddr]) -> Result<SocketAddr> {
        self.leecher(false, extra).await
    }

    async fn leecher(&mut self, with_seeder: bool, extra: &[SocketAddr]) -> Result<SocketAddr> {
        let dir = tempfile::tempdir()?;
        let mut lt = LibtorrentPeer::start(LtOptions::default()).await?;
        let mut peers = Vec::new();
        if with_seeder {
            peers.push(self.seeder.addr());
        }
        peers.extend(self.leechers.iter().map(|(l, _)| l.addr()));
        peers.extend_from_slice(extra);
        lt.add_torrent(
            &self.torrent.bytes,
            &LtAdd {
                save_path: dir.path().to_path_buf(),
                peers,
                ..Default::default()
            },
        )
        .await?;
        let addr = lt.addr();
        self.leechers.push((lt, dir));
        Ok(addr)
    }

    /// Waits until every downloader seeds.
    pub async fn wait_leechers(&mut self, timeout: Duration) -> Result<()> {
        let ih = self.torrent.info_hash;
        for (lt, _) in &mut self.leechers {
            lt.wait_seeding(ih, timeout).await?;
        }
        Ok(())
    }
}
