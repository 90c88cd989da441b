//! [`StreamHub`]: circuit streams as ordinary async byte pipes.
//!
//! The driver reports stream data as events of the whole node; the hub
//! routes them to one [`CircuitReader`] per stream, which credits the
//! stream's window only for bytes the application has actually read
//! ([`NodeHandle::stream_consumed`]). A reader that stops therefore stops
//! the sender after one window, and the hub never holds more than that.
//! What the application writes goes through a local pipe into
//! `stream_write` calls (each awaited, so the peer's window paces the
//! writer). End of file either way is a half-close; a stream whose session
//! failed reads as "connection reset", never as a clean end. Streams a
//! peer opens to us are handed to an exit service when there is one, and
//! closed at once otherwise.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use pacom_core::session::{Event, SessionId, StreamId};
use tokio::io::{AsyncRead, AsyncReadExt, DuplexStream, ReadBuf, WriteHalf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::handle::{HandleError, NodeHandle};

/// Bytes buffered in the local pipe of each stream's sending direction.
const PIPE_BUFFER: usize = 64 * 1024;
/// Largest single `stream_write`: one session fragment.
const WRITE_CHUNK: usize = 16 * 1024;
/// Read bytes are credited in batches of at least this (or when a chunk is
/// used up), to keep commands to the driver few.
const CREDIT_BATCH: usize = 32 * 1024;

/// One circuit stream as the application sees it.
pub struct CircuitStream {
    pub session: SessionId,
    pub stream: StreamId,
    pub reader: CircuitReader,
    pub writer: WriteHalf<DuplexStream>,
}

/// Something that serves the streams peers open to this node.
pub type Acceptor = mpsc::UnboundedSender<CircuitStream>;

enum Incoming {
    Data(Vec<u8>),
    Fin,
}

type Routes = Arc<Mutex<HashMap<(SessionId, StreamId), mpsc::UnboundedSender<Incoming>>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Routes a node's stream events; cheap to clone.
#[derive(Clone)]
pub struct StreamHub {
    handle: NodeHandle,
    routes: Routes,
    /// Stream bytes routed to readers and not yet read by them.
    buffered: Arc<AtomicU64>,
}

impl StreamHub {
    /// Starts routing. Peer-opened streams go to `acceptor` if given.
    pub fn start(handle: NodeHandle, acceptor: Option<Acceptor>) -> (StreamHub, JoinHandle<()>) {
        let hub = StreamHub {
            handle: handle.clone(),
            routes: Arc::new(Mutex::new(HashMap::new())),
            buffered: Arc::new(AtomicU64::new(0)),
        };
        let events = handle.subscribe();
        let task = tokio::spawn(hub.clone().route(events, acceptor));
        (hub, task)
    }

    pub fn handle(&self) -> &NodeHandle {
        &self.handle
    }

    /// Opens a stream on `session` (it may still be building circuits; the
    /// stream's first bytes leave once one is up).
    pub async fn open(&self, session: SessionId) -> Result<CircuitStream, HandleError> {
        let stream = self.handle.open_stream(session).await?;
        Ok(self.attach(session, stream))
    }

    /// Streams open through this hub right now.
    pub fn open_streams(&self) -> usize {
        lock(&self.routes).len()
    }

    /// Received stream bytes waiting for their readers, over all streams.
    /// Bounded by one receive window per stream, however slow the readers.
    pub fn buffered_bytes(&self) -> u64 {
        self.buffered.load(Ordering::Relaxed)
    }

    fn attach(&self, session: SessionId, stream: StreamId) -> CircuitStream {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.routes).insert((session, stream), tx);
        let (app, ours) = tokio::io::duplex(PIPE_BUFFER);
        let (_, app_w) = tokio::io::split(app);
        tokio::spawn(send_side(self.handle.clone(), session, stream, ours));
        CircuitStream {
            session,
            stream,
            reader: CircuitReader {
                hub: self.clone(),
                session,
                stream,
                rx,
                chunk: Vec::new(),
                pos: 0,
                uncredited: 0,
                end: None,
            },
            writer: app_w,
        }
    }

    async fn route(self, mut events: mpsc::UnboundedReceiver<Event>, acceptor: Option<Acceptor>) {
        while let Some(ev) = events.recv().await {
            match ev {
                Event::StreamOpened { session, stream } => match &acceptor {
                    Some(a) => {
                        let s = self.attach(session, stream);
                        if a.send(s).is_err() {
                            tracing::debug!("stream acceptor gone");
                        }
                    }
                    None => {
                        tracing::debug!(?session, "refusing a peer-opened stream");
                        let _ = self.handle.stream_close(session, stream).await;
                    }
                },
                Event::StreamData {
                    session,
                    stream,
                    data,
                } => self.deliver(session, stream, data),
                Event::StreamFinished { session, stream } => {
                    // Nothing follows a half-close: the route is done.
                    if let Some(tx) = lock(&self.routes).remove(&(session, stream)) {
                        let _ = tx.send(Incoming::Fin);
                    }
                }
                Event::SessionFailed { session, .. } => {
                    // Dropping the senders resets those streams' readers.
                    lock(&self.routes).retain(|(s, _), _| *s != session);
                }
                _ => {}
            }
        }
        // The node stopped: every stream is broken.
        lock(&self.routes).clear();
    }

    fn deliver(&self, session: SessionId, stream: StreamId, data: Vec<u8>) {
        let n = data.len();
        let sent = lock(&self.routes)
            .get(&(session, stream))
            .is_some_and(|tx| {
                // Counted before it can be read, so the reader never undercounts.
                self.buffered.fetch_add(n as u64, Ordering::Relaxed);
                if tx.send(Incoming::Data(data)).is_ok() {
                    return true;
                }
                self.buffered.fetch_sub(n as u64, Ordering::Relaxed);
                false
            });
        if !sent {
            // Nobody reads this stream any more: discard, but keep the
            // window open so the peer is not stuck mid-write.
            self.handle.stream_consumed(session, stream, n);
        }
    }

    fn forget(&self, session: SessionId, stream: StreamId) {
        lock(&self.routes).remove(&(session, stream));
    }
}

