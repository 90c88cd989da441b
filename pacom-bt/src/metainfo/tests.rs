use std::fs;

use sha1::{Digest, Sha1};

use super::*;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed)
        .collect()
}

fn opts(piece_length: u32) -> CreateOptions {
    CreateOptions {
        piece_length: Some(piece_length),
        trackers: vec![
            "http://t.example/announce".into(),
            "udp://u.example:80".into(),
        ],
        comment: Some("test".into()),
        created_by: Some("pacom".into()),
        ..Default::default()
    }
}

/// Locates the raw info dict the slow, obvious way: `4:info` then to the end
/// minus the outer dict's `e` (it is the last key in our output).
fn raw_info(torrent: &[u8]) -> &[u8] {
    let at = torrent.windows(6).position(|w| w == b"4:info").unwrap() + 6;
    &torrent[at..torrent.len() - 1]
}

#[test]
fn single_file_round_trips_for_several_piece_sizes() {
    let dir = tempfile::tempdir().unwrap();
    for (len, pl) in [
        (1usize, 16 * 1024u32),
        (16 * 1024, 16 * 1024), // exact multiple: one piece
        (64 * 1024, 16 * 1024), // exact multiple: four pieces
        (100_000, 32 * 1024),   // short last piece
        (3 * 65_536 + 1, 65_536),
    ] {
        let data = pattern(len, 3);
        let path = dir.path().join(format!("f{len}.bin"));
        fs::write(&path, &data).unwrap();
        let m = create_from_path(&path, &opts(pl)).unwrap();
        let expected_pieces = len.div_ceil(pl as usize);
        assert_eq!(
            m.info.num_pieces() as usize,
            expected_pieces,
            "len {len} pl {pl}"
        );
        assert_eq!(m.info.total_length(), len as u64);
        assert!(!m.info.multi_file);
        assert_eq!(m.info.files[0].path, vec![format!("f{len}.bin")]);
        for i in 0..m.info.num_pieces() {
            let start = i as usize * pl as usize;
            let end = (start + pl as usize).min(len);
            assert_eq!(m.info.piece_len(i) as usize, end - start);
            let h: [u8; 20] = Sha1::digest(&data[start..end]).into();
            assert_eq!(m.info.piece_hash(i), Some(&h));
        }
        let bytes = m.to_bytes();
        assert_eq!(raw_info(&bytes), &m.info_bytes[..]);
        assert_eq!(InfoHash::of(raw_info(&bytes)), m.info_hash);
        let back = Metainfo::from_bytes(&bytes).unwrap();
        assert_eq!(back.info_hash, m.info_hash);
        assert_eq!(back.info, m.info);
        assert_eq!(back.trackers(), opts(pl).trackers);
        assert_eq!(back.comment.as_deref(), Some("test"));
        assert_eq!(back.created_by.as_deref(), Some("pacom"));
        assert_eq!(back.announce.as_deref(), Some("http://t.example/announce"));
        assert_eq!(back.to_bytes(), bytes);
    }
}

#[test]
fn multi_file_offsets_and_sorted_paths() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("album");
    fs::create_dir_all(root.join("b/sub")).unwrap();
    let files: [(&str, usize); 4] = [
        ("z.txt", 5000),
        ("a.bin", 20_000),
        ("b/sub/c", 0),
        ("b/d", 30_000),
    ];
    for (p, len) in files {
        fs::write(root.join(p), pattern(len, len as u8)).unwrap();
    }
    let m = create_from_path(&root, &opts(16 * 1024)).unwrap();
    assert!(m.info.multi_file);
    assert_eq!(m.info.name, "album");
    let got: Vec<(String, u64, u64)> = m
        .info
        .files
        .iter()
        .map(|f| (f.path.join("/"), f.length, f.offset))
        .collect();
    assert_eq!(
        got,
        vec![
            ("album/a.bin".into(), 20_000, 0),
            ("album/b/d".into(), 30_000, 20_000),
            ("album/b/sub/c".into(), 0, 50_000),
            ("album/z.txt".into(), 5000, 50_000),
        ]
    );
    // Piece hashes are over the concatenation in that order.
    let mut stream = Vec::new();
    for p in ["a.bin", "b/d", "b/sub/c", "z.txt"] {
        stream.extend(fs::read(root.join(p)).unwrap());
    }
    assert_eq!(m.info.total_length(), stream.len() as u64);
    for (i, chunk) in stream.chunks(16 * 1024).enumerate() {
        let h: [u8; 20] = Sha1::digest(chunk).into();
        assert_eq!(m.info.pieces[i], h);
    }
    let back = Metainfo::from_bytes(&m.to_bytes()).unwrap();
    assert_eq!(back.info, m.info);
    assert_eq!(back.info_hash, m.info_hash);
}

