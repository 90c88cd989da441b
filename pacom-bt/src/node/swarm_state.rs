//! What every link of one PACOM swarm shares: the swarm's file, geometry and
//! our progress `B(Pi)`, the link settings, and the table of live PACOM
//! peers (one connection each, HAVE fan-out, leave).
//!
//! Duplicate connections (both ends dialled each other, or a peer source
//! re-dialled a live peer) are resolved without talking: the connection
//! initiated by the end with the smaller peer id is preferred, and a live
//! connection is only ever replaced by a preferred one. Both ends see the
//! same ids and the same initiator, so they keep the same connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pacom_core::link::LinkConfig;
use pacom_core::pacom_file::PacomFile;
use pacom_core::schedule::{Geometry, PacerConfig, Progress};
use pacom_core::stats::WireEvent;
use rand::rngs::OsRng;
use tokio::sync::{mpsc, watch, Notify};

use super::swarm::{LinkTiming, WireObserver};
use super::{Links, NeighbourId};
use crate::metainfo::InfoHash;

/// Why a complete swarm closes its links (their `Down` reason).
const COMPLETE: &str = "PACOM file complete: no block left to request";

/// Told to one link task by the swarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LinkCmd {
    /// We completed a piece: announce it.
    Have(u32),
    /// Close this connection (a preferred duplicate replaced it).
    Close(String),
}

struct Slot {
    token: u64,
    preferred: bool,
    cmd: mpsc::UnboundedSender<LinkCmd>,
}

/// A connection admitted as the link to one PACOM peer.
pub(crate) struct Admission {
    pub token: u64,
    pub commands: mpsc::UnboundedReceiver<LinkCmd>,
}

pub(crate) struct SwarmState {
    pub info_hash: InfoHash,
    pub file: Arc<PacomFile>,
    pub geometry: Geometry,
    pub link_config: LinkConfig,
    pub carrier: Arc<dyn stego::Carrier>,
    pub pacer: PacerConfig,
    pub upload_rate: Option<f64>,
    pub timing: LinkTiming,
    pub links: Links,
    pub observer: Option<WireObserver>,
    /// Idle answers per second of the independence test's data-driven
    /// control; `None` in every real node.
    pub leaky_control: Option<f64>,
    pub our_id: [u8; 20],
    /// Our engine's listening port: a connection whose local port is this
    /// one was accepted, any other was dialled by us.
    pub listen_port: u16,
    /// Origin of the `now` fed to the pacers and of recorded wire times.
    pub epoch: Instant,
    pub shutdown: watch::Sender<bool>,
    progress: Mutex<Progress>,
    peers: Mutex<HashMap<[u8; 20], Slot>>,
    next_token: AtomicU64,
    completed: AtomicBool,
    /// `Some(initial fraction)`: a configured swarm that starts afresh when
    /// used up (see [`SwarmState::release`]); `None`: one joined by
    /// bootstrapping, which the node leaves for another.
    renew: Option<f64>,
    /// A link starved, or the file completed, since the last fresh start.
    exhausted: AtomicBool,
    renewals: AtomicU64,
    /// Told whenever the last link of the swarm ended.
    pub idle: Notify,
}

/// Whether a connection to `their_id` is the one both ends keep: the one
/// initiated by the smaller peer id.
fn is_preferred(our_id: &[u8; 20], their_id: &[u8; 20], inbound: bool) -> bool {
    let initiator = if inbound { their_id } else { our_id };
    initiator == our_id.min(their_id)
}

