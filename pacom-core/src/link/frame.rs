//! Sealing and opening frames: `AEAD(key, counter, len ‖ link bytes ‖ padding)`.
//!
//! A frame fills its block's capacity exactly, so cover and data frames are the
//! same size. Each direction has its own key and a 96-bit nonce made of a
//! counter that both ends advance per frame: a replayed, reordered or dropped
//! frame cannot open.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use std::ops::Range;

use zeroize::Zeroize;

use super::LinkError;

/// AES-GCM authentication tag length.
pub const TAG_LEN: usize = 16;
/// Length prefix of the link bytes inside a frame.
pub const LEN_PREFIX: usize = 4;
/// Bytes of a frame that carry no link bytes.
pub const FRAME_OVERHEAD: usize = TAG_LEN + LEN_PREFIX;
/// Smallest capacity a link works with: room for a handshake key and some payload.
pub const MIN_CAPACITY: usize = 64;

fn nonce(counter: u64) -> Nonce<aes_gcm::aead::consts::U12> {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_be_bytes());
    n.into()
}

/// Link bytes a frame of `capacity` bytes can carry.
pub fn payload_capacity(capacity: usize) -> usize {
    capacity.saturating_sub(FRAME_OVERHEAD)
}

/// One direction's sending half.
pub(crate) struct Sealer {
    cipher: Aes256Gcm,
    counter: u64,
}

impl Sealer {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(key.into()),
            counter: 0,
        }
    }

    /// Seals `payload` (at most `payload_capacity(capacity)` bytes) into a frame of `capacity` bytes.
    #[cfg(test)]
    pub(crate) fn seal(&mut self, payload: &[u8], capacity: usize) -> Result<Vec<u8>, LinkError> {
        let mut body = Vec::with_capacity(capacity);
        body.resize(capacity - TAG_LEN, 0);
        let end = LEN_PREFIX + payload.len();
        if end > body.len() {
            return Err(LinkError::Seal {
                counter: self.counter,
            });
        }
        body[LEN_PREFIX..end].copy_from_slice(payload);
        self.seal_body(body, payload.len())
    }

    /// Seals a frame body (`capacity - TAG_LEN` bytes: a blank length
    /// prefix, `len` link bytes, zero padding) in place and appends the
    /// tag. The work depends only on the body's size, never on `len`.
    pub(crate) fn seal_body(
        &mut self,
        mut body: Vec<u8>,
        len: usize,
    ) -> Result<Vec<u8>, LinkError> {
        let counter = self.counter;
        let sealed = match counter.checked_add(1) {
            None => Err(LinkError::CounterExhausted),
            Some(_) if LEN_PREFIX + len > body.len() => Err(LinkError::Seal { counter }),
            Some(next) => {
                body[..LEN_PREFIX].copy_from_slice(&(len as u32).to_be_bytes());
                // Padding stays zero: it is inside the AEAD, so zeros look like any other ciphertext.
                self.cipher
                    .encrypt_in_place_detached(&nonce(counter), &[], &mut body)
                    .map(|tag| (tag, next))
                    .map_err(|_| LinkError::Seal { counter })
            }
        };
        match sealed {
            Ok((tag, next)) => {
                body.extend_from_slice(&tag);
                self.counter = next;
                Ok(body)
            }
            Err(e) => {
                // The body may still hold link bytes in the clear.
                body.zeroize();
                Err(e)
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn counter(&self) -> u64 {
        self.counter
    }
}

/// One direction's receiving half.
pub(crate) struct Opener {
    cipher: Aes256Gcm,
    counter: u64,
}

impl Opener {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(key.into()),
            counter: 0,
        }
    }

    #[cfg(test)]
    pub(crate) fn counter(&self) -> u64 {
        self.counter
    }

    /// Opens the next frame in sequence and returns its link bytes; the
    /// counter advances only on success. Frames shorter than
    /// [`MIN_CAPACITY`] are `Truncated`, others that fail `Open`.
    pub(crate) fn open(&mut self, frame: &[u8]) -> Result<Vec<u8>, LinkError> {
        let mut buf = frame.to_vec();
        let range = self.open_in_place(&mut buf)?;
        buf.truncate(range.end);
        buf.drain(..range.start);
        Ok(buf)
    }

    /// [`Opener::open`] decrypting in `frame` itself; returns where the
    /// link bytes lie in it. On failure the buffer is wiped (aes-gcm
    /// decrypts before it compares, so it would hold keystream).
    pub(crate) fn open_in_place(&mut self, frame: &mut [u8]) -> Result<Range<usize>, LinkError> {
        if frame.len() < MIN_CAPACITY {
            return Err(LinkError::Truncated { len: frame.len() });
        }
        let counter = self.counter;
        let (body, tag) = frame.split_at_mut(frame.len() - TAG_LEN);
        let tag = Tag::clone_from_slice(tag);
        if self
            .cipher
            .decrypt_in_place_detached(&nonce(counter), &[], body, &tag)
            .is_err()
        {
            frame.zeroize();
            return Err(LinkError::Open { counter });
        }
        let mut len_bytes = [0u8; LEN_PREFIX];
        len_bytes.copy_from_slice(&body[..LEN_PREFIX]);
        let len = u32::from_be_bytes(len_bytes) as usize;
        if len > body.len() - LEN_PREFIX {
            // Authentic but malformed: do not leave its plaintext behind.
            frame.zeroize();
            return Err(LinkError::BadLength { counter, len });
        }
        self.counter = counter.checked_add(1).ok_or(LinkError::CounterExhausted)?;
        Ok(LEN_PREFIX..LEN_PREFIX + len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_exact_size() {
        let key = [7u8; 32];
        let mut s = Sealer::new(&key);
        let mut o = Opener::new(&key);
        for (i, n) in [0usize, 1, 100, 16384 - FRAME_OVERHEAD]
            .into_iter()
            .enumerate()
        {
            let payload = vec![i as u8 + 1; n];
            let frame = s.seal(&payload, 16384).unwrap();
            assert_eq!(frame.len(), 16384);
            assert_eq!(o.open(&frame).unwrap(), payload);
        }
        assert_eq!(s.counter(), 4);
        assert_eq!(o.counter(), 4);
    }

    #[test]
    fn wrong_key_or_counter_fails() {
        let mut s = Sealer::new(&[1u8; 32]);
        let mut wrong_key = Opener::new(&[2u8; 32]);
        let frame = s.seal(b"x", 64).unwrap();
        assert_eq!(wrong_key.open(&frame), Err(LinkError::Open { counter: 0 }));
        let mut right = Opener::new(&[1u8; 32]);
        let second = s.seal(b"y", 64).unwrap();
        assert_eq!(right.open(&second), Err(LinkError::Open { counter: 0 }));
        assert_eq!(right.open(&frame).unwrap(), b"x");
        assert_eq!(right.open(&second).unwrap(), b"y");
    }
}