/// How a stream's receiving side ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// The peer half-closed: a clean end of file.
    Fin,
    /// The session failed or the node stopped.
    Reset,
}

/// The receiving half of a circuit stream. Bytes are credited to the
/// stream's window as they are read.
pub struct CircuitReader {
    hub: StreamHub,
    session: SessionId,
    stream: StreamId,
    rx: mpsc::UnboundedReceiver<Incoming>,
    chunk: Vec<u8>,
    pos: usize,
    uncredited: usize,
    end: Option<End>,
}

impl CircuitReader {
    fn credit(&mut self) {
        if self.uncredited > 0 {
            self.hub
                .handle
                .stream_consumed(self.session, self.stream, self.uncredited);
            self.uncredited = 0;
        }
    }
}

impl AsyncRead for CircuitReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            let left = this.chunk.get(this.pos..).unwrap_or_default();
            if !left.is_empty() {
                let n = left.len().min(buf.remaining());
                buf.put_slice(left.get(..n).unwrap_or_default());
                this.pos += n;
                this.uncredited += n;
                this.hub.buffered.fetch_sub(n as u64, Ordering::Relaxed);
                if this.pos >= this.chunk.len() || this.uncredited >= CREDIT_BATCH {
                    this.credit();
                }
                return Poll::Ready(Ok(()));
            }
            match this.end {
                Some(End::Fin) => return Poll::Ready(Ok(())),
                Some(End::Reset) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "the circuit session of this stream failed",
                    )))
                }
                None => {}
            }
            match this.rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Incoming::Data(d))) => {
                    this.chunk = d;
                    this.pos = 0;
                }
                Poll::Ready(Some(Incoming::Fin)) => this.end = Some(End::Fin),
                Poll::Ready(None) => this.end = Some(End::Reset),
            }
        }
    }
}

impl Drop for CircuitReader {
    /// Unread bytes are discarded and credited, so the peer never waits
    /// on a window nobody will open.
    fn drop(&mut self) {
        let mut unread = self.chunk.len().saturating_sub(self.pos);
        self.rx.close();
        while let Ok(what) = self.rx.try_recv() {
            if let Incoming::Data(d) = what {
                unread += d.len();
            }
        }
        self.hub
            .buffered
            .fetch_sub(unread as u64, Ordering::Relaxed);
        self.uncredited += unread;
        self.credit();
        self.hub.forget(self.session, self.stream);
    }
}

/// Moves what the application writes into the node, until it closes its
/// end (a half-close) or the stream breaks.
async fn send_side(
    handle: NodeHandle,
    session: SessionId,
    stream: StreamId,
    mut pipe: DuplexStream,
) {
    let mut buf = vec![0u8; WRITE_CHUNK];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) => {
                let _ = handle.stream_close(session, stream).await;
                break;
            }
            Ok(n) => {
                let chunk = buf.get(..n).unwrap_or_default().to_vec();
                if let Err(e) = handle.stream_write(session, stream, chunk).await {
                    tracing::debug!(error = %e, "stream write failed");
                    break;
                }
            }
            Err(_) => break,
        }
    }
}
