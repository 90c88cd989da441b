//! Circuit cells and their codec.
//!
//! A cell is what relays see: a type, the circuit's `h_id` and an opaque body.
//! Everything end-to-end (message fragments, acks, stream operations) lives
//! inside the AES-GCM sealed body of a data cell, so a relay learns nothing
//! but the circuit a cell belongs to and its size.
//!
//! On a link byte pipe every cell is prefixed by its length (`u32`, big
//! endian); [`CellReader`] reassembles cells from arbitrary byte chunks.

mod reader;

pub use reader::CellReader;

/// Identity of a handshake, and thereafter of the circuit it built.
pub type HandshakeId = u64;

/// Largest encoded cell body (type, h_id and payload) we accept or emit.
pub const MAX_CELL_LEN: usize = 64 * 1024 + 256;
/// Largest RSA ciphertext in a handshake (a 4096-bit modulus).
pub const MAX_HANDSHAKE_CT: usize = 512;
/// Bytes of the length prefix on the link.
pub const LEN_PREFIX: usize = 4;

const T_HANDSHAKE: u8 = 0;
const T_RESPONSE: u8 = 1;
const T_DATA: u8 = 2;
const T_DESTROY: u8 = 3;
const HEADER: usize = 1 + 8;

/// One cell as seen by relays.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Cell {
    /// `{0, h_id, TTL, E_t{h_id, time, sec_str, K}}` (paper eq. 5).
    Handshake {
        h_id: HandshakeId,
        ttl: u8,
        sealed: Vec<u8>,
    },
    /// `{1, h_id, E_K{sec_str}}` (eq. 6).
    Response { h_id: HandshakeId, sealed: Vec<u8> },
    /// `{2, h_id, E_K{...}}` (eq. 7); the body is opaque to relays.
    Data { h_id: HandshakeId, sealed: Vec<u8> },
    /// Tear the circuit down along its records. Sent by an endpoint, or by a
    /// relay that lost the link on one side, so endpoints rebuild quickly.
    Destroy { h_id: HandshakeId, reason: u8 },
}

/// Why a cell could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CellError {
    #[error("cell of {0} bytes is shorter than its header")]
    Truncated(usize),
    #[error("cell length {len} exceeds the maximum of {MAX_CELL_LEN}")]
    TooLong { len: usize },
    #[error("unknown cell type {0}")]
    UnknownType(u8),
    #[error("{kind} cell has a bad body length {len}")]
    BadBody { kind: &'static str, len: usize },
}

impl Cell {
    pub fn h_id(&self) -> HandshakeId {
        match self {
            Cell::Handshake { h_id, .. }
            | Cell::Response { h_id, .. }
            | Cell::Data { h_id, .. }
            | Cell::Destroy { h_id, .. } => *h_id,
        }
    }

