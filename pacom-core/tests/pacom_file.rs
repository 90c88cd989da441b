//! PACOM files: determinism, real metainfo, genuine blocks.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use pacom_core::bootstrap::{file_seed, pacom_file_for, UtcDate};
use pacom_core::pacom_file::{
    CoverFactory, CoverKind, PacomFile, PacomFileError, PacomFileOptions,
};
use sha1::{Digest, Sha1};
use stego::{ArchiveCover, ArchiveParams, Cover};

/// A just-enough bencode reader, independent of the encoder under test.
#[derive(Debug, PartialEq)]
enum B {
    I(i64),
    S(Vec<u8>),
    L(Vec<B>),
    D(BTreeMap<Vec<u8>, B>),
}

fn parse(input: &[u8]) -> (B, &[u8]) {
    match input[0] {
        b'i' => {
            let end = input.iter().position(|&c| c == b'e').unwrap();
            let n = std::str::from_utf8(&input[1..end])
                .unwrap()
                .parse()
                .unwrap();
            (B::I(n), &input[end + 1..])
        }
        b'l' => {
            let mut rest = &input[1..];
            let mut items = Vec::new();
            while rest[0] != b'e' {
                let (item, r) = parse(rest);
                items.push(item);
                rest = r;
            }
            (B::L(items), &rest[1..])
        }
        b'd' => {
            let mut rest = &input[1..];
            let mut map = BTreeMap::new();
            let mut last: Option<Vec<u8>> = None;
            while rest[0] != b'e' {
                let (B::S(key), r) = parse(rest) else {
                    panic!("non-string key")
                };
                assert!(last.as_ref().is_none_or(|l| *l < key), "keys not sorted");
                last = Some(key.clone());
                let (value, r) = parse(r);
                map.insert(key, value);
                rest = r;
            }
            (B::D(map), &rest[1..])
        }
        _ => {
            let colon = input.iter().position(|&c| c == b':').unwrap();
            let len: usize = std::str::from_utf8(&input[..colon])
                .unwrap()
                .parse()
                .unwrap();
            let start = colon + 1;
            (
                B::S(input[start..start + len].to_vec()),
                &input[start + len..],
            )
        }
    }
}

fn dict(b: &B) -> &BTreeMap<Vec<u8>, B> {
    match b {
        B::D(d) => d,
        other => panic!("not a dict: {other:?}"),
    }
}

const KEY: &[u8] = b"test group key";
const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));

fn date() -> UtcDate {
    UtcDate::from_ymd(2026, 11, 22).unwrap()
}

fn file(x: u8, ip: IpAddr, date: UtcDate, size: u64) -> PacomFile {
    pacom_file_for(
        KEY,
        x,
        ip,
        date,
        &CoverKind::Archive,
        &PacomFileOptions::with_size(size),
    )
    .unwrap()
}

#[test]
fn same_inputs_same_info_hash_and_any_change_differs() {
    let size = 3 << 20;
    let a = file(3, IP, date(), size);
    assert_eq!(a.info_hash, file(3, IP, date(), size).info_hash);
    let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7));
    let variants = [
        file(4, IP, date(), size),
        file(3, IpAddr::V4(Ipv4Addr::new(203, 0, 113, 8)), date(), size),
        file(3, v6, date(), size),
        file(3, IP, date().offset(1), size),
    ];
    for v in &variants {
        assert_ne!(v.info_hash, a.info_hash);
    }
    let other_key = pacom_file_for(
        b"another key",
        3,
        IP,
        date(),
        &CoverKind::Archive,
        &PacomFileOptions::with_size(size),
    )
    .unwrap();
    assert_ne!(other_key.info_hash, a.info_hash);
}

