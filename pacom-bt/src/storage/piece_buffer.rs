//! Assembling one piece from blocks in memory before it touches storage.
//!
//! Design: the engine keeps one `PieceBuffer` per piece in flight. Blocks go
//! into the buffer (never into storage); when the last block arrives the
//! engine calls [`PieceBuffer::commit`], which hashes the whole piece and
//! writes it only if the hash matches. So storage holds verified pieces plus
//! zeros, a bad peer's block can never overwrite verified data, and a hash
//! failure just drops the buffer (and tells the engine whom to distrust).

use sha1::{Digest, Sha1};
use thiserror::Error;

use super::{Storage, StorageError};
use crate::metainfo::Info;

/// The block size every client requests (BEP 3 convention).
pub const BLOCK_SIZE: u32 = 16 * 1024;
const _: () = assert!(BLOCK_SIZE.is_power_of_two());

/// Why a received block does not fit the piece.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BlockError {
    #[error("block begin {begin} of piece {index} is not a multiple of {BLOCK_SIZE}")]
    Misaligned { index: u32, begin: u32 },
    #[error("block at {begin} of piece {index} starts past its end")]
    OutOfRange { index: u32, begin: u32 },
    #[error("block at {begin} of piece {index} has {found} bytes, expected {expected}")]
    WrongLength {
        index: u32,
        begin: u32,
        expected: u32,
        found: usize,
    },
}

/// What [`PieceBuffer::commit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceOutcome {
    /// The hash matched and the piece is in storage.
    Written,
    /// The hash did not match; nothing was written.
    HashMismatch,
    /// Blocks are still missing; nothing was written.
    Incomplete,
}

/// One piece being downloaded, block by block.
#[derive(Debug, Clone)]
pub struct PieceBuffer {
    index: u32,
    data: Vec<u8>,
    received: Vec<bool>,
    missing: u32,
}

impl PieceBuffer {
    /// A buffer for piece `index`; `None` if the torrent has no such piece.
    pub fn new(info: &Info, index: u32) -> Option<Self> {
        if index >= info.num_pieces() {
            return None;
        }
        let len = info.piece_len(index);
        let blocks = len.div_ceil(BLOCK_SIZE);
        Some(Self {
            index,
            data: vec![0; len as usize],
            received: vec![false; blocks as usize],
            missing: blocks,
        })
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    /// Length of the piece in bytes.
    pub fn len(&self) -> u32 {
        self.data.len() as u32
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn num_blocks(&self) -> u32 {
        self.received.len() as u32
    }

    /// Length of the block starting at `begin` (the last one may be short).
    pub fn block_len(&self, begin: u32) -> u32 {
        self.len().saturating_sub(begin).min(BLOCK_SIZE)
    }

    /// Stores a block. Returns `Ok(true)` if it was new, `Ok(false)` for a
    /// duplicate (kept as first received). Only whole, aligned blocks fit.
    pub fn add_block(&mut self, begin: u32, block: &[u8]) -> Result<bool, BlockError> {
        let index = self.index;
        if begin & (BLOCK_SIZE - 1) != 0 {
            return Err(BlockError::Misaligned { index, begin });
        }
        let slot = (begin / BLOCK_SIZE) as usize;
        if slot >= self.received.len() {
            return Err(BlockError::OutOfRange { index, begin });
        }
        let expected = self.block_len(begin);
        if block.len() != expected as usize {
            return Err(BlockError::WrongLength {
                index,
                begin,
                expected,
                found: block.len(),
            });
        }
        if self.received[slot] {
            return Ok(false);
        }
        let start = begin as usize;
        self.data[start..start + block.len()].copy_from_slice(block);
        self.received[slot] = true;
        self.missing -= 1;
        Ok(true)
    }

    pub fn has_block(&self, begin: u32) -> bool {
        begin & (BLOCK_SIZE - 1) == 0
            && self
                .received
                .get((begin / BLOCK_SIZE) as usize)
                .copied()
                .unwrap_or(false)
    }

    pub fn is_complete(&self) -> bool {
        self.missing == 0
    }

    /// `(begin, length)` of the blocks still to request.
    pub fn missing_blocks(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.received
            .iter()
            .enumerate()
            .filter(|(_, got)| !**got)
            .map(|(i, _)| {
                let begin = i as u32 * BLOCK_SIZE;
                (begin, self.block_len(begin))
            })
    }

    /// The assembled bytes (zeros where blocks are missing).
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Whether the assembled piece hashes to `expected`.
    pub fn matches(&self, expected: &[u8; 20]) -> bool {
        self.is_complete() && Sha1::digest(&self.data).as_slice() == expected
    }

    /// Verifies the complete piece against `info` and writes it to `storage`
    /// only if it matches.
    pub fn commit(&self, info: &Info, storage: &dyn Storage) -> Result<PieceOutcome, StorageError> {
        if !self.is_complete() {
            return Ok(PieceOutcome::Incomplete);
        }
        let ok = info
            .piece_hash(self.index)
            .is_some_and(|h| info.piece_len(self.index) == self.len() && self.matches(h));
        if !ok {
            return Ok(PieceOutcome::HashMismatch);
        }
        storage.write(info.piece_offset(self.index), &self.data)?;
        Ok(PieceOutcome::Written)
    }
}
