//! Deterministic pseudo-random byte streams for link tests: the sender and
//! the receiver regenerate the same bytes from a 64-bit key, however the
//! stream is cut into chunks on the way.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// Bytes drawn from the generator at a time (a multiple of its word size,
/// so chunking never shifts the stream).
const REFILL: usize = 64 * 1024;

/// The stream of one key.
pub struct ByteStream {
    rng: ChaCha20Rng,
    buf: Vec<u8>,
    pos: usize,
}

impl ByteStream {
    pub fn new(key: u64) -> Self {
        Self {
            rng: ChaCha20Rng::seed_from_u64(key ^ 0x5041_434f_4d53_574e),
            buf: vec![0; REFILL],
            pos: REFILL,
        }
    }

    /// Appends the next `n` bytes of the stream to `out`.
    pub fn take_into(&mut self, mut n: usize, out: &mut Vec<u8>) {
        while n > 0 {
            if self.pos == self.buf.len() {
                self.rng.fill_bytes(&mut self.buf);
                self.pos = 0;
            }
            let k = n.min(self.buf.len() - self.pos);
            out.extend_from_slice(&self.buf[self.pos..self.pos + k]);
            self.pos += k;
            n -= k;
        }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n);
        self.take_into(n, &mut v);
        v
    }
}

/// Checks received bytes against the stream, position by position.
pub struct StreamCheck {
    stream: ByteStream,
    expected_len: u64,
    received: u64,
    /// Position of the first wrong byte (or of the first byte past the end).
    pub first_error: Option<u64>,
    scratch: Vec<u8>,
}

impl StreamCheck {
    pub fn new(key: u64, expected_len: u64) -> Self {
        Self {
            stream: ByteStream::new(key),
            expected_len,
            received: 0,
            first_error: None,
            scratch: Vec::new(),
        }
    }

    /// Feeds received bytes; returns false once any byte was wrong.
    pub fn feed(&mut self, bytes: &[u8]) -> bool {
        if self.first_error.is_none() {
            self.scratch.clear();
            self.stream.take_into(bytes.len(), &mut self.scratch);
            if let Some(i) = self.scratch.iter().zip(bytes).position(|(a, b)| a != b) {
                self.first_error = Some(self.received + i as u64);
            } else if self.received + bytes.len() as u64 > self.expected_len {
                self.first_error = Some(self.expected_len);
            }
        }
        self.received += bytes.len() as u64;
        self.first_error.is_none()
    }

    pub fn received(&self) -> u64 {
        self.received
    }

    /// Every expected byte arrived, and all were right.
    pub fn is_complete(&self) -> bool {
        self.first_error.is_none() && self.received == self.expected_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunking_does_not_change_the_stream() {
        let whole = ByteStream::new(7).take(300_000);
        let mut s = ByteStream::new(7);
        let mut parts = Vec::new();
        for n in [1usize, 3, 65_535, 2, 100_000, 134_459] {
            s.take_into(n, &mut parts);
        }
        assert_eq!(parts, whole);
        assert_ne!(ByteStream::new(8).take(64), whole[..64]);
    }

    #[test]
    fn check_finds_the_first_wrong_byte_and_overruns() {
        let data = ByteStream::new(1).take(1000);
        let mut c = StreamCheck::new(1, 1000);
        assert!(c.feed(&data[..500]));
        let mut bad = data[500..].to_vec();
        bad[10] ^= 1;
        assert!(!c.feed(&bad));
        assert_eq!(c.first_error, Some(510));
        assert!(!c.is_complete());
        let mut c = StreamCheck::new(1, 999);
        assert!(!c.feed(&data));
        assert_eq!(c.first_error, Some(999));
    }
}
