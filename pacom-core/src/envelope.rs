//! Application messages between users, carried as session messages.
//!
//! The target of a circuit never learns who built it, so a message names its
//! sender itself: a signed envelope carries the sender's contact and an RSA
//! signature (PKCS#1 v1.5, SHA-256) over the message, the recipient's
//! fingerprint and a timestamp. The recipient checks the signature and that
//! it is the intended recipient, so a relayed or replayed envelope addressed
//! to someone else is refused. Files travel as a signed header (name, length,
//! MD5) followed by unsigned chunks bound to it by the MD5.

use md5::{Digest as _, Md5};
use rand::{CryptoRng, RngCore};
use rsa::Pkcs1v15Sign;
use sha2::Sha256;

use crate::identity::{Contact, Fingerprint, Identity};

const MAGIC: &[u8; 5] = b"PCMSG";
const VERSION: u8 = 1;
const SIGN_DOMAIN: &[u8] = b"PACOM/v1/message-signature";
const KIND_ENVELOPE: u8 = 1;
const KIND_CHUNK: u8 = 2;
const BODY_TEXT: u8 = 1;
const BODY_FILE: u8 = 2;

/// Why bytes are not a valid application message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("not a PACOM message (bad magic or version)")]
    BadMagic,
    #[error("message truncated while reading {0}")]
    Truncated(&'static str),
    #[error("unknown message kind {0}")]
    UnknownKind(u8),
    #[error("text is not UTF-8")]
    BadText,
    #[error("sender contact: {0}")]
    BadSender(String),
    #[error("{0} trailing bytes")]
    Trailing(usize),
    #[error("signing failed: {0}")]
    Sign(String),
}

/// What an envelope says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Text(String),
    /// Announces a file whose bytes follow in `chunks` [`Chunk`]s.
    File {
        name: String,
        length: u64,
        md5: [u8; 16],
        chunks: u32,
    },
}

/// A signed, addressed message.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// Random; lets the recipient drop copies re-sent after a restart.
    pub id: [u8; 16],
    /// Unix seconds at the sender.
    pub timestamp: u64,
    pub sender: Contact,
    pub recipient: Fingerprint,
    pub body: Body,
    signature: Vec<u8>,
}

/// A piece of a file announced by the envelope with the same `file_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub file_id: [u8; 16],
    pub index: u32,
    pub data: Vec<u8>,
}

/// Any application message.
// Packets are built once per message and never stored in bulk, so the
// size difference of the variants costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Packet {
    Envelope(Box<Envelope>),
    Chunk(Chunk),
}

/// Whether the signature holds and the envelope is for us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    BadSignature,
    /// Correctly signed, but addressed to another fingerprint.
    NotForUs,
}

fn digest(signed: &[u8]) -> Vec<u8> {
    Sha256::new()
        .chain_update(SIGN_DOMAIN)
        .chain_update(signed)
        .finalize()
        .to_vec()
}

impl Envelope {
    /// Signs `body` from `sender` to `recipient` at `timestamp`.
    pub fn seal<R: RngCore + CryptoRng>(
        rng: &mut R,
        sender: &Identity,
        recipient: Fingerprint,
        timestamp: u64,
        body: Body,
    ) -> Result<Envelope, EnvelopeError> {
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        let mut env = Envelope {
            id,
            timestamp,
            sender: sender.contact().clone(),
            recipient,
            body,
            signature: Vec::new(),
        };
        let d = digest(&env.signed_part());
        env.signature = sender
            .private_key()
            .sign(Pkcs1v15Sign::new::<Sha256>(), &d)
            .map_err(|e| EnvelopeError::Sign(e.to_string()))?;
        Ok(env)
    }

    /// Checks the signature against the embedded sender and the recipient
    /// against `me`.
    pub fn verify(&self, me: Fingerprint) -> Verdict {
        let d = digest(&self.signed_part());
        let ok = self
            .sender
            .public_key()
            .verify(Pkcs1v15Sign::new::<Sha256>(), &d, &self.signature)
            .is_ok();
        if !ok {
            Verdict::BadSignature
        } else if self.recipient != me {
            Verdict::NotForUs
        } else {
            Verdict::Valid
        }
    }

    fn signed_part(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(KIND_ENVELOPE);
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.recipient.0);
        put_bytes16(&mut out, self.sender.to_contact_string().as_bytes());
        match &self.body {
            Body::Text(t) => {
                out.push(BODY_TEXT);
                out.extend_from_slice(&(t.len() as u32).to_be_bytes());
                out.extend_from_slice(t.as_bytes());
            }
            Body::File {
                name,
                length,
                md5,
                chunks,
            } => {
                out.push(BODY_FILE);
                put_bytes16(&mut out, name.as_bytes());
                out.extend_from_slice(&length.to_be_bytes());
                out.extend_from_slice(md5);
                out.extend_from_slice(&chunks.to_be_bytes());
            }
        }
        out
    }
}

fn put_bytes16(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len().min(u16::MAX as usize);
    out.extend_from_slice(&(n as u16).to_be_bytes());
    out.extend_from_slice(&b[..n]);
}

