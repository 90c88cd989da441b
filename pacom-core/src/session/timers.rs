//! Time-driven work: handshake time-outs and retries, silent circuits,
//! keep-alive probes and purging of stale records.

use std::time::Duration;

use rand::{CryptoRng, RngCore};

use super::event::FailReason;
use super::frame::Frame;
use super::node::Node;
use super::reliable::CircKey;
use crate::cell::HandshakeId;

impl<R: RngCore + CryptoRng> Node<R> {
    fn seen_for(&self) -> Duration {
        self.cfg.time_window * 2 + self.cfg.record_timeout
    }

    fn session_active(&self, sid: super::SessionId, now: Duration) -> bool {
        self.sessions.get(&sid).is_some_and(|s| {
            !s.failed
                && (s.has_work() || now.saturating_sub(s.last_activity) < self.cfg.idle_timeout)
        })
    }

    /// Runs everything due at `now`.
    pub fn handle_timeout(&mut self, now: Duration) {
        self.close_due_windows(now);
        // Handshakes whose response window closed.
        let expired: Vec<HandshakeId> = self
            .pending
            .iter()
            .filter(|(_, p)| now >= p.sent_at + self.cfg.handshake_timeout)
            .map(|(h, _)| *h)
            .collect();
        for h in expired {
            let Some(p) = self.pending.remove(&h) else {
                continue;
            };
            let Some(s) = self.sessions.get_mut(&p.session) else {
                continue;
            };
            if s.building != Some(h) || s.failed {
                continue;
            }
            s.building = None;
            self.stats.handshake_timeouts += 1;
            s.attempts += 1;
            if s.attempts > self.cfg.handshake_retries {
                if s.circuits.is_empty() {
                    s.fail(FailReason::NoCircuit, &mut self.events);
                }
            } else {
                let sid = s.id;
                self.start_handshake(sid, p.rebuild, now);
            }
        }

        // Circuits that owe us an answer for too long are dead.
        let silent: Vec<CircKey> = self
            .circuits
            .iter()
            .filter(|(_, c)| {
                c.awaiting_since
                    .is_some_and(|t| now >= t + self.cfg.silence_timeout)
            })
            .map(|(k, _)| *k)
            .collect();
        for k in silent {
            self.lose_circuit(k, true, now);
        }

        // Probe quiet circuits of active sessions.
        let probe: Vec<CircKey> = self
            .circuits
            .iter()
            .filter(|(_, c)| {
                c.awaiting_since.is_none()
                    && now >= c.last_rx.max(c.last_tx) + self.cfg.keepalive
                    && c.session.is_some_and(|s| self.session_active(s, now))
            })
            .map(|(k, _)| *k)
            .collect();
        for k in probe {
            self.send_frame(k, &Frame::Ping.encode(), true, now);
        }

        // Purges.
        let seen_for = self.seen_for();
        self.table
            .purge(now, self.cfg.record_timeout, self.cfg.record_idle, seen_for);
        self.accepted
            .retain(|_, a| now.saturating_sub(a.at) <= seen_for);
        self.flush(now);
    }

    /// When [`Node::handle_timeout`] should next run.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let cfg = &self.cfg;
        let seen_for = self.seen_for();
        let pending = self
            .pending
            .values()
            .map(|p| p.sent_at + cfg.handshake_timeout);
        let circuits = self
            .circuits
            .values()
            .filter_map(|c| match c.awaiting_since {
                Some(t) => Some(t + cfg.silence_timeout),
                None => {
                    let due = c.last_rx.max(c.last_tx) + cfg.keepalive;
                    // Probes only while the session is active at that time.
                    c.session
                        .filter(|s| self.session_active(*s, due))
                        .map(|_| due)
                }
            });
        let accepted = self.accepted.values().map(|a| a.at + seen_for);
        let table = self
            .table
            .next_purge(cfg.record_timeout, cfg.record_idle, seen_for);
        pending
            .chain(circuits)
            .chain(accepted)
            .chain(table)
            .min()
            // Purge deadlines are inclusive; wake just after them.
            .map(|t| t + Duration::from_millis(1))
            .into_iter()
            .chain(self.next_window_close())
            .min()
    }
}
