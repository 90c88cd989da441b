//! Cover files: deterministic from a seed, readable at any offset, so every
//! member of a PACOM swarm can regenerate any genuine block on demand.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CoverError {
    #[error("read of {len} bytes at offset {offset} is past the end of a {size}-byte cover")]
    OutOfRange { offset: u64, len: usize, size: u64 },
}

/// A cover file generated from a seed.
pub trait Cover: Send + Sync {
    /// A plausible file name (a path relative to the torrent root for multi-file covers).
    fn name(&self) -> &str;
    /// Total length in bytes.
    fn len(&self) -> u64;
    /// Whether the cover is empty (never, for generated covers).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills `buf` with the cover's bytes starting at `offset`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), CoverError>;
}
