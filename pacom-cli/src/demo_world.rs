//! The world `pacom demo` runs in, all on loopback in one process: a
//! `mainline` DHT testnet, a popular torrent F seeded and downloaded by
//! plain BitTorrent peers (our engine without PACOM), and PACOM nodes
//! configured exactly as `pacom run` configures them, each on its own
//! 127.0.0.x because a bootstrap node's IP names its swarms.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use pacom_bt::dht::{Dht, DhtConfig};
use pacom_bt::dht_source::DhtSource;
use pacom_bt::discovery::PeerSource;
use pacom_bt::metainfo::{create_from_path, CreateOptions, Metainfo};
use pacom_bt::node::{FileCache, NodeConfig, PacomNode};
use pacom_bt::{AddTorrent, Engine, EngineConfig, StorageSpec, TorrentSource};
use pacom_core::identity::Identity;
use rand::RngCore;

use crate::bootstrap_config::RoleName;
use crate::config::{Config, ModeName};
use crate::setup;

/// F: 800 pieces of 16 KiB. At the PACOM nodes' popular download limit a
/// bootstrap node needs ~50 s for it, long enough to be read by newcomers.
const F_PIECES: u64 = 800;
const F_PIECE: u32 = 16 * 1024;
const POPULAR_RATE: u64 = 256 * 1024;

/// Per-mode rates and sizes: every block a link downloads, data or cover,
/// uses one up, so the PACOM file must outlast the demo at the link rate.
pub struct Sizes {
    pub link_blocks_per_sec: f64,
    pub pacom_file: u64,
    /// The file sent through the circuit.
    pub payload: usize,
}

pub fn sizes(mode: ModeName) -> Sizes {
    match mode {
        ModeName::Public => Sizes {
            link_blocks_per_sec: 100.0,
            pacom_file: 256 << 20,
            payload: 5 << 20,
        },
        // The PCM carrier hides ~145 bytes per 16 KiB block, so 20 blocks/s
        // carry ~2.9 KB/s per link: a 5 MiB file would need half an hour,
        // so private mode sends a small one. Synthesising audio is slow
        // (~5 MB/s per core), so the PACOM file is small too: on a node
        // with three links it lasts ~25 s at this rate.
        ModeName::Private => Sizes {
            link_blocks_per_sec: 20.0,
            pacom_file: 48 << 20,
            payload: 8 << 10,
        },
    }
}

pub fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// DHT nodes, one per loopback address they serve.
pub async fn dht_testnet(n: usize) -> Result<Vec<Dht>> {
    let mut nodes: Vec<Dht> = Vec::new();
    for _ in 0..n {
        nodes.push(dht_node(ip(1), nodes.iter().map(Dht::local_addr).collect()).await?);
    }
    Ok(nodes)
}

async fn dht_node(at: IpAddr, bootstrap: Vec<SocketAddr>) -> Result<Dht> {
    let alone = bootstrap.is_empty();
    let cfg = DhtConfig {
        bootstrap,
        bind: Some(SocketAddr::new(at, 0)),
        server_mode: true,
        request_timeout: Some(Duration::from_millis(300)),
    };
    let dht = tokio::task::spawn_blocking(move || Dht::start(cfg)).await??;
    if !alone && !dht.bootstrapped().await {
        bail!("DHT node {} found no other node", dht.local_addr());
    }
    Ok(dht)
}

/// F and its plain peers.
pub struct Popular {
    pub torrent: PathBuf,
    pub metainfo: Metainfo,
    pub peers: Vec<SocketAddr>,
    engines: Vec<Engine>,
}

