//! The exit's end of one circuit stream: read `Begin`, connect, answer
//! `Connected`, then relay. The node runtime calls this for every stream a
//! client opens to this exit; [`super::DirectOpener`] calls it in-process.

use super::connector::{CircuitKey, ExitConnector};
use super::relay::relay;
use super::wire_io::{read_message, WireIoError};
use pacom_core::exit::{Begin, Connected, ExitReply};
use std::io;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;
use tracing::debug;

/// How a stream at the exit ended badly.
#[derive(Debug, thiserror::Error)]
pub enum ExitStreamError {
    #[error("no Begin within the time-out")]
    BeginTimeout,
    #[error("bad Begin: {0}")]
    Begin(#[from] WireIoError),
    #[error("refused the stream: {0}")]
    Refused(ExitReply),
    #[error("relaying: {0}")]
    Io(#[from] io::Error),
}

impl ExitConnector {
    /// Serves one stream whose halves are `r` and `w` (a circuit stream, or
    /// an in-memory pipe). Returns the bytes relayed (to the destination,
    /// from the destination) once both directions are closed.
    pub async fn serve_stream<R, W>(
        &self,
        circuit: CircuitKey,
        mut r: R,
        mut w: W,
    ) -> Result<(u64, u64), ExitStreamError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let begin = match timeout(self.begin_timeout, read_message(&mut r, Begin::decode)).await {
            Err(_) => return Err(ExitStreamError::BeginTimeout),
            Ok(Err(e)) => {
                let failure = Connected {
                    code: ExitReply::GeneralFailure,
                };
                let _ = w.write_all(&failure.encode()).await;
                let _ = w.shutdown().await;
                return Err(e.into());
            }
            Ok(Ok(b)) => b,
        };
        let stream = match self.connect(circuit, &begin).await {
            Ok(s) => s,
            Err(code) => {
                w.write_all(&Connected { code }.encode()).await?;
                w.shutdown().await?;
                return Err(ExitStreamError::Refused(code));
            }
        };
        w.write_all(
            &Connected {
                code: ExitReply::Ok(stream.peer),
            }
            .encode(),
        )
        .await?;
        // Only the socket moves out: the rest of `stream`, with its slot in
        // the stream limits, lives until this function returns.
        let (tcp_r, tcp_w) = stream.tcp.into_split();
        let moved = relay(r, w, tcp_r, tcp_w, Vec::new()).await?;
        debug!(up = moved.0, down = moved.1, "exit: stream finished");
        Ok(moved)
    }
}
