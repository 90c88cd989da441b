//! Peer-wire framing (BEP 3, BEP 10) over any async byte stream.
//!
//! Message bodies are encoded and decoded with `librqbit-peer-protocol`; the
//! framing (length prefixes, buffering, limits) is ours, because the codec has
//! no stream reader and rejects what a tolerant client should skip: unknown
//! message ids (PORT, the Fast extension) become [`WireMsg::Unknown`], and a
//! BITFIELD of any size up to the frame limit is parsed here.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use librqbit_peer_protocol::extended::{ExtendedMessage, PeerExtendedMessageIds};
use librqbit_peer_protocol::{DoubleBufHelper, Message, Request};
use std::net::IpAddr;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The block size every client requests.
pub const BLOCK_SIZE: u32 = 16 * 1024;
/// Length of the BEP 3 handshake.
pub const HANDSHAKE_LEN: usize = 68;
/// The extension id we advertise for `ut_metadata` in our `m` dictionary.
pub const OUR_UT_METADATA_ID: u8 = librqbit_peer_protocol::MY_EXTENDED_UT_METADATA;

const PSTR: &[u8; 19] = b"BitTorrent protocol";
const ID_BITFIELD: u8 = 5;
const ID_PIECE: u8 = 7;
const ID_EXTENDED: u8 = 20;

/// Errors from decoding bytes a peer sent; any of them closes that peer.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad handshake: {0}")]
    Handshake(&'static str),
    #[error("frame of {len} bytes exceeds limit {max}")]
    FrameTooLong { len: u32, max: u32 },
    #[error("malformed message id {id}: {reason}")]
    Malformed { id: u8, reason: String },
}

/// The 68-byte BEP 3 handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    pub reserved: [u8; 8],
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
}

impl Handshake {
    /// A handshake announcing the extension protocol (reserved[5] & 0x10).
    pub fn new(info_hash: [u8; 20], peer_id: [u8; 20]) -> Self {
        let mut reserved = [0u8; 8];
        reserved[5] |= 0x10;
        Self {
            reserved,
            info_hash,
            peer_id,
        }
    }

    pub fn supports_extended(&self) -> bool {
        self.reserved[5] & 0x10 != 0
    }

    pub fn encode(&self) -> [u8; HANDSHAKE_LEN] {
        let mut out = [0u8; HANDSHAKE_LEN];
        out[0] = 19;
        out[1..20].copy_from_slice(PSTR);
        out[20..28].copy_from_slice(&self.reserved);
        out[28..48].copy_from_slice(&self.info_hash);
        out[48..68].copy_from_slice(&self.peer_id);
        out
    }

    pub fn decode(b: &[u8; HANDSHAKE_LEN]) -> Result<Self, WireError> {
        if b[0] != 19 || &b[1..20] != PSTR {
            return Err(WireError::Handshake("not the BitTorrent protocol"));
        }
        let mut h = Handshake::new([0; 20], [0; 20]);
        h.reserved.copy_from_slice(&b[20..28]);
        h.info_hash.copy_from_slice(&b[28..48]);
        h.peer_id.copy_from_slice(&b[48..68]);
        Ok(h)
    }
}

/// A block request (also the body of CANCEL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockRequest {
    pub index: u32,
    pub begin: u32,
    pub length: u32,
}

/// One decoded message, owning its payload without copying block data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireMsg {
    KeepAlive,
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    Have(u32),
    Bitfield(Bytes),
    Request(BlockRequest),
    Piece {
        index: u32,
        begin: u32,
        data: Bytes,
    },
    Cancel(BlockRequest),
    /// BEP 10: `id` is the extended message id (0 = extended handshake).
    Extended {
        id: u8,
        payload: Bytes,
    },
    /// A message id we do not speak; skipped, never fatal.
    Unknown {
        id: u8,
    },
}

