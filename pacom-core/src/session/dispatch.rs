//! Handling of cells from neighbours: relaying, handshakes, endpoint data.

use std::time::Duration;

use rand::{CryptoRng, RngCore};

use super::event::Event;
use super::frame::Frame;
use super::node::{EndCircuit, Node};
use super::reliable::{CircKey, Session};
use crate::cell::{Cell, HandshakeId};
use crate::circuit::CryptoError;
use crate::circuit::{CircuitCrypto, NeighbourId, Role};

impl<R: RngCore + CryptoRng> Node<R> {
    pub(super) fn on_cell(&mut self, from: NeighbourId, cell: Cell, now: Duration) {
        match cell {
            Cell::Handshake { h_id, ttl, sealed } => {
                self.on_handshake(from, h_id, ttl, sealed, now)
            }
            Cell::Response { h_id, sealed } => self.on_response(from, h_id, sealed, now),
            Cell::Data { h_id, sealed } => self.on_data(from, h_id, sealed, now),
            Cell::Destroy { h_id, reason } => {
                if self.circuits.contains_key(&(h_id, from)) {
                    self.lose_circuit((h_id, from), false, now);
                } else if let Some(other) = self.table.on_destroy(h_id, from) {
                    self.send_cell(other, &Cell::Destroy { h_id, reason });
                }
            }
        }
    }

    fn on_handshake(
        &mut self,
        from: NeighbourId,
        h_id: HandshakeId,
        ttl: u8,
        sealed: Vec<u8>,
        now: Duration,
    ) {
        if ttl == 0 {
            self.stats.handshake_ttl_drops += 1;
            return;
        }
        // Forwarding, recording and answering wait for the copies'
        // collection window (path_choice.rs).
        self.collect_handshake(from, h_id, ttl, sealed, now);
    }

    /// A copy of a handshake we saw after its window closed: answer it if
    /// it is ours and we still want more circuits, otherwise drop it.
    pub(super) fn on_duplicate_handshake(
        &mut self,
        from: NeighbourId,
        h_id: HandshakeId,
        now: Duration,
    ) {
        match self.accepted.get(&h_id) {
            Some(a) if now.saturating_sub(a.at) > self.cfg.record_timeout => {
                self.stats.handshake_replays_rejected += 1;
            }
            Some(a)
                if a.answered.len() < self.cfg.circuits_per_peer && !a.answered.contains(&from) =>
            {
                self.answer(from, h_id, now);
            }
            _ => self.stats.handshake_duplicates += 1,
        }
    }

    /// Sends `{1, h_id, E_K{sec_str}}` back to `from` and opens our end.
    pub(super) fn answer(&mut self, from: NeighbourId, h_id: HandshakeId, now: Duration) {
        let Some(a) = self.accepted.get_mut(&h_id) else {
            return;
        };
        let index = a.answered.len() as u8;
        a.answered.push(from);
        let crypto = CircuitCrypto::new(&a.secret, Role::Target, index);
        let sealed = crypto.seal_response(&a.secret.sec_str);
        self.circuits.insert(
            (h_id, from),
            EndCircuit {
                session: None,
                crypto,
                last_rx: now,
                last_tx: now,
                awaiting_since: None,
            },
        );
        self.send_cell(from, &Cell::Response { h_id, sealed });
    }

