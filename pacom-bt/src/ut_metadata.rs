//! BEP 9 `ut_metadata`: fetching a torrent's info dict from peers when all we
//! have is a magnet link, and serving ours. Sans-IO: this module encodes and
//! decodes the extension payloads and tracks assembly; the peer-wire side
//! frames them in extended messages and picks peers.

use bendy::decoding::{Decoder, Object};
use sha1::{Digest, Sha1};
use thiserror::Error;

use crate::metainfo::{BencodeWriter, InfoHash};

/// Metadata moves in pieces of this size (the last one may be shorter).
pub const METADATA_PIECE_SIZE: u32 = 16 * 1024;

/// Largest info dict we will assemble: bounds memory a peer can make us spend
/// (a 16 MiB info dict describes ~800k pieces).
pub const MAX_METADATA_SIZE: u32 = 16 * 1024 * 1024;

/// Why a ut_metadata payload or piece was rejected.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MetadataError {
    #[error("malformed ut_metadata message: {0}")]
    Malformed(String),
    #[error("ut_metadata message lacks `{0}`")]
    MissingKey(&'static str),
    #[error("unknown ut_metadata msg_type {0}")]
    UnknownType(i64),
    #[error("metadata size {0} is outside 1..={MAX_METADATA_SIZE}")]
    BadSize(u64),
    #[error("metadata piece {piece} out of range ({pieces} pieces)")]
    PieceOutOfRange { piece: u32, pieces: u32 },
    #[error("metadata piece {piece} has {found} bytes, expected {expected}")]
    WrongPieceLength {
        piece: u32,
        expected: u32,
        found: usize,
    },
}

/// One ut_metadata message (the payload after the extended message id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataMsg {
    Request {
        piece: u32,
    },
    Data {
        piece: u32,
        total_size: u32,
        data: Vec<u8>,
    },
    Reject {
        piece: u32,
    },
}

impl MetadataMsg {
    /// Bencoded dict, followed by the raw piece for `Data`.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = BencodeWriter::new();
        let (kind, piece) = match self {
            Self::Request { piece } => (0, *piece),
            Self::Data { piece, .. } => (1, *piece),
            Self::Reject { piece } => (2, *piece),
        };
        w.begin_dict()
            .key("msg_type")
            .int(kind)
            .key("piece")
            .int(i64::from(piece));
        if let Self::Data {
            total_size, data, ..
        } = self
        {
            w.key("total_size")
                .int(i64::from(*total_size))
                .end()
                .raw(data);
        } else {
            w.end();
        }
        w.into_bytes()
    }

    /// Parses a payload. Unknown keys are ignored; a `Data` piece may be at most
    /// [`METADATA_PIECE_SIZE`] bytes.
    pub fn decode(payload: &[u8]) -> Result<Self, MetadataError> {
        let malformed = |e: bendy::decoding::Error| MetadataError::Malformed(e.to_string());
        let mut dec = Decoder::new(payload).with_max_depth(8);
        let mut dict = match dec.next_object().map_err(malformed)? {
            Some(Object::Dict(d)) => d,
            _ => return Err(MetadataError::Malformed("not a dictionary".into())),
        };
        let mut msg_type = None;
        let mut piece = None;
        let mut total_size = None;
        while let Some((k, v)) = dict.next_pair().map_err(malformed)? {
            let slot = match k {
                b"msg_type" => &mut msg_type,
                b"piece" => &mut piece,
                b"total_size" => &mut total_size,
                _ => continue,
            };
            let Object::Integer(s) = v else {
                return Err(MetadataError::Malformed(format!(
                    "`{}` is not an integer",
                    String::from_utf8_lossy(k)
                )));
            };
            *slot = Some(
                s.parse::<i64>()
                    .map_err(|_| MetadataError::Malformed(format!("integer {s}")))?,
            );
        }
        let dict_len = dict.into_raw().map_err(malformed)?.len();
        let rest = payload.get(dict_len..).unwrap_or_default();
        let to_u32 = |v: i64, what: &str| {
            u32::try_from(v)
                .map_err(|_| MetadataError::Malformed(format!("{what} {v} out of range")))
        };
        let msg_type = msg_type.ok_or(MetadataError::MissingKey("msg_type"))?;
        let piece = to_u32(piece.ok_or(MetadataError::MissingKey("piece"))?, "piece")?;
        match msg_type {
            0 | 2 if !rest.is_empty() => Err(MetadataError::Malformed("trailing bytes".into())),
            0 => Ok(Self::Request { piece }),
            2 => Ok(Self::Reject { piece }),
            1 => {
                let total = total_size.ok_or(MetadataError::MissingKey("total_size"))?;
                if rest.len() > METADATA_PIECE_SIZE as usize {
                    return Err(MetadataError::WrongPieceLength {
                        piece,
                        expected: METADATA_PIECE_SIZE,
                        found: rest.len(),
                    });
                }
                Ok(Self::Data {
                    piece,
                    total_size: to_u32(total, "total_size")?,
                    data: rest.to_vec(),
                })
            }
            other => Err(MetadataError::UnknownType(other)),
        }
    }
}

