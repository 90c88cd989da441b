//! Handshake copies held back by a random delay before they go out.
//!
//! A node relays only the first copy of a flooded handshake, and the target
//! answers the first copies it gets, so without this a circuit follows the
//! *fastest* path: a relay's output link is, more often than not, its
//! lowest-delay one. Delay shapes a link's packet timing, so an observer
//! who ranks a relay's output links by anything delay-dependent (the MI
//! attack's estimator bias is) learns the circuit from path selection
//! alone. Each copy therefore waits an independent delay drawn uniformly
//! from `[0, handshake_jitter]`; when that range is large against the
//! links' one-way delays, which copy arrives first is decided by the draws,
//! not by the links.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::{CryptoRng, Rng, RngCore};

use super::node::Node;
use crate::cell::Cell;
use crate::circuit::NeighbourId;

/// Handshake copies waiting for their release time, in release order.
#[derive(Default)]
pub(super) struct Held {
    /// (due, insertion number) → (neighbour, framed cell).
    queue: BTreeMap<(Duration, u64), (NeighbourId, Vec<u8>)>,
    next: u64,
}

impl Held {
    fn push(&mut self, due: Duration, to: NeighbourId, bytes: Vec<u8>) {
        self.queue.insert((due, self.next), (to, bytes));
        self.next += 1;
    }

    /// The framed cells held, for [`Node::relay_state`].
    pub fn buffers(&self) -> impl Iterator<Item = &[u8]> {
        self.queue.values().map(|(_, b)| b.as_slice())
    }
}

impl<R: RngCore + CryptoRng> Node<R> {
    /// Sends one copy of a handshake to each of `to`, each after its own
    /// random delay (at once when the jitter is zero).
    pub(super) fn send_handshake_copies(&mut self, to: &[NeighbourId], cell: &Cell, now: Duration) {
        let max = self.cfg.handshake_jitter;
        if max.is_zero() {
            for &n in to {
                self.send_cell(n, cell);
            }
            return;
        }
        let bytes = cell.to_framed();
        for &n in to {
            let wait = Duration::from_secs_f64(self.rng.gen_range(0.0..=max.as_secs_f64()));
            self.held.push(now + wait, n, bytes.clone());
        }
        self.release_handshakes(now);
    }

    /// Sends every held copy that is due at `now`.
    pub(super) fn release_handshakes(&mut self, now: Duration) {
        while let Some(entry) = self.held.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (to, bytes) = entry.remove();
            if let Some(nb) = self.neighbours.get_mut(&to) {
                nb.out.extend_from_slice(&bytes);
            }
        }
    }

    /// Forgets copies for a neighbour that went away.
    pub(super) fn drop_held_for(&mut self, n: NeighbourId) {
        self.held.queue.retain(|_, (to, _)| *to != n);
    }

    /// When the next held copy is due.
    pub(super) fn next_release(&self) -> Option<Duration> {
        self.held.queue.keys().next().map(|k| k.0)
    }

    /// Handshake copies waiting to go out.
    pub fn held_handshakes(&self) -> usize {
        self.held.queue.len()
    }
}