#[test]
fn info_hash_is_sha1_of_a_canonical_info_dict_with_exact_pieces() {
    let f = file(1, IP, date(), (5 << 20) + 12_345);
    let expected: [u8; 20] = Sha1::digest(&f.info_bytes).into();
    assert_eq!(f.info_hash, expected);
    let (info, rest) = parse(&f.info_bytes);
    assert!(rest.is_empty());
    let info = dict(&info);
    let keys: Vec<&[u8]> = info.keys().map(|k| k.as_slice()).collect();
    assert_eq!(keys, [&b"length"[..], b"name", b"piece length", b"pieces"]);
    assert_eq!(info[&b"length".to_vec()], B::I(f.length as i64));
    assert_eq!(info[&b"name".to_vec()], B::S(f.name.clone().into_bytes()));
    let B::S(pieces) = &info[&b"pieces".to_vec()] else {
        panic!()
    };
    let expected_count = f.length.div_ceil(u64::from(f.piece_length));
    assert_eq!(pieces.len() as u64, 20 * expected_count);
    assert_eq!(u64::from(f.num_pieces()), expected_count);
}

#[test]
fn exact_multiple_length_has_no_empty_last_piece() {
    let opts = PacomFileOptions {
        size: Some(4 * 65_536),
        piece_length: Some(65_536),
        ..PacomFileOptions::default()
    };
    let f = PacomFile::generate([9; 32], &CoverKind::Archive, &opts).unwrap();
    assert_eq!(f.num_pieces(), 4);
    assert_eq!(f.piece_len(3), Some(65_536));
    assert_eq!(f.piece_len(4), None);
    let opts = PacomFileOptions {
        size: Some(4 * 65_536 + 1),
        ..opts
    };
    let f = PacomFile::generate([9; 32], &CoverKind::Archive, &opts).unwrap();
    assert_eq!(f.num_pieces(), 5);
    assert_eq!(f.piece_len(4), Some(1));
}

#[test]
fn bad_piece_length_is_rejected() {
    let opts = PacomFileOptions {
        size: Some(100_000),
        piece_length: Some(40_000),
        ..PacomFileOptions::default()
    };
    assert_eq!(
        PacomFile::generate([1; 32], &CoverKind::Archive, &opts).unwrap_err(),
        PacomFileError::PieceLength(40_000)
    );
}

#[test]
fn blocks_match_the_cover_and_bad_requests_are_errors() {
    let f = file(2, IP, date(), (2 << 20) + 777);
    let last = f.num_pieces() - 1;
    for &(piece, offset, len) in &[(0, 0, 16_384), (1, 16_384, 16_384), (last, 0, 777)] {
        let block = f.block(piece, offset, len).unwrap();
        let mut direct = vec![0u8; len as usize];
        let at = u64::from(piece) * u64::from(f.piece_length) + u64::from(offset);
        f.cover.read_at(at, &mut direct).unwrap();
        assert_eq!(block, direct);
    }
    assert!(f.block(last, 0, 778).is_err());
    assert!(f.block(last + 1, 0, 1).is_err());
    assert!(f.block(0, u32::MAX, 2).is_err());
    assert!(f.block(0, f.piece_length - 1, 2).is_err());
}

