use super::*;
use crate::metainfo::{create_from_bytes, create_from_path, CreateOptions, FileEntry, Info};
use sha1::{Digest, Sha1};

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| ((i * 131 + i / 7) as u8) ^ seed).collect()
}

fn opts() -> CreateOptions {
    CreateOptions {
        piece_length: Some(BLOCK_SIZE),
        ..Default::default()
    }
}

/// A multi-file torrent over a directory: returns (info, concatenated stream).
fn multi_file_fixture(src: &std::path::Path) -> (Info, Vec<u8>) {
    let root = src.join("t");
    std::fs::create_dir_all(root.join("d")).unwrap();
    let parts = [("a", 10_000usize), ("b", 0), ("d/c", 30_001), ("e", 7)];
    let mut stream = Vec::new();
    for (i, (p, len)) in parts.iter().enumerate() {
        let data = pattern(*len, i as u8);
        std::fs::write(root.join(p), &data).unwrap();
        stream.extend(data);
    }
    (create_from_path(&root, &opts()).unwrap().info, stream)
}

#[test]
fn file_storage_spans_files_and_resumes() {
    let src = tempfile::tempdir().unwrap();
    let (info, stream) = multi_file_fixture(src.path());
    assert_eq!(info.num_pieces(), 3);
    let dl = tempfile::tempdir().unwrap();
    let st = FileStorage::open(dl.path(), &info).unwrap();
    // Fresh storage: files exist at full size, nothing verifies.
    assert_eq!(
        std::fs::metadata(dl.path().join("t/d/c")).unwrap().len(),
        30_001
    );
    assert_eq!(std::fs::metadata(dl.path().join("t/b")).unwrap().len(), 0);
    assert_eq!(recheck(&st, &info).unwrap().count_ones(), 0);

    // One write spanning a, (empty) b and into d/c; then pieces 2 only.
    st.write(5000, &stream[5000..20_000]).unwrap();
    let p2 = info.piece_offset(2) as usize;
    st.write(p2 as u64, &stream[p2..]).unwrap();
    st.flush().unwrap();
    let mut back = vec![0; 15_000];
    st.read(5000, &mut back).unwrap();
    assert_eq!(back, &stream[5000..20_000]);
    let have = recheck(&st, &info).unwrap();
    assert_eq!(have.iter_ones().collect::<Vec<_>>(), vec![2]);
    st.write(0, &stream[..5000]).unwrap();
    st.write(20_000, &stream[20_000..p2]).unwrap();
    assert!(recheck(&st, &info).unwrap().is_full());
    assert_eq!(
        std::fs::read(dl.path().join("t/e")).unwrap(),
        &stream[stream.len() - 7..]
    );
    drop(st);

    // Reopening keeps the data; corrupting one byte fails exactly that piece.
    let st = FileStorage::open(dl.path(), &info).unwrap();
    assert!(recheck(&st, &info).unwrap().is_full());
    st.write(16_384 + 3, &[stream[16_384 + 3] ^ 1]).unwrap();
    assert!(!verify_piece(&st, &info, 1).unwrap());
    assert!(verify_piece(&st, &info, 0).unwrap());
    let have = recheck(&st, &info).unwrap();
    assert_eq!(have.iter_ones().collect::<Vec<_>>(), vec![0, 2]);

    // Out of range is an error, not a short read.
    let total = info.total_length();
    assert!(matches!(
        st.read(total - 1, &mut [0; 2]),
        Err(StorageError::OutOfRange { .. })
    ));
    assert!(matches!(
        st.write(u64::MAX, &[0]),
        Err(StorageError::OutOfRange { .. })
    ));
    assert!(st.read(total, &mut []).is_ok());
}

#[test]
fn file_storage_rejects_unsafe_paths() {
    let dl = tempfile::tempdir().unwrap();
    for path in [
        vec!["..".to_string(), "x".into()],
        vec!["".into(), "etc".into()],
        vec!["a/b".into()],
        vec!["ok".into(), "/abs".into()],
        vec![],
    ] {
        let info = Info {
            name: "x".into(),
            piece_length: BLOCK_SIZE,
            pieces: vec![[0; 20]],
            files: vec![FileEntry {
                path: path.clone(),
                length: 1,
                offset: 0,
                pad: false,
            }],
            private: false,
            multi_file: true,
        };
        assert!(
            matches!(
                FileStorage::open(dl.path(), &info),
                Err(StorageError::BadPath { .. })
            ),
            "{path:?}"
        );
    }
    assert_eq!(std::fs::read_dir(dl.path()).unwrap().count(), 0);
}

