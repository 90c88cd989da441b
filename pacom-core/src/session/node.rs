//! The node facade: state, application calls and link I/O.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use rand::{CryptoRng, Rng, RngCore};

use super::event::{Event, MessageId, SessionId, StreamId};
use super::frame::Frame;
use super::reliable::{CircKey, Session, SessionError};
use super::Config;
use crate::cell::{Cell, CellError, CellReader, HandshakeId};
use crate::circuit::{
    CircuitCrypto, HandshakeSecret, NeighbourId, RelayRecord, RelayTable, TokenBucket,
};
use crate::identity::{Contact, Identity};

/// Failures surfaced to the caller of [`Node::on_link_bytes`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    #[error("unknown neighbour {0:?}")]
    UnknownNeighbour(NeighbourId),
    #[error("malformed cell from {neighbour:?}: {error}; the link must be dropped")]
    Malformed {
        neighbour: NeighbourId,
        error: CellError,
    },
}

/// Counters, for tests, the simulator and `pacom status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    pub handshakes_started: u64,
    pub handshakes_forwarded: u64,
    pub handshake_budget_drops: u64,
    pub handshake_duplicates: u64,
    pub handshake_ttl_drops: u64,
    pub trial_decryptions: u64,
    pub handshakes_accepted: u64,
    pub handshake_replays_rejected: u64,
    pub handshake_timeouts: u64,
    pub data_replays_rejected: u64,
    pub data_auth_failures: u64,
    pub cells_relayed: u64,
    pub cells_unroutable: u64,
    pub malformed_links: u64,
    pub circuits_built: u64,
    pub circuits_lost: u64,
    pub rebuilds: u64,
}

/// Stream bytes a node holds, summed over its live streams.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamBuffers {
    /// Streams not yet closed both ways.
    pub open: usize,
    /// Written by the application, not yet let out by the peer's window.
    pub unsent: u64,
    /// Handed to the application, not yet reported consumed.
    pub unconsumed: u64,
}

pub(super) struct Neighbour {
    pub reader: CellReader,
    pub out: Vec<u8>,
    pub bucket: TokenBucket,
}

/// A handshake we sent and may still get responses to.
pub(super) struct Pending {
    pub session: SessionId,
    pub secret: HandshakeSecret,
    pub sent_at: Duration,
    pub answered: Vec<(NeighbourId, u8)>,
    pub rebuild: bool,
}

/// A handshake we accepted as target; kept to answer more copies and to
/// reject replays.
pub(super) struct Accepted {
    pub at: Duration,
    pub secret: HandshakeSecret,
    pub answered: Vec<NeighbourId>,
}

/// Our end of a circuit.
pub(super) struct EndCircuit {
    pub session: Option<SessionId>,
    pub crypto: CircuitCrypto,
    pub last_rx: Duration,
    pub last_tx: Duration,
    /// Set when we sent something that must be answered, cleared on receipt.
    pub awaiting_since: Option<Duration>,
}

/// Everything a node stores about circuits it only relays, and the raw
/// bytes it buffers: what a curious relay could read.
#[derive(Debug)]
pub struct RelayState<'a> {
    pub records: Vec<&'a RelayRecord>,
    pub seen: Vec<HandshakeId>,
    pub buffers: Vec<&'a [u8]>,
}

impl RelayState<'_> {
    /// Whether `needle` occurs in any stored byte of this state.
    pub fn contains_bytes(&self, needle: &[u8]) -> bool {
        let dump = format!("{:?}", (&self.records, &self.seen));
        let hit = |hay: &[u8]| hay.windows(needle.len().max(1)).any(|w| w == needle);
        hit(dump.as_bytes()) || self.buffers.iter().any(|b| hit(b))
    }
}

/// One PACOM client's circuit protocol, without I/O.
pub struct Node<R> {
    pub(super) identity: Identity,
    pub(super) cfg: Config,
    pub(super) rng: R,
    pub(super) neighbours: BTreeMap<NeighbourId, Neighbour>,
    pub(super) table: RelayTable,
    pub(super) pending: BTreeMap<HandshakeId, Pending>,
    pub(super) accepted: BTreeMap<HandshakeId, Accepted>,
    pub(super) circuits: BTreeMap<CircKey, EndCircuit>,
    pub(super) sessions: BTreeMap<SessionId, Session>,
    pub(super) by_token: BTreeMap<[u8; 16], SessionId>,
    pub(super) events: VecDeque<Event>,
    pub(super) stats: NodeStats,
    pub(super) next_session: u64,
    /// Handshakes whose copies are being gathered before a path choice.
    pub(super) windows: super::path_choice::Windows,
}

