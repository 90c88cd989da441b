//! A torrent's byte stream laid out as files under a download directory.
//!
//! File handles stay open for the torrent's life and all I/O is positioned
//! (`pread`/`pwrite` via `FileExt`), so concurrent readers and writers need no
//! lock and no seek, and a 256 MiB transfer costs one syscall per file span.
//! BEP 47 padding files are not created: they read as zeros and writes to
//! them are dropped (a verified piece holds zeros there anyway).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{Storage, StorageError};
use crate::metainfo::{check_path_component, Info};

struct OpenFile {
    path: PathBuf,
    offset: u64,
    length: u64,
    /// `None` for a padding file.
    file: Option<File>,
}

/// Files of one torrent, created and sized on open.
pub struct FileStorage {
    files: Vec<OpenFile>,
    total: u64,
}

impl std::fmt::Debug for FileStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStorage")
            .field("files", &self.files.len())
            .field("total", &self.total)
            .finish()
    }
}

impl FileStorage {
    /// Opens (creating as needed) every file of `info` under `dir`, sized to its
    /// length; existing data is kept so [`super::recheck`] can resume. Each path
    /// component is checked again here: an `Info` built by hand must not escape
    /// `dir` either.
    pub fn open(dir: &Path, info: &Info) -> Result<Self, StorageError> {
        let mut files = Vec::with_capacity(info.files.len());
        for entry in &info.files {
            let shown = entry.path.join("/");
            if entry.path.is_empty() {
                return Err(StorageError::BadPath {
                    path: shown,
                    reason: "empty path",
                });
            }
            for c in &entry.path {
                check_path_component(c).map_err(|reason| StorageError::BadPath {
                    path: shown.clone(),
                    reason,
                })?;
            }
            let path: PathBuf = entry.path.iter().fold(dir.to_path_buf(), |p, c| p.join(c));
            if entry.pad {
                files.push(OpenFile {
                    path,
                    offset: entry.offset,
                    length: entry.length,
                    file: None,
                });
                continue;
            }
            let io = |source| StorageError::Io {
                path: path.clone(),
                offset: 0,
                source,
            };
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io)?;
            let current = file.metadata().map_err(io)?.len();
            if current != entry.length {
                file.set_len(entry.length).map_err(io)?;
            }
            files.push(OpenFile {
                path,
                offset: entry.offset,
                length: entry.length,
                file: Some(file),
            });
        }
        Ok(Self {
            files,
            total: info.total_length(),
        })
    }

    /// Paths of the files, in stream order.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|f| f.path.as_path())
    }

    /// Runs `op(file, offset_in_file, start..end of the buffer)` for each file the
    /// access `[offset, offset + len)` touches.
    fn for_each_span(
        &self,
        offset: u64,
        len: usize,
        mut op: impl FnMut(&OpenFile, u64, std::ops::Range<usize>) -> std::io::Result<()>,
    ) -> Result<(), StorageError> {
        let end = offset
            .checked_add(len as u64)
            .filter(|&e| e <= self.total)
            .ok_or(StorageError::OutOfRange {
                offset,
                len: len as u64,
                total: self.total,
            })?;
        // First file whose end lies past `offset` (skips empty files before it).
        let first = self
            .files
            .partition_point(|f| f.offset + f.length <= offset);
        let mut pos = offset;
        for f in self.files.iter().skip(first) {
            if pos >= end {
                break;
            }
            if f.length == 0 {
                continue;
            }
            let in_file = pos - f.offset;
            let n = (f.offset + f.length - pos).min(end - pos);
            let start = (pos - offset) as usize;
            op(f, in_file, start..start + n as usize).map_err(|source| StorageError::Io {
                path: f.path.clone(),
                offset: in_file,
                source,
            })?;
            pos += n;
        }
        Ok(())
    }
}

impl Storage for FileStorage {
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let len = buf.len();
        self.for_each_span(offset, len, |f, at, r| match &f.file {
            Some(file) => file.read_exact_at(&mut buf[r], at),
            None => {
                buf[r].fill(0);
                Ok(())
            }
        })
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        self.for_each_span(offset, data.len(), |f, at, r| match &f.file {
            Some(file) => file.write_all_at(&data[r], at),
            None => Ok(()),
        })
    }

    fn flush(&self) -> Result<(), StorageError> {
        for (f, file) in self
            .files
            .iter()
            .filter_map(|f| Some((f, f.file.as_ref()?)))
        {
            file.sync_data().map_err(|source| StorageError::Io {
                path: f.path.clone(),
                offset: 0,
                source,
            })?;
        }
        Ok(())
    }
}
