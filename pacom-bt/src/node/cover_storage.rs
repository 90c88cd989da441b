//! The engine storage of a PACOM swarm: the PACOM file's genuine bytes,
//! regenerated from its seed on every read.
//!
//! Every member can regenerate the cover, so the torrent is complete from the
//! start and outside BitTorrent clients get ordinary seed service with valid
//! piece hashes. Nothing is ever stored: a write of the bytes already there is
//! accepted (it changes nothing), a write of different bytes is an error.

use std::path::PathBuf;
use std::sync::Arc;

use pacom_core::pacom_file::PacomFile;

use crate::storage::{Storage, StorageError};

/// Read-only [`Storage`] over a generated PACOM file.
#[derive(Debug, Clone)]
pub struct CoverStorage {
    file: Arc<PacomFile>,
}

impl CoverStorage {
    pub fn new(file: Arc<PacomFile>) -> Self {
        Self { file }
    }

    fn check_range(&self, offset: u64, len: usize) -> Result<(), StorageError> {
        let total = self.file.length;
        let fits = offset
            .checked_add(len as u64)
            .is_some_and(|end| end <= total);
        if fits {
            Ok(())
        } else {
            Err(StorageError::OutOfRange {
                offset,
                len: len as u64,
                total,
            })
        }
    }

    fn cover_error(&self, offset: u64, e: impl std::fmt::Display) -> StorageError {
        StorageError::Io {
            path: PathBuf::from(&self.file.name),
            offset,
            source: std::io::Error::other(format!("cover generation failed: {e}")),
        }
    }
}

impl Storage for CoverStorage {
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        self.check_range(offset, buf.len())?;
        self.file
            .cover
            .read_at(offset, buf)
            .map_err(|e| self.cover_error(offset, e))
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        self.check_range(offset, data.len())?;
        let mut genuine = vec![0u8; data.len()];
        self.read(offset, &mut genuine)?;
        if genuine != data {
            return Err(StorageError::Io {
                path: PathBuf::from(&self.file.name),
                offset,
                source: std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    "PACOM cover storage is read-only: write differs from the cover",
                ),
            });
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metainfo::Metainfo;
    use crate::storage::{read_block, recheck};
    use pacom_core::pacom_file::{CoverKind, PacomFileOptions};

    fn file(size: u64) -> Arc<PacomFile> {
        let f = PacomFile::generate(
            [7; 32],
            &CoverKind::Archive,
            &PacomFileOptions::with_size(size),
        )
        .expect("generate");
        Arc::new(f)
    }

    #[test]
    fn serves_the_genuine_bytes_and_every_piece_verifies() {
        let f = file(5 * 32768 + 1000);
        let st = CoverStorage::new(f.clone());
        let m = Metainfo::from_bytes(&f.torrent_bytes(&[])).expect("metainfo");
        assert_eq!(m.info_hash.0, f.info_hash);
        let have = recheck(&st, &m.info).expect("recheck");
        assert!(have.is_full(), "every piece must verify");
        let block = read_block(&st, &m.info, 5, 0, 1000).expect("last block");
        assert_eq!(block, f.block(5, 0, 1000).expect("cover block"));
        let mid = read_block(&st, &m.info, 2, 16384, 16384).expect("block");
        assert_eq!(mid, f.block(2, 16384, 16384).expect("cover block"));
    }

    #[test]
    fn out_of_range_and_foreign_writes_are_errors() {
        let f = file(3 * 32768);
        let st = CoverStorage::new(f.clone());
        let mut buf = [0u8; 10];
        assert!(matches!(
            st.read(3 * 32768 - 5, &mut buf),
            Err(StorageError::OutOfRange { .. })
        ));
        assert!(matches!(
            st.read(u64::MAX - 2, &mut buf),
            Err(StorageError::OutOfRange { .. })
        ));
        // Writing back the genuine bytes is harmless; anything else is refused.
        let genuine = f.block(1, 0, 16384).expect("block");
        assert!(st.write(32768, &genuine).is_ok());
        let mut forged = genuine.clone();
        forged[100] ^= 1;
        assert!(matches!(
            st.write(32768, &forged),
            Err(StorageError::Io { .. })
        ));
        // And the storage still serves the genuine block afterwards.
        let mut again = vec![0u8; 16384];
        st.read(32768, &mut again).expect("read");
        assert_eq!(again, genuine);
        assert!(st.write(3 * 32768, &[1]).is_err());
    }
}