#[test]
fn generated_content_and_auto_piece_length() {
    let data = pattern(50_000, 9);
    let a = create_from_bytes("cover.wav", &data, &CreateOptions::default()).unwrap();
    let mut read = |off: u64, buf: &mut [u8]| {
        buf.copy_from_slice(&data[off as usize..off as usize + buf.len()]);
        Ok(())
    };
    let b = create_from_reader(
        "cover.wav",
        data.len() as u64,
        &mut read,
        &CreateOptions::default(),
    )
    .unwrap();
    assert_eq!(a.info_hash, b.info_hash);
    assert_eq!(a.info.piece_length, 16 * 1024);
    assert_eq!(auto_piece_length(1), 16 * 1024);
    assert_eq!(auto_piece_length(256 << 20), 256 * 1024);
    assert_eq!(auto_piece_length(1 << 40), 16 << 20);
    for total in [1u64 << 25, 3 << 30, 10 << 30] {
        let n = total.div_ceil(u64::from(auto_piece_length(total)));
        assert!((1000..=2000).contains(&n), "{total} -> {n} pieces");
    }
    assert!(matches!(
        create_from_bytes("x", &data, &opts(1000)),
        Err(MetainfoError::InvalidValue {
            key: "piece length",
            ..
        })
    ));
    assert!(matches!(
        create_from_bytes("x", &[], &CreateOptions::default()),
        Err(MetainfoError::InvalidValue { key: "length", .. })
    ));
    assert!(matches!(
        create_from_bytes("../x", &data, &CreateOptions::default()),
        Err(MetainfoError::BadPath { .. })
    ));
}

#[test]
fn magnet_from_metainfo() {
    let m = create_from_bytes("n a", b"hello", &opts(16 * 1024)).unwrap();
    let mag = m.magnet();
    assert_eq!(mag.info_hash, m.info_hash);
    assert_eq!(mag.display_name.as_deref(), Some("n a"));
    assert_eq!(crate::magnet::Magnet::parse(&mag.to_uri()).unwrap(), mag);
    let again = Metainfo::from_info_bytes(&m.info_bytes, mag.trackers.clone()).unwrap();
    assert_eq!(again.info_hash, m.info_hash);
    assert_eq!(again.trackers(), mag.trackers);
}

#[test]
fn info_hash_hex() {
    let h = InfoHash::from_hex("00112233445566778899AABBCCDDEEFF00112233").unwrap();
    assert_eq!(h.to_string(), "00112233445566778899aabbccddeeff00112233");
    assert_eq!(
        format!("{h:?}"),
        "InfoHash(00112233445566778899aabbccddeeff00112233)"
    );
    assert!(InfoHash::from_hex("0011").is_err());
    assert!(InfoHash::from_hex(&"zz".repeat(20)).is_err());
}