#[test]
fn torrent_file_parses_and_every_piece_verifies() {
    let f = file(5, IP, date(), (3 << 20) + 5);
    let trackers = [
        "udp://tracker.example.org:6969/announce",
        "http://t.example.net/announce",
    ];
    let bytes = f.torrent_bytes(&trackers);
    let (root, rest) = parse(&bytes);
    assert!(rest.is_empty());
    let root = dict(&root);
    assert_eq!(
        root[&b"announce".to_vec()],
        B::S(trackers[0].as_bytes().to_vec())
    );
    let B::L(tiers) = &root[&b"announce-list".to_vec()] else {
        panic!()
    };
    assert_eq!(tiers.len(), 2);
    // The embedded info dict is byte-identical: find it and hash it.
    let start = bytes.windows(6).position(|w| w == b"4:info").unwrap() + 6;
    let info_bytes = &bytes[start..bytes.len() - 1];
    assert_eq!(info_bytes, f.info_bytes.as_slice());
    let info = dict(&root[&b"info".to_vec()]);
    let B::I(piece_length) = info[&b"piece length".to_vec()] else {
        panic!()
    };
    let B::S(pieces) = &info[&b"pieces".to_vec()] else {
        panic!()
    };
    let mut content = vec![0u8; f.length as usize];
    f.cover.read_at(0, &mut content).unwrap();
    let chunks: Vec<&[u8]> = content.chunks(piece_length as usize).collect();
    assert_eq!(chunks.len() * 20, pieces.len());
    for (i, chunk) in chunks.iter().enumerate() {
        let h: [u8; 20] = Sha1::digest(chunk).into();
        assert_eq!(&pieces[i * 20..i * 20 + 20], &h, "piece {i}");
        assert_eq!(f.piece_hash(i as u32), Some(h));
    }
    // With no tracker the torrent is DHT-only and still well formed.
    let (bare, _) = parse(&f.torrent_bytes(&[]));
    assert_eq!(dict(&bare).len(), 1);
}

/// A stand-in for the private-mode cover, to show the factory plugs in.
struct Fixed;

impl CoverFactory for Fixed {
    fn kind_name(&self) -> &str {
        "fixed"
    }
    fn build(&self, seed: [u8; 32], size: Option<u64>) -> Result<Box<dyn Cover>, PacomFileError> {
        let size = size.ok_or_else(|| PacomFileError::Cover("size required".into()))?;
        Ok(Box::new(ArchiveCover::new(
            seed,
            ArchiveParams::with_size(size),
        )))
    }
}

#[test]
fn custom_cover_factories_plug_in() {
    let kind = CoverKind::Custom(Arc::new(Fixed));
    let seed = file_seed(KEY, 1, IP, date());
    let f = PacomFile::generate(seed, &kind, &PacomFileOptions::with_size(70_000)).unwrap();
    let g = PacomFile::generate(
        seed,
        &CoverKind::Archive,
        &PacomFileOptions::with_size(70_000),
    )
    .unwrap();
    assert_eq!(f.info_hash, g.info_hash);
    assert!(PacomFile::generate(seed, &kind, &PacomFileOptions::default()).is_err());
    assert_eq!(format!("{kind:?}"), "Custom(fixed)");
}

#[test]
fn bendy_a_strict_third_party_decoder_accepts_the_torrent() {
    use bendy::decoding::{Decoder, Object};
    let f = file(6, IP, date(), 300_000);
    let bytes = f.torrent_bytes(&["udp://tracker.example.org:6969/announce"]);
    let mut decoder = Decoder::new(&bytes);
    let Some(Object::Dict(mut root)) = decoder.next_object().unwrap() else {
        panic!("torrent is not a dictionary")
    };
    let mut keys = Vec::new();
    let mut info_raw = None;
    while let Some((key, value)) = root.next_pair().unwrap() {
        keys.push(key.to_vec());
        if key == b"info" {
            let Object::Dict(info) = value else {
                panic!("info is not a dictionary")
            };
            info_raw = Some(info.into_raw().unwrap().to_vec());
        }
    }
    assert_eq!(keys, [b"announce".to_vec(), b"info".to_vec()]);
    assert_eq!(info_raw.unwrap(), f.info_bytes);
}

#[test]
fn empty_custom_cover_is_rejected() {
    struct Empty;
    impl Cover for Empty {
        fn name(&self) -> &str {
            "empty.bin"
        }
        fn len(&self) -> u64 {
            0
        }
        fn read_at(&self, _: u64, _: &mut [u8]) -> Result<(), stego::CoverError> {
            Ok(())
        }
    }
    assert_eq!(
        PacomFile::from_cover(Box::new(Empty), None).unwrap_err(),
        PacomFileError::EmptyCover
    );
}
