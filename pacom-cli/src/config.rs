//! The node's TOML configuration, and the flags/environment variables that
//! override each setting.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::bootstrap_config::{BootstrapOverrides, BootstrapSection, BOOTSTRAP_DOC};
use crate::proxy_config::{ExitSection, SocksSection, EXIT_DOC, SOCKS_DOC};

/// Which PACOM network the node belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ModeName {
    Private,
    Public,
}

/// The whole file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub listen: SocketAddr,
    pub mode: ModeName,
    #[serde(default)]
    pub group_key_file: Option<PathBuf>,
    #[serde(default)]
    pub popular_torrents: Vec<String>,
    #[serde(default)]
    pub dht_bootstrap: Vec<String>,
    #[serde(default)]
    pub rates: Rates,
    #[serde(default)]
    pub circuit: Circuit,
    #[serde(default)]
    pub bootstrap: BootstrapSection,
    #[serde(default)]
    pub exit: ExitSection,
    #[serde(default)]
    pub socks: SocksSection,
    #[serde(default, rename = "swarm")]
    pub swarms: Vec<SwarmEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rates {
    /// Blocks per second each PACOM link downloads; 0 = only the h limit.
    pub link_blocks_per_sec: f64,
    /// Upload limit of each swarm's links in bytes per second; 0 = none.
    pub upload_bytes_per_sec: f64,
    /// h: requests in flight per link.
    pub h: usize,
}