/// Builds an info dict from parts, keys in sorted order.
fn info_with(files_or_length: &str, name: &str, piece_length: i64, pieces: &[u8]) -> Vec<u8> {
    let mut v = b"d".to_vec();
    v.extend_from_slice(files_or_length.as_bytes());
    v.extend(format!("4:name{}:{}", name.len(), name).bytes());
    v.extend(format!("12:piece lengthi{piece_length}e").bytes());
    v.extend(format!("6:pieces{}:", pieces.len()).bytes());
    v.extend_from_slice(pieces);
    v.push(b'e');
    v
}

fn torrent_with(info: &[u8]) -> Vec<u8> {
    let mut v = b"d8:announce3:url4:info".to_vec();
    v.extend_from_slice(info);
    v.push(b'e');
    v
}

#[test]
fn hand_written_torrent_parses() {
    let info = info_with("6:lengthi20000e", "f", 16384, &[1; 40]);
    let m = Metainfo::from_bytes(&torrent_with(&info)).unwrap();
    assert_eq!(m.info_hash, InfoHash::of(&info));
    assert_eq!(m.info.piece_len(1), 20000 - 16384);
    assert_eq!(m.info.piece_len(2), 0);
    assert_eq!(m.trackers(), vec!["url".to_string()]);
}

#[test]
fn malformed_torrents_are_rejected_with_the_right_error() {
    use MetainfoError as E;
    let ok_info = info_with("6:lengthi20000e", "f", 16384, &[1; 40]);
    type Check = fn(&MetainfoError) -> bool;
    let cases: Vec<(Vec<u8>, Check)> = vec![
        (b"d8:announce".to_vec(), |e| matches!(e, E::Bencode { .. })),
        (b"i3e".to_vec(), |e| {
            matches!(e, E::NotADict { context: "torrent" })
        }),
        (b"".to_vec(), |e| matches!(e, E::Bencode { .. })),
        (b"d8:announce3:urle".to_vec(), |e| {
            matches!(e, E::MissingKey { key: "info", .. })
        }),
        (b"d4:infoi1ee".to_vec(), |e| {
            matches!(e, E::NotADict { context: "info" })
        }),
        // Unsorted keys are not canonical bencode.
        (b"d4:infode8:announce0:e".to_vec(), |e| {
            matches!(e, E::Bencode { .. })
        }),
        (
            torrent_with(b"d6:lengthi1e4:name1:f6:pieces20:aaaaaaaaaaaaaaaaaaaae"),
            |e| {
                matches!(
                    e,
                    E::MissingKey {
                        key: "piece length",
                        ..
                    }
                )
            },
        ),
        (
            torrent_with(&info_with("6:lengthi20000e", "f", 16384, &[1; 39])),
            |e| matches!(e, E::PiecesLength { len: 39 }),
        ),
        (
            // Exact multiple with one hash too many (what some tools write).
            torrent_with(&info_with("6:lengthi32768e", "f", 16384, &[1; 60])),
            |e| {
                matches!(
                    e,
                    E::PieceCount {
                        expected: 2,
                        found: 3,
                        ..
                    }
                )
            },
        ),
        (
            torrent_with(&info_with("6:lengthi20000e", "f", 16384, &[1; 20])),
            |e| {
                matches!(
                    e,
                    E::PieceCount {
                        expected: 2,
                        found: 1,
                        ..
                    }
                )
            },
        ),
        (
            torrent_with(&info_with("6:lengthi20000e", "f", 0, &[1; 40])),
            |e| {
                matches!(
                    e,
                    E::InvalidValue {
                        key: "piece length",
                        ..
                    }
                )
            },
        ),
        (
            torrent_with(&info_with("6:lengthi-5e", "f", 16384, &[])),
            |e| matches!(e, E::InvalidValue { key: "length", .. }),
        ),
        (
            torrent_with(&info_with("6:length2:xx", "f", 16384, &[])),
            |e| matches!(e, E::WrongType { key: "length", .. }),
        ),
        (
            torrent_with(&info_with("6:lengthi20000e", "..", 16384, &[1; 40])),
            |e| matches!(e, E::BadPath { .. }),
        ),
        (
            torrent_with(&info_with(
                "5:filesld6:lengthi5e4:pathl2:..6:passwdeee",
                "d",
                16384,
                &[1; 20],
            )),
            |e| matches!(e, E::BadPath { .. }),
        ),
        (
            torrent_with(&info_with(
                "5:filesld6:lengthi5e4:pathl0:1:xeee",
                "d",
                16384,
                &[1; 20],
            )),
            |e| matches!(e, E::BadPath { .. }),
        ),
        (
            torrent_with(&info_with(
                "5:filesld6:lengthi5e4:pathl3:a/beee",
                "d",
                16384,
                &[1; 20],
            )),
            |e| matches!(e, E::BadPath { .. }),
        ),
        (
            torrent_with(&info_with(
                "5:filesld6:lengthi5e4:pathleee",
                "d",
                16384,
                &[1; 20],
            )),
            |e| matches!(e, E::BadPath { .. }),
        ),
        (
            torrent_with(&info_with(
                "5:filesld6:lengthi5e4:pathl1:aeed6:lengthi5e4:pathl1:aeee",
                "d",
                16384,
                &[1; 20],
            )),
            |e| {
                matches!(
                    e,
                    E::BadPath {
                        reason: "duplicate file path",
                        ..
                    }
                )
            },
        ),
        (
            torrent_with(&info_with("5:filesle", "d", 16384, &[])),
            |e| matches!(e, E::InvalidValue { key: "files", .. }),
        ),
        (
            torrent_with(&info_with("6:lengthi0e", "f", 16384, &[])),
            |e| matches!(e, E::InvalidValue { key: "length", .. }),
        ),
    ];
    for (i, (data, check)) in cases.iter().enumerate() {
        match Metainfo::from_bytes(data) {
            Ok(_) => panic!("case {i} parsed: {}", String::from_utf8_lossy(data)),
            Err(e) => assert!(check(&e), "case {i}: unexpected error {e:?}"),
        }
    }
    assert!(Metainfo::from_bytes(&torrent_with(&ok_info)).is_ok());
    // An info dict received over ut_metadata must be exactly one dict.
    let mut trailing = ok_info.clone();
    trailing.extend_from_slice(b"i1e");
    assert!(matches!(
        Metainfo::from_info_bytes(&trailing, vec![]),
        Err(E::Bencode {
            context: "info",
            ..
        })
    ));
}

