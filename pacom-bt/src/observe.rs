//! Observation of what peers announce: the ordered HAVE indices each peer
//! sends (its download order), which PACOM's bootstrap decodes.

use std::collections::HashMap;
use std::net::SocketAddr;
use tokio::sync::broadcast;

/// One HAVE message received from a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HaveEvent {
    pub peer: SocketAddr,
    pub piece: u32,
}

/// Per-peer HAVE sequences plus a broadcast of each new HAVE.
#[derive(Debug)]
pub struct HaveLog {
    sequences: HashMap<SocketAddr, Vec<u32>>,
    tx: broadcast::Sender<HaveEvent>,
}

impl Default for HaveLog {
    fn default() -> Self {
        Self::new()
    }
}

impl HaveLog {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(4096);
        Self {
            sequences: HashMap::new(),
            tx,
        }
    }

    /// Records a HAVE (bitfield pieces are not recorded: they carry no order).
    pub fn record(&mut self, peer: SocketAddr, piece: u32) {
        self.sequences.entry(peer).or_default().push(piece);
        // No subscribers is fine.
        let _ = self.tx.send(HaveEvent { peer, piece });
    }

    pub fn sequences(&self) -> HashMap<SocketAddr, Vec<u32>> {
        self.sequences.clone()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<HaveEvent> {
        self.tx.subscribe()
    }
}
