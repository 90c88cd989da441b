//! The carrier abstraction: how one frame rides in one block.
//!
//! A block is exchanged alone and in any order, so a carrier must be able to
//! embed into and extract from each block independently, knowing only the
//! block's position in the file and (for keyed carriers) the key.

use thiserror::Error;

/// Where a block sits in the cover file.
///
/// `file_offset` is the absolute byte offset of the block's first byte in the
/// torrent's content; carriers that care about the file format (sample
/// alignment, headers) use it, `piece`/`offset` identify the block on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlockId {
    pub piece: u32,
    pub offset: u32,
    pub file_offset: u64,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CarrierError {
    #[error("frame of {got} bytes does not match block capacity {capacity}")]
    FrameLength { got: usize, capacity: usize },
    #[error("block of {got} bytes is not the expected {expected} bytes")]
    BlockLength { got: usize, expected: usize },
    #[error("block carries no frame for this key (authentication tag mismatch)")]
    NotCarrying,
    #[error("cover block unusable: {0}")]
    Cover(String),
}

/// Embeds a frame of exactly `capacity` bytes into a cover block and gets it out again.
pub trait Carrier: Send + Sync {
    /// Number of frame bytes the block `id` of `block_len` cover bytes carries.
    /// Always the same for the same (id, block_len): both ends must agree
    /// without talking.
    fn capacity(&self, id: BlockId, block_len: usize) -> usize;

    /// Returns the block to put on the wire: `cover` with `frame` hidden in it.
    /// `frame.len()` must equal `capacity(id, cover.len())`.
    fn embed(&self, id: BlockId, cover: &[u8], frame: &[u8]) -> Result<Vec<u8>, CarrierError>;

    /// Recovers the frame from a received block. A block that was not produced
    /// by `embed` with the same key and id fails with [`CarrierError::NotCarrying`]
    /// (keyed carriers) — never a panic.
    fn extract(&self, id: BlockId, block: &[u8]) -> Result<Vec<u8>, CarrierError>;

    /// Whether the block is the frame itself: `capacity` is the block length
    /// and `embed` ignores the cover's bytes. The engine then seals frames
    /// straight into its send buffer and never generates the cover they
    /// would replace (public mode answers thousands of blocks a second).
    fn block_is_frame(&self) -> bool {
        false
    }

    /// [`Carrier::extract`] into a reused buffer (replacing its contents).
    fn extract_into(
        &self,
        id: BlockId,
        block: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CarrierError> {
        let frame = self.extract(id, block)?;
        out.clear();
        out.extend_from_slice(&frame);
        Ok(())
    }
}
