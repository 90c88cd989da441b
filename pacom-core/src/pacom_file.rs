//! PACOM files: cover content plus real v1 metainfo, both from a seed.
//!
//! Every member of a PACOM swarm regenerates the same file from the same
//! seed, so anyone can answer an outside client's REQUEST with a *genuine*
//! block whose piece hash verifies, and the info hash announced on the DHT is
//! the honest SHA-1 of a canonical info dictionary. All generation parameters
//! (`CoverKind`, `PacomFileOptions`) are protocol constants: the bootstrap node
//! and the newcomer must use the same ones or they derive different info hashes.

use std::fmt;
use std::sync::Arc;

use sha1::{Digest, Sha1};
use stego::{ArchiveCover, ArchiveParams, Cover, CoverError};
use thiserror::Error;

use crate::bencode::Value;

/// Smallest piece length we choose (twice the 16 KiB block every client requests).
const MIN_PIECE_LENGTH: u32 = 32 << 10;
/// Largest piece length we choose.
const MAX_PIECE_LENGTH: u32 = 16 << 20;
/// Clients aim for a torrent of a couple of thousand pieces at most.
const TARGET_MAX_PIECES: u64 = 2000;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PacomFileError {
    #[error("cover factory failed: {0}")]
    Cover(String),
    #[error("piece length {0} is not a power of two of at least 16 KiB")]
    PieceLength(u32),
    #[error("block (piece {piece}, offset {offset}, length {len}) is outside the file")]
    BlockOutOfRange { piece: u32, offset: u32, len: u32 },
    #[error("cover is empty: a torrent needs at least one byte")]
    EmptyCover,
    #[error("reading the cover: {0}")]
    Read(#[from] CoverError),
}

/// Builds a cover from a seed: lets private-mode covers (audio) plug in
/// without this module knowing their format.
pub trait CoverFactory: Send + Sync {
    /// A short name for logs and `Debug`.
    fn kind_name(&self) -> &str;
    /// The cover for `seed`; `size` is a requested length when the options fix one.
    fn build(&self, seed: [u8; 32], size: Option<u64>) -> Result<Box<dyn Cover>, PacomFileError>;
}

/// Which cover a PACOM file wraps.
#[derive(Clone)]
pub enum CoverKind {
    /// Public mode: a pseudo-encrypted 7z archive ([`stego::ArchiveCover`]).
    Archive,
    /// Any other cover, e.g. the private-mode audio cover.
    Custom(Arc<dyn CoverFactory>),
}

impl fmt::Debug for CoverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoverKind::Archive => f.write_str("Archive"),
            CoverKind::Custom(factory) => write!(f, "Custom({})", factory.kind_name()),
        }
    }
}

/// Generation options; part of the protocol configuration.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PacomFileOptions {
    /// Exact content length; when `None` the cover draws one from the seed.
    pub size: Option<u64>,
    /// Size law for archive covers when `size` is `None`.
    pub archive: ArchiveParams,
    /// Piece length; when `None` it is chosen from the length like a client would.
    pub piece_length: Option<u32>,
}

impl PacomFileOptions {
    /// Options for a file of exactly `size` bytes.
    pub fn with_size(size: u64) -> Self {
        Self {
            size: Some(size),
            ..Self::default()
        }
    }
}

/// A generated PACOM file: content, metainfo, info hash.
pub struct PacomFile {
    pub cover: Box<dyn Cover>,
    /// Canonical bencoded info dictionary.
    pub info_bytes: Vec<u8>,
    /// SHA-1 of `info_bytes`.
    pub info_hash: [u8; 20],
    pub piece_length: u32,
    pub length: u64,
    pub name: String,
    piece_hashes: Vec<[u8; 20]>,
}

impl fmt::Debug for PacomFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacomFile")
            .field("name", &self.name)
            .field("length", &self.length)
            .field("piece_length", &self.piece_length)
            .field("info_hash", &hex::encode(self.info_hash))
            .finish()
    }
}

impl PacomFile {
    /// Generates the cover for `seed`, hashes every piece and builds the metainfo.
    pub fn generate(
        seed: [u8; 32],
        kind: &CoverKind,
        opts: &PacomFileOptions,
    ) -> Result<Self, PacomFileError> {
        let cover: Box<dyn Cover> = match kind {
            CoverKind::Archive => {
                let params = ArchiveParams {
                    size: opts.size.or(opts.archive.size),
                    ..opts.archive
                };
                Box::new(ArchiveCover::new(seed, params))
            }
            CoverKind::Custom(factory) => factory.build(seed, opts.size)?,
        };
        Self::from_cover(cover, opts.piece_length)
    }

