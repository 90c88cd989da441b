//! Reliable, ordered delivery over a set of circuits (extensions 1 and 3).
//!
//! Every reliable frame gets a session sequence number and is sent on one
//! of the live circuits in turn (striping). The receiver acks per circuit
//! with a cumulative number and SACK ranges. Links are reliable and ordered,
//! so a frame is lost only when its circuit breaks: frames in flight on a
//! dead circuit are resent on another one, and the receiver drops
//! duplicates by sequence number. That gives exactly-once, in-order
//! delivery as long as some circuit eventually works.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use md5::{Digest, Md5};

use super::event::{Event, MessageId, SessionId, StreamId};
use super::frame::{Frame, SeqBody, MAX_SACK_RANGES};
use super::stream::Stream;
use super::Config;
use crate::cell::HandshakeId;
use crate::circuit::NeighbourId;
use crate::identity::{Contact, Fingerprint};

/// An endpoint circuit: the handshake id and our neighbour on it.
pub type CircKey = (HandshakeId, NeighbourId);

/// Errors of session operations called by the application.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("no such session {0:?}")]
    NoSession(SessionId),
    #[error("session {0:?} has failed")]
    Failed(SessionId),
    #[error("no such stream {0:?}")]
    NoStream(StreamId),
    #[error("stream {0:?} is closed for writing")]
    StreamClosed(StreamId),
}

struct InFlight {
    frame: Vec<u8>,
    circuit: CircKey,
    msg: Option<MessageId>,
}

struct Reassembly {
    msg_id: u64,
    total_len: u64,
    md5: [u8; 16],
    data: Vec<u8>,
    broken: bool,
}

/// One session's reliability and application state.
pub struct Session {
    pub id: SessionId,
    /// The contact we connected to (source side only).
    pub peer: Option<Contact>,
    pub token: [u8; 16],
    pub is_source: bool,
    /// Live circuits, in striping order.
    pub circuits: Vec<CircKey>,
    rr: usize,
    /// Handshake in progress (source side).
    pub building: Option<HandshakeId>,
    pub attempts: u32,
    pub rebuilds: u32,
    pub failed: bool,
    pub last_activity: Duration,
    next_seq: u64,
    unsent: VecDeque<(u64, Vec<u8>, Option<MessageId>)>,
    unacked: BTreeMap<u64, InFlight>,
    retransmit: BTreeSet<u64>,
    recv_next: u64,
    recv_buf: BTreeMap<u64, SeqBody>,
    out_msgs: BTreeMap<MessageId, usize>,
    next_msg: u64,
    reasm: Option<Reassembly>,
    pub(crate) streams: BTreeMap<u32, Stream>,
    next_stream: u32,
    ack_due: BTreeSet<CircKey>,
    /// Messages dropped because their MD5 did not match.
    pub md5_failures: u64,
    /// Frames received more than once (after a retransmission).
    pub duplicates: u64,
}

impl Session {
    pub fn new(id: SessionId, peer: Option<Contact>, token: [u8; 16], now: Duration) -> Self {
        let is_source = peer.is_some();
        Session {
            id,
            peer,
            token,
            is_source,
            circuits: Vec::new(),
            rr: 0,
            building: None,
            attempts: 0,
            rebuilds: 0,
            failed: false,
            last_activity: now,
            next_seq: 0,
            unsent: VecDeque::new(),
            unacked: BTreeMap::new(),
            retransmit: BTreeSet::new(),
            recv_next: 0,
            recv_buf: BTreeMap::new(),
            out_msgs: BTreeMap::new(),
            next_msg: 0,
            reasm: None,
            streams: BTreeMap::new(),
            next_stream: if is_source { 0 } else { 1 },
            ack_due: BTreeSet::new(),
            md5_failures: 0,
            duplicates: 0,
        }
    }

    pub fn peer_fingerprint(&self) -> Option<Fingerprint> {
        self.peer.as_ref().map(|c| c.fingerprint())
    }

    fn push_seq(&mut self, body: SeqBody, msg: Option<MessageId>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let frame = Frame::Seq { seq, body }.encode();
        self.unsent.push_back((seq, frame, msg));
    }

