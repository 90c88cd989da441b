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

use std::time::Duration;

use rand::{CryptoRng, Rng, RngCore};

use super::node::Node;
use crate::cell::Cell;
use crate::circuit::NeighbourId;

/// A handshake copy waiting for its release time.
pub(super) struct Held {
    pub due: Duration,
    pub to: NeighbourId,
    /// The framed cell, as it will be written to the link.
    pub bytes: Vec<u8>,
}

impl<R: RngCore + CryptoRng> Node<R> {
    /// Sends one copy of a handshake to each of `to`, each after its own
    /// random delay (at once when the jitter is zero).
    pub(super) fn send_handshake_copies(&mut self, to: &[NeighbourId], cell: &Cell, now: Duration) {
        let max = self.cfg.handshake_jitter;
        let bytes = cell.to_framed();
        for &n in to {
            if max.is_zero() {
                self.send_cell(n, cell);
                continue;
            }
            let wait = Duration::from_secs_f64(self.rng.gen_range(0.0..=max.as_secs_f64()));
            self.held.push(Held {
                due: now + wait,
                to: n,
                bytes: bytes.clone(),
            });
        }
        self.release_handshakes(now);
    }

    /// Sends every held copy that is due at `now`.
    pub(super) fn release_handshakes(&mut self, now: Duration) {
        if self.held.is_empty() {
            return;
        }
        let (due, keep): (Vec<Held>, Vec<Held>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| h.due <= now);
        self.held = keep;
        for h in due {
            if let Some(nb) = self.neighbours.get_mut(&h.to) {
                nb.out.extend_from_slice(&h.bytes);
            }
        }
    }

    /// Forgets copies for a neighbour that went away.
    pub(super) fn drop_held_for(&mut self, n: NeighbourId) {
        self.held.retain(|h| h.to != n);
    }

    /// When the next held copy is due.
    pub(super) fn next_release(&self) -> Option<Duration> {
        self.held.iter().map(|h| h.due).min()
    }

    /// Handshake copies waiting to go out.
    pub fn held_handshakes(&self) -> usize {
        self.held.len()
    }
}