impl Default for Rates {
    fn default() -> Self {
        Rates {
            link_blocks_per_sec: 64.0,
            upload_bytes_per_sec: 0.0,
            h: 10,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Circuit {
    pub ttl: u8,
    pub p0: f64,
    pub k: usize,
    pub handshake_timeout_secs: f64,
    pub handshake_retries: u32,
    pub silence_timeout_secs: f64,
    /// A node gathers a handshake's copies this long and picks the
    /// circuit's previous hop at random among the fewest-hop ones, so
    /// circuits do not follow the lowest-delay links.
    #[serde(default = "default_handshake_window")]
    pub handshake_window_secs: f64,
    /// Receive window of each stream: what a stream may buffer here, and
    /// over the circuit's round trip the cap of one stream's throughput.
    #[serde(default = "default_stream_window")]
    pub stream_window_bytes: u64,
    /// Unacknowledged frames (up to 16 KiB each, kept for resending) per session.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Obsolete (the random handshake delay gave way to the window above):
    /// read so that older config files still load, then ignored.
    #[serde(default, skip_serializing)]
    pub handshake_jitter_secs: Option<f64>,
}

fn default_handshake_window() -> f64 {
    pacom_core::session::DEFAULT_HANDSHAKE_WINDOW.as_secs_f64()
}

fn default_stream_window() -> u64 {
    pacom_core::session::DEFAULT_STREAM_WINDOW
}

fn default_max_in_flight() -> usize {
    pacom_core::session::DEFAULT_MAX_IN_FLIGHT
}

/// Largest accepted stream window: a peer may make us buffer this much per stream.
const MAX_STREAM_WINDOW: u64 = 1 << 30;

/// Largest accepted `max_in_flight` (16 GiB of frames kept for resending).
const MAX_IN_FLIGHT: usize = 1 << 20;

impl Default for Circuit {
    fn default() -> Self {
        let d = pacom_core::session::Config::default();
        Circuit {
            ttl: d.ttl,
            p0: d.walk_p0,
            k: d.circuits_per_peer,
            handshake_timeout_secs: d.handshake_timeout.as_secs_f64(),
            handshake_retries: d.handshake_retries,
            silence_timeout_secs: d.silence_timeout.as_secs_f64(),
            handshake_window_secs: d.handshake_window.as_secs_f64(),
            stream_window_bytes: d.stream_window,
            max_in_flight: d.max_in_flight,
            handshake_jitter_secs: None,
        }
    }
}

/// One PACOM swarm: which PACOM file, and whom to meet there.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwarmEntry {
    /// 64 hex digits; when absent the seed is HF(group key, x, bootstrap_ip, date).
    #[serde(default)]
    pub seed: Option<String>,
    #[serde(default)]
    pub x: Option<u8>,
    #[serde(default)]
    pub bootstrap_ip: Option<IpAddr>,
    /// YYYY-MM-DD (UTC).
    #[serde(default)]
    pub date: Option<String>,
    /// Content length in bytes.
    pub size: u64,
    #[serde(default)]
    pub piece_length: Option<u32>,
    #[serde(default)]
    pub peers: Vec<SocketAddr>,
    /// Share of pieces we start with towards PACOM peers.
    #[serde(default = "default_fraction")]
    pub initial_fraction: f64,
}

fn default_fraction() -> f64 {
    0.5
}

/// Settings given on the command line or in the environment; they win
/// over the file.
#[derive(Args, Clone, Debug, Default)]
pub struct Overrides {
    /// Address the BitTorrent engine accepts peers on.
    #[arg(long, env = "PACOM_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// private (steganography, shared group key) or public.
    #[arg(long, env = "PACOM_MODE")]
    pub mode: Option<ModeName>,
    /// File holding the private group's 32-byte key (64 hex digits).
    #[arg(long, env = "PACOM_GROUP_KEY_FILE")]
    pub group_key_file: Option<PathBuf>,
    /// Popular torrent (.torrent file) downloaded as bootstrap cover (repeatable).
    #[arg(
        long = "popular-torrent",
        env = "PACOM_POPULAR_TORRENTS",
        value_delimiter = ','
    )]
    pub popular_torrents: Vec<String>,
    /// DHT bootstrap node host:port (repeatable).
    #[arg(
        long = "dht-bootstrap",
        env = "PACOM_DHT_BOOTSTRAP",
        value_delimiter = ','
    )]
    pub dht_bootstrap: Vec<String>,
    /// Blocks per second each PACOM link downloads (0: only the h limit).
    #[arg(long, env = "PACOM_LINK_RATE")]
    pub link_rate: Option<f64>,
    /// Upload limit of PACOM links in bytes per second (0: none).
    #[arg(long, env = "PACOM_UPLOAD_RATE")]
    pub upload_rate: Option<f64>,
    /// Requests in flight per link (h).
    #[arg(long = "outstanding", env = "PACOM_H")]
    pub h: Option<usize>,
    /// TTL of circuit handshakes.
    #[arg(long, env = "PACOM_TTL")]
    pub ttl: Option<u8>,
    /// Probability of forwarding a handshake to one random neighbour.
    #[arg(long, env = "PACOM_P0")]
    pub p0: Option<f64>,
    /// Circuits per peer (k).
    #[arg(long = "circuits", env = "PACOM_K")]
    pub k: Option<usize>,
    /// Seconds to wait for a handshake response before retrying.
    #[arg(long, env = "PACOM_HANDSHAKE_TIMEOUT")]
    pub handshake_timeout: Option<f64>,
    /// Seconds a node gathers a handshake's copies before choosing the
    /// circuit's previous hop among the fewest-hop ones.
    #[arg(long, env = "PACOM_HANDSHAKE_WINDOW")]
    pub handshake_window: Option<f64>,
    /// Receive window of each stream in bytes (at least 262144).
    #[arg(long, env = "PACOM_STREAM_WINDOW")]
    pub stream_window: Option<u64>,
    /// Unacknowledged frames in flight per session.
    #[arg(long, env = "PACOM_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<usize>,
    /// Serve as an exit: connect to destinations for others' streams.
    #[arg(long, env = "PACOM_EXIT")]
    pub exit: bool,
    /// Exit rule tried before the defaults, e.g. "accept 10.0.0.0/8:80" (repeatable).
    #[arg(long = "exit-rule", env = "PACOM_EXIT_RULES", value_delimiter = ',')]
    pub exit_rules: Vec<String>,
    /// Offer a SOCKS5 proxy on this address (needs --socks-exit or socks.exits).
    #[arg(long, env = "PACOM_SOCKS")]
    pub socks: Option<SocketAddr>,
    /// Exit node for the SOCKS proxy: contact name or string (repeatable).
    #[arg(long = "socks-exit", env = "PACOM_SOCKS_EXITS", value_delimiter = ',')]
    pub socks_exits: Vec<String>,
    #[command(flatten)]
    pub bootstrap: BootstrapOverrides,
}