/// Whether a new connection takes over from a live one to the same peer.
fn replaces(live_preferred: bool, new_preferred: bool) -> bool {
    new_preferred && !live_preferred
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The parts of [`SwarmState`] fixed at join.
pub(crate) struct SwarmParts {
    pub info_hash: InfoHash,
    pub file: Arc<PacomFile>,
    pub geometry: Geometry,
    pub progress: Progress,
    pub link_config: LinkConfig,
    pub carrier: Arc<dyn stego::Carrier>,
    pub pacer: PacerConfig,
    pub upload_rate: Option<f64>,
    pub timing: LinkTiming,
    pub links: Links,
    pub observer: Option<WireObserver>,
    pub leaky_control: Option<f64>,
    pub our_id: [u8; 20],
    pub listen_port: u16,
    pub renew: Option<f64>,
}

impl SwarmState {
    pub fn new(p: SwarmParts) -> Self {
        Self {
            info_hash: p.info_hash,
            file: p.file,
            geometry: p.geometry,
            link_config: p.link_config,
            carrier: p.carrier,
            pacer: p.pacer,
            upload_rate: p.upload_rate,
            timing: p.timing,
            links: p.links,
            observer: p.observer,
            leaky_control: p.leaky_control,
            our_id: p.our_id,
            listen_port: p.listen_port,
            epoch: Instant::now(),
            shutdown: watch::channel(false).0,
            progress: Mutex::new(p.progress),
            peers: Mutex::new(HashMap::new()),
            next_token: AtomicU64::new(1),
            completed: AtomicBool::new(false),
            renew: p.renew,
            exhausted: AtomicBool::new(false),
            renewals: AtomicU64::new(0),
            idle: Notify::new(),
        }
    }

    /// Time since the swarm was joined.
    pub fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Our blocks in this swarm, shared by its links.
    pub fn progress(&self) -> MutexGuard<'_, Progress> {
        lock(&self.progress)
    }

    pub fn is_leaving(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Whether a connection is preferred over a duplicate: it was initiated
    /// by the end with the smaller peer id.
    pub fn is_preferred(&self, their_id: &[u8; 20], inbound: bool) -> bool {
        is_preferred(&self.our_id, their_id, inbound)
    }

    /// Admits a connection to `peer_id` as its link, or refuses it as a
    /// duplicate. A preferred connection replaces a live non-preferred one
    /// (which is told to close).
    pub fn admit(&self, peer_id: [u8; 20], preferred: bool) -> Option<Admission> {
        if self.is_leaving() || self.completed.load(Ordering::Acquire) {
            return None;
        }
        let mut peers = lock(&self.peers);
        if let Some(old) = peers.get(&peer_id) {
            if !replaces(old.preferred, preferred) {
                return None;
            }
            let _ = old.cmd.send(LinkCmd::Close(
                "replaced by the preferred duplicate connection".into(),
            ));
        }
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        peers.insert(
            peer_id,
            Slot {
                token,
                preferred,
                cmd: tx,
            },
        );
        Some(Admission {
            token,
            commands: rx,
        })
    }

    /// A link task ended; frees its peer's slot unless a newer connection
    /// already took it. When that was the last link of a used-up swarm
    /// that renews, our progress starts afresh ([`Progress::fresh_share`]), so the
    /// next link has blocks to exchange again. This
    /// happens under the table's lock: no link is admitted in between.
    pub fn release(&self, peer_id: &[u8; 20], token: u64) {
        let mut peers = lock(&self.peers);
        if peers.get(peer_id).is_some_and(|s| s.token == token) {
            peers.remove(peer_id);
        }
        if !peers.is_empty() {
            return;
        }
        if let Some(fraction) = self.renew {
            if !self.is_leaving() && self.exhausted.load(Ordering::Acquire) {
                self.start_afresh(fraction);
            }
        }
        drop(peers);
        self.idle.notify_one();
    }

    /// Replaces our progress by a fresh share ([`Progress::fresh_share`]);
    /// skipped when that share would be the whole file (nothing to
    /// exchange).
    fn start_afresh(&self, fraction: f64) {
        let mut progress = self.progress();
        let fresh = progress.fresh_share(fraction, &mut OsRng);
        if fresh.is_complete() {
            return;
        }
        *progress = fresh;
        drop(progress);
        self.exhausted.store(false, Ordering::Release);
        self.completed.store(false, Ordering::Release);
        let n = self.renewals.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(swarm = %self.info_hash, renewals = n, "PACOM file used up: starting afresh");
    }

    /// A link ran out of blocks to request: the swarm is used up for us.
    pub fn link_starved(&self) {
        self.exhausted.store(true, Ordering::Release);
    }

    /// Fresh starts so far (see [`SwarmState::release`]).
    pub fn renewals(&self) -> u64 {
        self.renewals.load(Ordering::Relaxed)
    }

    /// PACOM peers with a live link.
    pub fn live_peers(&self) -> usize {
        lock(&self.peers).len()
    }

    /// Announces a completed piece on every link of the swarm.
    pub fn broadcast_have(&self, piece: u32) {
        for slot in lock(&self.peers).values() {
            let _ = slot.cmd.send(LinkCmd::Have(piece));
        }
    }

    /// Our copy of the file became complete; reported once. No link of the
    /// swarm can request a block any more, so none can carry a frame to us:
    /// they close now (and new ones are refused) so the circuits over them
    /// move to other links at once instead of stalling until their silence
    /// timeout; the node rejoins elsewhere (paper §3.3), or a configured
    /// swarm starts afresh once its last link is gone.
    pub fn file_completed(&self) {
        if !self.completed.swap(true, Ordering::AcqRel) {
            self.exhausted.store(true, Ordering::Release);
            for slot in lock(&self.peers).values() {
                let _ = slot.cmd.send(LinkCmd::Close(COMPLETE.into()));
            }
            self.links.swarm_complete(self.info_hash);
        }
    }

    pub fn observe(&self, n: NeighbourId, event: WireEvent) {
        if let Some(o) = &self.observer {
            o(n, event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ends_keep_the_same_duplicate() {
        let (a, b) = ([1u8; 20], [2u8; 20]);
        // A dialled B (outbound at A, inbound at B): preferred at both ends.
        assert!(is_preferred(&a, &b, false));
        assert!(is_preferred(&b, &a, true));
        // B dialled A: not preferred at either end.
        assert!(!is_preferred(&a, &b, true));
        assert!(!is_preferred(&b, &a, false));
    }

    #[test]
    fn only_a_preferred_connection_replaces_a_live_one() {
        // Whatever order the two connections arrive in, the preferred one
        // is live at the end.
        for order in [[true, false], [false, true]] {
            let mut live: Option<bool> = None;
            for new in order {
                if live.is_none_or(|l| replaces(l, new)) {
                    live = Some(new);
                }
            }
            assert_eq!(live, Some(true));
        }
        // A re-dial never replaces the preferred connection.
        assert!(!replaces(true, true));
        assert!(!replaces(false, false));
    }
}
