//! A per-torrent hook that sees each peer's id right after the handshake and
//! may take the connection over (PACOM peers exchange non-genuine blocks and
//! are driven by the PACOM runtime, not by the torrent loop).

use crate::wire::{FrameReader, Handshake};
use std::net::SocketAddr;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// What the hook decides for one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerDecision {
    /// An ordinary BitTorrent peer: the engine handles it.
    Normal,
    /// The hook takes the connection; [`PeerHook::take`] receives it.
    Claim,
}

/// A connection handed to the hook, right after both handshakes were
/// exchanged and before any other message.
pub struct ClaimedPeer {
    pub addr: SocketAddr,
    pub handshake: Handshake,
    /// Frames from the peer; may already hold bytes read past the handshake.
    pub reader: FrameReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
}

/// Told about every peer of a torrent after the BEP 3 handshake.
pub trait PeerHook: Send + Sync {
    /// Decides from the peer's 20-byte id (and address) who handles it.
    fn on_handshake(&self, addr: SocketAddr, peer_id: &[u8; 20]) -> PeerDecision;

    /// Receives a connection claimed by [`PeerHook::on_handshake`].
    fn take(&self, peer: ClaimedPeer);
}
