//! Packet captures of a host's link with tshark, for attacks that work on
//! real traffic (flow timings) and for protocol checks.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::error::LabError;

/// Longer than libpcap's block timeout as dumpcap sets it.
const DRAIN: Duration = Duration::from_millis(1500);

/// A running `tshark` writing a pcapng file; stopped on [`Capture::stop`]
/// or killed on drop.
pub struct Capture {
    child: Option<Child>,
    path: PathBuf,
}

impl Capture {
    /// Starts tshark on `dev` inside namespace `ns` and waits until it
    /// reports that capturing has started (frames before that are missed).
    pub(crate) fn start(ns: &str, dev: &str, path: &Path) -> Result<Capture, LabError> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "tshark", "-q", "-i", dev, "-w"])
            .arg(path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| LabError::io("spawning tshark", e))?;
        let stderr = child.stderr.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        // Keep draining stderr so tshark never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("Capture started") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(Ok(()));
                    }
                } else if let Some(t) = &tx {
                    let _ = t.send(Err(line));
                }
            }
        });
        let mut capture = Capture {
            child: Some(child),
            path: path.to_path_buf(),
        };
        let mut said = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(15)) {
                Ok(Ok(())) => return Ok(capture),
                Ok(Err(line)) => said.push(line),
                Err(_) => {
                    capture.kill();
                    return Err(LabError::Command {
                        command: format!("tshark -i {dev} in {ns}"),
                        status: "did not start".into(),
                        stderr: said.join("; "),
                    });
                }
            }
        }
    }

    /// Stops the capture cleanly (SIGINT, so the file is complete) and
    /// returns the file's path. libpcap hands frames to dumpcap in blocks
    /// with a timeout, and frames still in the kernel block at SIGINT are
    /// lost; so we first wait [`DRAIN`] for the last block to be delivered.
    pub fn stop(mut self) -> Result<PathBuf, LabError> {
        if let Some(mut child) = self.child.take() {
            std::thread::sleep(DRAIN);
            // SAFETY: signalling our own child process.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
            child
                .wait()
                .map_err(|e| LabError::io("waiting for tshark", e))?;
        }
        Ok(self.path.clone())
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.kill();
    }
}
