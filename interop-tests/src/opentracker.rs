//! Debian's `opentracker` on 127.0.0.1 as a real HTTP tracker.
//!
//! Debian ships the whitelist build: it answers "not authorized" for any
//! info hash not listed in its access list, and it chroots to `-d DIR`, so
//! the `-w` path is taken relative to DIR. We write the list into a temp dir
//! and make that DIR; [`Opentracker::allow`] appends and sends SIGHUP, which
//! makes opentracker re-read the list. Its answers include the asking peer
//! itself, and peers linger until they time out (~30 min) or send `stopped`.

use std::fs;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::ports::free_port;

const WHITELIST: &str = "whitelist.txt";

/// A running opentracker; killed and its directory removed on drop.
pub struct Opentracker {
    child: Child,
    dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl Opentracker {
    /// Starts opentracker with `info_hashes` whitelisted and waits until it accepts connections.
    pub fn start(info_hashes: &[[u8; 20]]) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let list: String = info_hashes
            .iter()
            .map(|h| format!("{}\n", hex::encode(h)))
            .collect();
        fs::write(dir.path().join(WHITELIST), list)?;
        let mut last_err = None;
        // The port is picked by us and may be raced for: retry a few times.
        for _ in 0..5 {
            let port = free_port()?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let mut child = Command::new("opentracker")
                .args([
                    "-i",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                    "-P",
                    &port.to_string(),
                ])
                .arg("-d")
                .arg(dir.path())
                .args(["-w", WHITELIST])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("spawn opentracker (apt install opentracker)")?;
            match wait_listening(&mut child, addr, Duration::from_secs(5)) {
                Ok(()) => return Ok(Opentracker { child, dir, addr }),
                Err(e) => {
                    last_err = Some(e);
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("opentracker did not start")))
    }

    /// `http://127.0.0.1:PORT/announce`
    pub fn announce_url(&self) -> String {
        format!("http://{}/announce", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whitelists one more info hash (effective shortly after: SIGHUP reload).
    pub fn allow(&self, info_hash: [u8; 20]) -> Result<()> {
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join(WHITELIST))?;
        writeln!(f, "{}", hex::encode(info_hash))?;
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args(["-HUP", &pid])
            .status()?
            .success();
        if !ok {
            bail!("could not signal opentracker {pid}");
        }
        Ok(())
    }
}

impl Drop for Opentracker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_listening(child: &mut Child, addr: SocketAddr, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("opentracker exited: {status}");
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            // Someone listens; make sure it is ours and not a process that
            // held the port first (ours would then exit on its bind error).
            std::thread::sleep(Duration::from_millis(100));
            if let Some(status) = child.try_wait()? {
                bail!("opentracker exited: {status}");
            }
            return Ok(());
        }
        if start.elapsed() > timeout {
            bail!("opentracker not listening on {addr} after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
