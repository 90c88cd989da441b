//! Creating v1 torrents from files, directories or generated content.
//!
//! We always write exactly `ceil(length / piece_length)` piece hashes (some
//! tools add one for lengths that are an exact multiple, and libtorrent then
//! rejects the file), and build the [`Metainfo`] by parsing the info dict we
//! just wrote, so a created torrent passes the same checks as a received one.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sha1::{Digest, Sha1};

use super::{check_path, BencodeWriter, Metainfo, MetainfoError, MAX_PIECE_LENGTH};

/// Smallest and largest automatic piece lengths.
const AUTO_MIN: u32 = 16 * 1024;
const AUTO_MAX: u32 = 16 * 1024 * 1024;
/// Automatic piece length doubles until the torrent has at most this many pieces.
const AUTO_TARGET_PIECES: u64 = 2000;

/// Options for creating a torrent.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// `None` picks [`auto_piece_length`]; otherwise a power of two, at least 16 KiB.
    pub piece_length: Option<u32>,
    /// Each tracker becomes its own BEP 12 tier; the first is also `announce`.
    pub trackers: Vec<String>,
    pub comment: Option<String>,
    pub created_by: Option<String>,
    pub private: bool,
    /// Overrides the name (default: the file or directory name).
    pub name: Option<String>,
}

/// A power of two from 16 KiB to 16 MiB giving at most ~2000 pieces (so a
/// large torrent lands between 1000 and 2000 pieces).
pub fn auto_piece_length(total_length: u64) -> u32 {
    let mut pl = AUTO_MIN;
    while pl < AUTO_MAX && total_length.div_ceil(u64::from(pl)) > AUTO_TARGET_PIECES {
        pl *= 2;
    }
    pl
}

fn piece_length_for(total: u64, opts: &CreateOptions) -> Result<u32, MetainfoError> {
    match opts.piece_length {
        None => Ok(auto_piece_length(total)),
        Some(pl) if pl.is_power_of_two() && (AUTO_MIN..=MAX_PIECE_LENGTH).contains(&pl) => Ok(pl),
        Some(pl) => Err(MetainfoError::InvalidValue {
            key: "piece length",
            reason: format!("{pl} is not a power of two in {AUTO_MIN}..={MAX_PIECE_LENGTH}"),
        }),
    }
}

/// Creates a torrent for a file (single-file torrent) or a directory
/// (multi-file torrent of its regular files, sorted by path; symlinks skipped).
pub fn create_from_path(path: &Path, opts: &CreateOptions) -> Result<Metainfo, MetainfoError> {
    let io_err = |p: &Path| {
        let p = p.to_path_buf();
        move |source| MetainfoError::Io { path: p, source }
    };
    let meta = std::fs::metadata(path).map_err(io_err(path))?;
    let name = match &opts.name {
        Some(n) => n.clone(),
        None => path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_owned)
            .ok_or_else(|| MetainfoError::BadPath {
                path: path.display().to_string(),
                reason: "no UTF-8 file name to use as the torrent name",
            })?,
    };
    if meta.is_file() {
        let file = File::open(path).map_err(io_err(path))?;
        let mut read = |off: u64, buf: &mut [u8]| file.read_exact_at(buf, off);
        return create_from_reader(&name, meta.len(), &mut read, opts).map_err(|e| match e {
            MetainfoError::Io { source, .. } => MetainfoError::Io {
                path: path.to_path_buf(),
                source,
            },
            e => e,
        });
    }
    let mut files = Vec::new();
    walk(path, &mut Vec::new(), &mut files)?;
    files.sort_by(|a, b| a.0.cmp(&b.0));
    if files.iter().all(|f| f.2 == 0) {
        return Err(MetainfoError::InvalidValue {
            key: "files",
            reason: format!("{} holds no data", path.display()),
        });
    }
    let total: u64 = files.iter().map(|f| f.2).sum();
    let piece_length = piece_length_for(total, opts)?;
    let mut reader = SpanReader::new(files.iter().map(|f| (f.1.clone(), f.2)).collect());
    let pieces = hash_pieces(total, piece_length, &mut |off, buf| {
        reader.read_at(off, buf)
    })
    .map_err(|e| MetainfoError::Io {
        path: reader.failed_path().unwrap_or_else(|| path.to_path_buf()),
        source: e,
    })?;
    let listed: Vec<(&[String], u64)> = files.iter().map(|f| (f.0.as_slice(), f.2)).collect();
    let info = info_bytes(
        &name,
        piece_length,
        &pieces,
        Layout::Multi(&listed),
        opts.private,
    );
    finish(&info, opts)
}

/// Creates a single-file torrent of `length` bytes that `read_at(offset, buf)`
/// fills (e.g. a PACOM cover file generated on the fly). Pieces are read in order.
pub fn create_from_reader(
    name: &str,
    length: u64,
    read_at: &mut impl FnMut(u64, &mut [u8]) -> io::Result<()>,
    opts: &CreateOptions,
) -> Result<Metainfo, MetainfoError> {
    let name = opts.name.as_deref().unwrap_or(name);
    if length == 0 {
        return Err(MetainfoError::InvalidValue {
            key: "length",
            reason: "cannot create a torrent of 0 bytes".into(),
        });
    }
    let piece_length = piece_length_for(length, opts)?;
    let pieces =
        hash_pieces(length, piece_length, read_at).map_err(|source| MetainfoError::Io {
            path: PathBuf::from(name),
            source,
        })?;
    let info = info_bytes(
        name,
        piece_length,
        &pieces,
        Layout::Single(length),
        opts.private,
    );
    finish(&info, opts)
}

