//! `pacom dht-node`: a plain mainline DHT node (BEP 5) in server mode and
//! nothing else. A private network (a Docker swarm, a lab) has no DHT of its
//! own; this node is the one every PACOM node bootstraps from, so that
//! bootstrap nodes can announce their PACOM swarms and newcomers find them.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use pacom_bt::dht::{Dht, DhtConfig};

/// How often the size of the routing table is logged when it changed.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// Resolves each `host:port` to its IPv4 addresses (the DHT is IPv4 only).
pub fn resolve_v4(names: &[String]) -> Result<Vec<SocketAddr>> {
    let mut out = Vec::new();
    for name in names {
        let addrs: Vec<SocketAddr> = name
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve DHT node {name:?} (want host:port)"))?
            .filter(SocketAddr::is_ipv4)
            .collect();
        if addrs.is_empty() {
            bail!("DHT node {name:?} has no IPv4 address");
        }
        for a in addrs {
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    Ok(out)
}

/// Runs the node until SIGINT/SIGTERM.
pub fn run(listen: SocketAddr, bootstrap: &[String]) -> Result<()> {
    let bootstrap = resolve_v4(bootstrap)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(serve(listen, bootstrap))
}

async fn serve(listen: SocketAddr, bootstrap: Vec<SocketAddr>) -> Result<()> {
    let with_bootstrap = !bootstrap.is_empty();
    let dht = Dht::start(DhtConfig {
        bootstrap,
        bind: Some(listen),
        server_mode: true,
        request_timeout: None,
    })
    .with_context(|| format!("starting the DHT node on {listen}"))?;
    let port = dht.local_addr().port();
    println!("dht node listening on udp {}:{port}", listen.ip());
    tracing::info!(port, "dht node running (server mode)");
    if with_bootstrap {
        let dht = dht.clone();
        tokio::spawn(async move {
            if dht.bootstrapped().await {
                tracing::info!("dht bootstrap done");
            } else {
                tracing::warn!("dht bootstrap found no other node yet");
            }
        });
    }

    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let mut tick = tokio::time::interval(REPORT_EVERY);
    let mut last = None;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = tick.tick() => {
                let nodes = dht.routing_table().await.len();
                if last != Some(nodes) {
                    tracing::info!(nodes, "dht routing table");
                    last = Some(nodes);
                }
            }
        }
    }
    tracing::info!("dht node stopping");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_numeric_and_rejects_junk() {
        let a = resolve_v4(&["127.0.0.1:6881".into(), "127.0.0.1:6881".into()]).unwrap();
        assert_eq!(a, vec!["127.0.0.1:6881".parse().unwrap()]);
        assert!(resolve_v4(&["no-port".into()]).is_err());
        assert!(resolve_v4(&["[::1]:6881".into()]).is_err());
    }
}
