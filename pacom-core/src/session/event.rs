//! What a node reports to its application.

use crate::cell::HandshakeId;
use crate::identity::Fingerprint;

/// A session: all circuits between us and one peer, created by
/// [`super::Node::connect`] (source side) or by a peer's handshake (target).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// A message we sent, for delivery reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub u64);

/// A stream within a session. The source opens even ids, the target odd.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u32);

/// Why something failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailReason {
    /// Every handshake attempt timed out.
    NoCircuit,
    /// The session was closed locally.
    Closed,
}

/// Application-visible events, popped with [`super::Node::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A circuit of the session is up. Endpoints never learn its length.
    CircuitBuilt {
        session: SessionId,
        /// The peer's fingerprint, known only on the source side.
        peer: Option<Fingerprint>,
        h_id: HandshakeId,
        rebuild: bool,
        hops_unknown: bool,
    },
    /// A circuit of the session died (link lost, destroy or silence).
    CircuitLost {
        session: SessionId,
        h_id: HandshakeId,
    },
    /// Someone built a circuit to us and bound a new session.
    SessionAccepted { session: SessionId },
    /// The session cannot reach its peer any more.
    SessionFailed {
        session: SessionId,
        reason: FailReason,
    },
    /// A complete message, MD5-checked, delivered once and in order.
    MessageReceived {
        session: SessionId,
        /// The peer's fingerprint where known (source side); the target of
        /// a circuit never learns who built it.
        from: Option<Fingerprint>,
        data: Vec<u8>,
    },
    /// The peer acknowledged every byte of our message.
    MessageDelivered { session: SessionId, id: MessageId },
    MessageFailed {
        session: SessionId,
        id: MessageId,
        reason: FailReason,
    },
    StreamOpened {
        session: SessionId,
        stream: StreamId,
    },
    StreamData {
        session: SessionId,
        stream: StreamId,
        data: Vec<u8>,
    },
    /// The peer half-closed the stream: no more data will come.
    StreamFinished {
        session: SessionId,
        stream: StreamId,
    },
}
