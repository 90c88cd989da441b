//! The control protocol between `pacom run` and the other commands: one
//! JSON object per line over a Unix socket in the data directory (0600).
//! A client writes one [`Request`]; the daemon answers with one or more
//! [`Response`] lines and closes (or keeps streaming for `subscribe`).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// What a client asks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    Status,
    /// Send text or a file (an absolute path the daemon reads) to a contact.
    Send {
        /// Contact string of the recipient.
        to: String,
        #[serde(default)]
        text: Option<String>,
        #[serde(default)]
        file: Option<PathBuf>,
        /// Stream progress and wait for delivery (else answer once queued).
        wait: bool,
    },
    /// Stream every inbox record from now on.
    Subscribe,
    /// Open a circuit stream through one of `exits` to `host:port` (for
    /// `pacom socks`). After [`Response::StreamOpen`] the connection
    /// carries the stream (see `stream_pipe`).
    OpenStream {
        /// Contact strings of the exits to choose from.
        exits: Vec<String>,
        /// SOCKS credentials: streams with different ones never share a circuit.
        #[serde(default)]
        isolation: Option<(Vec<u8>, Vec<u8>)>,
        /// An IP literal, or a name the exit resolves.
        host: String,
        port: u16,
    },
}

/// What the daemon answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Response {
    Status {
        status: serde_json::Value,
    },
    Queued {
        bytes: u64,
    },
    Progress {
        done: u64,
        total: u64,
    },
    Delivered,
    Failed {
        reason: String,
    },
    /// Still queued in the outbox: the node stopped before delivery.
    Kept {
        reason: String,
    },
    Message {
        record: crate::inbox::Record,
    },
    Error {
        message: String,
    },
    /// The exit connected; the stream's bytes follow.
    StreamOpen,
    /// No stream: `code` is the exit's reply on the wire
    /// (`ExitReply::wire_code`), which says the SOCKS reply.
    StreamRefused {
        code: u8,
        reason: String,
    },
}

/// A connection to a running daemon.
pub struct Client {
    reader: BufReader<UnixStream>,
}

impl Client {
    pub fn connect(socket: &Path) -> Result<Client> {
        let stream = match UnixStream::connect(socket) {
            Ok(s) => s,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                bail!(
                    "the node is not running (no control socket at {}; start it with `pacom run`)",
                    socket.display()
                )
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot connect to {}", socket.display()))
            }
        };
        Ok(Client {
            reader: BufReader::new(stream),
        })
    }

    pub fn request(&mut self, req: &Request) -> Result<()> {
        let mut line = serde_json::to_string(req)?;
        line.push('\n');
        self.reader
            .get_mut()
            .write_all(line.as_bytes())
            .context("writing to the node's control socket")
    }

    /// The next answer; `None` when the daemon closed the connection.
    pub fn next(&mut self) -> Result<Option<Response>> {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .context("reading from the node's control socket")?;
        if n == 0 {
            return Ok(None);
        }
        let r = serde_json::from_str(&line)
            .with_context(|| format!("bad answer from the node: {}", line.trim()))?;
        Ok(Some(r))
    }
}