impl Packet {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Packet::Envelope(e) => {
                let mut out = e.signed_part();
                put_bytes16(&mut out, &e.signature);
                out
            }
            Packet::Chunk(c) => {
                let mut out = Vec::with_capacity(c.data.len() + 32);
                out.extend_from_slice(MAGIC);
                out.push(VERSION);
                out.push(KIND_CHUNK);
                out.extend_from_slice(&c.file_id);
                out.extend_from_slice(&c.index.to_be_bytes());
                out.extend_from_slice(&c.data);
                out
            }
        }
    }

    /// Parses a message; never panics on any input.
    pub fn decode(bytes: &[u8]) -> Result<Packet, EnvelopeError> {
        let mut r = Reader(bytes);
        if r.take(5, "magic")? != MAGIC || r.u8("version")? != VERSION {
            return Err(EnvelopeError::BadMagic);
        }
        match r.u8("kind")? {
            KIND_ENVELOPE => {
                let id = r.array::<16>("id")?;
                let timestamp = u64::from_be_bytes(r.array("timestamp")?);
                let recipient = Fingerprint(r.array("recipient")?);
                let sender = r.bytes16("sender")?;
                let sender = std::str::from_utf8(sender)
                    .map_err(|_| EnvelopeError::BadSender("not UTF-8".into()))?;
                let sender =
                    Contact::parse(sender).map_err(|e| EnvelopeError::BadSender(e.to_string()))?;
                let body = match r.u8("body kind")? {
                    BODY_TEXT => {
                        let n = u32::from_be_bytes(r.array("text length")?) as usize;
                        let t = r.take(n, "text")?;
                        Body::Text(
                            String::from_utf8(t.to_vec()).map_err(|_| EnvelopeError::BadText)?,
                        )
                    }
                    BODY_FILE => {
                        let name = String::from_utf8(r.bytes16("file name")?.to_vec())
                            .map_err(|_| EnvelopeError::BadText)?;
                        Body::File {
                            name,
                            length: u64::from_be_bytes(r.array("file length")?),
                            md5: r.array("file md5")?,
                            chunks: u32::from_be_bytes(r.array("chunk count")?),
                        }
                    }
                    k => return Err(EnvelopeError::UnknownKind(k)),
                };
                let signature = r.bytes16("signature")?.to_vec();
                if !r.0.is_empty() {
                    return Err(EnvelopeError::Trailing(r.0.len()));
                }
                Ok(Packet::Envelope(Box::new(Envelope {
                    id,
                    timestamp,
                    sender,
                    recipient,
                    body,
                    signature,
                })))
            }
            KIND_CHUNK => Ok(Packet::Chunk(Chunk {
                file_id: r.array("file id")?,
                index: u32::from_be_bytes(r.array("chunk index")?),
                data: r.0.to_vec(),
            })),
            k => Err(EnvelopeError::UnknownKind(k)),
        }
    }
}

/// Splits `data` into the header body and chunks of `chunk_len` bytes.
pub fn file_packets(name: &str, data: &[u8], chunk_len: usize) -> (Body, Vec<Vec<u8>>) {
    let md5: [u8; 16] = Md5::digest(data).into();
    let parts: Vec<Vec<u8>> = data.chunks(chunk_len.max(1)).map(<[u8]>::to_vec).collect();
    let body = Body::File {
        name: name.to_string(),
        length: data.len() as u64,
        md5,
        chunks: parts.len() as u32,
    };
    (body, parts)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], EnvelopeError> {
        if self.0.len() < n {
            return Err(EnvelopeError::Truncated(what));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, EnvelopeError> {
        Ok(self.take(1, what)?[0])
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], EnvelopeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn bytes16(&mut self, what: &'static str) -> Result<&'a [u8], EnvelopeError> {
        let n = u16::from_be_bytes(self.array(what)?) as usize;
        self.take(n, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn signed_envelopes_verify_and_tampering_is_caught() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let alice = Identity::generate(&mut rng, 1024).unwrap();
        let bob = Identity::generate(&mut rng, 1024).unwrap();
        let env = Envelope::seal(
            &mut rng,
            &alice,
            bob.fingerprint(),
            1_800_000_000,
            Body::Text("hello bob".into()),
        )
        .unwrap();
        let bytes = Packet::Envelope(Box::new(env)).encode();
        let Packet::Envelope(got) = Packet::decode(&bytes).unwrap() else {
            panic!("not an envelope");
        };
        assert_eq!(got.verify(bob.fingerprint()), Verdict::Valid);
        assert_eq!(got.verify(alice.fingerprint()), Verdict::NotForUs);
        assert_eq!(got.sender.fingerprint(), alice.fingerprint());
        assert_eq!(got.body, Body::Text("hello bob".into()));

        // Flip one byte of the text: the signature no longer holds.
        let pos = bytes.windows(9).position(|w| w == b"hello bob").unwrap();
        let mut bad = bytes.clone();
        bad[pos] ^= 1;
        let Packet::Envelope(got) = Packet::decode(&bad).unwrap() else {
            panic!("not an envelope");
        };
        assert_eq!(got.verify(bob.fingerprint()), Verdict::BadSignature);

        // Every truncation is an error, never a panic.
        for n in 0..bytes.len() {
            assert!(Packet::decode(&bytes[..n]).is_err(), "prefix {n} parsed");
        }
    }

    #[test]
    fn file_header_and_chunks_round_trip() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let (body, parts) = file_packets("a.bin", &data, 4096);
        assert_eq!(parts.len(), 3);
        let Body::File { length, chunks, .. } = body else {
            panic!("not a file");
        };
        assert_eq!((length, chunks), (10_000, 3));
        let c = Packet::Chunk(Chunk {
            file_id: [9; 16],
            index: 2,
            data: parts[2].clone(),
        });
        let Packet::Chunk(back) = Packet::decode(&c.encode()).unwrap() else {
            panic!("not a chunk");
        };
        assert_eq!((back.index, back.data.len()), (2, 10_000 - 8192));
    }
}