impl Config {
    pub fn new(listen: SocketAddr, mode: ModeName, group_key_file: Option<PathBuf>) -> Self {
        Config {
            listen,
            mode,
            group_key_file,
            popular_torrents: Vec::new(),
            dht_bootstrap: Vec::new(),
            rates: Rates::default(),
            circuit: Circuit::default(),
            bootstrap: BootstrapSection::default(),
            exit: ExitSection::default(),
            socks: SocksSection::default(),
            swarms: Vec::new(),
        }
    }

    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let cfg: Config = toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "corrupt config {}: {}",
                path.display(),
                e.message().replace('\n', " ")
            )
        })?;
        cfg.check()
            .with_context(|| format!("invalid config {}", path.display()))?;
        if cfg.circuit.handshake_jitter_secs.is_some() {
            tracing::warn!(
                "config {}: circuit.handshake_jitter_secs is obsolete and ignored; \
                 circuit.handshake_window_secs now keeps circuits off the lowest-delay links",
                path.display()
            );
        }
        Ok(cfg)
    }

    /// Applies command-line and environment overrides.
    pub fn apply(&mut self, o: &Overrides) -> Result<()> {
        if let Some(v) = o.listen {
            self.listen = v;
        }
        if let Some(v) = o.mode {
            self.mode = v;
        }
        if let Some(v) = &o.group_key_file {
            self.group_key_file = Some(v.clone());
        }
        if !o.popular_torrents.is_empty() {
            self.popular_torrents = o.popular_torrents.clone();
        }
        if !o.dht_bootstrap.is_empty() {
            self.dht_bootstrap = o.dht_bootstrap.clone();
        }
        if let Some(v) = o.link_rate {
            self.rates.link_blocks_per_sec = v;
        }
        if let Some(v) = o.upload_rate {
            self.rates.upload_bytes_per_sec = v;
        }
        if let Some(v) = o.h {
            self.rates.h = v;
        }
        if let Some(v) = o.ttl {
            self.circuit.ttl = v;
        }
        if let Some(v) = o.p0 {
            self.circuit.p0 = v;
        }
        if let Some(v) = o.k {
            self.circuit.k = v;
        }
        if let Some(v) = o.handshake_timeout {
            self.circuit.handshake_timeout_secs = v;
        }
        if let Some(v) = o.handshake_window {
            self.circuit.handshake_window_secs = v;
        }
        if let Some(v) = o.stream_window {
            self.circuit.stream_window_bytes = v;
        }
        if let Some(v) = o.max_in_flight {
            self.circuit.max_in_flight = v;
        }
        if o.exit {
            self.exit.enabled = true;
        }
        if !o.exit_rules.is_empty() {
            self.exit.rules = o.exit_rules.clone();
        }
        if let Some(v) = o.socks {
            self.socks.listen = Some(v);
        }
        if !o.socks_exits.is_empty() {
            self.socks.exits = o.socks_exits.clone();
        }
        self.bootstrap.apply(&o.bootstrap);
        self.check()
    }

    fn check(&self) -> Result<()> {
        let r = &self.rates;
        if !(r.link_blocks_per_sec.is_finite() && r.link_blocks_per_sec >= 0.0) {
            bail!("rates.link_blocks_per_sec must be a non-negative number");
        }
        if !(r.upload_bytes_per_sec.is_finite() && r.upload_bytes_per_sec >= 0.0) {
            bail!("rates.upload_bytes_per_sec must be a non-negative number");
        }
        if r.h == 0 {
            bail!("rates.h must be at least 1");
        }
        let c = &self.circuit;
        if !(0.0..=1.0).contains(&c.p0) {
            bail!("circuit.p0 must be between 0 and 1");
        }
        if c.k == 0 || c.ttl == 0 {
            bail!("circuit.k and circuit.ttl must be at least 1");
        }
        for (t, name) in [
            (c.handshake_timeout_secs, "circuit.handshake_timeout_secs"),
            (c.silence_timeout_secs, "circuit.silence_timeout_secs"),
        ] {
            if !(t.is_finite() && t > 0.0 && t < 86_400.0) {
                bail!("{name} must be a positive number of seconds");
            }
        }
        let w = c.handshake_window_secs;
        if !(w.is_finite() && w >= 0.0 && w < c.handshake_timeout_secs) {
            bail!(
                "circuit.handshake_window_secs ({w}) must be at least 0 and below \
                 circuit.handshake_timeout_secs ({}): every hop of a circuit's set-up waits \
                 one window",
                c.handshake_timeout_secs
            );
        }
        let initial = pacom_core::session::INITIAL_STREAM_WINDOW;
        if !(initial..=MAX_STREAM_WINDOW).contains(&c.stream_window_bytes) {
            bail!(
                "circuit.stream_window_bytes must be between {initial} (what peers may send \
                 before we advertise ours) and {MAX_STREAM_WINDOW}"
            );
        }
        if !(1..=MAX_IN_FLIGHT).contains(&c.max_in_flight) {
            bail!("circuit.max_in_flight must be between 1 and {MAX_IN_FLIGHT}");
        }
        self.exit.check()?;
        self.socks.check()?;
        self.bootstrap.check()?;
        for t in &self.popular_torrents {
            if t.starts_with("magnet:") {
                bail!(
                    "popular torrent {t:?}: magnet links are not supported here (hiding x in \
                     the HAVE order needs the piece count up front); give a .torrent file"
                );
            }
        }
        for d in &self.dht_bootstrap {
            let port = d.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>()));
            if !matches!(port, Some((h, Ok(p))) if !h.is_empty() && p != 0) {
                bail!("dht_bootstrap {d:?} is not host:port");
            }
        }
        if self.mode == ModeName::Private && self.group_key_file.is_none() {
            bail!("private mode needs group_key_file");
        }
        for (i, s) in self.swarms.iter().enumerate() {
            if s.size == 0 {
                bail!("swarm {i}: size must be positive");
            }
            if !(0.0..=1.0).contains(&s.initial_fraction) {
                bail!("swarm {i}: initial_fraction must be between 0 and 1");
            }
            if s.seed.is_none() && (s.x.is_none() || s.bootstrap_ip.is_none() || s.date.is_none()) {
                bail!("swarm {i}: give either seed or all of x, bootstrap_ip and date");
            }
        }
        Ok(())
    }

    /// The commented file `pacom init` writes.
    pub fn render(&self) -> Result<String> {
        let mut out = String::from(HEADER);
        let top = TopLevel {
            listen: self.listen,
            mode: self.mode,
            group_key_file: self.group_key_file.clone(),
            popular_torrents: self.popular_torrents.clone(),
            dht_bootstrap: self.dht_bootstrap.clone(),
        };
        out.push_str(&toml::to_string(&top)?);
        out.push_str(RATES_DOC);
        out.push_str(&toml::to_string(&RatesTable { rates: &self.rates })?);
        out.push_str(CIRCUIT_DOC);
        out.push_str(&toml::to_string(&CircuitTable {
            circuit: &self.circuit,
        })?);
        out.push_str(BOOTSTRAP_DOC);
        out.push_str(&toml::to_string(&BootstrapTable {
            bootstrap: &self.bootstrap,
        })?);
        out.push_str(EXIT_DOC);
        out.push_str(&toml::to_string(&ExitTable { exit: &self.exit })?);
        out.push_str(SOCKS_DOC);
        out.push_str(&toml::to_string(&SocksTable { socks: &self.socks })?);
        out.push_str(SWARM_DOC);
        if !self.swarms.is_empty() {
            out.push_str(&toml::to_string(&SwarmTables {
                swarm: &self.swarms,
            })?);
        }
        Ok(out)
    }
}