impl<R: RngCore + CryptoRng> Node<R> {
    pub fn new(identity: Identity, config: Config, rng: R) -> Self {
        Node {
            identity,
            cfg: config,
            rng,
            neighbours: BTreeMap::new(),
            table: RelayTable::default(),
            pending: BTreeMap::new(),
            accepted: BTreeMap::new(),
            circuits: BTreeMap::new(),
            sessions: BTreeMap::new(),
            by_token: BTreeMap::new(),
            events: VecDeque::new(),
            stats: NodeStats::default(),
            next_session: 0,
            windows: Default::default(),
        }
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn stats(&self) -> &NodeStats {
        &self.stats
    }

    // ---- links ----

    /// A link byte pipe to `n` is open.
    pub fn on_neighbour_up(&mut self, n: NeighbourId, now: Duration) {
        self.neighbours.entry(n).or_insert_with(|| Neighbour {
            reader: CellReader::new(),
            out: Vec::new(),
            bucket: TokenBucket::new(self.cfg.flood_rate, self.cfg.flood_burst, now),
        });
    }

    /// The link to `n` is gone: its circuits die, relayed ones are destroyed
    /// on the other side so the endpoints rebuild at once.
    pub fn on_neighbour_down(&mut self, n: NeighbourId, now: Duration) {
        self.neighbours.remove(&n);
        self.forget_copies_from(n);
        let lost: Vec<CircKey> = self.circuits.keys().filter(|k| k.1 == n).copied().collect();
        for k in lost {
            self.lose_circuit(k, false, now);
        }
        for (h_id, other) in self.table.on_neighbour_down(n) {
            self.send_cell(other, &Cell::Destroy { h_id, reason: 1 });
        }
        self.flush(now);
    }

    /// Bytes arrived from neighbour `n`.
    pub fn on_link_bytes(
        &mut self,
        n: NeighbourId,
        bytes: &[u8],
        now: Duration,
    ) -> Result<(), NodeError> {
        let nb = self
            .neighbours
            .get_mut(&n)
            .ok_or(NodeError::UnknownNeighbour(n))?;
        nb.reader.push(bytes);
        while let Some(nb) = self.neighbours.get_mut(&n) {
            match nb.reader.next_cell() {
                Ok(Some(cell)) => self.on_cell(n, cell, now),
                Ok(None) => break,
                Err(error) => {
                    self.stats.malformed_links += 1;
                    self.on_neighbour_down(n, now);
                    return Err(NodeError::Malformed {
                        neighbour: n,
                        error,
                    });
                }
            }
        }
        self.flush(now);
        Ok(())
    }

    /// Bytes to write to neighbour `n`'s link, if any.
    pub fn poll_transmit(&mut self, n: NeighbourId) -> Option<Vec<u8>> {
        let nb = self.neighbours.get_mut(&n)?;
        if nb.out.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut nb.out))
        }
    }

    /// All pending link bytes, per neighbour.
    pub fn drain_outgoing(&mut self) -> Vec<(NeighbourId, Vec<u8>)> {
        self.neighbours
            .iter_mut()
            .filter(|(_, nb)| !nb.out.is_empty())
            .map(|(n, nb)| (*n, std::mem::take(&mut nb.out)))
            .collect()
    }

    pub(super) fn send_cell(&mut self, n: NeighbourId, cell: &Cell) {
        if let Some(nb) = self.neighbours.get_mut(&n) {
            cell.encode_framed(&mut nb.out);
        }
    }

    // ---- application ----

    /// Opens a session to `contact` (or returns the live one) and starts
    /// building circuits.
    pub fn connect(&mut self, contact: &Contact, now: Duration) -> SessionId {
        let fp = contact.fingerprint();
        if let Some(s) = self
            .sessions
            .values()
            .find(|s| !s.failed && s.peer_fingerprint() == Some(fp))
        {
            return s.id;
        }
        self.connect_new(contact, now)
    }

    /// Always opens a fresh session to `contact`, with circuits of its own.
    /// Used where traffic must not be linkable to other sessions to the same
    /// peer (SOCKS streams with different isolation keys).
    pub fn connect_new(&mut self, contact: &Contact, now: Duration) -> SessionId {
        let id = SessionId(self.next_session);
        self.next_session += 1;
        let mut token = [0u8; 16];
        self.rng.fill_bytes(&mut token);
        self.by_token.insert(token, id);
        self.sessions
            .insert(id, Session::new(id, Some(contact.clone()), token, now));
        self.start_handshake(id, false, now);
        self.flush(now);
        id
    }

    /// Sends a message of any size; [`Event::MessageDelivered`] follows once
    /// the peer acknowledged all of it.
    pub fn send_message(
        &mut self,
        s: SessionId,
        data: &[u8],
        now: Duration,
    ) -> Result<MessageId, SessionError> {
        let cfg = self.cfg.clone();
        let id = self.live_session(s)?.send_message(data, &cfg, now);
        self.flush(now);
        Ok(id)
    }

    pub fn open_stream(&mut self, s: SessionId, now: Duration) -> Result<StreamId, SessionError> {
        let cfg = self.cfg.clone();
        let id = self.live_session(s)?.open_stream(&cfg);
        self.flush(now);
        Ok(id)
    }

    pub fn stream_write(
        &mut self,
        s: SessionId,
        id: StreamId,
        data: &[u8],
        now: Duration,
    ) -> Result<(), SessionError> {
        self.live_session(s)?.stream_write(id, data, now)?;
        self.flush(now);
        Ok(())
    }

    /// Bytes written to a stream that the peer's window has not yet let
    /// into frames; `None` if the session or stream is gone or failed.
    /// Writers wait while this is large, so flow control reaches them.
    pub fn stream_backlog(&self, s: SessionId, id: StreamId) -> Option<usize> {
        let sess = self.sessions.get(&s).filter(|x| !x.failed)?;
        sess.streams.get(&id.0).map(|st| st.send_buf.len())
    }

    /// What the streams of live sessions hold right now.
    pub fn stream_buffers(&self) -> StreamBuffers {
        let mut b = StreamBuffers::default();
        for st in self
            .sessions
            .values()
            .filter(|x| !x.failed)
            .flat_map(|x| x.streams.values())
            .filter(|st| !(st.fin_sent && st.peer_fin))
        {
            b.open += 1;
            b.unsent += st.send_buf.len() as u64;
            b.unconsumed += st.unconsumed();
        }
        b
    }

    /// Half-closes our sending side of the stream.
    pub fn stream_close(
        &mut self,
        s: SessionId,
        id: StreamId,
        now: Duration,
    ) -> Result<(), SessionError> {
        self.live_session(s)?.stream_close(id)?;
        self.flush(now);
        Ok(())
    }

    /// Next application event. Taking stream data widens its window,
    /// unless [`Config::app_credits_streams`] leaves that to the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        let ev = self.events.pop_front()?;
        if let Event::StreamData {
            session,
            stream,
            data,
        } = &ev
        {
            if !self.cfg.app_credits_streams {
                if let Some(s) = self.sessions.get_mut(session) {
                    s.stream_consumed(*stream, data.len());
                }
            }
        }
        Some(ev)
    }

    /// The application took `n` bytes of the stream's data (with
    /// [`Config::app_credits_streams`]): the peer may send more.
    pub fn stream_consumed(&mut self, s: SessionId, id: StreamId, n: usize, now: Duration) {
        if let Some(sess) = self.sessions.get_mut(&s).filter(|x| !x.failed) {
            sess.stream_consumed(id, n);
            self.flush(now);
        }
    }

    /// Bytes of the stream handed out as events but not yet reported
    /// consumed (with [`Config::app_credits_streams`]); never more than the
    /// receive window.
    pub fn stream_unconsumed(&self, s: SessionId, id: StreamId) -> Option<u64> {
        let sess = self.sessions.get(&s).filter(|x| !x.failed)?;
        sess.streams.get(&id.0).map(|st| st.unconsumed())
    }

    fn live_session(&mut self, s: SessionId) -> Result<&mut Session, SessionError> {
        match self.sessions.get_mut(&s) {
            None => Err(SessionError::NoSession(s)),
            Some(x) if x.failed => Err(SessionError::Failed(s)),
            Some(x) => Ok(x),
        }
    }

    // ---- handshakes (source side) ----

    pub(super) fn start_handshake(&mut self, s: SessionId, rebuild: bool, now: Duration) {
        let Some(contact) = self.sessions.get(&s).and_then(|x| x.peer.clone()) else {
            return;
        };
        let h_id: HandshakeId = self.rng.gen();
        let time = self.unix_now(now);
        let secret = HandshakeSecret::generate(&mut self.rng, h_id, time);
        let Ok(sealed) = secret.encrypt_to(&mut self.rng, &contact) else {
            return;
        };
        self.table.mark_seen(h_id, now);
        let cell = Cell::Handshake {
            h_id,
            ttl: self.cfg.ttl,
            sealed,
        };
        let all: Vec<NeighbourId> = self.neighbours.keys().copied().collect();
        let next_hops = self.pick_next_hops(&all);
        for &n in &next_hops {
            self.send_cell(n, &cell);
        }
        self.stats.handshakes_started += 1;
        if rebuild {
            self.stats.rebuilds += 1;
        }
        if let Some(sess) = self.sessions.get_mut(&s) {
            sess.building = Some(h_id);
            if rebuild {
                sess.rebuilds += 1;
            }
        }
        self.pending.insert(
            h_id,
            Pending {
                session: s,
                secret,
                sent_at: now,
                answered: Vec::new(),
                rebuild,
            },
        );
    }

    /// All candidates, or one at random with probability `walk_p0`.
    pub(super) fn pick_next_hops(&mut self, candidates: &[NeighbourId]) -> Vec<NeighbourId> {
        if candidates.len() > 1
            && self.cfg.walk_p0 > 0.0
            && self.rng.gen_bool(self.cfg.walk_p0.min(1.0))
        {
            let i = self.rng.gen_range(0..candidates.len());
            candidates.get(i).copied().into_iter().collect()
        } else {
            candidates.to_vec()
        }
    }

    pub(super) fn unix_now(&self, now: Duration) -> u32 {
        (self.cfg.unix_time_at_origin + now.as_secs()) as u32
    }

    // ---- sending ----

    /// Turns queued session frames and owed acks into data cells.
    pub(super) fn flush(&mut self, now: Duration) {
        let cfg = self.cfg.clone();
        let ids: Vec<SessionId> = self.sessions.keys().copied().collect();
        for sid in ids {
            let mut out: Vec<(CircKey, Vec<u8>, bool)> = Vec::new();
            if let Some(s) = self.sessions.get_mut(&sid) {
                s.pump_streams(&cfg);
                out.extend(s.take_acks().into_iter().map(|(c, f)| (c, f, false)));
                while let Some((c, f)) = s.next_transmit(&cfg) {
                    out.push((c, f, true));
                }
            }
            for (c, f, needs_reply) in out {
                self.send_frame(c, &f, needs_reply, now);
            }
        }
    }

    pub(super) fn send_frame(
        &mut self,
        c: CircKey,
        plaintext: &[u8],
        needs_reply: bool,
        now: Duration,
    ) {
        let Some(circ) = self.circuits.get_mut(&c) else {
            return;
        };
        let sealed = circ.crypto.seal_data(plaintext);
        circ.last_tx = now;
        if needs_reply && circ.awaiting_since.is_none() {
            circ.awaiting_since = Some(now);
        }
        self.send_cell(c.1, &Cell::Data { h_id: c.0, sealed });
    }

    pub(super) fn send_bind(&mut self, c: CircKey, token: [u8; 16], now: Duration) {
        self.send_frame(c, &Frame::Bind { token }.encode(), false, now);
    }

    // ---- inspection (tests and the simulator) ----

    /// What this node holds about circuits it relays, and its raw buffers.
    pub fn relay_state(&self) -> RelayState<'_> {
        let mut buffers = Vec::new();
        for nb in self.neighbours.values() {
            buffers.push(nb.reader.pending_bytes());
            buffers.push(nb.out.as_slice());
        }
        buffers.extend(self.windows.buffers());
        RelayState {
            records: self.table.records().collect(),
            seen: self.table.seen_ids().map(|(h, _)| *h).collect(),
            buffers,
        }
    }

    /// Whether we terminate circuit `h_id` (as source or target) at all.
    pub fn is_endpoint_of(&self, h_id: HandshakeId) -> bool {
        self.pending.contains_key(&h_id)
            || self.accepted.contains_key(&h_id)
            || self.circuits.keys().any(|k| k.0 == h_id)
    }

    /// Relay routing of an established circuit: where a cell of `h_id`
    /// arriving from `from` goes. Lets a simulator measure circuit length.
    pub fn relay_next_hop(&self, h_id: HandshakeId, from: NeighbourId) -> Option<NeighbourId> {
        let r = self.table.get(h_id)?;
        let next = r.suc_next?;
        if from == r.last_hop {
            Some(next)
        } else if from == next {
            Some(r.last_hop)
        } else {
            None
        }
    }

    /// Whether `(h_id, from)` is one of our endpoint circuits.
    pub fn has_circuit(&self, h_id: HandshakeId, from: NeighbourId) -> bool {
        self.circuits.contains_key(&(h_id, from))
    }

    /// Live circuits of a session.
    pub fn session_circuits(&self, s: SessionId) -> Vec<CircKey> {
        self.sessions
            .get(&s)
            .map(|x| x.circuits.clone())
            .unwrap_or_default()
    }

    /// Sessions we hold, with their rebuild counts.
    pub fn sessions(&self) -> Vec<(SessionId, u32)> {
        self.sessions.values().map(|s| (s.id, s.rebuilds)).collect()
    }

    /// Frames in flight plus queued for session `s`.
    pub fn session_busy(&self, s: SessionId) -> bool {
        self.sessions.get(&s).is_some_and(|x| x.has_work())
    }

    /// The AES key of each circuit we terminate. Only for tests asserting
    /// that relays never hold it.
    #[doc(hidden)]
    pub fn endpoint_keys_for_tests(&self) -> Vec<(HandshakeId, [u8; 32])> {
        let a = self.pending.iter().map(|(h, p)| (*h, p.secret.key));
        let b = self.accepted.iter().map(|(h, p)| (*h, p.secret.key));
        a.chain(b).collect()
    }
}