impl WireMsg {
    /// Decodes one frame body (message id and payload, without length prefix).
    pub fn decode(frame: Bytes) -> Result<WireMsg, WireError> {
        let Some(&id) = frame.first() else {
            return Ok(WireMsg::KeepAlive);
        };
        match id {
            ID_BITFIELD => return Ok(WireMsg::Bitfield(frame.slice(1..))),
            ID_PIECE => {
                if frame.len() < 9 {
                    return Err(malformed(id, "short piece"));
                }
                let index = u32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]);
                let begin = u32::from_be_bytes([frame[5], frame[6], frame[7], frame[8]]);
                return Ok(WireMsg::Piece {
                    index,
                    begin,
                    data: frame.slice(9..),
                });
            }
            ID_EXTENDED => {
                let Some(&ext) = frame.get(1) else {
                    return Err(malformed(id, "empty extended message"));
                };
                return Ok(WireMsg::Extended {
                    id: ext,
                    payload: frame.slice(2..),
                });
            }
            0..=8 => {}
            _ => return Ok(WireMsg::Unknown { id }),
        }
        // Fixed-size messages go through the codec, which checks their lengths.
        let mut prefixed = Vec::with_capacity(frame.len() + 4);
        prefixed.extend_from_slice(&(frame.len() as u32).to_be_bytes());
        prefixed.extend_from_slice(&frame);
        let (msg, _) =
            Message::deserialize(&prefixed, &[]).map_err(|e| malformed(id, e.to_string()))?;
        Ok(match msg {
            Message::Choke => WireMsg::Choke,
            Message::Unchoke => WireMsg::Unchoke,
            Message::Interested => WireMsg::Interested,
            Message::NotInterested => WireMsg::NotInterested,
            Message::Have(i) => WireMsg::Have(i),
            Message::Request(r) => WireMsg::Request(from_codec(r)),
            Message::Cancel(r) => WireMsg::Cancel(from_codec(r)),
            _ => return Err(malformed(id, "unexpected codec result")),
        })
    }

    /// Appends the framed message to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        let codec = match self {
            WireMsg::KeepAlive => Message::KeepAlive,
            WireMsg::Choke => Message::Choke,
            WireMsg::Unchoke => Message::Unchoke,
            WireMsg::Interested => Message::Interested,
            WireMsg::NotInterested => Message::NotInterested,
            WireMsg::Have(i) => Message::Have(*i),
            WireMsg::Request(r) => Message::Request(to_codec(r)),
            WireMsg::Cancel(r) => Message::Cancel(to_codec(r)),
            WireMsg::Bitfield(b) => {
                put_header(out, 1 + b.len(), ID_BITFIELD);
                out.put_slice(b);
                return;
            }
            WireMsg::Piece { index, begin, data } => {
                encode_piece_header(out, *index, *begin, data.len());
                out.put_slice(data);
                return;
            }
            WireMsg::Extended { id, payload } => {
                put_header(out, 2 + payload.len(), ID_EXTENDED);
                out.put_u8(*id);
                out.put_slice(payload);
                return;
            }
            WireMsg::Unknown { .. } => return,
        };
        let mut tmp = [0u8; 32];
        // Fixed-size messages always fit in 32 bytes; the error arm is unreachable
        // in practice and encodes nothing rather than panicking.
        if let Ok(n) = codec.serialize(&mut tmp, &PeerExtendedMessageIds::default) {
            out.put_slice(&tmp[..n]);
        }
    }
}

/// Writes the 13-byte PIECE header for a block of `len` bytes.
pub fn encode_piece_header(out: &mut BytesMut, index: u32, begin: u32, len: usize) {
    put_header(out, 9 + len, ID_PIECE);
    out.put_u32(index);
    out.put_u32(begin);
}

fn put_header(out: &mut BytesMut, len: usize, id: u8) {
    out.put_u32(len as u32);
    out.put_u8(id);
}

fn malformed(id: u8, reason: impl Into<String>) -> WireError {
    WireError::Malformed {
        id,
        reason: reason.into(),
    }
}

fn from_codec(r: Request) -> BlockRequest {
    BlockRequest {
        index: r.index,
        begin: r.begin,
        length: r.length,
    }
}

fn to_codec(r: &BlockRequest) -> Request {
    Request::new(r.index, r.begin, r.length)
}

