//! A real libtorrent peer (Debian's python3-libtorrent 2.0) in a child
//! process, driven by JSON lines (see `py/lt_peer.py`).
//!
//! The interpreter is `$PACOM_PYTHON` (default `/usr/bin/python3`: Debian's
//! binding does not import under other interpreters). The process is killed
//! when the handle drops, also while a test unwinds.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Session options of a libtorrent peer.
#[derive(Debug, Clone, Default)]
pub struct LtOptions {
    /// TCP/UDP listen port on 127.0.0.1; 0 lets libtorrent choose.
    pub port: u16,
    /// Run libtorrent's DHT node on the listen port.
    pub dht: bool,
    /// `host:port` DHT bootstrap nodes.
    pub dht_bootstrap: Vec<SocketAddr>,
}

/// A torrent made by libtorrent (v1 only, no pad files).
#[derive(Debug, Clone)]
pub struct LtTorrent {
    pub bytes: Vec<u8>,
    pub info_hash: [u8; 20],
    pub piece_length: u64,
    pub num_pieces: u64,
}

/// How to add a torrent.
#[derive(Debug, Clone, Default)]
pub struct LtAdd {
    /// Directory that holds (seed) or will hold (download) the torrent's content.
    pub save_path: PathBuf,
    /// Seed existing data (verified lazily) instead of downloading.
    pub seed: bool,
    /// Peers to connect to right away.
    pub peers: Vec<SocketAddr>,
    pub trackers: Vec<String>,
}

/// One torrent's status as libtorrent reports it.
#[derive(Debug, Clone)]
pub struct LtStatus {
    pub progress: f64,
    pub state: String,
    /// Bytes per second.
    pub download_rate: u64,
    pub upload_rate: u64,
    pub num_peers: u32,
    pub is_seeding: bool,
    pub total_wanted_done: u64,
}

