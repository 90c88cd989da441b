//! Torrent data at rest: the byte stream of a torrent mapped onto files (or
//! memory), piece verification, and resume by rechecking what is on disk.
//!
//! Offsets are positions in the torrent's byte stream (all files
//! concatenated); an access that spans files is split across them. Data only
//! reaches storage after its piece hash checked out (see [`PieceBuffer`]),
//! so verified data is never overwritten by unverified blocks.

mod file_storage;
mod piece_buffer;
#[cfg(test)]
mod tests;

pub use file_storage::FileStorage;
pub use piece_buffer::{BlockError, PieceBuffer, PieceOutcome, BLOCK_SIZE};

use std::path::PathBuf;
use std::sync::Mutex;

use sha1::{Digest, Sha1};
use thiserror::Error;

use crate::bitfield::Bitfield;
use crate::metainfo::Info;

/// Largest block a peer may ask us to read (BEP 3 peers send 16 KiB; some 128 KiB).
pub const MAX_REQUEST_LEN: u32 = 128 * 1024;

/// Why a storage operation failed.
#[derive(Debug, Error)]
pub enum StorageError {
    /// The OS refused; says which file and where in it.
    #[error("I/O error on {path} at offset {offset}: {source}")]
    Io {
        path: PathBuf,
        offset: u64,
        #[source]
        source: std::io::Error,
    },
    /// The access runs past the end of the torrent.
    #[error("access of {len} bytes at {offset} is past the end ({total} bytes)")]
    OutOfRange { offset: u64, len: u64, total: u64 },
    /// A file path from the torrent would escape the download directory.
    #[error("unsafe file path {path:?}: {reason}")]
    BadPath { path: String, reason: &'static str },
    /// A piece index or block request does not fit the torrent.
    #[error("bad request for piece {index} (begin {begin}, length {len})")]
    BadRequest { index: u32, begin: u32, len: u32 },
}

/// Random-access storage of one torrent's byte stream. Shared between tasks,
/// so methods take `&self` (implementations use positioned I/O or a lock).
pub trait Storage: Send + Sync {
    /// Fills `buf` from stream offset `offset`.
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError>;
    /// Writes `data` at stream offset `offset`.
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), StorageError>;
    /// Pushes written data to durable storage.
    fn flush(&self) -> Result<(), StorageError>;
}

/// Storage in a byte vector, for tests and for generated content.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    data: Mutex<Vec<u8>>,
}

impl MemoryStorage {
    /// Zero-filled storage of `len` bytes.
    pub fn new(len: usize) -> Self {
        Self::from_vec(vec![0; len])
    }

    /// Storage holding `data`.
    pub fn from_vec(data: Vec<u8>) -> Self {
        Self {
            data: Mutex::new(data),
        }
    }

    /// A copy of the current contents.
    pub fn to_vec(&self) -> Vec<u8> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        // A panic while holding the lock leaves plain bytes behind; keep going.
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn range(
        total: usize,
        offset: u64,
        len: usize,
    ) -> Result<std::ops::Range<usize>, StorageError> {
        let err = || StorageError::OutOfRange {
            offset,
            len: len as u64,
            total: total as u64,
        };
        let start = usize::try_from(offset).map_err(|_| err())?;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= total)
            .ok_or_else(err)?;
        Ok(start..end)
    }
}

impl Storage for MemoryStorage {
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let data = self.lock();
        let r = Self::range(data.len(), offset, buf.len())?;
        buf.copy_from_slice(&data[r]);
        Ok(())
    }

    fn write(&self, offset: u64, src: &[u8]) -> Result<(), StorageError> {
        let mut data = self.lock();
        let r = Self::range(data.len(), offset, src.len())?;
        data[r].copy_from_slice(src);
        Ok(())
    }

    fn flush(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

fn bad_piece(index: u32) -> StorageError {
    StorageError::BadRequest {
        index,
        begin: 0,
        len: 0,
    }
}

/// Whether piece `index` in storage matches its hash.
pub fn verify_piece(storage: &dyn Storage, info: &Info, index: u32) -> Result<bool, StorageError> {
    let mut buf = Vec::new();
    verify_with(storage, info, index, &mut buf)
}

fn verify_with(
    storage: &dyn Storage,
    info: &Info,
    index: u32,
    buf: &mut Vec<u8>,
) -> Result<bool, StorageError> {
    let expected = info.piece_hash(index).ok_or_else(|| bad_piece(index))?;
    buf.resize(info.piece_len(index) as usize, 0);
    storage.read(info.piece_offset(index), buf)?;
    Ok(Sha1::digest(&buf[..]).as_slice() == expected)
}

/// Hashes every piece in storage and returns the ones that verify: how a
/// restarted download learns what it already has.
pub fn recheck(storage: &dyn Storage, info: &Info) -> Result<Bitfield, StorageError> {
    let mut have = Bitfield::new(info.num_pieces());
    let mut buf = Vec::with_capacity(info.piece_length as usize);
    for i in 0..info.num_pieces() {
        if verify_with(storage, info, i, &mut buf)? {
            have.set(i);
        }
    }
    Ok(have)
}

/// Reads the block a peer requested, after checking the request fits the
/// piece and is at most [`MAX_REQUEST_LEN`].
pub fn read_block(
    storage: &dyn Storage,
    info: &Info,
    index: u32,
    begin: u32,
    len: u32,
) -> Result<Vec<u8>, StorageError> {
    let piece_len = info.piece_len(index);
    let fits = index < info.num_pieces()
        && len > 0
        && len <= MAX_REQUEST_LEN
        && begin.checked_add(len).is_some_and(|end| end <= piece_len);
    if !fits {
        return Err(StorageError::BadRequest { index, begin, len });
    }
    let mut buf = vec![0; len as usize];
    storage.read(info.piece_offset(index) + u64::from(begin), &mut buf)?;
    Ok(buf)
}
