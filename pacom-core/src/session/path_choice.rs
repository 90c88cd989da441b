//! Path choice independent of link delay: the copies of a handshake are
//! gathered for a window before a node decides where the circuit came from.
//!
//! If a node kept the *first* copy of a flooded handshake as the circuit's
//! previous hop, and the target answered the first copies, every circuit
//! would follow the fastest path: a relay's output link would, more often
//! than not, be its lowest-delay one. Delay shapes a link's packet timing,
//! so an observer who ranks a relay's links by anything delay-dependent
//! (the MI attack's estimator bias is) would learn circuits from path
//! selection alone. Instead, the first copy of `h_id` opens a window of
//! [`Config::handshake_window`](super::Config::handshake_window); every
//! copy that arrives in it is kept; when it closes the node picks the
//! previous hop uniformly among the copies with the highest remaining TTL
//! (fewest hops) and forwards once, with that TTL − 1. The target orders
//! the copies it answers the same way. When the window exceeds the spread
//! of the fewest-hop copies' arrival times, delay no longer decides.
//!
//! Loop-freedom: a node forwards `best − 1`, where `best` is the TTL its
//! chosen previous hop put on its copy, so along the recorded chain the
//! TTL sent strictly falls; following `last_hop` from any node the TTL
//! strictly rises, hence never revisits a node and ends at the source.
//! (The TTL is not authenticated: a neighbour that inflates it, up to our
//! own TTL, is always among the fewest-hop copies; that buys it no more
//! than answering fastest bought it under a first-copy rule.)
//!
//! Only the copy that opens a window is charged to its sender's handshake
//! budget: the handshake is forwarded and trial-decrypted once, however
//! many neighbours send it.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::{CryptoRng, RngCore};

use super::node::{Accepted, Node};
use crate::cell::{Cell, HandshakeId};
use crate::circuit::{HandshakeSecret, NeighbourId, RelayRecord};

/// One neighbour's copy of a handshake.
struct Copy {
    from: NeighbourId,
    /// Remaining TTL as received, clamped to ours.
    ttl: u8,
    sealed: Vec<u8>,
}

/// A handshake whose copies are being gathered.
struct Window {
    closes: Duration,
    copies: Vec<Copy>,
}

/// Open collection windows, by handshake id.
#[derive(Default)]
pub(super) struct Windows {
    open: BTreeMap<HandshakeId, Window>,
}

impl Windows {
    /// The sealed payloads held, for [`Node::relay_state`].
    pub fn buffers(&self) -> impl Iterator<Item = &[u8]> {
        self.open
            .values()
            .flat_map(|w| w.copies.iter().map(|c| c.sealed.as_slice()))
    }
}

impl<R: RngCore + CryptoRng> Node<R> {
    /// A copy of handshake `h_id` with `ttl > 0` arrived from `from`.
    pub(super) fn collect_handshake(
        &mut self,
        from: NeighbourId,
        h_id: HandshakeId,
        ttl: u8,
        sealed: Vec<u8>,
        now: Duration,
    ) {
        let copy = Copy {
            from,
            ttl: ttl.min(self.cfg.ttl),
            sealed,
        };
        if let Some(w) = self.windows.open.get_mut(&h_id) {
            // Joining an open window costs no forwarding or decryption, so
            // no budget: the handshake is processed once, whoever sent it.
            if w.copies.iter().any(|c| c.from == from) {
                self.stats.handshake_duplicates += 1;
            } else {
                w.copies.push(copy);
            }
            return;
        }
        if self.table.is_seen(h_id) {
            self.on_duplicate_handshake(from, h_id, now);
            return;
        }
        // The budget is charged before marking seen, so a copy dropped here
        // can still arrive through a better-behaved neighbour.
        let allowed = self
            .neighbours
            .get_mut(&from)
            .is_some_and(|nb| nb.bucket.try_take(now));
        if !allowed {
            self.stats.handshake_budget_drops += 1;
            return;
        }
        self.table.mark_seen(h_id, now);
        let closes = now + self.cfg.handshake_window;
        self.windows.open.insert(
            h_id,
            Window {
                closes,
                copies: vec![copy],
            },
        );
        if self.cfg.handshake_window.is_zero() {
            self.close_window(h_id, now);
        }
    }

