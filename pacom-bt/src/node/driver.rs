//! The circuit driver: one tokio task that owns a node's sans-IO
//! [`Node`], feeds it link events, commands and timer ticks, and writes
//! what it wants to send into the neighbours' output queues.
//!
//! The driver is the only place that reads a clock for the circuit layer:
//! `now` is the time since the driver started (monotonic), and the node's
//! handshake timestamps are anchored to the wall clock at that instant.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pacom_core::identity::{Fingerprint, Identity};
use pacom_core::session::{
    Config, Event, MessageId, Node, NodeError, SessionError, SessionId, StreamId,
};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::handle::SessionStatus;
use super::handle::{describe_failure, Command, NodeHandle, NodeStatus, PendingMessage, Reply};
use super::{LinkEvent, Links};

/// Starts the driver task for `identity` over `links`. The handle is the
/// only way in; the task ends on [`NodeHandle::shutdown`] or when every
/// handle is dropped.
pub fn spawn_driver(
    identity: Identity,
    mut config: Config,
    links: Links,
    link_events: mpsc::UnboundedReceiver<LinkEvent>,
) -> (NodeHandle, JoinHandle<()>) {
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    config.unix_time_at_origin = unix;
    // Stream readers credit what they read (`NodeHandle::stream_consumed`),
    // so event channels never hold more than a window per stream.
    config.app_credits_streams = true;
    let contact = identity.contact().clone();
    let node = Node::new(identity, config, StdRng::from_entropy());
    let (tx, rx) = mpsc::unbounded_channel();
    let driver = Driver {
        node,
        origin: Instant::now(),
        links: links.clone(),
        link_events,
        commands: rx,
        pending: HashMap::new(),
        peers: BTreeMap::new(),
        subscribers: Vec::new(),
        blocked_writes: Vec::new(),
    };
    let task = tokio::spawn(driver.run());
    let handle = NodeHandle {
        commands: tx,
        contact,
        links,
    };
    (handle, task)
}

struct Driver {
    node: Node<StdRng>,
    origin: Instant,
    links: Links,
    link_events: mpsc::UnboundedReceiver<LinkEvent>,
    commands: mpsc::UnboundedReceiver<Command>,
    /// Messages whose delivery someone awaits.
    pending: HashMap<(SessionId, MessageId), oneshot::Sender<Result<(), String>>>,
    /// Whom our own sessions lead to (the target side never learns it).
    peers: BTreeMap<SessionId, Fingerprint>,
    subscribers: Vec<mpsc::UnboundedSender<Event>>,
    /// Stream writes answered only once their stream's backlog drains.
    blocked_writes: Vec<BlockedWrite>,
}

/// A stream write whose caller waits for the stream's backlog to drain.
type BlockedWrite = (SessionId, StreamId, Reply<Result<(), SessionError>>);

/// Unsent stream bytes above which a writer waits.
const WRITE_BACKLOG: usize = 256 * 1024;

impl Driver {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    async fn run(mut self) {
        loop {
            let wake = self.node.poll_timeout().map(|t| self.origin + t);
            let sleep = async move {
                match wake {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                ev = self.link_events.recv() => match ev {
                    Some(ev) => {
                        self.on_link_event(ev);
                        // Take whatever else already arrived before flushing.
                        while let Ok(ev) = self.link_events.try_recv() {
                            self.on_link_event(ev);
                        }
                    }
                    None => break,
                },
                cmd = self.commands.recv() => match cmd {
                    Some(Command::Shutdown(reply)) => {
                        let _ = reply.send(());
                        break;
                    }
                    Some(cmd) => self.on_command(cmd),
                    None => break,
                },
                _ = sleep => {
                    let now = self.now();
                    self.node.handle_timeout(now);
                }
            }
            self.after_step();
        }
        tracing::debug!("circuit driver stopped");
    }

    fn on_link_event(&mut self, ev: LinkEvent) {
        let now = self.now();
        match ev {
            LinkEvent::Up {
                neighbour, swarm, ..
            } => {
                tracing::debug!(?neighbour, %swarm, "neighbour up");
                self.node.on_neighbour_up(neighbour, now);
            }
            LinkEvent::Data { neighbour, bytes } => {
                match self.node.on_link_bytes(neighbour, &bytes, now) {
                    Ok(()) => {}
                    Err(NodeError::Malformed { error, .. }) => {
                        tracing::info!(?neighbour, %error, "dropping neighbour: malformed cell");
                        self.links
                            .close(neighbour, format!("malformed cell: {error}"));
                    }
                    Err(NodeError::UnknownNeighbour(_)) => {
                        tracing::debug!(?neighbour, "bytes from a neighbour not up");
                    }
                }
            }
            LinkEvent::Down { neighbour, reason } => {
                tracing::debug!(?neighbour, %reason, "neighbour down");
                self.node.on_neighbour_down(neighbour, now);
            }
            LinkEvent::SwarmComplete { swarm } => {
                tracing::info!(%swarm, "PACOM file complete");
            }
        }
    }

