//! How the peer wire names blocks, mapped onto the swarm's geometry: request
//! and piece validation, carrier block ids, and our BITFIELD.
//!
//! A PACOM peer may only ask for exactly one block of a piece we announced;
//! anything else is a protocol violation that closes that peer's link.

use pacom_core::schedule::{BlockRequest, Geometry, Progress};
use stego::BlockId;

use crate::wire;

/// Why a REQUEST or PIECE from a PACOM peer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("block (piece {piece}, begin {begin}, length {len}) is not a block of this file")]
    NotABlock { piece: u32, begin: u32, len: u32 },
    #[error("request for piece {piece}, which we never announced")]
    NotAnnounced { piece: u32 },
}

/// The schedule's name for a wire request.
pub fn from_wire(r: &wire::BlockRequest) -> BlockRequest {
    BlockRequest {
        piece: r.index,
        offset: r.begin,
        len: r.length,
    }
}

/// The wire request for a scheduled block.
pub fn to_wire(b: &BlockRequest) -> wire::BlockRequest {
    wire::BlockRequest {
        index: b.piece,
        begin: b.offset,
        length: b.len,
    }
}

/// Checks a peer's REQUEST: exactly one block of the file (the geometry's
/// block boundaries and lengths), in a piece we have announced.
pub fn check_request(
    geometry: &Geometry,
    have: &Progress,
    r: &wire::BlockRequest,
) -> Result<BlockRequest, BlockError> {
    let block = from_wire(r);
    geometry
        .index_of(&block)
        .map_err(|_| BlockError::NotABlock {
            piece: r.index,
            begin: r.begin,
            len: r.length,
        })?;
    if !have.has_piece(block.piece) {
        return Err(BlockError::NotAnnounced { piece: block.piece });
    }
    Ok(block)
}

/// Checks a peer's PIECE header and payload length against the geometry.
pub fn check_piece(
    geometry: &Geometry,
    index: u32,
    begin: u32,
    len: usize,
) -> Result<BlockRequest, BlockError> {
    let bad = BlockError::NotABlock {
        piece: index,
        begin,
        len: u32::try_from(len).unwrap_or(u32::MAX),
    };
    let len = u32::try_from(len).map_err(|_| bad.clone())?;
    let block = BlockRequest {
        piece: index,
        offset: begin,
        len,
    };
    geometry.index_of(&block).map_err(|_| bad)?;
    Ok(block)
}

/// The carrier's id of a block (keyed carriers derive per-block state from it).
pub fn block_id(geometry: &Geometry, b: &BlockRequest) -> BlockId {
    BlockId {
        piece: b.piece,
        offset: b.offset,
        file_offset: u64::from(b.piece) * u64::from(geometry.piece_len()) + u64::from(b.offset),
    }
}

/// Our BITFIELD payload: the pieces complete in `have`, piece 0 in the high
/// bit of byte 0, spare bits zero.
pub fn bitfield_bytes(have: &Progress) -> Vec<u8> {
    let pieces = have.geometry().num_pieces();
    let mut bits = vec![0u8; (pieces as usize).div_ceil(8)];
    for piece in 0..pieces {
        if have.has_piece(piece) {
            bits[piece as usize / 8] |= 0x80 >> (piece % 8);
        }
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitfield::Bitfield;

    fn geometry() -> Geometry {
        // 3 full pieces of 2 blocks and a short last piece of 1000 bytes.
        Geometry::new(3 * 32768 + 1000, 32768, 16384).expect("geometry")
    }

    fn req(index: u32, begin: u32, length: u32) -> wire::BlockRequest {
        wire::BlockRequest {
            index,
            begin,
            length,
        }
    }

    #[test]
    fn requests_must_name_one_block_of_an_announced_piece() {
        let g = geometry();
        let have = Progress::with_pieces(g, [0, 3]).expect("progress");
        assert_eq!(
            check_request(&g, &have, &req(0, 16384, 16384)),
            Ok(BlockRequest {
                piece: 0,
                offset: 16384,
                len: 16384
            })
        );
        assert!(check_request(&g, &have, &req(3, 0, 1000)).is_ok());
        for bad in [
            req(0, 0, 16383),     // short
            req(0, 0, 32768),     // two blocks at once
            req(0, 100, 16384),   // off the block grid
            req(0, 32768, 16384), // past the piece
            req(3, 0, 16384),     // past the end of the file
            req(4, 0, 16384),     // no such piece
            req(u32::MAX, u32::MAX, u32::MAX),
        ] {
            assert!(
                matches!(
                    check_request(&g, &have, &bad),
                    Err(BlockError::NotABlock { .. })
                ),
                "{bad:?} accepted"
            );
        }
        assert_eq!(
            check_request(&g, &have, &req(1, 0, 16384)),
            Err(BlockError::NotAnnounced { piece: 1 })
        );
    }

    #[test]
    fn pieces_must_fit_the_geometry() {
        let g = geometry();
        assert!(check_piece(&g, 2, 16384, 16384).is_ok());
        assert!(check_piece(&g, 3, 0, 1000).is_ok());
        assert!(check_piece(&g, 3, 0, 999).is_err());
        assert!(check_piece(&g, 2, 0, 16385).is_err());
        assert!(check_piece(&g, 9, 0, 16384).is_err());
        assert!(check_piece(&g, 0, 0, usize::MAX).is_err());
    }

    #[test]
    fn bitfield_is_wire_order_and_parses_back() {
        let g = geometry();
        let have = Progress::with_pieces(g, [0, 3]).expect("progress");
        let bytes = bitfield_bytes(&have);
        assert_eq!(bytes, vec![0b1001_0000]);
        let parsed = Bitfield::from_bytes(&bytes, g.num_pieces()).expect("valid bitfield");
        assert!(parsed.get(0) && parsed.get(3) && !parsed.get(1));
        let id = block_id(&g, &g.block(6));
        assert_eq!((id.piece, id.offset, id.file_offset), (3, 0, 3 * 32768));
    }
}
