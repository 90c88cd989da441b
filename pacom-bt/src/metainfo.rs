//! Torrent metainfo (BEP 3, v1): parsing `.torrent` files and info dicts
//! received over ut_metadata, and creating torrents for real or generated content.
//!
//! The info hash is the SHA-1 of the info dict *exactly as found*, so we keep
//! those bytes ([`Metainfo::info_bytes`]) and write them back verbatim instead
//! of re-encoding (re-encoding can change the hash of a torrent with unknown
//! keys). Every parser here treats its input as hostile: lengths are checked
//! against the data before anything is allocated, piece counts must match the
//! length, and file paths must stay inside the download directory.

mod bencode;
mod create;
mod parse;
#[cfg(test)]
mod tests;

pub(crate) use bencode::Writer as BencodeWriter;
pub use create::{
    auto_piece_length, create_from_bytes, create_from_path, create_from_reader, CreateOptions,
};

use std::path::PathBuf;

use sha1::{Digest, Sha1};
use thiserror::Error;

use crate::magnet::Magnet;

/// Largest piece length we accept: bounds the memory one piece buffer takes.
pub const MAX_PIECE_LENGTH: u32 = 64 * 1024 * 1024;

/// Nesting depth limit for bencode in torrents (real ones nest 4 deep).
pub(crate) const MAX_BENCODE_DEPTH: usize = 32;

/// Why a torrent (or info dict) was rejected.
#[derive(Debug, Error)]
pub enum MetainfoError {
    /// Not well-formed bencode (bendy's message says where).
    #[error("malformed bencode in {context}: {message}")]
    Bencode {
        context: &'static str,
        message: String,
    },
    /// A value that must be a dictionary is not.
    #[error("{context} is not a bencoded dictionary")]
    NotADict { context: &'static str },
    /// A required key is absent.
    #[error("missing key `{key}` in {context}")]
    MissingKey {
        context: &'static str,
        key: &'static str,
    },
    /// A key holds the wrong bencode type.
    #[error("key `{key}` has the wrong type (expected {expected})")]
    WrongType {
        key: &'static str,
        expected: &'static str,
    },
    /// A key has the right type but an unusable value.
    #[error("invalid `{key}`: {reason}")]
    InvalidValue { key: &'static str, reason: String },
    /// `pieces` must be a concatenation of 20-byte SHA-1 hashes.
    #[error("`pieces` is {len} bytes, not a multiple of 20")]
    PiecesLength { len: usize },
    /// The number of hashes does not match `ceil(total_length / piece_length)`.
    #[error("{found} piece hashes, but {total_length} bytes in pieces of {piece_length} need {expected}")]
    PieceCount {
        expected: u64,
        found: usize,
        total_length: u64,
        piece_length: u32,
    },
    /// A file path that could escape the download directory or is unusable.
    #[error("unsafe file path {path:?}: {reason}")]
    BadPath { path: String, reason: &'static str },
    /// Reading content while creating a torrent failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The v1 info hash: SHA-1 of the bencoded info dict.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct InfoHash(pub [u8; 20]);

/// Why a hex info hash was rejected.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("info hash must be 40 hex digits, got {0:?}")]
pub struct InfoHashParseError(pub String);

impl InfoHash {
    /// Parses 40 hex digits (either case).
    pub fn from_hex(s: &str) -> Result<Self, InfoHashParseError> {
        let mut out = [0u8; 20];
        hex::decode_to_slice(s, &mut out)
            .map_err(|_| InfoHashParseError(s.chars().take(64).collect()))?;
        Ok(Self(out))
    }

    /// SHA-1 of `data`.
    pub fn of(data: &[u8]) -> Self {
        Self(Sha1::digest(data).into())
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }
}

impl std::fmt::Display for InfoHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InfoHash({})", self.to_hex())
    }
}

impl std::str::FromStr for InfoHash {
    type Err = InfoHashParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

/// One file of a torrent, placed in the torrent's byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Path relative to the download directory, already checked to be safe.
    /// It starts with the torrent's name: `[name]` for a single-file torrent,
    /// `[name, dir.., file]` for a multi-file one.
    pub path: Vec<String>,
    /// Length in bytes.
    pub length: u64,
    /// Where the file starts in the concatenation of all files.
    pub offset: u64,
    /// BEP 47 padding file (`attr` contains `p`): zeros that align the next
    /// file to a piece boundary; part of the stream, never written to disk.
    pub pad: bool,
}

/// The parsed info dict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub name: String,
    pub piece_length: u32,
    pub pieces: Vec<[u8; 20]>,
    pub files: Vec<FileEntry>,
    /// BEP 27: peers only from the torrent's trackers (no DHT, no PEX).
    pub private: bool,
    /// Whether the info dict uses `files` (a directory) rather than `length`.
    pub multi_file: bool,
}

impl Info {
    /// Bytes in the torrent's stream (all files).
    pub fn total_length(&self) -> u64 {
        self.files.last().map_or(0, |f| f.offset + f.length)
    }