/// Reads length-prefixed frames with a single growing buffer; block payloads
/// are zero-copy slices of it.
pub struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
    max_frame: u32,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// `max_frame` bounds the length prefix; larger frames close the peer.
    pub fn new(inner: R, max_frame: u32) -> Self {
        Self {
            inner,
            buf: BytesMut::with_capacity(256 * 1024),
            max_frame,
        }
    }

    /// Bytes already read past the last frame (used after the handshake).
    pub fn with_buffer(inner: R, max_frame: u32, leftover: &[u8]) -> Self {
        let mut r = Self::new(inner, max_frame);
        r.buf.extend_from_slice(leftover);
        r
    }

    /// Reads exactly `n` raw bytes (the handshake) before framing starts.
    pub async fn read_raw(&mut self, n: usize) -> Result<Bytes, WireError> {
        while self.buf.len() < n {
            self.fill().await?;
        }
        Ok(self.buf.split_to(n).freeze())
    }

    async fn fill(&mut self) -> Result<(), WireError> {
        if self.buf.capacity() - self.buf.len() < 32 * 1024 {
            self.buf.reserve(256 * 1024);
        }
        let n = self.inner.read_buf(&mut self.buf).await?;
        if n == 0 {
            return Err(WireError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        Ok(())
    }

    /// Next message; `Err` with `UnexpectedEof` when the peer hangs up.
    pub async fn next(&mut self) -> Result<WireMsg, WireError> {
        loop {
            if self.buf.len() >= 4 {
                let len = (&self.buf[..4]).get_u32();
                if len > self.max_frame {
                    return Err(WireError::FrameTooLong {
                        len,
                        max: self.max_frame,
                    });
                }
                let total = 4 + len as usize;
                if self.buf.len() >= total {
                    let mut frame = self.buf.split_to(total);
                    frame.advance(4);
                    return WireMsg::decode(frame.freeze());
                }
                if self.buf.capacity() < total {
                    self.buf.reserve(total - self.buf.len());
                }
            }
            self.fill().await?;
        }
    }
}

/// The fields of a BEP 10 extended handshake that the engine uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtHandshake {
    /// The peer's id for `ut_metadata` messages it accepts.
    pub ut_metadata: Option<u8>,
    pub metadata_size: Option<u32>,
    pub reqq: Option<u32>,
    pub client: Option<String>,
    pub listen_port: Option<u16>,
    pub yourip: Option<IpAddr>,
}

impl ExtHandshake {
    /// Encodes our handshake as an extended message payload (after id 0).
    /// Written by hand: the codec's serializer cannot omit absent `m` entries.
    pub fn encode(&self) -> Bytes {
        fn bstr(out: &mut Vec<u8>, b: &[u8]) {
            out.extend_from_slice(b.len().to_string().as_bytes());
            out.push(b':');
            out.extend_from_slice(b);
        }
        fn int(out: &mut Vec<u8>, v: u64) {
            out.push(b'i');
            out.extend_from_slice(v.to_string().as_bytes());
            out.push(b'e');
        }
        // Keys in sorted order, as bencode requires.
        let mut out = Vec::with_capacity(128);
        out.push(b'd');
        bstr(&mut out, b"m");
        out.push(b'd');
        if let Some(id) = self.ut_metadata {
            bstr(&mut out, b"ut_metadata");
            int(&mut out, u64::from(id));
        }
        out.push(b'e');
        if let Some(n) = self.metadata_size {
            bstr(&mut out, b"metadata_size");
            int(&mut out, u64::from(n));
        }
        if let Some(p) = self.listen_port {
            bstr(&mut out, b"p");
            int(&mut out, u64::from(p));
        }
        if let Some(q) = self.reqq {
            bstr(&mut out, b"reqq");
            int(&mut out, u64::from(q));
        }
        if let Some(v) = &self.client {
            bstr(&mut out, b"v");
            bstr(&mut out, v.as_bytes());
        }
        match self.yourip {
            Some(IpAddr::V4(ip)) => {
                bstr(&mut out, b"yourip");
                bstr(&mut out, &ip.octets());
            }
            Some(IpAddr::V6(ip)) => {
                bstr(&mut out, b"yourip");
                bstr(&mut out, &ip.octets());
            }
            None => {}
        }
        out.push(b'e');
        Bytes::from(out)
    }

