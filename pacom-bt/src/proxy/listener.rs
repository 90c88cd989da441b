//! The local SOCKS5 front: accept clients, negotiate with the sans-IO codec,
//! open a stream through a [`StreamOpener`], reply, relay. Each client runs
//! in its own task, so a misbehaving client only ever closes itself.

use super::relay::relay;
use super::{OpenError, StreamOpener};
use pacom_core::exit::ExitReply;
use pacom_core::socks::{
    reply, AuthPolicy, Progress, ReplyCode, SocksError, SocksRequest, SocksServer,
};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::timeout;
use tracing::{debug, warn};

/// Tunables of the SOCKS front.
#[derive(Clone, Debug)]
pub struct ListenerConfig {
    pub auth: AuthPolicy,
    /// A client must finish negotiating within this, or it is dropped
    /// (so idle connections cannot pile up).
    pub handshake_timeout: Duration,
    /// How long to wait for the exit's answer before replying "TTL expired".
    pub open_timeout: Duration,
    /// Clients served at once; further connections wait in the backlog.
    pub max_clients: usize,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            auth: AuthPolicy::Either,
            handshake_timeout: Duration::from_secs(30),
            open_timeout: Duration::from_secs(60),
            max_clients: 1024,
        }
    }
}

/// How one client's connection ended badly.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("SOCKS negotiation failed: {0}")]
    Socks(#[from] SocksError),
    #[error("SOCKS negotiation timed out")]
    HandshakeTimeout,
    #[error("opening the stream timed out")]
    OpenTimeout,
    #[error("opening the stream failed: {0}")]
    Open(#[from] OpenError),
    #[error("client connection: {0}")]
    Io(#[from] io::Error),
}

pub struct SocksListener {
    listener: TcpListener,
    opener: Arc<dyn StreamOpener>,
    config: ListenerConfig,
}

/// Failure replies carry no address: the exit's is none of the client's business.
fn unspecified() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
}

impl SocksListener {
    pub async fn bind(addr: SocketAddr, opener: Arc<dyn StreamOpener>) -> io::Result<Self> {
        Ok(SocksListener {
            listener: TcpListener::bind(addr).await?,
            opener,
            config: ListenerConfig::default(),
        })
    }

    pub fn with_config(mut self, config: ListenerConfig) -> Self {
        self.config = config;
        self
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves clients until the task is dropped. Per-client failures are
    /// logged at debug level and never end the loop.
    pub async fn run(self) -> io::Result<()> {
        let slots = Arc::new(Semaphore::new(self.config.max_clients.max(1)));
        let config = Arc::new(self.config);
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return Ok(());
            };
            let (tcp, _) = match self.listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    warn!(error = %e, "socks: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let opener = self.opener.clone();
            let config = config.clone();
            tokio::spawn(async move {
                if let Err(e) = serve_client(tcp, opener.as_ref(), &config).await {
                    debug!(error = %e, "socks: client closed");
                }
                drop(slot);
            });
        }
    }
}

/// Negotiates, returning the request and the client's early bytes.
async fn negotiate(
    tcp: &mut TcpStream,
    auth: AuthPolicy,
) -> Result<(SocksRequest, Vec<u8>), ClientError> {
    let mut codec = SocksServer::new(auth);
    let mut buf = [0u8; 1024];
    loop {
        let n = tcp.read(&mut buf).await?;
        let result = match buf.get(..n) {
            Some(bytes) if n > 0 => codec.on_bytes(bytes),
            _ => Err(codec.on_eof()),
        };
        match result {
            Ok(Progress::NeedMore { send }) => tcp.write_all(&send).await?,
            Ok(Progress::Ready {
                send,
                request,
                early_data,
            }) => {
                tcp.write_all(&send).await?;
                return Ok((request, early_data));
            }
            Err(e) => {
                let _ = tcp.write_all(&codec.take_closing_bytes(&e)).await;
                let _ = tcp.shutdown().await;
                return Err(e.into());
            }
        }
    }
}

async fn serve_client(
    mut tcp: TcpStream,
    opener: &dyn StreamOpener,
    config: &ListenerConfig,
) -> Result<(), ClientError> {
    let _ = tcp.set_nodelay(true);
    let (request, early) = timeout(config.handshake_timeout, negotiate(&mut tcp, config.auth))
        .await
        .map_err(|_| ClientError::HandshakeTimeout)??;
    debug!(?request, "socks: request");
    let opened = timeout(
        config.open_timeout,
        opener.open(request.isolation_key(), request.target),
    )
    .await;
    let (stream_r, stream_w) = match opened {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let code = e.exit_reply().socks_code();
            let _ = tcp.write_all(&reply(code, unspecified())).await;
            let _ = tcp.shutdown().await;
            return Err(e.into());
        }
        Err(_) => {
            let code = ExitReply::TtlExpired.socks_code();
            let _ = tcp.write_all(&reply(code, unspecified())).await;
            let _ = tcp.shutdown().await;
            return Err(ClientError::OpenTimeout);
        }
    };
    tcp.write_all(&reply(ReplyCode::Succeeded, unspecified()))
        .await?;
    let (mut client_r, mut client_w) = tcp.into_split();
    match relay(&mut client_r, &mut client_w, stream_r, stream_w, early).await {
        Ok((up, down)) => {
            debug!(up, down, "socks: stream finished");
            Ok(())
        }
        Err(e) => {
            // A broken stream must not look like a complete one: the client
            // gets a TCP reset, not a clean end of file.
            if let Ok(tcp) = client_r.reunite(client_w) {
                reset(&tcp);
            }
            Err(e.into())
        }
    }
}

/// Makes the close of `tcp` a reset (SO_LINGER with a zero time-out).
/// Tokio deprecates `set_linger` because a non-zero linger blocks on drop;
/// a zero linger never blocks, it discards and resets.
#[allow(deprecated)]
fn reset(tcp: &TcpStream) {
    if let Err(e) = tcp.set_linger(Some(Duration::ZERO)) {
        debug!(error = %e, "socks: cannot arm the reset");
    }
}