/// The python interpreter that can import libtorrent.
pub fn python() -> String {
    std::env::var("PACOM_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into())
}

/// A long-lived libtorrent session in a child process.
pub struct LibtorrentPeer {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    next_id: u64,
    port: u16,
}

impl LibtorrentPeer {
    /// Starts the process and a session listening on 127.0.0.1.
    pub async fn start(opts: LtOptions) -> Result<Self> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("py/lt_peer.py");
        let mut child = Command::new(python())
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawn {} {}", python(), script.display()))?;
        let stdin = child.stdin.take().context("child stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("child stdout")?).lines();
        let mut peer = LibtorrentPeer {
            child,
            stdin,
            stdout,
            next_id: 0,
            port: 0,
        };
        let boot: Vec<String> = opts.dht_bootstrap.iter().map(|a| a.to_string()).collect();
        let r = peer
            .call(
                "start",
                json!({"port": opts.port, "dht": opts.dht, "dht_bootstrap": boot}),
            )
            .await?;
        peer.port = num(&r, "port")? as u16;
        Ok(peer)
    }

    /// The TCP (and DHT/UDP) listen address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Sends one command and waits for its answer; python errors become `Err`.
    async fn call(&mut self, cmd: &str, mut args: Value) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        args["id"] = json!(id);
        args["cmd"] = json!(cmd);
        let mut line = serde_json::to_string(&args)?;
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .with_context(|| format!("libtorrent peer gone (sending {cmd})"))?;
        self.stdin.flush().await?;
        let reply = self
            .stdout
            .next_line()
            .await?
            .ok_or_else(|| anyhow!("libtorrent peer exited during {cmd}"))?;
        let v: Value =
            serde_json::from_str(&reply).with_context(|| format!("bad reply {reply:?}"))?;
        if v["id"] != json!(id) {
            bail!("reply out of order for {cmd}: {reply}");
        }
        if v["ok"] == json!(true) {
            Ok(v["result"].clone())
        } else {
            bail!(
                "libtorrent {cmd}: {}",
                v["error"].as_str().unwrap_or("unknown error")
            )
        }
    }

    /// Makes a v1 torrent of the file or directory `path` (hashing it).
    /// `piece_size` 0 lets libtorrent choose.
    pub async fn create_torrent(
        &mut self,
        path: &Path,
        piece_size: u32,
        trackers: &[String],
    ) -> Result<LtTorrent> {
        let r = self
            .call(
                "create_torrent",
                json!({"path": path, "piece_size": piece_size, "trackers": trackers}),
            )
            .await?;
        Ok(LtTorrent {
            bytes: hex::decode(r["torrent"].as_str().context("torrent")?)?,
            info_hash: hash20(&r)?,
            piece_length: num(&r, "piece_length")?,
            num_pieces: num(&r, "num_pieces")?,
        })
    }

    /// Adds a torrent to seed or download; returns its info hash.
    pub async fn add_torrent(&mut self, torrent: &[u8], add: &LtAdd) -> Result<[u8; 20]> {
        let peers: Vec<String> = add.peers.iter().map(|a| a.to_string()).collect();
        let r = self
            .call(
                "add_torrent",
                json!({
                    "torrent": hex::encode(torrent),
                    "save_path": add.save_path,
                    "seed": add.seed,
                    "peers": peers,
                    "trackers": add.trackers,
                }),
            )
            .await?;
        hash20(&r)
    }

    /// Asks libtorrent to connect to more peers for a torrent.
    pub async fn connect(&mut self, info_hash: [u8; 20], peers: &[SocketAddr]) -> Result<()> {
        let peers: Vec<String> = peers.iter().map(|a| a.to_string()).collect();
        self.call(
            "connect",
            json!({"info_hash": hex::encode(info_hash), "peers": peers}),
        )
        .await
        .map(drop)
    }

    pub async fn status(&mut self, info_hash: [u8; 20]) -> Result<LtStatus> {
        let r = self
            .call("status", json!({"info_hash": hex::encode(info_hash)}))
            .await?;
        status(&r)
    }

    /// Waits until the torrent is complete and seeding.
    pub async fn wait_seeding(
        &mut self,
        info_hash: [u8; 20],
        timeout: Duration,
    ) -> Result<LtStatus> {
        let r = self
            .call(
                "wait",
                json!({"info_hash": hex::encode(info_hash), "condition": "seeding", "timeout": timeout.as_secs_f64()}),
            )
            .await?;
        status(&r)
    }

    /// Waits until the torrent has at least `n` connected peers.
    pub async fn wait_peers(
        &mut self,
        info_hash: [u8; 20],
        n: u32,
        timeout: Duration,
    ) -> Result<LtStatus> {
        let r = self
            .call(
                "wait",
                json!({"info_hash": hex::encode(info_hash), "condition": "peers", "n": n, "timeout": timeout.as_secs_f64()}),
            )
            .await?;
        status(&r)
    }

    pub async fn force_dht_announce(&mut self, info_hash: [u8; 20]) -> Result<()> {
        self.call(
            "force_dht_announce",
            json!({"info_hash": hex::encode(info_hash)}),
        )
        .await
        .map(drop)
    }

    pub async fn force_reannounce(&mut self, info_hash: [u8; 20]) -> Result<()> {
        self.call(
            "force_reannounce",
            json!({"info_hash": hex::encode(info_hash)}),
        )
        .await
        .map(drop)
    }

    /// Number of nodes in libtorrent's DHT routing table.
    pub async fn dht_nodes(&mut self) -> Result<u64> {
        let r = self.call("session_status", json!({})).await?;
        num(&r, "dht_nodes")
    }

    /// Ends the session politely; dropping the handle kills it instead.
    pub async fn shutdown(mut self) -> Result<()> {
        self.call("shutdown", json!({})).await?;
        tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await??;
        Ok(())
    }
}

fn num(v: &Value, key: &str) -> Result<u64> {
    v[key]
        .as_u64()
        .ok_or_else(|| anyhow!("missing {key} in {v}"))
}

fn hash20(v: &Value) -> Result<[u8; 20]> {
    let h = hex::decode(v["info_hash"].as_str().context("info_hash")?)?;
    h.try_into()
        .map_err(|_| anyhow!("info hash is not 20 bytes"))
}

fn status(r: &Value) -> Result<LtStatus> {
    Ok(LtStatus {
        progress: r["progress"].as_f64().context("progress")?,
        state: r["state"].as_str().unwrap_or_default().to_owned(),
        download_rate: num(r, "download_rate")?,
        upload_rate: num(r, "upload_rate")?,
        num_peers: num(r, "num_peers")? as u32,
        is_seeding: r["is_seeding"].as_bool().unwrap_or(false),
        total_wanted_done: num(r, "total_wanted_done")?,
    })
}