/// Piece `piece` of our info dict, for answering a Request (`None`: Reject).
pub fn metadata_piece(info_bytes: &[u8], piece: u32) -> Option<&[u8]> {
    let start = (piece as usize).checked_mul(METADATA_PIECE_SIZE as usize)?;
    if start >= info_bytes.len() {
        return None;
    }
    let end = (start + METADATA_PIECE_SIZE as usize).min(info_bytes.len());
    info_bytes.get(start..end)
}

/// Number of metadata pieces for an info dict of `total_size` bytes.
pub fn metadata_piece_count(total_size: u32) -> u32 {
    total_size.div_ceil(METADATA_PIECE_SIZE)
}

/// Collects metadata pieces from peers and checks the result against the
/// info hash. The engine asks [`next_request`](Self::next_request) what to
/// request, feeds [`on_data`](Self::on_data) / [`on_reject`](Self::on_reject),
/// and calls [`finish`](Self::finish) once complete.
#[derive(Debug, Clone)]
pub struct MetadataAssembler {
    info_hash: InfoHash,
    buf: Vec<u8>,
    received: Vec<bool>,
    requested: Vec<bool>,
}

impl MetadataAssembler {
    /// `total_size` comes from a peer's extended handshake (`metadata_size`),
    /// so it is capped at [`MAX_METADATA_SIZE`] before allocating.
    pub fn new(info_hash: InfoHash, total_size: u32) -> Result<Self, MetadataError> {
        if total_size == 0 || total_size > MAX_METADATA_SIZE {
            return Err(MetadataError::BadSize(u64::from(total_size)));
        }
        let n = metadata_piece_count(total_size) as usize;
        Ok(Self {
            info_hash,
            buf: vec![0; total_size as usize],
            received: vec![false; n],
            requested: vec![false; n],
        })
    }

    pub fn total_size(&self) -> u32 {
        self.buf.len() as u32
    }

    pub fn num_pieces(&self) -> u32 {
        self.received.len() as u32
    }

    fn piece_len(&self, piece: u32) -> u32 {
        let start = piece * METADATA_PIECE_SIZE;
        (self.total_size() - start).min(METADATA_PIECE_SIZE)
    }

    /// The next piece neither received nor outstanding; marks it outstanding.
    pub fn next_request(&mut self) -> Option<u32> {
        let i = (0..self.received.len()).find(|&i| !self.received[i] && !self.requested[i])?;
        self.requested[i] = true;
        Some(i as u32)
    }

    /// A peer rejected (or we gave up on) `piece`: it may be requested again.
    pub fn on_reject(&mut self, piece: u32) {
        if let Some(r) = self.requested.get_mut(piece as usize) {
            *r = false;
        }
    }

    /// Stores a piece. Returns `Ok(true)` once every piece is in.
    pub fn on_data(&mut self, piece: u32, data: &[u8]) -> Result<bool, MetadataError> {
        if piece >= self.num_pieces() {
            return Err(MetadataError::PieceOutOfRange {
                piece,
                pieces: self.num_pieces(),
            });
        }
        let expected = self.piece_len(piece);
        if data.len() != expected as usize {
            return Err(MetadataError::WrongPieceLength {
                piece,
                expected,
                found: data.len(),
            });
        }
        let start = (piece * METADATA_PIECE_SIZE) as usize;
        self.buf[start..start + data.len()].copy_from_slice(data);
        self.received[piece as usize] = true;
        self.requested[piece as usize] = true;
        Ok(self.is_complete())
    }

    pub fn is_complete(&self) -> bool {
        self.received.iter().all(|&r| r)
    }

