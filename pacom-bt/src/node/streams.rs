//! [`StreamHub`]: circuit streams as ordinary async byte pipes.
//!
//! The driver reports stream data as events of the whole node; the hub
//! routes them to one pipe per stream, and moves what the application writes
//! into `stream_write` calls (each awaited, so the stream's flow control
//! paces the writer). End of file either way is a half-close. Streams a peer
//! opens to us are handed to an exit service when there is one, and closed
//! at once otherwise.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use pacom_core::session::{Event, SessionId, StreamId};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::handle::{HandleError, NodeHandle};

/// Bytes buffered in the local pipe of each stream, each direction.
const PIPE_BUFFER: usize = 64 * 1024;
/// Largest single `stream_write`: one session fragment.
const WRITE_CHUNK: usize = 16 * 1024;

/// One circuit stream as the application sees it.
pub struct CircuitStream {
    pub session: SessionId,
    pub stream: StreamId,
    pub reader: ReadHalf<DuplexStream>,
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
}

impl StreamHub {
    /// Starts routing. Peer-opened streams go to `acceptor` if given.
    pub fn start(handle: NodeHandle, acceptor: Option<Acceptor>) -> (StreamHub, JoinHandle<()>) {
        let hub = StreamHub {
            handle: handle.clone(),
            routes: Arc::new(Mutex::new(HashMap::new())),
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

    fn attach(&self, session: SessionId, stream: StreamId) -> CircuitStream {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.routes).insert((session, stream), tx);
        let (app, ours) = tokio::io::duplex(PIPE_BUFFER);
        let (app_r, app_w) = tokio::io::split(app);
        tokio::spawn(bridge(self.clone(), session, stream, ours, rx));
        CircuitStream {
            session,
            stream,
            reader: app_r,
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
                } => self.deliver(session, stream, Incoming::Data(data)),
                Event::StreamFinished { session, stream } => {
                    self.deliver(session, stream, Incoming::Fin)
                }
                Event::SessionFailed { session, .. } => {
                    // Dropping the senders ends those pipes.
                    lock(&self.routes).retain(|(s, _), _| *s != session);
                }
                _ => {}
            }
        }
    }

    fn deliver(&self, session: SessionId, stream: StreamId, what: Incoming) {
        let routes = lock(&self.routes);
        if let Some(tx) = routes.get(&(session, stream)) {
            let _ = tx.send(what);
        }
    }

    fn forget(&self, session: SessionId, stream: StreamId) {
        lock(&self.routes).remove(&(session, stream));
    }
}

/// Moves bytes between one stream's pipe and the node, both directions,
/// until both are closed.
async fn bridge(
    hub: StreamHub,
    session: SessionId,
    stream: StreamId,
    pipe: DuplexStream,
    mut incoming: mpsc::UnboundedReceiver<Incoming>,
) {
    let (mut r, mut w) = tokio::io::split(pipe);
    let handle = hub.handle.clone();
    let up = async {
        let mut buf = vec![0u8; WRITE_CHUNK];
        loop {
            match r.read(&mut buf).await {
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
    };
    let down = async {
        while let Some(what) = incoming.recv().await {
            match what {
                Incoming::Data(d) => {
                    if w.write_all(&d).await.is_err() {
                        break;
                    }
                }
                Incoming::Fin => break,
            }
        }
        let _ = w.shutdown().await;
    };
    tokio::join!(up, down);
    hub.forget(session, stream);
}
