//! Turns a configuration into what `PacomNode::start` needs: circuit
//! parameters, engine settings and one `SwarmConfig` per `[[swarm]]`
//! (its PACOM file regenerated from the seed).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use pacom_bt::node::{NodeConfig, SwarmConfig};
use pacom_bt::EngineConfig;
use pacom_core::bootstrap::file_seed;
use pacom_core::identity::Identity;
use pacom_core::link::DEFAULT_PUBLIC_GROUP_KEY;
use pacom_core::pacom_file::{PacomFile, PacomFileOptions};
use pacom_core::schedule::{PacerConfig, Rate};
use pacom_core::swarm_profile::SwarmProfile;

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

/// One swarm's runtime configuration.
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
    let r = &cfg.rates;
    SwarmConfig {
        file,
        group_key: key,
        mode,
        carrier,
        pacer: PacerConfig {
            rate: if r.link_blocks_per_sec > 0.0 {
                Rate::BlocksPerSec(r.link_blocks_per_sec)
            } else {
                Rate::Unlimited
            },
            max_outstanding: r.h,
            burst: r.h as u32,
        },
        upload_rate: (r.upload_bytes_per_sec > 0.0).then_some(r.upload_bytes_per_sec),
        initial_fraction,
        initial_peers: peers,
        peer_sources: Vec::new(),
        observer: None,
        timing: pacom_bt::node::LinkTiming::default(),
        leaky_control: None,
    }
}

/// Everything `PacomNode::start` needs. Generating PACOM files hashes
/// every piece, so call this off the async threads.
pub fn node_config(cfg: &Config, identity: Identity) -> Result<NodeConfig> {
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
    Ok(NodeConfig {
        identity,
        circuits: circuit_config(cfg),
        engine: EngineConfig {
            listen: cfg.listen,
            ..EngineConfig::default()
        },
        swarms,
    })
}
