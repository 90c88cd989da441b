//! Which piece to start next. A trait so that later pickers (HAVE-order
//! hiding, request-driven PACOM picking) plug into the same torrent loop.

use crate::bitfield::Bitfield;
use rand::Rng;
use std::collections::HashSet;
use std::net::SocketAddr;

/// What a picker may look at when choosing a piece for one peer.
pub struct PickContext<'a> {
    /// The peer we are about to request from.
    pub peer: SocketAddr,
    /// Pieces that peer has.
    pub peer_has: &'a Bitfield,
    /// Pieces we have verified.
    pub have: &'a Bitfield,
    /// For each piece, how many connected peers have it.
    pub availability: &'a [u32],
    /// Pieces already started (some blocks requested or received).
    pub in_flight: &'a HashSet<u32>,
}

impl PickContext<'_> {
    /// True when `index` is a candidate: the peer has it, we lack it, and it
    /// is not already being downloaded.
    pub fn candidate(&self, index: u32) -> bool {
        self.peer_has.get(index) && !self.have.get(index) && !self.in_flight.contains(&index)
    }
}

/// Chooses the next piece to start downloading from a peer.
///
/// Called with the torrent's state locked: keep it cheap and non-blocking.
pub trait PiecePicker: Send {
    /// The piece to start for `ctx.peer`, or `None` if it has nothing we want
    /// that is not already in flight (the engine then considers endgame).
    fn pick(&mut self, ctx: &PickContext<'_>) -> Option<u32>;

    /// A piece verified and became ours.
    fn on_piece_complete(&mut self, _index: u32) {}

    /// A started piece was abandoned (failed hash, or its peers left).
    fn on_piece_abandoned(&mut self, _index: u32) {}
}

/// Rarest first, ties broken uniformly at random.
#[derive(Debug, Default)]
pub struct RarestFirst;

impl PiecePicker for RarestFirst {
    fn pick(&mut self, ctx: &PickContext<'_>) -> Option<u32> {
        let mut rng = rand::thread_rng();
        let mut best: Option<(u32, u32)> = None;
        let mut ties = 0u32;
        for index in ctx.peer_has.iter_ones() {
            if !ctx.candidate(index) {
                continue;
            }
            let avail = ctx.availability.get(index as usize).copied().unwrap_or(0);
            match best {
                Some((_, a)) if avail > a => {}
                Some((_, a)) if avail == a => {
                    // Reservoir sampling over equally rare pieces.
                    ties += 1;
                    if rng.gen_range(0..ties) == 0 {
                        best = Some((index, avail));
                    }
                }
                _ => {
                    best = Some((index, avail));
                    ties = 1;
                }
            }
        }
        best.map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_rarest_available_piece() {
        let mut peer = Bitfield::new(8);
        for i in [1, 2, 3, 5] {
            peer.set(i);
        }
        let mut have = Bitfield::new(8);
        have.set(1);
        let availability = [5, 1, 3, 2, 1, 2, 1, 1];
        let mut in_flight = HashSet::new();
        in_flight.insert(3);
        let ctx = PickContext {
            peer: "127.0.0.1:1".parse().unwrap(),
            peer_has: &peer,
            have: &have,
            availability: &availability,
            in_flight: &in_flight,
        };
        // 1 is ours, 3 in flight; of 2 (3 peers) and 5 (2 peers), 5 is rarer.
        assert_eq!(RarestFirst.pick(&ctx), Some(5));
    }

    #[test]
    fn nothing_to_pick() {
        let peer = Bitfield::new(4);
        let have = Bitfield::new(4);
        let in_flight = HashSet::new();
        let ctx = PickContext {
            peer: "127.0.0.1:1".parse().unwrap(),
            peer_has: &peer,
            have: &have,
            availability: &[0; 4],
            in_flight: &in_flight,
        };
        assert_eq!(RarestFirst.pick(&ctx), None);
    }
}
