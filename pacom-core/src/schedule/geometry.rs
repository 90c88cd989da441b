//! How a file splits into pieces and blocks.

use super::ScheduleError;

/// One block as named by a BitTorrent REQUEST or PIECE message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockRequest {
    pub piece: u32,
    pub offset: u32,
    pub len: u32,
}

/// Sizes of a torrent's content, pieces and blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    total_len: u64,
    piece_len: u32,
    block_len: u32,
    pieces: u32,
    blocks_per_piece: u32,
    blocks: u32,
}

impl Geometry {
    /// `piece_len` must be a multiple of `block_len` (16384 in practice).
    pub fn new(total_len: u64, piece_len: u32, block_len: u32) -> Result<Self, ScheduleError> {
        if total_len == 0 || piece_len == 0 || block_len == 0 {
            return Err(ScheduleError::Geometry("lengths must be positive"));
        }
        if !piece_len.is_multiple_of(block_len) {
            return Err(ScheduleError::Geometry(
                "piece length must be a multiple of the block length",
            ));
        }
        let pieces = u32::try_from(total_len.div_ceil(u64::from(piece_len)))
            .map_err(|_| ScheduleError::Geometry("too many pieces"))?;
        let blocks_per_piece = piece_len / block_len;
        let last_piece_len = total_len - u64::from(pieces - 1) * u64::from(piece_len);
        let last_blocks = last_piece_len.div_ceil(u64::from(block_len));
        let blocks = u64::from(pieces - 1) * u64::from(blocks_per_piece) + last_blocks;
        let blocks =
            u32::try_from(blocks).map_err(|_| ScheduleError::Geometry("too many blocks"))?;
        Ok(Self {
            total_len,
            piece_len,
            block_len,
            pieces,
            blocks_per_piece,
            blocks,
        })
    }

    pub fn total_len(&self) -> u64 {
        self.total_len
    }

    pub fn piece_len(&self) -> u32 {
        self.piece_len
    }

    pub fn block_len(&self) -> u32 {
        self.block_len
    }

    pub fn num_pieces(&self) -> u32 {
        self.pieces
    }

    pub fn num_blocks(&self) -> u32 {
        self.blocks
    }

    /// Bytes in `piece` (the last one may be short).
    pub fn piece_size(&self, piece: u32) -> u32 {
        if piece + 1 < self.pieces {
            self.piece_len
        } else {
            (self.total_len - u64::from(self.pieces - 1) * u64::from(self.piece_len)) as u32
        }
    }

    /// Blocks in `piece`.
    pub fn blocks_in_piece(&self, piece: u32) -> u32 {
        self.piece_size(piece).div_ceil(self.block_len)
    }

    /// Index of the first block of `piece`.
    pub fn first_block(&self, piece: u32) -> u32 {
        piece * self.blocks_per_piece
    }

    /// The piece holding block `index`.
    pub fn piece_of(&self, index: u32) -> u32 {
        index / self.blocks_per_piece
    }

    /// The request for block `index` (`index < num_blocks()`).
    pub fn block(&self, index: u32) -> BlockRequest {
        let piece = index / self.blocks_per_piece;
        let offset = (index % self.blocks_per_piece) * self.block_len;
        let len = self.block_len.min(self.piece_size(piece) - offset);
        BlockRequest { piece, offset, len }
    }

    /// The index of a block named on the wire, if it is exactly one of ours.
    pub fn index_of(&self, req: &BlockRequest) -> Result<u32, ScheduleError> {
        let bad = ScheduleError::NoSuchBlock {
            piece: req.piece,
            offset: req.offset,
            len: req.len,
        };
        if req.piece >= self.pieces || !req.offset.is_multiple_of(self.block_len) {
            return Err(bad);
        }
        let size = self.piece_size(req.piece);
        if req.offset >= size || req.len != self.block_len.min(size - req.offset) {
            return Err(bad);
        }
        Ok(self.first_block(req.piece) + req.offset / self.block_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_the_file_once() {
        let g = Geometry::new(5 * 65536 + 20000, 65536, 16384).unwrap();
        assert_eq!(g.num_pieces(), 6);
        assert_eq!(g.num_blocks(), 5 * 4 + 2);
        let total: u64 = (0..g.num_blocks()).map(|i| u64::from(g.block(i).len)).sum();
        assert_eq!(total, g.total_len());
        for i in 0..g.num_blocks() {
            let b = g.block(i);
            assert_eq!(g.index_of(&b), Ok(i));
            assert_eq!(g.piece_of(i), b.piece);
        }
        assert_eq!(
            g.block(21),
            BlockRequest {
                piece: 5,
                offset: 16384,
                len: 20000 - 16384
            }
        );
        for bad in [
            BlockRequest {
                piece: 6,
                offset: 0,
                len: 16384,
            },
            BlockRequest {
                piece: 0,
                offset: 100,
                len: 16384,
            },
            BlockRequest {
                piece: 0,
                offset: 0,
                len: 100,
            },
            BlockRequest {
                piece: 5,
                offset: 32768,
                len: 16384,
            },
        ] {
            assert!(g.index_of(&bad).is_err());
        }
        assert!(Geometry::new(100, 1000, 300).is_err());
        assert!(Geometry::new(0, 16384, 16384).is_err());
    }
}