    /// Queues a message, fragmented into frames of at most `max_fragment`.
    pub fn send_message(&mut self, data: &[u8], cfg: &Config, now: Duration) -> MessageId {
        let id = MessageId(self.next_msg);
        self.next_msg += 1;
        self.last_activity = now;
        let md5: [u8; 16] = Md5::digest(data).into();
        let frag = cfg.max_fragment.max(1);
        let mut offset = 0usize;
        let mut count = 0;
        loop {
            let end = (offset + frag).min(data.len());
            let body = SeqBody::Message {
                msg_id: id.0,
                total_len: data.len() as u64,
                md5,
                offset: offset as u64,
                data: data[offset..end].to_vec(),
            };
            self.push_seq(body, Some(id));
            count += 1;
            offset = end;
            if offset >= data.len() {
                break;
            }
        }
        self.out_msgs.insert(id, count);
        id
    }

    /// Whether anything waits for a circuit.
    pub fn has_work(&self) -> bool {
        !self.unsent.is_empty() || !self.retransmit.is_empty() || !self.unacked.is_empty()
    }

    /// Next frame to transmit and the circuit to carry it, if any.
    pub fn next_transmit(&mut self, cfg: &Config) -> Option<(CircKey, Vec<u8>)> {
        if self.circuits.is_empty() || self.failed {
            return None;
        }
        self.rr = (self.rr + 1) % self.circuits.len();
        let circ = *self.circuits.get(self.rr)?;
        while let Some(seq) = self.retransmit.pop_first() {
            if let Some(f) = self.unacked.get_mut(&seq) {
                f.circuit = circ;
                return Some((circ, f.frame.clone()));
            }
        }
        if self.unacked.len() >= cfg.max_in_flight {
            return None;
        }
        let (seq, frame, msg) = self.unsent.pop_front()?;
        self.unacked.insert(
            seq,
            InFlight {
                frame: frame.clone(),
                circuit: circ,
                msg,
            },
        );
        Some((circ, frame))
    }

    /// Acks owed, one per circuit that brought us reliable frames or pings.
    pub fn take_acks(&mut self) -> Vec<(CircKey, Vec<u8>)> {
        if self.ack_due.is_empty() {
            return Vec::new();
        }
        let mut sacks: Vec<(u64, u64)> = Vec::new();
        for &s in self.recv_buf.keys() {
            let full = sacks.len() == MAX_SACK_RANGES;
            match sacks.last_mut() {
                Some((_, end)) if *end == s => *end = s + 1,
                _ if full => break,
                _ => sacks.push((s, s + 1)),
            }
        }
        let frame = Frame::Ack {
            next: self.recv_next,
            sacks,
        }
        .encode();
        std::mem::take(&mut self.ack_due)
            .into_iter()
            .filter(|c| self.circuits.contains(c))
            .map(|c| (c, frame.clone()))
            .collect()
    }

    /// A circuit died: resend what it carried elsewhere.
    pub fn circuit_lost(&mut self, circ: CircKey) {
        if let Some(i) = self.circuits.iter().position(|c| *c == circ) {
            self.circuits.remove(i);
        }
        self.ack_due.remove(&circ);
        for (seq, f) in &self.unacked {
            if f.circuit == circ {
                self.retransmit.insert(*seq);
            }
        }
    }

    /// Fails everything outstanding (no circuit could be built).
    pub fn fail(&mut self, reason: super::event::FailReason, events: &mut VecDeque<Event>) {
        self.failed = true;
        for id in std::mem::take(&mut self.out_msgs).into_keys() {
            events.push_back(Event::MessageFailed {
                session: self.id,
                id,
                reason: reason.clone(),
            });
        }
        self.unsent.clear();
        self.unacked.clear();
        self.retransmit.clear();
        events.push_back(Event::SessionFailed {
            session: self.id,
            reason,
        });
    }

    /// Handles a decrypted frame (other than `Bind`) from `circ`.
    pub fn on_frame(
        &mut self,
        circ: CircKey,
        frame: Frame,
        cfg: &Config,
        now: Duration,
        events: &mut VecDeque<Event>,
    ) {
        match frame {
            Frame::Bind { .. } => {}
            Frame::Ping => {
                self.ack_due.insert(circ);
            }
            Frame::Ack { next, sacks } => self.on_ack(next, &sacks, events),
            Frame::Seq { seq, body } => {
                self.ack_due.insert(circ);
                self.last_activity = now;
                if seq < self.recv_next || self.recv_buf.contains_key(&seq) {
                    self.duplicates += 1;
                    return;
                }
                self.recv_buf.insert(seq, body);
                while let Some(b) = self.recv_buf.remove(&self.recv_next) {
                    self.recv_next += 1;
                    self.deliver(b, cfg, events);
                }
            }
        }
    }