impl Popular {
    /// Writes F, seeds it from 127.0.0.2 and starts one plain downloader
    /// on 127.0.0.3; both announce F on the DHT like any client.
    pub async fn start(dir: &Path, dht: &[SocketAddr]) -> Result<Popular> {
        let data_dir = dir.join("popular");
        std::fs::create_dir_all(&data_dir)?;
        let file = data_dir.join("popular-release.bin");
        let mut data = vec![0u8; (F_PIECES * u64::from(F_PIECE)) as usize - 777];
        rand::rngs::OsRng.fill_bytes(&mut data);
        std::fs::write(&file, &data)?;
        let metainfo = create_from_path(
            &file,
            &CreateOptions {
                piece_length: Some(F_PIECE),
                ..Default::default()
            },
        )?;
        let torrent = dir.join("popular.torrent");
        std::fs::write(&torrent, metainfo.to_bytes())?;
        let mut engines = Vec::new();
        let mut peers = Vec::new();
        for (last, storage) in [
            (2, StorageSpec::Dir(data_dir)),
            (3, StorageSpec::Dir(dir.join("popular-download"))),
        ] {
            let engine = Engine::start(EngineConfig {
                listen: SocketAddr::new(ip(last), 0),
                ..EngineConfig::default()
            })
            .await?;
            let dht = dht_node(ip(last), dht.to_vec()).await?;
            let mut add =
                AddTorrent::new(TorrentSource::Metainfo(Box::new(metainfo.clone())), storage);
            add.initial_peers = peers.clone();
            add.peer_sources = vec![Arc::new(DhtSource::new(dht)) as Arc<dyn PeerSource>];
            add.seed_only = last == 2;
            engine.add_torrent(add).await.context("adding F")?;
            peers.push(engine.local_addr());
            engines.push(engine);
        }
        Ok(Popular {
            torrent,
            metainfo,
            peers,
            engines,
        })
    }

    pub fn len(&self) -> u64 {
        self.metainfo.info.total_length()
    }

    pub async fn shutdown(self) {
        for e in self.engines {
            e.shutdown().await;
        }
    }
}

/// The settings every PACOM node of the demo shares.
pub struct Template {
    pub mode: ModeName,
    pub dir: PathBuf,
    pub dht: Vec<SocketAddr>,
    pub torrent: PathBuf,
    pub group_key_file: Option<PathBuf>,
    /// Members regenerate the same PACOM files; in one process they
    /// render each once.
    cache: FileCache,
}

impl Template {
    pub fn new(mode: ModeName, dir: &Path, dht: Vec<SocketAddr>, torrent: PathBuf) -> Result<Self> {
        let group_key_file = match mode {
            ModeName::Public => None,
            ModeName::Private => {
                let mut key = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut key);
                let p = dir.join("group.key");
                std::fs::write(&p, hex::encode(key))?;
                Some(p)
            }
        };
        Ok(Template {
            mode,
            dir: dir.to_path_buf(),
            dht,
            torrent,
            group_key_file,
            cache: FileCache::default(),
        })
    }

    /// The `pacom run` configuration of the node on 127.0.0.`last`.
    pub fn config(
        &self,
        last: u8,
        role: RoleName,
        caps: Vec<u32>,
        popular_peers: &[SocketAddr],
    ) -> Config {
        let sizes = sizes(self.mode);
        let mut cfg = Config::new(
            SocketAddr::new(ip(last), 0),
            self.mode,
            self.group_key_file.clone(),
        );
        cfg.rates.link_blocks_per_sec = sizes.link_blocks_per_sec;
        cfg.circuit.handshake_timeout_secs = 5.0;
        cfg.popular_torrents = vec![self.torrent.display().to_string()];
        cfg.dht_bootstrap = self.dht.iter().map(SocketAddr::to_string).collect();
        let b = &mut cfg.bootstrap;
        b.role = role;
        b.caps = caps;
        b.file_size = sizes.pacom_file;
        b.popular_download_rate = POPULAR_RATE;
        b.popular_peers = popular_peers.to_vec();
        cfg
    }

    /// Starts a node from its configuration (files are generated off the
    /// async threads, as `pacom run` does).
    pub async fn start(&self, cfg: Config, identity: Identity, last: u8) -> Result<PacomNode> {
        let popular_dir = self.dir.join(format!("node-{last}"));
        let mut node_cfg: NodeConfig =
            tokio::task::spawn_blocking(move || setup::node_config(&cfg, identity, &popular_dir))
                .await??;
        if let Some(j) = &mut node_cfg.join {
            j.join.recipe.cache = self.cache.clone();
        }
        // A short request pipeline for F: pieces requested before the
        // advert moves on arrive in the old order, and there are few.
        node_cfg.engine.min_requests = 2;
        node_cfg.engine.max_requests = 4;
        Ok(PacomNode::start(node_cfg).await?)
    }
}