/// Creates a single-file torrent of an in-memory buffer.
pub fn create_from_bytes(
    name: &str,
    data: &[u8],
    opts: &CreateOptions,
) -> Result<Metainfo, MetainfoError> {
    let mut read = |off: u64, buf: &mut [u8]| {
        let start = usize::try_from(off).map_err(io::Error::other)?;
        let src = start
            .checked_add(buf.len())
            .and_then(|end| data.get(start..end))
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    };
    create_from_reader(name, data.len() as u64, &mut read, opts)
}

fn finish(info: &[u8], opts: &CreateOptions) -> Result<Metainfo, MetainfoError> {
    let mut m = Metainfo::from_info_bytes(info, opts.trackers.clone())?;
    m.comment = opts.comment.clone();
    m.created_by = opts.created_by.clone();
    m.creation_date = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok());
    Ok(m)
}

fn hash_pieces(
    total: u64,
    piece_length: u32,
    read_at: &mut impl FnMut(u64, &mut [u8]) -> io::Result<()>,
) -> io::Result<Vec<u8>> {
    let count = total.div_ceil(u64::from(piece_length));
    let mut out = Vec::with_capacity(usize::try_from(count * 20).unwrap_or(0));
    let mut buf = vec![0u8; piece_length as usize];
    for i in 0..count {
        let off = i * u64::from(piece_length);
        let len = (total - off).min(u64::from(piece_length)) as usize;
        let chunk = &mut buf[..len];
        read_at(off, chunk)?;
        out.extend_from_slice(&Sha1::digest(&*chunk));
    }
    Ok(out)
}

enum Layout<'a> {
    Single(u64),
    Multi(&'a [(&'a [String], u64)]),
}

fn info_bytes(
    name: &str,
    piece_length: u32,
    pieces: &[u8],
    layout: Layout<'_>,
    private: bool,
) -> Vec<u8> {
    let mut w = BencodeWriter::new();
    w.begin_dict();
    match layout {
        Layout::Multi(files) => {
            w.key("files").begin_list();
            for (path, length) in files {
                w.begin_dict()
                    .key("length")
                    .int(*length as i64)
                    .key("path")
                    .begin_list();
                for c in *path {
                    w.str(c);
                }
                w.end().end();
            }
            w.end();
        }
        Layout::Single(length) => {
            w.key("length").int(length as i64);
        }
    }
    w.key("name").str(name);
    w.key("piece length").int(i64::from(piece_length));
    w.key("pieces").bytes(pieces);
    if private {
        w.key("private").int(1);
    }
    w.end();
    w.into_bytes()
}

/// Collects regular files under `dir` as (components relative to the root, path, length).
fn walk(
    dir: &Path,
    prefix: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, PathBuf, u64)>,
) -> Result<(), MetainfoError> {
    let io_err = |source| MetainfoError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        let name = entry
            .file_name()
            .into_string()
            .map_err(|n| MetainfoError::BadPath {
                path: n.to_string_lossy().into_owned(),
                reason: "file name is not UTF-8",
            })?;
        let kind = entry.file_type().map_err(io_err)?;
        prefix.push(name);
        if kind.is_dir() {
            walk(&entry.path(), prefix, out)?;
        } else if kind.is_file() {
            check_path(prefix)?;
            let len = entry.metadata().map_err(io_err)?.len();
            out.push((prefix.clone(), entry.path(), len));
        }
        prefix.pop();
    }
    Ok(())
}

/// Reads a span of the concatenated files, keeping the current file open.
struct SpanReader {
    files: Vec<(PathBuf, u64)>,
    open: Option<(usize, File)>,
    failed: Option<PathBuf>,
}

impl SpanReader {
    fn new(files: Vec<(PathBuf, u64)>) -> Self {
        Self {
            files,
            open: None,
            failed: None,
        }
    }

    fn failed_path(&self) -> Option<PathBuf> {
        self.failed.clone()
    }

    fn read_at(&mut self, offset: u64, mut buf: &mut [u8]) -> io::Result<()> {
        let mut start = 0u64;
        let mut pos = offset;
        for idx in 0..self.files.len() {
            let len = self.files[idx].1;
            let end = start + len;
            if buf.is_empty() {
                break;
            }
            if pos < end {
                let n = (end - pos).min(buf.len() as u64) as usize;
                let (head, tail) = buf.split_at_mut(n);
                if self.open.as_ref().map(|o| o.0) != Some(idx) {
                    let path = &self.files[idx].0;
                    let f = File::open(path).inspect_err(|_| self.failed = Some(path.clone()))?;
                    self.open = Some((idx, f));
                }
                if let Some((_, f)) = &self.open {
                    f.read_exact_at(head, pos - start)
                        .inspect_err(|_| self.failed = Some(self.files[idx].0.clone()))?;
                }
                pos += n as u64;
                buf = tail;
            }
            start = end;
        }
        if buf.is_empty() {
            Ok(())
        } else {
            Err(io::ErrorKind::UnexpectedEof.into())
        }
    }
}
