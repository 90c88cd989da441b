//! Turns a configuration into what `PacomNode::start` needs: circuit
//! parameters, engine settings, one `SwarmConfig` per `[[swarm]]` (its
//! PACOM file regenerated from the seed) and the joining configuration
//! (popular torrents, DHT, bootstrap role).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use pacom_bt::dht::DhtConfig;
use pacom_bt::metainfo::Metainfo;
use pacom_bt::node::{
    FileRecipe, JoinConfig, LinkTiming, NodeConfig, NodeJoin, PopularTorrent, SwarmConfig,
    SwarmTemplate,
};
use pacom_bt::{EngineConfig, StorageSpec};
use pacom_core::bootstrap::{file_seed, DecoderParams, RoleConfig, RolloverPolicy};
use pacom_core::identity::Identity;
use pacom_core::link::DEFAULT_PUBLIC_GROUP_KEY;
use pacom_core::pacom_file::{PacomFile, PacomFileOptions};
use pacom_core::schedule::{PacerConfig, Rate};
use pacom_core::swarm_profile::SwarmProfile;

use crate::bootstrap_config::{resolve_dht_node, RoleName};
use crate::config::{parse_date, Config, ModeName, SwarmEntry};
use crate::datadir::DataDir;

/// The mode's cover kind and carrier (one definition for every node).
fn profile(cfg: &Config, key: [u8; 32]) -> SwarmProfile {
    match cfg.mode {
        ModeName::Public => SwarmProfile::public(),
        ModeName::Private => SwarmProfile::private(key),
    }
}

/// The group key of the configured mode.
pub fn group_key(cfg: &Config) -> Result<[u8; 32]> {
    match (cfg.mode, &cfg.group_key_file) {
        (ModeName::Public, _) => Ok(DEFAULT_PUBLIC_GROUP_KEY),
        (ModeName::Private, Some(f)) => DataDir::read_group_key(f),
        (ModeName::Private, None) => anyhow::bail!("private mode needs group_key_file"),
    }
}

/// Circuit-layer parameters from the config.
pub fn circuit_config(cfg: &Config) -> pacom_core::session::Config {
    let c = &cfg.circuit;
    pacom_core::session::Config {
        ttl: c.ttl,
        walk_p0: c.p0,
        circuits_per_peer: c.k,
        handshake_timeout: Duration::from_secs_f64(c.handshake_timeout_secs),
        handshake_retries: c.handshake_retries,
        silence_timeout: Duration::from_secs_f64(c.silence_timeout_secs),
        handshake_window: Duration::from_secs_f64(c.handshake_window_secs),
        stream_window: c.stream_window_bytes,
        max_in_flight: c.max_in_flight,
        ..pacom_core::session::Config::default()
    }
}

/// The PACOM file of one `[[swarm]]` entry.
pub fn pacom_file(cfg: &Config, key: &[u8; 32], s: &SwarmEntry) -> Result<PacomFile> {
    let seed = match &s.seed {
        Some(h) => {
            let mut seed = [0u8; 32];
            hex::decode_to_slice(h.trim(), &mut seed)
                .map_err(|_| anyhow::anyhow!("swarm seed must be 64 hex digits"))?;
            seed
        }
        None => {
            let (Some(x), Some(ip), Some(date)) = (s.x, s.bootstrap_ip, &s.date) else {
                anyhow::bail!("swarm needs seed or x, bootstrap_ip and date");
            };
            file_seed(key, x, ip, parse_date(date)?)
        }
    };
    let kind = profile(cfg, *key).cover_kind();
    let opts = PacomFileOptions {
        piece_length: s.piece_length,
        ..PacomFileOptions::with_size(s.size)
    };
    PacomFile::generate(seed, &kind, &opts).context("generating the PACOM file")
}

/// Request pacing of every PACOM link.
fn pacer(cfg: &Config) -> PacerConfig {
    let r = &cfg.rates;
    PacerConfig {
        rate: if r.link_blocks_per_sec > 0.0 {
            Rate::BlocksPerSec(r.link_blocks_per_sec)
        } else {
            Rate::Unlimited
        },
        max_outstanding: r.h,
        burst: r.h as u32,
    }
}

fn upload_rate(cfg: &Config) -> Option<f64> {
    let r = &cfg.rates;
    (r.upload_bytes_per_sec > 0.0).then_some(r.upload_bytes_per_sec)
}

/// One configured swarm's runtime configuration: it keeps going when its
/// PACOM file is used up ([`SwarmConfig::renew`]).
pub fn swarm_config(
    cfg: &Config,
    key: [u8; 32],
    file: Arc<PacomFile>,
    peers: Vec<std::net::SocketAddr>,
    initial_fraction: f64,
) -> SwarmConfig {
    // Private mode's carrier is keyed per swarm from the group key.
    let profile = profile(cfg, key);
    let (mode, carrier) = (profile.mode, profile.carrier(&file.info_hash));
    SwarmConfig {
        file,
        group_key: key,
        mode,
        carrier,
        pacer: pacer(cfg),
        upload_rate: upload_rate(cfg),
        initial_fraction,
        initial_peers: peers,
        peer_sources: Vec::new(),
        observer: None,
        timing: LinkTiming::default(),
        leaky_control: None,
        renew: true,
    }
}