#[derive(Serialize)]
struct TopLevel {
    listen: SocketAddr,
    mode: ModeName,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_key_file: Option<PathBuf>,
    popular_torrents: Vec<String>,
    dht_bootstrap: Vec<String>,
}

#[derive(Serialize)]
struct RatesTable<'a> {
    rates: &'a Rates,
}

#[derive(Serialize)]
struct CircuitTable<'a> {
    circuit: &'a Circuit,
}

#[derive(Serialize)]
struct BootstrapTable<'a> {
    bootstrap: &'a BootstrapSection,
}

#[derive(Serialize)]
struct ExitTable<'a> {
    exit: &'a ExitSection,
}

#[derive(Serialize)]
struct SocksTable<'a> {
    socks: &'a SocksSection,
}

#[derive(Serialize)]
struct SwarmTables<'a> {
    swarm: &'a [SwarmEntry],
}

const HEADER: &str = "\
# PACOM node configuration.
# Every setting also takes a flag of `pacom run` and an environment variable
# (PACOM_LISTEN, PACOM_MODE, PACOM_LINK_RATE, ...; see `pacom run --help`),
# which win over this file.
#
# listen            address the BitTorrent engine accepts peers on
# mode              \"public\" (ciphertext carrier, published group key) or
#                   \"private\" (steganographic carrier, group key shared out of band)
# group_key_file    private mode: file with the group's 32-byte key in hex
# popular_torrents  .torrent files downloaded (and seeded) as bootstrap cover;
#                   with them the node joins PACOM swarms through HAVE orders
#                   and the DHT (see [bootstrap])
# dht_bootstrap     mainline DHT nodes to start from, \"host:port\"
";