    pub fn num_pieces(&self) -> u32 {
        self.pieces.len() as u32
    }

    /// Length of piece `index`; the last one is usually shorter, out of range is 0.
    pub fn piece_len(&self, index: u32) -> u32 {
        if index >= self.num_pieces() {
            return 0;
        }
        let start = self.piece_offset(index);
        let left = self.total_length().saturating_sub(start);
        left.min(u64::from(self.piece_length)) as u32
    }

    /// Where piece `index` starts in the stream.
    pub fn piece_offset(&self, index: u32) -> u64 {
        u64::from(index) * u64::from(self.piece_length)
    }

    pub fn piece_hash(&self, index: u32) -> Option<&[u8; 20]> {
        self.pieces.get(index as usize)
    }
}

/// A whole torrent: the info dict plus the outer (unhashed) keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metainfo {
    pub info: Info,
    pub info_hash: InfoHash,
    /// The exact bencoded info dict the hash was taken over.
    pub info_bytes: Vec<u8>,
    pub announce: Option<String>,
    /// BEP 12 tiers.
    pub announce_list: Vec<Vec<String>>,
    pub comment: Option<String>,
    pub created_by: Option<String>,
    pub creation_date: Option<i64>,
}

impl Metainfo {
    /// Parses a `.torrent` file.
    pub fn from_bytes(data: &[u8]) -> Result<Self, MetainfoError> {
        parse::torrent(data)
    }

    /// Builds a torrent from an info dict fetched over ut_metadata (whose hash the
    /// caller has already checked) and the trackers it knows (e.g. a magnet's `tr`).
    pub fn from_info_bytes(info: &[u8], trackers: Vec<String>) -> Result<Self, MetainfoError> {
        let parsed = parse::info_dict(info)?;
        Ok(Self {
            info: parsed,
            info_hash: InfoHash::of(info),
            info_bytes: info.to_vec(),
            announce: trackers.first().cloned(),
            announce_list: if trackers.len() > 1 {
                trackers.into_iter().map(|t| vec![t]).collect()
            } else {
                Vec::new()
            },
            comment: None,
            created_by: None,
            creation_date: None,
        })
    }

    /// Encodes the torrent; the info dict is written verbatim.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = BencodeWriter::new();
        w.begin_dict();
        if let Some(a) = &self.announce {
            w.key("announce").str(a);
        }
        if !self.announce_list.is_empty() {
            w.key("announce-list").begin_list();
            for tier in &self.announce_list {
                w.begin_list();
                for t in tier {
                    w.str(t);
                }
                w.end();
            }
            w.end();
        }
        if let Some(c) = &self.comment {
            w.key("comment").str(c);
        }
        if let Some(c) = &self.created_by {
            w.key("created by").str(c);
        }
        if let Some(d) = self.creation_date {
            w.key("creation date").int(d);
        }
        w.key("info").raw(&self.info_bytes);
        w.end();
        w.into_bytes()
    }

    /// Trackers to announce to: the BEP 12 list flattened (duplicates removed),
    /// else `announce`.
    pub fn trackers(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for t in self.announce_list.iter().flatten() {
            if !out.contains(t) {
                out.push(t.clone());
            }
        }
        if out.is_empty() {
            out.extend(self.announce.iter().cloned());
        }
        out
    }

    /// A magnet link for this torrent (hash, name, trackers).
    pub fn magnet(&self) -> Magnet {
        Magnet {
            info_hash: self.info_hash,
            display_name: Some(self.info.name.clone()),
            trackers: self.trackers(),
            peers: Vec::new(),
        }
    }
}

/// Checks one path component from a torrent or from disk: it must name an
/// entry inside its parent directory, on any platform we might write to.
pub fn check_path_component(component: &str) -> Result<(), &'static str> {
    if component.is_empty() {
        return Err("empty component (absolute path or `//`)");
    }
    if component == "." || component == ".." {
        return Err("`.` or `..` component");
    }
    if component.contains(['/', '\\']) {
        return Err("separator inside a component");
    }
    if component.contains('\0') {
        return Err("NUL byte in component");
    }
    let bytes = component.as_bytes();
    if bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() {
        return Err("drive letter in component");
    }
    Ok(())
}

/// Checks a whole relative path, reporting it joined with `/` on failure.
pub fn check_path(path: &[String]) -> Result<(), MetainfoError> {
    if path.is_empty() {
        return Err(MetainfoError::BadPath {
            path: String::new(),
            reason: "empty path",
        });
    }
    for c in path {
        check_path_component(c).map_err(|reason| MetainfoError::BadPath {
            path: path.join("/"),
            reason,
        })?;
    }
    Ok(())
}