/// Everything `PacomNode::start` needs. Generating PACOM files hashes
/// every piece, so call this off the async threads. Popular torrents are
/// stored under `popular_dir`.
pub fn node_config(cfg: &Config, identity: Identity, popular_dir: &Path) -> Result<NodeConfig> {
    let key = group_key(cfg)?;
    let mut swarms = Vec::new();
    for (i, s) in cfg.swarms.iter().enumerate() {
        let file = pacom_file(cfg, &key, s).with_context(|| format!("swarm {i}"))?;
        swarms.push(swarm_config(
            cfg,
            key,
            Arc::new(file),
            s.peers.clone(),
            s.initial_fraction,
        ));
    }
    let b = &cfg.bootstrap;
    Ok(NodeConfig {
        identity,
        circuits: circuit_config(cfg),
        engine: EngineConfig {
            listen: cfg.listen,
            download_limit: (b.popular_download_rate > 0).then_some(b.popular_download_rate),
            ..EngineConfig::default()
        },
        swarms,
        join: node_join(cfg, key, popular_dir)?,
    })
}

/// The joining configuration, when popular torrents are given or the node
/// is told to be a bootstrap node.
pub fn node_join(cfg: &Config, key: [u8; 32], popular_dir: &Path) -> Result<Option<NodeJoin>> {
    let b = &cfg.bootstrap;
    if cfg.popular_torrents.is_empty() && b.role != RoleName::Bootstrap {
        return Ok(None);
    }
    let public_ip = match b.public_ip {
        Some(ip) => ip,
        None if !cfg.listen.ip().is_unspecified() => cfg.listen.ip(),
        None => bail!(
            "bootstrap.public_ip (--public-ip) is needed: the listen address {} does not say \
             which IP peers see",
            cfg.listen
        ),
    };
    let mut boot = Vec::new();
    for d in &cfg.dht_bootstrap {
        boot.extend(resolve_dht_node(d)?);
    }
    let mut popular = Vec::new();
    for t in &cfg.popular_torrents {
        let bytes =
            std::fs::read(t).with_context(|| format!("popular torrent {t}: cannot read"))?;
        let metainfo = Metainfo::from_bytes(&bytes)
            .map_err(|e| anyhow::anyhow!("popular torrent {t}: not a torrent file: {e}"))?;
        popular.push(PopularTorrent {
            metainfo,
            storage: StorageSpec::Dir(popular_dir.to_path_buf()),
            initial_peers: b.popular_peers.clone(),
            peer_sources: Vec::new(),
        });
    }
    let bind_ip = match cfg.listen.ip() {
        IpAddr::V4(ip) => ip,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    };
    // A DHT of loopback or private addresses is a local network (a lab, a
    // container network): answer queries at once and do not wait 2 s for
    // nodes that are simply not there.
    let local = !boot.is_empty()
        && boot.iter().all(|a| match a.ip() {
            IpAddr::V4(ip) => ip.is_loopback() || ip.is_private(),
            IpAddr::V6(_) => false,
        });
    let dht = DhtConfig {
        bootstrap: boot,
        bind: Some(SocketAddr::from((bind_ip, b.dht_port))),
        server_mode: local,
        request_timeout: local.then(|| Duration::from_millis(400)),
    };
    let profile = profile(cfg, key);
    let carrier_profile = profile.clone();
    let join = JoinConfig {
        recipe: FileRecipe {
            group_key: key,
            kind: profile.cover_kind(),
            options: PacomFileOptions::with_size(b.file_size),
            cache: Default::default(),
        },
        public_ip,
        popular,
        swarm: SwarmTemplate {
            mode: profile.mode,
            carrier: profile.carrier(&[0; 20]),
            carrier_for: Some(Arc::new(move |ih: &[u8; 20]| carrier_profile.carrier(ih))),
            pacer: pacer(cfg),
            upload_rate: upload_rate(cfg),
            initial_fraction: 0.5,
            timing: LinkTiming::default(),
        },
        role: RoleConfig {
            watch: Duration::from_secs_f64(b.watch_secs),
            min_bootstrap_nodes: b.min_bootstrap_nodes,
            max_swarms: b.max_swarms,
            ..RoleConfig::default()
        },
        decoder: DecoderParams::default(),
        rollover: RolloverPolicy::default(),
        start_as_bootstrap: b.role == RoleName::Bootstrap,
        caps: (!b.caps.is_empty()).then(|| b.caps.clone()),
        reannounce: Duration::from_secs(600),
        tick: Duration::from_millis(500),
    };
    Ok(Some(NodeJoin { dht, join }))
}