const RATES_DOC: &str = "
# Bandwidth budget of every PACOM link; it never depends on hidden traffic.
# link_blocks_per_sec   16 KiB blocks per second each link downloads (0: only h limits)
# upload_bytes_per_sec  upload limit of PACOM links (0: none)
# h                     requests in flight per link
";

const CIRCUIT_DOC: &str = "
# Circuits: ttl of handshake floods, p0 = probability of forwarding to one
# random neighbour instead of all, k = circuits kept per peer.
# handshake_window_secs  how long a node gathers a handshake's copies before
#                      it picks the circuit's previous hop at random among the
#                      fewest-hop ones (costs this much set-up time per hop)
# stream_window_bytes  what one stream may buffer unread here; one stream's
#                      throughput is at most this over the circuit's round trip
# max_in_flight        unacknowledged frames (<= 16 KiB each) per session
";

const SWARM_DOC: &str = "
# PACOM swarms to join, each a [[swarm]] table. The PACOM file is either
#   seed = \"<64 hex digits>\"
# or HF(group key, x, bootstrap_ip, date):
#   x = 1
#   bootstrap_ip = \"203.0.113.7\"
#   date = \"2026-01-31\"
# plus
#   size = 67108864            # bytes of the PACOM file
#   peers = [\"203.0.113.7:6881\"]   # static PACOM peers to meet there
#   initial_fraction = 0.5     # share of pieces we start with
";

/// `YYYY-MM-DD` as a UTC date.
pub fn parse_date(s: &str) -> Result<pacom_core::bootstrap::UtcDate> {
    let parts: Vec<&str> = s.trim().split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        bail!("date {s:?} is not YYYY-MM-DD");
    };
    let (y, m, d) = (y.parse(), m.parse(), d.parse());
    let (Ok(y), Ok(m), Ok(d)) = (y, m, d) else {
        bail!("date {s:?} is not YYYY-MM-DD");
    };
    pacom_core::bootstrap::UtcDate::from_ymd(y, m, d).map_err(|e| anyhow::anyhow!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_files_with_the_obsolete_jitter_key_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let listen = "127.0.0.1:6881".parse().unwrap();
        let text = Config::new(listen, ModeName::Public, None)
            .render()
            .unwrap();
        assert!(!text.contains("handshake_jitter_secs"), "{text}");
        let old = text.replace("[circuit]\n", "[circuit]\nhandshake_jitter_secs = 1.0\n");
        assert_ne!(old, text, "no [circuit] table in {text}");
        std::fs::write(&path, old).unwrap();
        let cfg = Config::load(&path).unwrap();
        assert_eq!(cfg.circuit.handshake_jitter_secs, Some(1.0));
        let fresh = Circuit::default();
        assert_eq!(
            cfg.circuit.handshake_window_secs,
            fresh.handshake_window_secs
        );
        // Other unknown keys are still refused.
        std::fs::write(
            &path,
            text.replace("[circuit]\n", "[circuit]\nwhatever = 1\n"),
        )
        .unwrap();
        assert!(Config::load(&path).is_err());
    }
}