    /// Decodes a peer's extended handshake payload (after id 0).
    pub fn decode(payload: &[u8]) -> Result<Self, WireError> {
        let mut framed = Vec::with_capacity(payload.len() + 1);
        framed.push(0);
        framed.extend_from_slice(payload);
        let msg = ExtendedMessage::deserialize(DoubleBufHelper::new(&framed, &[]))
            .map_err(|e| malformed(ID_EXTENDED, e.to_string()))?;
        let ExtendedMessage::Handshake(hs) = msg else {
            return Err(malformed(ID_EXTENDED, "not a handshake"));
        };
        Ok(ExtHandshake {
            ut_metadata: hs.m.ut_metadata.filter(|&id| id != 0),
            metadata_size: hs.metadata_size,
            reqq: hs.reqq,
            client: hs
                .v
                .as_ref()
                .map(|v| String::from_utf8_lossy(v.0).into_owned()),
            listen_port: hs.port(),
            yourip: hs.yourip.map(|c| c.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(msg: WireMsg) {
        let mut out = BytesMut::new();
        msg.encode(&mut out);
        let len = u32::from_be_bytes([out[0], out[1], out[2], out[3]]) as usize;
        assert_eq!(len + 4, out.len());
        let back = WireMsg::decode(out.freeze().slice(4..)).unwrap();
        assert_eq!(back, msg);
    }

    #[test]
    fn messages_roundtrip() {
        let r = BlockRequest {
            index: 7,
            begin: 16384,
            length: 16384,
        };
        for m in [
            WireMsg::Choke,
            WireMsg::Unchoke,
            WireMsg::Interested,
            WireMsg::NotInterested,
            WireMsg::Have(1234),
            WireMsg::Request(r),
            WireMsg::Cancel(r),
            WireMsg::Bitfield(Bytes::from(vec![0xff; 5000])),
            WireMsg::Piece {
                index: 3,
                begin: 0,
                data: Bytes::from(vec![9u8; 100]),
            },
            WireMsg::Extended {
                id: 3,
                payload: Bytes::from_static(b"d8:msg_typei0e5:piecei0ee"),
            },
        ] {
            roundtrip(m);
        }
    }

    #[test]
    fn unknown_ids_are_skipped() {
        let port = Bytes::from_static(&[9, 0x1a, 0xe1]);
        assert_eq!(WireMsg::decode(port).unwrap(), WireMsg::Unknown { id: 9 });
        let have_all = Bytes::from_static(&[0x0e]);
        assert_eq!(
            WireMsg::decode(have_all).unwrap(),
            WireMsg::Unknown { id: 0x0e }
        );
    }

    #[test]
    fn wrong_fixed_length_is_malformed() {
        assert!(WireMsg::decode(Bytes::from_static(&[4, 0, 0])).is_err());
        assert!(WireMsg::decode(Bytes::from_static(&[0, 1])).is_err());
    }

    #[test]
    fn handshake_roundtrip() {
        let h = Handshake::new([1; 20], [2; 20]);
        assert!(h.supports_extended());
        let enc = h.encode();
        assert_eq!(Handshake::decode(&enc).unwrap(), h);
        let mut bad = enc;
        bad[3] = b'x';
        assert!(Handshake::decode(&bad).is_err());
    }

    #[test]
    fn ext_handshake_roundtrip() {
        let h = ExtHandshake {
            ut_metadata: Some(3),
            metadata_size: Some(12345),
            reqq: Some(500),
            client: Some("PACOM 0.1".into()),
            listen_port: Some(6881),
            yourip: Some("127.0.0.1".parse().unwrap()),
        };
        assert_eq!(ExtHandshake::decode(&h.encode()).unwrap(), h);
    }

    #[tokio::test]
    async fn reader_limits_and_frames() {
        let mut data = Vec::new();
        let mut out = BytesMut::new();
        WireMsg::Have(5).encode(&mut out);
        WireMsg::KeepAlive.encode(&mut out);
        data.extend_from_slice(&out);
        data.extend_from_slice(&u32::MAX.to_be_bytes());
        let mut r = FrameReader::new(&data[..], 1 << 20);
        assert_eq!(r.next().await.unwrap(), WireMsg::Have(5));
        assert_eq!(r.next().await.unwrap(), WireMsg::KeepAlive);
        assert!(matches!(
            r.next().await,
            Err(WireError::FrameTooLong { .. })
        ));
    }
}
