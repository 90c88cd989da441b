//! [`NodeHandle`]: the cloneable, async front of a running circuit driver.
//!
//! Every call is a command sent to the driver task that owns the sans-IO
//! [`pacom_core::session::Node`]; answers come back on one-shot channels,
//! so callers never touch protocol state directly.

use pacom_core::circuit::NeighbourId;
use pacom_core::identity::{Contact, Fingerprint};
use pacom_core::session::{
    Event, FailReason, MessageId, NodeStats, SessionError, SessionId, StreamBuffers, StreamId,
};
use tokio::sync::{mpsc, oneshot};

use super::{Links, NeighbourInfo};

/// Why a handle call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    #[error("the node has stopped")]
    Stopped,
    #[error("session: {0}")]
    Session(#[from] SessionError),
    #[error("message not delivered: {0}")]
    Failed(String),
}

/// Human text for a failure reason.
pub fn describe_failure(reason: &FailReason) -> String {
    match reason {
        FailReason::NoCircuit => "no circuit could be built to the peer".into(),
        FailReason::Closed => "the session was closed".into(),
    }
}

/// One session as `pacom status` shows it.
#[derive(Debug, Clone)]
pub struct SessionStatus {
    pub id: SessionId,
    /// Known on the source side only.
    pub peer: Option<Fingerprint>,
    /// Live circuits: handshake id and our neighbour on each.
    pub circuits: Vec<(u64, NeighbourId)>,
    pub rebuilds: u32,
    /// Frames in flight or queued.
    pub busy: bool,
}

/// A snapshot of the circuit layer and its links.
#[derive(Debug, Clone)]
pub struct NodeStatus {
    pub fingerprint: Fingerprint,
    pub stats: NodeStats,
    pub sessions: Vec<SessionStatus>,
    pub neighbours: Vec<NeighbourInfo>,
    /// Established circuits we relay: handshake id, previous and next hop
    /// (what the relay's own table holds; lets an experimenter trace paths).
    pub relays: Vec<(u64, NeighbourId, NeighbourId)>,
    /// Stream bytes the circuit layer holds (unsent, and not yet read).
    pub streams: StreamBuffers,
    /// Seconds since the driver started.
    pub uptime_secs: f64,
}

/// A message handed to the node; await [`PendingMessage::outcome`] for its fate.
#[derive(Debug)]
pub struct PendingMessage {
    pub session: SessionId,
    pub id: MessageId,
    done: oneshot::Receiver<Result<(), String>>,
}

impl PendingMessage {
    /// Resolves when the peer acknowledged every byte, or the session failed.
    pub async fn outcome(self) -> Result<(), HandleError> {
        match self.done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(HandleError::Failed(reason)),
            Err(_) => Err(HandleError::Stopped),
        }
    }
}

pub(crate) type Reply<T> = oneshot::Sender<T>;

/// What the driver is asked to do.
pub(crate) enum Command {
    Connect(Contact, Reply<SessionId>),
    ConnectNew(Contact, Reply<SessionId>),
    Send {
        session: SessionId,
        data: Vec<u8>,
        reply: Reply<Result<PendingMessage, SessionError>>,
    },
    OpenStream(SessionId, Reply<Result<StreamId, SessionError>>),
    StreamWrite {
        session: SessionId,
        stream: StreamId,
        data: Vec<u8>,
        reply: Reply<Result<(), SessionError>>,
    },
    StreamClose(SessionId, StreamId, Reply<Result<(), SessionError>>),
    StreamConsumed(SessionId, StreamId, usize),
    Subscribe(mpsc::UnboundedSender<Event>),
    Status(Reply<NodeStatus>),
    Shutdown(Reply<()>),
}

/// Cheap to clone; every clone talks to the same driver.
#[derive(Clone)]
pub struct NodeHandle {
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    pub(crate) contact: Contact,
    pub(crate) links: Links,
}

impl NodeHandle {
    /// Our own contact (what others connect to).
    pub fn contact(&self) -> &Contact {
        &self.contact
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.contact.fingerprint()
    }

    /// The live links of every PACOM swarm.
    pub fn neighbours(&self) -> Vec<NeighbourInfo> {
        self.links.neighbours()
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, HandleError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .map_err(|_| HandleError::Stopped)?;
        rx.await.map_err(|_| HandleError::Stopped)
    }

    /// The live session to `contact`, or a new one whose circuits start
    /// building now.
    pub async fn connect(&self, contact: &Contact) -> Result<SessionId, HandleError> {
        let c = contact.clone();
        self.ask(|r| Command::Connect(c, r)).await
    }

    /// A fresh session to `contact` that shares no circuit with any other.
    pub async fn connect_new(&self, contact: &Contact) -> Result<SessionId, HandleError> {
        let c = contact.clone();
        self.ask(|r| Command::ConnectNew(c, r)).await
    }

    /// Queues `data` as one message on `session`.
    pub async fn send(
        &self,
        session: SessionId,
        data: Vec<u8>,
    ) -> Result<PendingMessage, HandleError> {
        Ok(self
            .ask(|reply| Command::Send {
                session,
                data,
                reply,
            })
            .await??)
    }

    /// Connects if needed, sends, and waits until the peer acknowledged it.
    pub async fn send_to(&self, contact: &Contact, data: Vec<u8>) -> Result<(), HandleError> {
        let session = self.connect(contact).await?;
        self.send(session, data).await?.outcome().await
    }

    pub async fn open_stream(&self, session: SessionId) -> Result<StreamId, HandleError> {
        Ok(self.ask(|r| Command::OpenStream(session, r)).await??)
    }

    /// Appends `data` to the stream. Resolves once the bytes not yet
    /// admitted by the peer's window are few again, so a writer that awaits
    /// each call is paced by the stream's flow control.
    pub async fn stream_write(
        &self,
        session: SessionId,
        stream: StreamId,
        data: Vec<u8>,
    ) -> Result<(), HandleError> {
        Ok(self
            .ask(|reply| Command::StreamWrite {
                session,
                stream,
                data,
                reply,
            })
            .await??)
    }

    /// Half-closes our side of the stream.
    pub async fn stream_close(
        &self,
        session: SessionId,
        stream: StreamId,
    ) -> Result<(), HandleError> {
        Ok(self
            .ask(|r| Command::StreamClose(session, stream, r))
            .await??)
    }

    /// The application read `n` bytes of the stream: the peer may send as
    /// many more. Stream data is credited only this way, so a reader that
    /// stops holds the sender back (see [`super::StreamHub`]).
    pub fn stream_consumed(&self, session: SessionId, stream: StreamId, n: usize) {
        let _ = self
            .commands
            .send(Command::StreamConsumed(session, stream, n));
    }

    /// Every event from now on, losslessly, in order. A subscriber that
    /// takes `StreamData` itself must report it with [`Self::stream_consumed`]
    /// or the stream stalls after one window.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = self.commands.send(Command::Subscribe(tx));
        rx
    }

    pub async fn status(&self) -> Result<NodeStatus, HandleError> {
        self.ask(Command::Status).await
    }

    /// Stops the driver; pending messages resolve with [`HandleError::Stopped`].
    pub async fn shutdown(&self) {
        let _ = self.ask(Command::Shutdown).await;
    }
}

impl PendingMessage {
    pub(crate) fn new(
        session: SessionId,
        id: MessageId,
        done: oneshot::Receiver<Result<(), String>>,
    ) -> Self {
        Self { session, id, done }
    }
}
