//! Our own blocks `B(Pi)` in one swarm, shared by all links of that swarm.
//!
//! A block received from a PACOM peer carried a frame, not the cover bytes,
//! but every member can regenerate the cover file, so it counts as had: our
//! HAVE messages then progress like any downloader's.

use rand::seq::index::sample;
use rand::Rng;

use super::{BlockRequest, Geometry, ScheduleError};

/// What receiving one block changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockOutcome {
    /// The block was new to us.
    pub fresh: bool,
    /// This block completed a piece: announce it with HAVE.
    pub piece_completed: Option<u32>,
    /// Every block is had: time to leave the swarm and join another.
    pub file_completed: bool,
}

/// Which blocks and pieces we have.
#[derive(Clone, Debug)]
pub struct Progress {
    geometry: Geometry,
    blocks: Vec<u64>,
    per_piece: Vec<u32>,
    have_blocks: u32,
    have_pieces: u32,
}

impl Progress {
    /// Nothing had yet.
    pub fn new(geometry: Geometry) -> Self {
        Self {
            geometry,
            blocks: vec![0; (geometry.num_blocks() as usize).div_ceil(64)],
            per_piece: vec![0; geometry.num_pieces() as usize],
            have_blocks: 0,
            have_pieces: 0,
        }
    }

    /// Starts with whole pieces already had (resumed or seeded content).
    pub fn with_pieces(
        geometry: Geometry,
        pieces: impl IntoIterator<Item = u32>,
    ) -> Result<Self, ScheduleError> {
        let mut p = Self::new(geometry);
        for piece in pieces {
            if piece >= geometry.num_pieces() {
                return Err(ScheduleError::NoSuchPiece {
                    piece,
                    pieces: geometry.num_pieces(),
                });
            }
            let first = geometry.first_block(piece);
            for i in first..first + geometry.blocks_in_piece(piece) {
                p.mark(i);
            }
        }
        Ok(p)
    }

    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    pub fn has_block(&self, index: u32) -> bool {
        self.blocks
            .get(index as usize / 64)
            .is_some_and(|w| w >> (index % 64) & 1 == 1)
    }

    pub fn has_piece(&self, piece: u32) -> bool {
        self.per_piece
            .get(piece as usize)
            .is_some_and(|n| *n == self.geometry.blocks_in_piece(piece))
    }

    pub fn pieces_had(&self) -> u32 {
        self.have_pieces
    }

    pub fn blocks_had(&self) -> u32 {
        self.have_blocks
    }

    pub fn is_complete(&self) -> bool {
        self.have_blocks == self.geometry.num_blocks()
    }

    /// The share a used-up swarm starts afresh with: every piece we
    /// lacked, plus a random `fraction` (clamped to [0, 1]) of those we
    /// had. The peers we ran out against hold no more than we did, so they
    /// can take all the pieces we lacked from us and we the rest from
    /// them: about twice as many blocks to exchange as a fresh random
    /// share would leave. Depends on the piece set only.
    pub fn fresh_share(&self, fraction: f64, rng: &mut impl Rng) -> Progress {
        let n = self.geometry.num_pieces();
        let (had, lacked): (Vec<u32>, Vec<u32>) = (0..n).partition(|p| self.has_piece(*p));
        let k = ((had.len() as f64 * fraction.clamp(0.0, 1.0)).round() as usize).min(had.len());
        let kept = sample(rng, had.len(), k).into_iter().map(|i| had[i]);
        let mut fresh = Progress::new(self.geometry);
        for piece in lacked.into_iter().chain(kept) {
            let first = self.geometry.first_block(piece);
            for i in first..first + self.geometry.blocks_in_piece(piece) {
                fresh.mark(i);
            }
        }
        fresh
    }

    /// Records a received block.
    pub fn on_block(&mut self, block: &BlockRequest) -> Result<BlockOutcome, ScheduleError> {
        let index = self.geometry.index_of(block)?;
        Ok(self.mark(index))
    }

    fn mark(&mut self, index: u32) -> BlockOutcome {
        if self.has_block(index) {
            return BlockOutcome::default();
        }
        self.blocks[index as usize / 64] |= 1 << (index % 64);
        self.have_blocks += 1;
        let piece = self.geometry.piece_of(index);
        self.per_piece[piece as usize] += 1;
        let piece_completed = self.has_piece(piece).then(|| {
            self.have_pieces += 1;
            piece
        });
        BlockOutcome {
            fresh: true,
            piece_completed,
            file_completed: self.is_complete(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_and_file_complete_once() {
        let g = Geometry::new(3 * 32768 + 100, 32768, 16384).unwrap();
        let mut p = Progress::with_pieces(g, [1]).unwrap();
        assert!(p.has_piece(1) && !p.has_piece(0));
        assert_eq!(p.blocks_had(), 2);
        let mut completed = Vec::new();
        let mut file_done = 0;
        for i in (0..g.num_blocks()).rev() {
            let out = p.on_block(&g.block(i)).unwrap();
            assert_eq!(out.fresh, !(2..4).contains(&i));
            completed.extend(out.piece_completed);
            file_done += usize::from(out.file_completed);
        }
        assert_eq!(completed, vec![3, 2, 0]);
        assert_eq!(file_done, 1);
        assert!(p.is_complete());
        assert_eq!(p.pieces_had(), 4);
        assert_eq!(p.on_block(&g.block(0)).unwrap(), BlockOutcome::default());
        assert!(Progress::with_pieces(g, [4]).is_err());
    }

    #[test]
    fn a_fresh_share_takes_every_piece_we_lacked_and_a_share_of_the_rest() {
        let g = Geometry::new(64 * 16384, 16384, 16384).unwrap();
        let mut rng = rand::thread_rng();
        let old = Progress::with_pieces(g, 0..48).unwrap();
        let fresh = old.fresh_share(0.5, &mut rng);
        assert!(
            (48..64).all(|p| fresh.has_piece(p)),
            "every piece we lacked"
        );
        let kept = (0..48).filter(|p| fresh.has_piece(*p)).count();
        assert_eq!(kept, 24, "half of the pieces we had");
        // A complete file starts afresh with a random half.
        let full = Progress::with_pieces(g, 0..64).unwrap();
        assert_eq!(full.fresh_share(0.5, &mut rng).pieces_had(), 32);
        assert!(full.fresh_share(1.0, &mut rng).is_complete());
    }
}
