//! `pacom socks`: a SOCKS5 front-end for a running `pacom run` node.
//!
//! The node owns the circuits; this process owns the SOCKS port. Each SOCKS
//! client becomes one control-socket connection: an `open_stream` request
//! (exits, credentials, destination), the node's answer, then the stream's
//! bytes (`stream_pipe`). Negotiation, reply codes and relaying are the
//! same code as the node's own `[socks]` listener.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use futures::future::BoxFuture;
use pacom_bt::proxy::{
    IsolationKey, OpenError, OpenedStream, SocksListener, StreamOpener, TargetAddr,
};
use pacom_core::exit::ExitReply;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::config::Config;
use crate::control::{Request, Response};
use crate::datadir::DataDir;
use crate::stream_pipe::FrameReader;

/// Opens streams by asking the node over its control socket.
struct ControlOpener {
    socket: PathBuf,
    /// Contact strings of the exits.
    exits: Vec<String>,
}

/// Longest answer line read from the node.
const MAX_ANSWER: u64 = 64 * 1024;

impl ControlOpener {
    async fn open_inner(
        &self,
        isolation: IsolationKey,
        target: TargetAddr,
    ) -> Result<OpenedStream, OpenError> {
        let (host, port) = match target {
            TargetAddr::Ip(a) => (a.ip().to_string(), a.port()),
            TargetAddr::Domain(name, port) => (name, port),
        };
        let req = Request::OpenStream {
            exits: self.exits.clone(),
            isolation: isolation.0,
            host,
            port,
        };
        let mut line = serde_json::to_string(&req).map_err(std::io::Error::other)?;
        line.push('\n');
        let conn = UnixStream::connect(&self.socket).await.map_err(|e| {
            tracing::warn!(error = %e, "the node's control socket does not answer");
            OpenError::NoCircuit
        })?;
        let (rd, mut wr) = conn.into_split();
        wr.write_all(line.as_bytes()).await?;
        let mut rd = BufReader::new(rd);
        let mut answer = String::new();
        (&mut rd).take(MAX_ANSWER).read_line(&mut answer).await?;
        let answer: Response = serde_json::from_str(&answer).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("node: {e}"))
        })?;
        match answer {
            Response::StreamOpen => Ok((Box::new(FrameReader::new(rd)), Box::new(wr))),
            Response::StreamRefused { code, reason } => {
                tracing::debug!(%reason, "stream refused");
                match ExitReply::from_wire(code) {
                    // The node could not reach an exit at all.
                    ExitReply::NetUnreachable => Err(OpenError::NoCircuit),
                    r => Err(OpenError::Exit(r)),
                }
            }
            other => {
                tracing::warn!(?other, "unexpected answer from the node");
                Err(OpenError::Exit(ExitReply::GeneralFailure))
            }
        }
    }
}

impl StreamOpener for ControlOpener {
    fn open(
        &self,
        isolation: IsolationKey,
        target: TargetAddr,
    ) -> BoxFuture<'_, Result<OpenedStream, OpenError>> {
        Box::pin(self.open_inner(isolation, target))
    }
}

/// Runs the front-end until SIGINT/SIGTERM. `exits` are contact names or
/// strings; none means the config's `[socks] exits`.
pub fn run(dd: &DataDir, listen: SocketAddr, exits: Vec<String>) -> Result<()> {
    let cfg = Config::load(&dd.config())?;
    let names = if exits.is_empty() {
        cfg.socks.exits.clone()
    } else {
        exits
    };
    if names.is_empty() {
        bail!("no exit: give --exit NAME (or set exits in the [socks] section of the config)");
    }
    let exits = crate::proxy::exit_contacts(dd, &names)?
        .iter()
        .map(|c| c.to_contact_string())
        .collect();
    let socket = dd.socket();
    // Fails now, with the usual message, if no node runs.
    drop(crate::control::Client::connect(&socket)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let opener = Arc::new(ControlOpener { socket, exits });
        let listener = SocksListener::bind(listen, opener)
            .await
            .with_context(|| format!("cannot listen for SOCKS clients on {listen}"))?;
        println!("socks5 proxy listening on {}", listener.local_addr()?);
        tokio::select! {
            r = listener.run() => r.context("SOCKS listener stopped"),
            r = crate::daemon::wait_for_signal() => r,
        }
    })
}