    fn on_response(
        &mut self,
        from: NeighbourId,
        h_id: HandshakeId,
        sealed: Vec<u8>,
        now: Duration,
    ) {
        if let Some(p) = self.pending.get_mut(&h_id) {
            let Ok(index) = CircuitCrypto::open_response(&p.secret, &sealed) else {
                self.stats.data_auth_failures += 1;
                return;
            };
            let k = self.cfg.circuits_per_peer;
            if p.answered.len() >= k || p.answered.iter().any(|(n, i)| *n == from || *i == index) {
                // Surplus circuit: tear its branch down.
                self.send_cell(from, &Cell::Destroy { h_id, reason: 2 });
                return;
            }
            p.answered.push((from, index));
            let crypto = CircuitCrypto::new(&p.secret, Role::Source, index);
            let (sid, rebuild) = (p.session, p.rebuild);
            let Some(s) = self.sessions.get_mut(&sid) else {
                return;
            };
            if s.failed {
                return;
            }
            let key = (h_id, from);
            s.circuits.push(key);
            if s.building == Some(h_id) {
                s.building = None;
                s.attempts = 0;
            }
            let token = s.token;
            let peer = s.peer_fingerprint();
            self.circuits.insert(
                key,
                EndCircuit {
                    session: Some(sid),
                    crypto,
                    last_rx: now,
                    last_tx: now,
                    awaiting_since: None,
                },
            );
            self.stats.circuits_built += 1;
            self.send_bind(key, token, now);
            self.events.push_back(Event::CircuitBuilt {
                session: sid,
                peer,
                h_id,
                rebuild,
                hops_unknown: true,
            });
            return;
        }
        if self.accepted.contains_key(&h_id) {
            // We are this handshake's target and also relayed it: an answer
            // that comes back through our own relay record went round a
            // loop through us. Tear that branch down rather than hand the
            // source a second circuit that ends where it starts.
            self.send_cell(from, &Cell::Destroy { h_id, reason: 2 });
            return;
        }
        match self.table.on_response(h_id, from, now) {
            Ok(Some(back)) => self.send_cell(back, &Cell::Response { h_id, sealed }),
            Ok(None) => self.stats.cells_unroutable += 1,
            Err(()) => self.send_cell(from, &Cell::Destroy { h_id, reason: 2 }),
        }
    }

    fn on_data(&mut self, from: NeighbourId, h_id: HandshakeId, sealed: Vec<u8>, now: Duration) {
        let key = (h_id, from);
        if let Some(c) = self.circuits.get_mut(&key) {
            match c.crypto.open_data(&sealed) {
                Ok(pt) => {
                    c.last_rx = now;
                    c.awaiting_since = None;
                    let session = c.session;
                    if let Ok(frame) = Frame::decode(&pt) {
                        self.on_frame(key, session, frame, now);
                    }
                }
                Err(CryptoError::Replay { .. }) => self.stats.data_replays_rejected += 1,
                Err(_) => self.stats.data_auth_failures += 1,
            }
            return;
        }
        match self.table.route_data(h_id, from, now) {
            crate::circuit::Route::To(n) => {
                self.stats.cells_relayed += 1;
                self.send_cell(n, &Cell::Data { h_id, sealed });
            }
            crate::circuit::Route::Unknown => {
                self.stats.cells_unroutable += 1;
                self.send_cell(from, &Cell::Destroy { h_id, reason: 3 });
            }
        }
    }

    fn on_frame(
        &mut self,
        key: CircKey,
        session: Option<crate::session::SessionId>,
        frame: Frame,
        now: Duration,
    ) {
        let sid = match (session, &frame) {
            (Some(sid), _) => sid,
            (None, Frame::Bind { token }) => {
                let sid = match self.by_token.get(token) {
                    Some(sid) if self.sessions.get(sid).is_some_and(|s| !s.is_source) => *sid,
                    Some(_) => return,
                    None => self.accept_session(*token, now),
                };
                if let Some(s) = self.sessions.get_mut(&sid) {
                    s.circuits.push(key);
                }
                if let Some(c) = self.circuits.get_mut(&key) {
                    c.session = Some(sid);
                }
                return;
            }
            (None, _) => return,
        };
        let cfg = self.cfg.clone();
        if let Some(s) = self.sessions.get_mut(&sid) {
            s.on_frame(key, frame, &cfg, now, &mut self.events);
        }
    }

    fn accept_session(&mut self, token: [u8; 16], now: Duration) -> crate::session::SessionId {
        let sid = crate::session::SessionId(self.next_session);
        self.next_session += 1;
        self.by_token.insert(token, sid);
        self.sessions
            .insert(sid, Session::new(sid, None, token, now));
        self.events
            .push_back(Event::SessionAccepted { session: sid });
        sid
    }

    /// A circuit of ours died. `tell` sends a destroy along it.
    pub(super) fn lose_circuit(&mut self, key: CircKey, tell: bool, now: Duration) {
        let Some(c) = self.circuits.remove(&key) else {
            return;
        };
        if tell {
            self.send_cell(
                key.1,
                &Cell::Destroy {
                    h_id: key.0,
                    reason: 4,
                },
            );
        }
        self.stats.circuits_lost += 1;
        let Some(sid) = c.session else { return };
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        s.circuit_lost(key);
        self.events.push_back(Event::CircuitLost {
            session: sid,
            h_id: key.0,
        });
        if s.is_source && s.building.is_none() && !s.failed {
            s.attempts = 0;
            self.start_handshake(sid, true, now);
        }
    }
}
