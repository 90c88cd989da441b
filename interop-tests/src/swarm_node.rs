//! Drives `pacom-swarm-node` processes (see that binary): starts them with
//! their swarm parameters and collects the JSON events they print.
//! Every process is killed when its handle drops.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// Parameters of one node process.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Hex of the 32-byte PACOM file seed (the same for the whole swarm).
    pub seed_hex: String,
    pub file_size: u64,
    pub port: u16,
    pub peers: Vec<SocketAddr>,
    /// MiB this node sends to every neighbour.
    pub mib: f64,
    /// `public` or `private`.
    pub mode: &'static str,
    /// Request rate per link in blocks per second (`None`: unlimited).
    pub rate: Option<f64>,
    pub initial_fraction: f64,
    /// Neighbours whose stream must arrive before the node reports `done`.
    pub expect: usize,
}

/// One event line of one node.
#[derive(Debug, Clone)]
pub struct NodeEvent {
    pub node: usize,
    pub at: Instant,
    pub value: Value,
}

impl NodeEvent {
    pub fn kind(&self) -> &str {
        self.value["event"].as_str().unwrap_or("")
    }
}

/// A running node process.
pub struct SwarmNode {
    pub spec: NodeSpec,
    child: Child,
    /// Closing it asks the node to leave and exit.
    stdin: Option<ChildStdin>,
}

impl SwarmNode {
    /// Starts node number `index`; its events go to `events`.
    pub fn spawn(
        bin: &Path,
        index: usize,
        spec: NodeSpec,
        events: mpsc::UnboundedSender<NodeEvent>,
    ) -> Result<Self> {
        let peers: Vec<String> = spec.peers.iter().map(|p| p.to_string()).collect();
        let rate = spec
            .rate
            .map_or_else(|| "unlimited".to_string(), |r| r.to_string());
        let mut child = Command::new(bin)
            .arg("--seed")
            .arg(&spec.seed_hex)
            .arg("--size")
            .arg(spec.file_size.to_string())
            .arg("--port")
            .arg(spec.port.to_string())
            .arg("--peers")
            .arg(peers.join(","))
            .arg("--mib")
            .arg(spec.mib.to_string())
            .arg("--mode")
            .arg(spec.mode)
            .arg("--rate")
            .arg(rate)
            .arg("--initial")
            .arg(spec.initial_fraction.to_string())
            .arg("--expect")
            .arg(spec.expect.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("child stdout")?;
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({"event": "text", "line": line}));
                let _ = events.send(NodeEvent {
                    node: index,
                    at: Instant::now(),
                    value,
                });
            }
            let _ = events.send(NodeEvent {
                node: index,
                at: Instant::now(),
                value: serde_json::json!({"event": "exited"}),
            });
        });
        Ok(Self { spec, child, stdin })
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.spec.port))
    }

    /// Asks the node to leave its swarm and waits for it to exit.
    pub async fn stop(mut self) -> Result<()> {
        drop(self.stdin.take());
        match tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                if !status.success() {
                    bail!("node on port {} exited with {status}", self.spec.port);
                }
                Ok(())
            }
            Err(_) => bail!("node on port {} did not exit", self.spec.port),
        }
    }
}

/// Collects events until `until` says stop (true), failing on a `corrupt`
/// event, an early exit, or the timeout. Returns every event seen.
pub async fn collect_until(
    events: &mut mpsc::UnboundedReceiver<NodeEvent>,
    timeout: Duration,
    mut until: impl FnMut(&NodeEvent) -> bool,
) -> Result<Vec<NodeEvent>> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let ev = tokio::time::timeout_at(deadline, events.recv())
            .await
            .with_context(|| {
                let last: Vec<String> = seen
                    .iter()
                    .rev()
                    .take(12)
                    .map(|e: &NodeEvent| format!("node {}: {}", e.node, e.value))
                    .collect();
                format!("timed out; last events: {last:#?}")
            })?
            .context("event channel closed")?;
        match ev.kind() {
            "corrupt" => bail!("node {} received corrupt bytes: {}", ev.node, ev.value),
            "exited" => bail!("node {} exited early", ev.node),
            _ => {}
        }
        let stop = until(&ev);
        seen.push(ev);
        if stop {
            return Ok(seen);
        }
    }
}