    /// Closes every window due at `now`.
    pub(super) fn close_due_windows(&mut self, now: Duration) {
        let due: Vec<HandshakeId> = self
            .windows
            .open
            .iter()
            .filter(|(_, w)| w.closes <= now)
            .map(|(h, _)| *h)
            .collect();
        for h_id in due {
            self.close_window(h_id, now);
        }
    }

    /// Picks the previous hop, forwards, and answers if the handshake is
    /// ours.
    fn close_window(&mut self, h_id: HandshakeId, now: Duration) {
        let Some(w) = self.windows.open.remove(&h_id) else {
            return;
        };
        let mut copies = w.copies;
        // Shuffle, then a stable sort by TTL: fewest hops first, uniformly
        // ordered among equals.
        copies.shuffle(&mut self.rng);
        copies.sort_by_key(|c| std::cmp::Reverse(c.ttl));
        let Some(chosen) = copies.first() else {
            return; // every sender went away during the window
        };
        let (last_hop, ttl, sealed) = (
            chosen.from,
            chosen.ttl.saturating_sub(1),
            chosen.sealed.clone(),
        );
        if ttl > 0 {
            // Neighbours that sent a copy have already forwarded theirs.
            let others: Vec<NeighbourId> = self
                .neighbours
                .keys()
                .copied()
                .filter(|n| copies.iter().all(|c| c.from != *n))
                .collect();
            let next_hops = self.pick_next_hops(&others);
            if !next_hops.is_empty() {
                let cell = Cell::Handshake {
                    h_id,
                    ttl,
                    sealed: sealed.clone(),
                };
                for &n in &next_hops {
                    self.send_cell(n, &cell);
                }
                self.stats.handshakes_forwarded += 1;
                self.table.insert(RelayRecord {
                    last_hop,
                    h_id,
                    next_hops,
                    r_time: now,
                    suc_next: None,
                    last_used: now,
                });
            }
        }
        self.stats.trial_decryptions += 1;
        let Some(secret) = HandshakeSecret::trial_decrypt(&self.identity, &sealed) else {
            return;
        };
        if secret.h_id != h_id {
            return;
        }
        let ours = self.unix_now(now) as i64;
        let fresh = (ours - secret.time as i64).unsigned_abs() <= self.cfg.time_window.as_secs();
        if !fresh || self.accepted.contains_key(&h_id) {
            self.stats.handshake_replays_rejected += 1;
            return;
        }
        self.stats.handshakes_accepted += 1;
        self.accepted.insert(
            h_id,
            Accepted {
                at: now,
                secret,
                answered: Vec::new(),
            },
        );
        // Only copies of the payload we could open lead back to its source.
        let answer_to: Vec<NeighbourId> = copies
            .iter()
            .filter(|c| c.sealed == sealed)
            .map(|c| c.from)
            .take(self.cfg.circuits_per_peer)
            .collect();
        for n in answer_to {
            self.answer(n, h_id, now);
        }
    }

    /// A neighbour went away: its copies can no longer be answered through.
    pub(super) fn forget_copies_from(&mut self, n: NeighbourId) {
        for w in self.windows.open.values_mut() {
            w.copies.retain(|c| c.from != n);
        }
    }

    /// When the next window closes.
    pub(super) fn next_window_close(&self) -> Option<Duration> {
        self.windows.open.values().map(|w| w.closes).min()
    }

    /// Handshakes whose copies are still being gathered.
    pub fn open_handshake_windows(&self) -> usize {
        self.windows.open.len()
    }
}
