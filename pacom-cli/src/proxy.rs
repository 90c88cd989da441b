//! Starts the public-mode proxy roles of `pacom run`: the exit service
//! (`[exit]`), the SOCKS5 listener (`[socks]`), and the stream opener that
//! `pacom socks` front-ends use over the control socket.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use pacom_bt::node::{start_exit, CircuitOpener, NodeHandle, StreamHub};
use pacom_bt::proxy::{ExitConnector, Resolver, SocksListener};
use pacom_core::exit::StreamLimits;
use pacom_core::identity::Contact;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::contacts::Contacts;
use crate::datadir::DataDir;

/// The tasks of the proxy roles; aborted when the daemon stops.
pub struct ProxyTasks {
    pub tasks: Vec<JoinHandle<()>>,
    /// Where the SOCKS listener accepts clients, if one runs.
    pub socks_addr: Option<SocketAddr>,
    /// The node's circuit streams.
    pub hub: StreamHub,
    /// Opens streams to exits, for the listener and for `pacom socks`.
    pub opener: Arc<CircuitOpener>,
}

impl ProxyTasks {
    pub fn abort(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Contact names resolve through the address book; anything else must be
/// a contact string.
pub fn exit_contacts(dd: &DataDir, names: &[String]) -> Result<Vec<Contact>> {
    let book = Contacts::load(dd.contacts())?;
    names
        .iter()
        .map(|n| match Contact::parse(n) {
            Ok(c) => Ok(c),
            Err(_) => book.get(n).with_context(|| format!("socks exit {n:?}")),
        })
        .collect()
}

fn exit_connector(cfg: &Config) -> Result<ExitConnector> {
    let e = &cfg.exit;
    let mut resolver = Resolver::new();
    for (name, ip) in &e.hosts {
        resolver = resolver.with_override(name, vec![*ip]);
    }
    Ok(ExitConnector::new(
        e.policy()?,
        StreamLimits::new(e.max_streams_per_circuit, e.max_streams),
        resolver,
    ))
}

/// Starts what the config asks for.
pub async fn start(dd: &DataDir, cfg: &Config, handle: &NodeHandle) -> Result<ProxyTasks> {
    let mut tasks = Vec::new();
    let hub = if cfg.exit.enabled {
        let (hub, task) = start_exit(handle.clone(), Arc::new(exit_connector(cfg)?));
        tasks.push(task);
        tracing::info!(rules = cfg.exit.rules.len(), "exit enabled");
        hub
    } else {
        let (hub, task) = StreamHub::start(handle.clone(), None);
        tasks.push(task);
        hub
    };
    let exits = exit_contacts(dd, &cfg.socks.exits)?;
    let opener = Arc::new(CircuitOpener::new(hub.clone(), exits));
    let mut socks_addr = None;
    if let Some(listen) = cfg.socks.listen {
        let listener = SocksListener::bind(listen, opener.clone())
            .await
            .with_context(|| format!("cannot listen for SOCKS clients on {listen}"))?;
        let addr = listener.local_addr()?;
        socks_addr = Some(addr);
        tasks.push(tokio::spawn(async move {
            if let Err(e) = listener.run().await {
                tracing::warn!(error = %e, "SOCKS listener stopped");
            }
        }));
        tracing::info!(%addr, "SOCKS5 proxy listening");
    }
    Ok(ProxyTasks {
        tasks,
        socks_addr,
        hub,
        opener,
    })
}
