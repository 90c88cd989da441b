//! The `[exit]` and `[socks]` sections of the config: public mode's TCP
//! proxy, as the exit that connects and as the client that offers SOCKS5.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use anyhow::{bail, Result};
use pacom_core::exit::ExitPolicy;
use serde::{Deserialize, Serialize};

/// `[exit]`: whether this node connects to destinations for others.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExitSection {
    pub enabled: bool,
    /// Let loopback destinations through the defaults (an exit fronting a
    /// local service, or tests). Private and link-local stay refused.
    pub allow_loopback: bool,
    /// Operator rules, first match wins, before the defaults:
    /// `accept 203.0.113.0/24:80-443`, `reject *:*`.
    pub rules: Vec<String>,
    /// Names this exit resolves itself, like its `/etc/hosts`.
    pub hosts: BTreeMap<String, IpAddr>,
    pub max_streams_per_circuit: usize,
    pub max_streams: usize,
}

impl Default for ExitSection {
    fn default() -> Self {
        ExitSection {
            enabled: false,
            allow_loopback: false,
            rules: Vec::new(),
            hosts: BTreeMap::new(),
            max_streams_per_circuit: 64,
            max_streams: 1024,
        }
    }
}

impl ExitSection {
    pub fn policy(&self) -> Result<ExitPolicy> {
        ExitPolicy::new()
            .allow_loopback(self.allow_loopback)
            .with_rules(self.rules.iter().map(String::as_str))
            .map_err(|e| anyhow::anyhow!("exit.rules: {e}"))
    }

    pub fn check(&self) -> Result<()> {
        self.policy()?;
        if self.max_streams == 0 || self.max_streams_per_circuit == 0 {
            bail!("exit.max_streams and exit.max_streams_per_circuit must be at least 1");
        }
        Ok(())
    }
}

/// `[socks]`: a local SOCKS5 proxy whose streams leave through exits.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocksSection {
    /// Where SOCKS clients connect; no proxy when absent.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// Exit nodes: contact names from the address book, or contact strings.
    #[serde(default)]
    pub exits: Vec<String>,
}

impl SocksSection {
    pub fn check(&self) -> Result<()> {
        if self.listen.is_some() && self.exits.is_empty() {
            bail!("socks.listen is set but socks.exits names no exit");
        }
        Ok(())
    }
}

pub const EXIT_DOC: &str = "
# Exit: connect to destinations for streams others open to this node.
# Refused by default: private, loopback, link-local addresses and port 25.
# rules are tried first (\"accept 203.0.113.0/24:80-443\", \"reject *:*\");
# hosts maps names this exit resolves itself: { \"files.example\" = \"192.0.2.1\" }.
";

pub const SOCKS_DOC: &str = "
# SOCKS5 proxy (public mode): set listen = \"127.0.0.1:1080\" and exits to
# contact names or contact strings of exit nodes. Different SOCKS usernames
# and passwords get separate circuits.
";