#[test]
fn piece_buffer_writes_only_verified_pieces() {
    let data = pattern(40_000, 5);
    let info = create_from_bytes(
        "f",
        &data,
        &CreateOptions {
            piece_length: Some(2 * BLOCK_SIZE),
            ..Default::default()
        },
    )
    .unwrap()
    .info;
    let st = MemoryStorage::new(data.len());
    assert!(PieceBuffer::new(&info, 2).is_none());

    let mut pb = PieceBuffer::new(&info, 1).unwrap();
    assert_eq!(pb.len(), 40_000 - 32_768);
    assert_eq!(pb.missing_blocks().collect::<Vec<_>>(), vec![(0, 7232)]);
    assert_eq!(pb.commit(&info, &st).unwrap(), PieceOutcome::Incomplete);
    assert!(matches!(
        pb.add_block(1, &[0]),
        Err(BlockError::Misaligned { .. })
    ));
    assert!(matches!(
        pb.add_block(0, &[0; 10]),
        Err(BlockError::WrongLength { .. })
    ));
    assert!(matches!(
        pb.add_block(BLOCK_SIZE, &[]),
        Err(BlockError::OutOfRange { .. })
    ));
    // A corrupt block: hash fails and storage stays untouched.
    let mut bad = data[32_768..].to_vec();
    bad[0] ^= 0xff;
    assert_eq!(pb.add_block(0, &bad), Ok(true));
    assert_eq!(pb.commit(&info, &st).unwrap(), PieceOutcome::HashMismatch);
    assert_eq!(st.to_vec(), vec![0; data.len()]);

    let mut pb = PieceBuffer::new(&info, 0).unwrap();
    assert_eq!(pb.num_blocks(), 2);
    assert_eq!(pb.add_block(BLOCK_SIZE, &data[16_384..32_768]), Ok(true));
    assert_eq!(pb.add_block(BLOCK_SIZE, &data[16_384..32_768]), Ok(false));
    assert!(pb.has_block(BLOCK_SIZE) && !pb.has_block(0));
    assert_eq!(pb.add_block(0, &data[..16_384]), Ok(true));
    assert!(pb.is_complete());
    assert_eq!(pb.commit(&info, &st).unwrap(), PieceOutcome::Written);
    assert!(verify_piece(&st, &info, 0).unwrap());
    assert!(!verify_piece(&st, &info, 1).unwrap());
    assert_eq!(
        recheck(&st, &info).unwrap().iter_ones().collect::<Vec<_>>(),
        vec![0]
    );
}

#[test]
fn read_block_checks_requests() {
    let data = pattern(40_000, 2);
    let info = create_from_bytes("f", &data, &opts()).unwrap().info;
    let st = MemoryStorage::from_vec(data.clone());
    assert_eq!(
        read_block(&st, &info, 1, 100, 50).unwrap(),
        &data[16_484..16_534]
    );
    assert_eq!(read_block(&st, &info, 2, 0, 7232).unwrap(), &data[32_768..]);
    for (index, begin, len) in [
        (2, 0, 7233),
        (3, 0, 1),
        (0, 16_000, 1000),
        (0, 0, 0),
        (0, u32::MAX, 2),
    ] {
        assert!(
            matches!(
                read_block(&st, &info, index, begin, len),
                Err(StorageError::BadRequest { .. })
            ),
            "{index} {begin} {len}"
        );
    }
    assert!(matches!(
        verify_piece(&st, &info, 3),
        Err(StorageError::BadRequest { .. })
    ));
}

#[test]
fn padding_files_are_not_created_and_read_as_zeros() {
    // BEP 47 layout as libtorrent writes hybrid torrents: a, pad to 16 KiB, b.
    let a = pattern(10_000, 1);
    let b = pattern(3000, 2);
    let mut stream = a.clone();
    stream.resize(16_384, 0);
    stream.extend_from_slice(&b);
    let hashes: Vec<u8> = stream
        .chunks(16_384)
        .flat_map(|c| <[u8; 20]>::from(Sha1::digest(c)))
        .collect();
    let mut info = b"d5:filesl".to_vec();
    info.extend_from_slice(b"d6:lengthi10000e4:pathl1:aee");
    info.extend_from_slice(b"d4:attr1:p6:lengthi6384e4:pathl4:.pad4:6384ee");
    info.extend_from_slice(b"d6:lengthi3000e4:pathl1:bee");
    info.extend_from_slice(b"e4:name1:t12:piece lengthi16384e6:pieces40:");
    info.extend_from_slice(&hashes);
    info.push(b'e');
    let m = crate::metainfo::Metainfo::from_info_bytes(&info, vec![]).unwrap();
    let pads: Vec<bool> = m.info.files.iter().map(|f| f.pad).collect();
    assert_eq!(pads, vec![false, true, false]);
    assert_eq!(m.info.files[2].offset, 16_384);

    let dl = tempfile::tempdir().unwrap();
    let st = FileStorage::open(dl.path(), &m.info).unwrap();
    assert!(!dl.path().join("t/.pad").exists());
    st.write(0, &stream).unwrap();
    assert!(recheck(&st, &m.info).unwrap().is_full());
    assert_eq!(std::fs::read(dl.path().join("t/a")).unwrap(), a);
    assert_eq!(std::fs::read(dl.path().join("t/b")).unwrap(), b);
    let mut back = vec![1; stream.len()];
    st.read(0, &mut back).unwrap();
    assert_eq!(back, stream);
}