    /// Hashes an existing cover; empty covers are rejected.
    pub fn from_cover(
        cover: Box<dyn Cover>,
        piece_length: Option<u32>,
    ) -> Result<Self, PacomFileError> {
        let length = cover.len();
        if length == 0 {
            return Err(PacomFileError::EmptyCover);
        }
        let piece_length = match piece_length {
            Some(p) if p.is_power_of_two() && p >= 16 << 10 => p,
            Some(p) => return Err(PacomFileError::PieceLength(p)),
            None => choose_piece_length(length),
        };
        let piece_hashes = hash_pieces(cover.as_ref(), piece_length)?;
        let name = cover.name().to_string();
        let mut pieces = Vec::with_capacity(piece_hashes.len() * 20);
        for h in &piece_hashes {
            pieces.extend_from_slice(h);
        }
        let info = Value::dict([
            ("length", Value::Int(length as i64)),
            ("name", Value::bytes(&name)),
            ("piece length", Value::Int(i64::from(piece_length))),
            ("pieces", Value::Bytes(pieces)),
        ]);
        let info_bytes = info.encode();
        let info_hash: [u8; 20] = Sha1::digest(&info_bytes).into();
        Ok(Self {
            cover,
            info_bytes,
            info_hash,
            piece_length,
            length,
            name,
            piece_hashes,
        })
    }

    /// Number of pieces: `ceil(length / piece_length)`.
    pub fn num_pieces(&self) -> u32 {
        self.piece_hashes.len() as u32
    }

    /// Length of piece `piece` (the last one may be short).
    pub fn piece_len(&self, piece: u32) -> Option<u32> {
        let start = u64::from(piece) * u64::from(self.piece_length);
        if piece >= self.num_pieces() {
            return None;
        }
        Some((self.length - start).min(u64::from(self.piece_length)) as u32)
    }

    /// SHA-1 of piece `piece`.
    pub fn piece_hash(&self, piece: u32) -> Option<[u8; 20]> {
        self.piece_hashes.get(piece as usize).copied()
    }

    /// The genuine bytes of a block, as an outside client expects them.
    /// Requests that do not fit in the piece are errors, never panics.
    pub fn block(&self, piece: u32, offset: u32, len: u32) -> Result<Vec<u8>, PacomFileError> {
        let out_of_range = || PacomFileError::BlockOutOfRange { piece, offset, len };
        let piece_len = self.piece_len(piece).ok_or_else(out_of_range)?;
        let end = offset.checked_add(len).ok_or_else(out_of_range)?;
        if end > piece_len {
            return Err(out_of_range());
        }
        let start = u64::from(piece) * u64::from(self.piece_length) + u64::from(offset);
        let mut buf = vec![0u8; len as usize];
        self.cover.read_at(start, &mut buf)?;
        Ok(buf)
    }

    /// A complete `.torrent` (announce, announce-list when several trackers,
    /// info) that ordinary clients load. The info dictionary is embedded
    /// byte-for-byte so the info hash is preserved.
    pub fn torrent_bytes(&self, trackers: &[&str]) -> Vec<u8> {
        let mut outer = Vec::new();
        if let Some(first) = trackers.first() {
            outer.push(("announce", Value::bytes(first)));
        }
        if trackers.len() > 1 {
            let tiers = trackers
                .iter()
                .map(|t| Value::List(vec![Value::bytes(t)]))
                .collect();
            outer.push(("announce-list", Value::List(tiers)));
        }
        // Every key above sorts before "info", so appending it keeps the
        // dictionary canonical.
        let mut bytes = Value::dict(outer).encode();
        bytes.pop();
        bytes.extend_from_slice(b"4:info");
        bytes.extend_from_slice(&self.info_bytes);
        bytes.push(b'e');
        bytes
    }
}

/// Piece length the way common clients choose it: the smallest power of two
/// (32 KiB ..= 16 MiB) that keeps the torrent at or under ~2000 pieces.
pub fn choose_piece_length(length: u64) -> u32 {
    let mut piece = MIN_PIECE_LENGTH;
    while piece < MAX_PIECE_LENGTH && length.div_ceil(u64::from(piece)) > TARGET_MAX_PIECES {
        piece *= 2;
    }
    piece
}

/// SHA-1 of each piece, reading the cover one piece at a time into one buffer.
fn hash_pieces(cover: &dyn Cover, piece_length: u32) -> Result<Vec<[u8; 20]>, PacomFileError> {
    let length = cover.len();
    let count = length.div_ceil(u64::from(piece_length));
    let mut hashes = Vec::with_capacity(count as usize);
    let mut buf = vec![0u8; piece_length as usize];
    let mut offset = 0u64;
    while offset < length {
        let n = (length - offset).min(u64::from(piece_length)) as usize;
        cover.read_at(offset, &mut buf[..n])?;
        hashes.push(Sha1::digest(&buf[..n]).into());
        offset += n as u64;
    }
    Ok(hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piece_length_grows_with_size_like_client_defaults() {
        assert_eq!(choose_piece_length(1), 32 << 10);
        assert_eq!(choose_piece_length(8 << 20), 32 << 10);
        assert_eq!(choose_piece_length(350 << 20), 256 << 10);
        assert_eq!(choose_piece_length(700 << 20), 512 << 10);
        assert_eq!(choose_piece_length(1 << 40), 16 << 20);
    }
}
