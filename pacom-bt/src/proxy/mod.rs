//! Public mode's TCP proxy: a local SOCKS5 front and the exit connector.
//!
//! The two halves meet through [`StreamOpener`]: the SOCKS front asks it for
//! a byte stream to a destination. The node runtime's
//! [`CircuitOpener`](crate::node::CircuitOpener) opens a stream on a circuit
//! to an exit, writes a [`Begin`](pacom_core::exit::Begin) and reads the
//! exit's [`Connected`](pacom_core::exit::Connected); the exit side of that
//! stream is [`ExitConnector::serve_stream`]. [`DirectOpener`] runs the very
//! same exchange over an in-memory pipe to an exit in the same process, for
//! tests that need no circuits.

mod connector;
mod direct;
mod exit_stream;
mod listener;
mod relay;
mod wire_io;

pub use connector::{CircuitKey, ExitConnector, ExitStream, Resolver};
pub use direct::DirectOpener;
pub use exit_stream::ExitStreamError;
pub use listener::{ClientError, ListenerConfig, SocksListener};
pub use relay::relay;
pub use wire_io::{read_message, WireIoError};

pub use pacom_core::socks::{IsolationKey, TargetAddr};

use futures::future::BoxFuture;
use pacom_core::exit::{ExitReply, WireError};
use std::io;
use tokio::io::{AsyncRead, AsyncWrite};

/// The two halves of an opened stream, positioned after the exit's reply.
pub type OpenedStream = (
    Box<dyn AsyncRead + Send + Unpin>,
    Box<dyn AsyncWrite + Send + Unpin>,
);

/// Opens a byte stream through an exit to `target`. Implementations must
/// never let streams with different isolation keys share a circuit.
pub trait StreamOpener: Send + Sync {
    fn open(
        &self,
        isolation: IsolationKey,
        target: TargetAddr,
    ) -> BoxFuture<'_, Result<OpenedStream, OpenError>>;
}

/// Why a stream could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("exit refused the stream: {0}")]
    Exit(ExitReply),
    #[error("no circuit to an exit is available")]
    NoCircuit,
    #[error("stream to the exit failed: {0}")]
    Io(#[from] io::Error),
    #[error("exit broke the stream protocol: {0}")]
    Protocol(#[from] WireError),
}

impl OpenError {
    /// What the SOCKS client is told (through [`ExitReply::socks_code`]).
    pub fn exit_reply(&self) -> ExitReply {
        match self {
            OpenError::Exit(r) => *r,
            OpenError::NoCircuit => ExitReply::NetUnreachable,
            OpenError::Io(e) if e.kind() == io::ErrorKind::TimedOut => ExitReply::TtlExpired,
            OpenError::Io(_) | OpenError::Protocol(_) => ExitReply::GeneralFailure,
        }
    }
}

impl From<WireIoError> for OpenError {
    fn from(e: WireIoError) -> Self {
        match e {
            WireIoError::Io(e) => OpenError::Io(e),
            WireIoError::Wire(e) => OpenError::Protocol(e),
        }
    }
}