    /// The info dict if complete and its SHA-1 is the info hash. On a hash
    /// mismatch every piece is discarded so the download can start over (from
    /// other peers); `None` then, as when incomplete.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        if !self.is_complete() {
            return None;
        }
        if Sha1::digest(&self.buf).as_slice() == self.info_hash.0 {
            // A copy, so the assembler stays consistent if the caller then
            // rejects the dict (e.g. it fails to parse) and feeds it more data.
            return Some(self.buf.clone());
        }
        self.received.iter_mut().for_each(|r| *r = false);
        self.requested.iter_mut().for_each(|r| *r = false);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_match_bep9_bytes() {
        let req = MetadataMsg::Request { piece: 0 };
        assert_eq!(req.encode(), b"d8:msg_typei0e5:piecei0ee");
        let rej = MetadataMsg::Reject { piece: 3 };
        assert_eq!(rej.encode(), b"d8:msg_typei2e5:piecei3ee");
        let data = MetadataMsg::Data {
            piece: 1,
            total_size: 20000,
            data: b"xyz".to_vec(),
        };
        assert_eq!(
            data.encode(),
            b"d8:msg_typei1e5:piecei1e10:total_sizei20000eexyz"
        );
        for m in [req, rej, data] {
            assert_eq!(MetadataMsg::decode(&m.encode()), Ok(m));
        }
    }

    #[test]
    fn decode_rejects_malformed() {
        assert_eq!(
            MetadataMsg::decode(b"d5:piecei0ee"),
            Err(MetadataError::MissingKey("msg_type"))
        );
        assert_eq!(
            MetadataMsg::decode(b"d8:msg_typei7e5:piecei0ee"),
            Err(MetadataError::UnknownType(7))
        );
        assert!(matches!(
            MetadataMsg::decode(b"d8:msg_typei0e5:piecei-1ee"),
            Err(MetadataError::Malformed(_))
        ));
        assert!(matches!(
            MetadataMsg::decode(b"d8:msg_typ"),
            Err(MetadataError::Malformed(_))
        ));
        assert!(matches!(
            MetadataMsg::decode(b"li0ee"),
            Err(MetadataError::Malformed(_))
        ));
        assert_eq!(
            MetadataMsg::decode(b"d8:msg_typei1e5:piecei0ee"),
            Err(MetadataError::MissingKey("total_size"))
        );
        let mut big = b"d8:msg_typei1e5:piecei0e10:total_sizei99999ee".to_vec();
        big.extend(vec![0u8; METADATA_PIECE_SIZE as usize + 1]);
        assert!(matches!(
            MetadataMsg::decode(&big),
            Err(MetadataError::WrongPieceLength { .. })
        ));
    }

    fn sample_info(len: usize) -> Vec<u8> {
        let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut w = BencodeWriter::new();
        w.begin_dict().key("x").bytes(&body).end();
        w.into_bytes()
    }

    #[test]
    fn assembler_fetches_and_verifies() {
        let info = sample_info(40_000);
        let hash = InfoHash::of(&info);
        let mut a = MetadataAssembler::new(hash, info.len() as u32).unwrap();
        assert_eq!(a.num_pieces(), 3);
        let mut order = Vec::new();
        while let Some(p) = a.next_request() {
            order.push(p);
        }
        assert_eq!(order, vec![0, 1, 2]);
        a.on_reject(1);
        assert_eq!(a.next_request(), Some(1));
        assert!(a.on_data(2, metadata_piece(&info, 2).unwrap()).is_ok());
        assert!(matches!(
            a.on_data(0, &[0u8; 10]),
            Err(MetadataError::WrongPieceLength { .. })
        ));
        assert!(matches!(
            a.on_data(3, &[]),
            Err(MetadataError::PieceOutOfRange { .. })
        ));
        assert_eq!(a.finish(), None);
        assert_eq!(a.on_data(0, metadata_piece(&info, 0).unwrap()), Ok(false));
        assert_eq!(a.on_data(1, metadata_piece(&info, 1).unwrap()), Ok(true));
        assert_eq!(a.finish(), Some(info.clone()));
        assert_eq!(a.finish(), Some(info.clone()));
        assert_eq!(a.total_size(), info.len() as u32);
        assert_eq!(a.on_data(2, metadata_piece(&info, 2).unwrap()), Ok(true));
        assert_eq!(metadata_piece(&info, 3), None);
    }

    #[test]
    fn assembler_rejects_wrong_hash_and_oversize() {
        let info = sample_info(100);
        let mut a = MetadataAssembler::new(InfoHash([7; 20]), info.len() as u32).unwrap();
        assert_eq!(a.next_request(), Some(0));
        assert_eq!(a.on_data(0, &info), Ok(true));
        assert_eq!(a.finish(), None);
        // Discarded: must be fetched again.
        assert!(!a.is_complete());
        assert_eq!(a.next_request(), Some(0));
        assert_eq!(
            MetadataAssembler::new(InfoHash([0; 20]), MAX_METADATA_SIZE + 1).err(),
            Some(MetadataError::BadSize(u64::from(MAX_METADATA_SIZE) + 1))
        );
        assert!(MetadataAssembler::new(InfoHash([0; 20]), 0).is_err());
    }

    #[test]
    fn decode_survives_random_input() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let good = MetadataMsg::Data {
            piece: 2,
            total_size: 40_000,
            data: vec![1; 100],
        }
        .encode();
        for _ in 0..5000 {
            let mut m = good.clone();
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(0..m.len());
                match rng.gen_range(0..3) {
                    0 => m[i] = rng.gen(),
                    1 => m.truncate(i),
                    _ => m.insert(i, rng.gen()),
                }
                if m.is_empty() {
                    break;
                }
            }
            if let Ok(MetadataMsg::Data { data, .. }) = MetadataMsg::decode(&m) {
                assert!(data.len() <= METADATA_PIECE_SIZE as usize);
            }
            let noise: Vec<u8> = (0..rng.gen_range(0..40)).map(|_| rng.gen()).collect();
            let _ = MetadataMsg::decode(&noise);
        }
    }
}