    fn on_ack(&mut self, next: u64, sacks: &[(u64, u64)], events: &mut VecDeque<Event>) {
        let mut done: Vec<u64> = self.unacked.range(..next).map(|(s, _)| *s).collect();
        for &(a, b) in sacks {
            if a < b {
                done.extend(self.unacked.range(a..b).map(|(s, _)| *s));
            }
        }
        for s in done {
            self.retransmit.remove(&s);
            if let Some(f) = self.unacked.remove(&s) {
                if let Some(id) = f.msg {
                    if let Some(left) = self.out_msgs.get_mut(&id) {
                        *left = left.saturating_sub(1);
                        if *left == 0 {
                            self.out_msgs.remove(&id);
                            events.push_back(Event::MessageDelivered {
                                session: self.id,
                                id,
                            });
                        }
                    }
                }
            }
        }
    }

    fn deliver(&mut self, body: SeqBody, cfg: &Config, events: &mut VecDeque<Event>) {
        match body {
            SeqBody::Message {
                msg_id,
                total_len,
                md5,
                offset,
                data,
            } => self.on_fragment(msg_id, total_len, md5, offset, data, cfg, events),
            SeqBody::StreamOpen { stream } => {
                if let std::collections::btree_map::Entry::Vacant(e) = self.streams.entry(stream) {
                    e.insert(Stream::new(cfg.stream_window));
                    self.advertise_opening_window(stream);
                }
                events.push_back(Event::StreamOpened {
                    session: self.id,
                    stream: StreamId(stream),
                });
            }
            SeqBody::StreamData { stream, data } => {
                if let Some(s) = self.streams.get_mut(&stream) {
                    if s.on_data(data.len()) {
                        events.push_back(Event::StreamData {
                            session: self.id,
                            stream: StreamId(stream),
                            data,
                        });
                    }
                }
            }
            SeqBody::StreamFin { stream } => {
                if let Some(s) = self.streams.get_mut(&stream) {
                    s.peer_fin = true;
                    events.push_back(Event::StreamFinished {
                        session: self.id,
                        stream: StreamId(stream),
                    });
                }
            }
            SeqBody::StreamWindow { stream, max_offset } => {
                if let Some(s) = self.streams.get_mut(&stream) {
                    s.peer_max = s.peer_max.max(max_offset);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_fragment(
        &mut self,
        msg_id: u64,
        total_len: u64,
        md5: [u8; 16],
        offset: u64,
        data: Vec<u8>,
        cfg: &Config,
        events: &mut VecDeque<Event>,
    ) {
        if self.reasm.as_ref().map(|r| r.msg_id) != Some(msg_id) {
            self.reasm = Some(Reassembly {
                msg_id,
                total_len,
                md5,
                data: Vec::new(),
                broken: total_len > cfg.max_message_len,
            });
        }
        let Some(r) = self.reasm.as_mut() else { return };
        if r.broken
            || r.total_len != total_len
            || r.md5 != md5
            || offset != r.data.len() as u64
            || offset + data.len() as u64 > total_len
        {
            r.broken = true;
            return;
        }
        r.data.extend_from_slice(&data);
        if r.data.len() as u64 == r.total_len {
            if let Some(r) = self.reasm.take() {
                let got: [u8; 16] = Md5::digest(&r.data).into();
                if got == r.md5 {
                    events.push_back(Event::MessageReceived {
                        session: self.id,
                        from: self.peer_fingerprint(),
                        data: r.data,
                    });
                } else {
                    self.md5_failures += 1;
                }
            }
        }
    }

    // ---- streams ----

    pub fn open_stream(&mut self, cfg: &Config) -> StreamId {
        let id = self.next_stream;
        self.next_stream += 2;
        self.streams.insert(id, Stream::new(cfg.stream_window));
        self.push_seq(SeqBody::StreamOpen { stream: id }, None);
        self.advertise_opening_window(id);
        StreamId(id)
    }

    /// Tells the peer a new stream's window when it is larger than what
    /// the peer assumes untold ([`Stream::opening_advert`]).
    fn advertise_opening_window(&mut self, stream: u32) {
        if let Some(max_offset) = self.streams.get(&stream).and_then(Stream::opening_advert) {
            self.push_seq(SeqBody::StreamWindow { stream, max_offset }, None);
        }
    }

    pub fn stream_write(
        &mut self,
        id: StreamId,
        data: &[u8],
        now: Duration,
    ) -> Result<(), SessionError> {
        let s = self
            .streams
            .get_mut(&id.0)
            .ok_or(SessionError::NoStream(id))?;
        if s.fin_requested {
            return Err(SessionError::StreamClosed(id));
        }
        s.send_buf.extend(data);
        self.last_activity = now;
        Ok(())
    }

    pub fn stream_close(&mut self, id: StreamId) -> Result<(), SessionError> {
        let s = self
            .streams
            .get_mut(&id.0)
            .ok_or(SessionError::NoStream(id))?;
        s.fin_requested = true;
        Ok(())
    }

    /// The application took `n` bytes of stream data: maybe widen the window.
    pub fn stream_consumed(&mut self, id: StreamId, n: usize) {
        if let Some(max_offset) = self.streams.get_mut(&id.0).and_then(|s| s.consume(n)) {
            self.push_seq(
                SeqBody::StreamWindow {
                    stream: id.0,
                    max_offset,
                },
                None,
            );
        }
    }

    /// Moves stream bytes allowed by the peer's window into frames.
    pub fn pump_streams(&mut self, cfg: &Config) {
        let mut bodies = Vec::new();
        for (&id, s) in self.streams.iter_mut() {
            while let Some(chunk) = s.take_sendable(cfg.max_fragment) {
                bodies.push(SeqBody::StreamData {
                    stream: id,
                    data: chunk,
                });
            }
            if s.fin_requested && !s.fin_sent && s.send_buf.is_empty() {
                s.fin_sent = true;
                bodies.push(SeqBody::StreamFin { stream: id });
            }
        }
        for b in bodies {
            self.push_seq(b, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(n: u64) -> CircKey {
        (9, NeighbourId(n))
    }

    #[test]
    fn frames_of_a_dead_circuit_are_resent_and_delivered_once() {
        let cfg = Config {
            max_fragment: 100,
            ..Config::default()
        };
        let now = Duration::ZERO;
        let mut ev = VecDeque::new();
        let mut a = Session::new(SessionId(1), None, [0; 16], now);
        let mut b = Session::new(SessionId(2), None, [0; 16], now);
        a.circuits = vec![c(1), c(2)];
        b.circuits = vec![c(1), c(2)];
        let msg: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let id = a.send_message(&msg, &cfg, now);
        let mut sent = Vec::new();
        while let Some(x) = a.next_transmit(&cfg) {
            sent.push(x);
        }
        assert_eq!(sent.len(), 10);
        assert!(
            sent.iter().any(|s| s.0 == c(2)),
            "striped over both circuits"
        );
        // Circuit 2 dies with its frames; circuit 1 delivers, twice over.
        for (circ, f) in sent.iter().chain(sent.iter()) {
            if *circ == c(1) {
                let frame = Frame::decode(f).expect("frame");
                b.on_frame(*circ, frame, &cfg, now, &mut ev);
            }
        }
        assert!(ev.is_empty(), "incomplete message must not be delivered");
        assert!(b.duplicates > 0);
        a.circuit_lost(c(2));
        let mut resent = 0;
        while let Some((circ, f)) = a.next_transmit(&cfg) {
            assert_eq!(circ, c(1));
            b.on_frame(circ, Frame::decode(&f).expect("frame"), &cfg, now, &mut ev);
            resent += 1;
        }
        assert_eq!(resent, sent.iter().filter(|s| s.0 == c(2)).count());
        let got: Vec<_> = ev.drain(..).collect();
        assert_eq!(
            got,
            vec![Event::MessageReceived {
                session: SessionId(2),
                from: None,
                data: msg
            }]
        );
        for (circ, ack) in b.take_acks() {
            a.on_frame(circ, Frame::decode(&ack).expect("ack"), &cfg, now, &mut ev);
        }
        assert_eq!(
            ev.pop_front(),
            Some(Event::MessageDelivered {
                session: SessionId(1),
                id
            })
        );
        assert!(!a.has_work());
    }

    #[test]
    fn corrupted_message_is_not_delivered() {
        let cfg = Config::default();
        let now = Duration::ZERO;
        let mut ev = VecDeque::new();
        let mut b = Session::new(SessionId(2), None, [0; 16], now);
        b.circuits = vec![c(1)];
        let body = SeqBody::Message {
            msg_id: 0,
            total_len: 3,
            md5: [0; 16],
            offset: 0,
            data: vec![1, 2, 3],
        };
        b.on_frame(c(1), Frame::Seq { seq: 0, body }, &cfg, now, &mut ev);
        assert!(ev.is_empty());
        assert_eq!(b.md5_failures, 1);
    }
}