#[test]
fn unknown_info_keys_are_kept_in_the_hash() {
    // Keys we do not understand must still count towards the info hash.
    let mut info = b"d6:lengthi3e4:name1:f12:piece lengthi16384e6:pieces20:".to_vec();
    info.extend_from_slice(&[2; 20]);
    info.extend_from_slice(b"7:privatei1e6:sourcei42ee");
    let t = torrent_with(&info);
    let m = Metainfo::from_bytes(&t).unwrap();
    assert!(m.info.private);
    assert_eq!(m.info_hash, InfoHash::of(&info));
    assert_eq!(m.to_bytes(), t);
}

#[test]
fn parsers_survive_random_and_mutated_input() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let good = create_from_bytes("f", &pattern(40_000, 1), &opts(16 * 1024))
        .unwrap()
        .to_bytes();
    for _ in 0..3000 {
        let mut data = good.clone();
        for _ in 0..rng.gen_range(1..6) {
            let i = rng.gen_range(0..data.len());
            match rng.gen_range(0..3) {
                0 => data[i] = rng.gen(),
                1 => data.truncate(i),
                _ => data.insert(i, rng.gen()),
            }
            if data.is_empty() {
                break;
            }
        }
        let _ = Metainfo::from_bytes(&data);
        let _ = Metainfo::from_info_bytes(&data, vec![]);
        let len = rng.gen_range(0..64);
        let noise: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        let _ = Metainfo::from_bytes(&noise);
    }
}