    /// Encodes the cell body (without the link length prefix).
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        let (t, h_id) = match self {
            Cell::Handshake { h_id, .. } => (T_HANDSHAKE, h_id),
            Cell::Response { h_id, .. } => (T_RESPONSE, h_id),
            Cell::Data { h_id, .. } => (T_DATA, h_id),
            Cell::Destroy { h_id, .. } => (T_DESTROY, h_id),
        };
        out.push(t);
        out.extend_from_slice(&h_id.to_be_bytes());
        match self {
            Cell::Handshake { ttl, sealed, .. } => {
                out.push(*ttl);
                out.extend_from_slice(sealed);
            }
            Cell::Response { sealed, .. } | Cell::Data { sealed, .. } => {
                out.extend_from_slice(sealed)
            }
            Cell::Destroy { reason, .. } => out.push(*reason),
        }
    }

    /// Length of the encoded body.
    pub fn body_len(&self) -> usize {
        HEADER
            + match self {
                Cell::Handshake { sealed, .. } => 1 + sealed.len(),
                Cell::Response { sealed, .. } | Cell::Data { sealed, .. } => sealed.len(),
                Cell::Destroy { .. } => 1,
            }
    }

    /// Appends the framed cell (length prefix and body) to `out`.
    pub fn encode_framed(&self, out: &mut Vec<u8>) {
        let len = self.body_len() as u32;
        out.extend_from_slice(&len.to_be_bytes());
        self.encode_body(out);
    }

    /// The framed cell as a fresh buffer.
    pub fn to_framed(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(LEN_PREFIX + self.body_len());
        self.encode_framed(&mut v);
        v
    }

    /// Decodes one cell body (without length prefix).
    pub fn decode_body(b: &[u8]) -> Result<Cell, CellError> {
        if b.len() > MAX_CELL_LEN {
            return Err(CellError::TooLong { len: b.len() });
        }
        let (&t, rest) = b.split_first().ok_or(CellError::Truncated(b.len()))?;
        let (id, body) = rest
            .split_first_chunk::<8>()
            .ok_or(CellError::Truncated(b.len()))?;
        let h_id = u64::from_be_bytes(*id);
        let bad = |kind, len| CellError::BadBody { kind, len };
        match t {
            T_HANDSHAKE => {
                let (&ttl, ct) = body.split_first().ok_or(bad("handshake", 0))?;
                if ct.is_empty() || ct.len() > MAX_HANDSHAKE_CT {
                    return Err(bad("handshake", ct.len()));
                }
                Ok(Cell::Handshake {
                    h_id,
                    ttl,
                    sealed: ct.to_vec(),
                })
            }
            T_RESPONSE | T_DATA => {
                // A sealed body is at least a 12-byte nonce and a 16-byte tag.
                if body.len() < 28 {
                    return Err(bad(
                        if t == T_DATA { "data" } else { "response" },
                        body.len(),
                    ));
                }
                let sealed = body.to_vec();
                Ok(if t == T_DATA {
                    Cell::Data { h_id, sealed }
                } else {
                    Cell::Response { h_id, sealed }
                })
            }
            T_DESTROY => match body {
                [reason] => Ok(Cell::Destroy {
                    h_id,
                    reason: *reason,
                }),
                _ => Err(bad("destroy", body.len())),
            },
            other => Err(CellError::UnknownType(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Cell> {
        vec![
            Cell::Handshake {
                h_id: 7,
                ttl: 9,
                sealed: vec![1; 256],
            },
            Cell::Response {
                h_id: u64::MAX,
                sealed: vec![2; 44],
            },
            Cell::Data {
                h_id: 0,
                sealed: vec![3; 5000],
            },
            Cell::Destroy { h_id: 3, reason: 1 },
        ]
    }

    #[test]
    fn round_trip() {
        for c in samples() {
            let framed = c.to_framed();
            assert_eq!(framed.len(), LEN_PREFIX + c.body_len());
            assert_eq!(Cell::decode_body(&framed[LEN_PREFIX..]), Ok(c));
        }
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(Cell::decode_body(&[]), Err(CellError::Truncated(0)));
        assert_eq!(Cell::decode_body(&[2, 0, 0]), Err(CellError::Truncated(3)));
        let mut b = vec![9];
        b.extend_from_slice(&[0; 8]);
        assert_eq!(Cell::decode_body(&b), Err(CellError::UnknownType(9)));
        let mut d = vec![2];
        d.extend_from_slice(&[0; 8 + 27]);
        assert!(matches!(
            Cell::decode_body(&d),
            Err(CellError::BadBody { kind: "data", .. })
        ));
        let mut h = vec![0];
        h.extend_from_slice(&[0; 9 + MAX_HANDSHAKE_CT + 1]);
        assert!(matches!(
            Cell::decode_body(&h),
            Err(CellError::BadBody { .. })
        ));
        let mut x = vec![3];
        x.extend_from_slice(&[0; 10]);
        assert!(matches!(
            Cell::decode_body(&x),
            Err(CellError::BadBody { .. })
        ));
    }

    #[test]
    fn random_bytes_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut ok = 0;
        for i in 0..20_000 {
            let len = rng.gen_range(0..300);
            let mut b: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            if let Some(t) = b.first_mut() {
                *t %= 5; // mostly known types, to reach the body parsers
            }
            if let Ok(c) = Cell::decode_body(&b) {
                ok += 1;
                let mut again = Vec::new();
                c.encode_body(&mut again);
                assert_eq!(again, b, "iteration {i}");
            }
        }
        assert!(ok > 0, "some random bodies should be valid");
    }
}
