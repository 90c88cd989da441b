//! The neighbour hub: every live link of every PACOM swarm, by
//! [`NeighbourId`], and one event stream for the layer above.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use pacom_core::link::{Link, LinkStats};
use tokio::sync::mpsc;

use super::NeighbourId;
use crate::metainfo::InfoHash;

/// What the links report to the circuit layer, in the order it happened
/// per neighbour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// A PACOM peer was claimed and its link state created; bytes may be
    /// written at once (they leave when the peer's requests pull frames).
    Up {
        neighbour: NeighbourId,
        swarm: InfoHash,
        addr: SocketAddr,
    },
    /// Link bytes from the neighbour, in order.
    Data {
        neighbour: NeighbourId,
        bytes: Vec<u8>,
    },
    /// The link is gone (peer left, bad frame, swarm left); nothing more
    /// will come from it and writes fail.
    Down {
        neighbour: NeighbourId,
        reason: String,
    },
    /// Every block of the swarm's PACOM file is had: the node may rejoin
    /// elsewhere (paper §3.3).
    SwarmComplete { swarm: InfoHash },
}

/// Why bytes could not be queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkWriteError {
    #[error("no live link to neighbour {0:?}")]
    Unknown(NeighbourId),
    #[error("link to neighbour {0:?} is closed")]
    Closed(NeighbourId),
}

/// A neighbour as `pacom status` shows it.
#[derive(Debug, Clone)]
pub struct NeighbourInfo {
    pub id: NeighbourId,
    pub swarm: InfoHash,
    pub addr: SocketAddr,
    pub stats: LinkStats,
    /// Link bytes waiting in our output queue for this neighbour.
    pub queued: usize,
}

struct Entry {
    swarm: InfoHash,
    addr: SocketAddr,
    link: Arc<Mutex<Link>>,
}

struct Inner {
    next_id: AtomicU64,
    entries: Mutex<HashMap<NeighbourId, Entry>>,
    events: mpsc::UnboundedSender<LinkEvent>,
}

/// Cheap to clone; shared by every swarm of a node and its circuit driver.
#[derive(Clone)]
pub struct Links {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Links {
    /// A hub and the receiver of its events (one consumer: the circuit driver).
    pub fn new() -> (Links, mpsc::UnboundedReceiver<LinkEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let links = Links {
            inner: Arc::new(Inner {
                next_id: AtomicU64::new(1),
                entries: Mutex::new(HashMap::new()),
                events: tx,
            }),
        };
        (links, rx)
    }

    /// Queues link bytes for neighbour `n` (the output queue `Q(self, n)`).
    pub fn write(&self, n: NeighbourId, bytes: &[u8]) -> Result<(), LinkWriteError> {
        let link = self.link(n).ok_or(LinkWriteError::Unknown(n))?;
        // Copy before locking: the link's task answers requests under this lock.
        let bytes = bytes.to_vec();
        let result = lock(&link).write(bytes);
        result.map_err(|_| LinkWriteError::Closed(n))
    }

    /// Bytes waiting in our output queue for `n`.
    pub fn queued(&self, n: NeighbourId) -> Option<usize> {
        self.link(n).map(|l| lock(&l).queued())
    }

    /// Every live neighbour.
    pub fn neighbours(&self) -> Vec<NeighbourInfo> {
        let entries = lock(&self.inner.entries);
        let mut out: Vec<NeighbourInfo> = entries
            .iter()
            .map(|(id, e)| {
                let l = lock(&e.link);
                NeighbourInfo {
                    id: *id,
                    swarm: e.swarm,
                    addr: e.addr,
                    stats: l.stats(),
                    queued: l.queued(),
                }
            })
            .collect();
        out.sort_by_key(|n| n.id);
        out
    }

    /// Closes the link to `n` (for example after it sent a malformed cell):
    /// its peer task sees a closed link and ends, and `Down` is reported.
    pub fn close(&self, n: NeighbourId, reason: impl Into<String>) {
        if let Some(link) = self.link(n) {
            lock(&link).close();
        }
        self.unregister(n, reason);
    }

    fn link(&self, n: NeighbourId) -> Option<Arc<Mutex<Link>>> {
        lock(&self.inner.entries).get(&n).map(|e| e.link.clone())
    }

    /// Registers a new link (called by a swarm when it claims a PACOM peer)
    /// and reports it up.
    pub(crate) fn register(
        &self,
        swarm: InfoHash,
        addr: SocketAddr,
        link: Arc<Mutex<Link>>,
    ) -> NeighbourId {
        let id = NeighbourId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        lock(&self.inner.entries).insert(id, Entry { swarm, addr, link });
        let _ = self.inner.events.send(LinkEvent::Up {
            neighbour: id,
            swarm,
            addr,
        });
        id
    }

    /// Bytes a link received.
    pub(crate) fn deliver(&self, n: NeighbourId, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            let _ = self.inner.events.send(LinkEvent::Data {
                neighbour: n,
                bytes,
            });
        }
    }

    /// A link ended; reported once.
    pub(crate) fn unregister(&self, n: NeighbourId, reason: impl Into<String>) {
        if lock(&self.inner.entries).remove(&n).is_some() {
            let _ = self.inner.events.send(LinkEvent::Down {
                neighbour: n,
                reason: reason.into(),
            });
        }
    }

    pub(crate) fn swarm_complete(&self, swarm: InfoHash) {
        let _ = self.inner.events.send(LinkEvent::SwarmComplete { swarm });
    }
}