    fn on_command(&mut self, cmd: Command) {
        let now = self.now();
        match cmd {
            Command::Connect(contact, reply) => {
                let s = self.node.connect(&contact, now);
                self.peers.insert(s, contact.fingerprint());
                let _ = reply.send(s);
            }
            Command::Send {
                session,
                data,
                reply,
            } => {
                let res = self.node.send_message(session, &data, now).map(|id| {
                    let (tx, rx) = oneshot::channel();
                    self.pending.insert((session, id), tx);
                    PendingMessage::new(session, id, rx)
                });
                let _ = reply.send(res);
            }
            Command::ConnectNew(contact, reply) => {
                let s = self.node.connect_new(&contact, now);
                self.peers.insert(s, contact.fingerprint());
                let _ = reply.send(s);
            }
            Command::OpenStream(s, reply) => {
                let _ = reply.send(self.node.open_stream(s, now));
            }
            Command::StreamWrite {
                session,
                stream,
                data,
                reply,
            } => match self.node.stream_write(session, stream, &data, now) {
                Ok(()) if self.backlogged(session, stream) => {
                    self.blocked_writes.push((session, stream, reply));
                }
                res => {
                    let _ = reply.send(res);
                }
            },
            Command::StreamClose(s, id, reply) => {
                let _ = reply.send(self.node.stream_close(s, id, now));
            }
            Command::StreamConsumed(s, id, n) => self.node.stream_consumed(s, id, n, now),
            Command::Subscribe(tx) => self.subscribers.push(tx),
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Command::Shutdown(_) => {}
        }
    }

    fn status(&self) -> NodeStatus {
        let sessions = self
            .node
            .sessions()
            .into_iter()
            .map(|(id, rebuilds)| SessionStatus {
                id,
                peer: self.peers.get(&id).copied(),
                circuits: self.node.session_circuits(id),
                rebuilds,
                busy: self.node.session_busy(id),
            })
            .collect();
        NodeStatus {
            fingerprint: self.node.identity().fingerprint(),
            stats: self.node.stats().clone(),
            sessions,
            neighbours: self.links.neighbours(),
            relays: self
                .node
                .relay_state()
                .records
                .iter()
                .filter_map(|r| r.suc_next.map(|next| (r.h_id, r.last_hop, next)))
                .collect(),
            streams: self.node.stream_buffers(),
            uptime_secs: self.now().as_secs_f64(),
        }
    }

    fn backlogged(&self, session: SessionId, stream: StreamId) -> bool {
        self.node
            .stream_backlog(session, stream)
            .is_some_and(|n| n > WRITE_BACKLOG)
    }

    /// Answers the blocked writes whose stream drained (or died).
    fn release_writes(&mut self) {
        let blocked = std::mem::take(&mut self.blocked_writes);
        for (session, stream, reply) in blocked {
            match self.node.stream_backlog(session, stream) {
                Some(n) if n > WRITE_BACKLOG => self.blocked_writes.push((session, stream, reply)),
                Some(_) => {
                    let _ = reply.send(Ok(()));
                }
                None => {
                    let _ = reply.send(Err(SessionError::Failed(session)));
                }
            }
        }
    }

    /// Hands events out and moves the node's outgoing bytes into the links.
    fn after_step(&mut self) {
        while let Some(ev) = self.node.poll_event() {
            match &ev {
                Event::MessageDelivered { session, id } => {
                    if let Some(tx) = self.pending.remove(&(*session, *id)) {
                        let _ = tx.send(Ok(()));
                    }
                }
                Event::MessageFailed {
                    session,
                    id,
                    reason,
                } => {
                    if let Some(tx) = self.pending.remove(&(*session, *id)) {
                        let _ = tx.send(Err(describe_failure(reason)));
                    }
                }
                _ => {}
            }
            self.subscribers.retain(|s| s.send(ev.clone()).is_ok());
        }
        if !self.blocked_writes.is_empty() {
            self.release_writes();
        }
        for (n, bytes) in self.node.drain_outgoing() {
            if let Err(e) = self.links.write(n, &bytes) {
                tracing::debug!(error = %e, "link write failed; its Down event follows");
            }
        }
    }
}
