//! Which pieces a peer (or we) have, in the wire's bit order.
//!
//! BitTorrent packs piece 0 into the high bit of byte 0; the BITFIELD message
//! and our resume state both use that layout, so this type stores exactly the
//! bytes that go on the wire and validates bytes that come off it.

use thiserror::Error;

/// Why bytes from a peer are not a valid bitfield for this torrent.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BitfieldError {
    /// The message holds a different number of bytes than `ceil(pieces / 8)`.
    #[error("bitfield has {found} bytes, expected {expected} for {bits} pieces")]
    WrongLength {
        expected: usize,
        found: usize,
        bits: u32,
    },
    /// Bits past the last piece must be zero (BEP 3); peers setting them are broken.
    #[error("bitfield sets spare bits past piece {bits}")]
    SpareBitsSet { bits: u32 },
}

/// A fixed-length set of piece indices.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Bitfield {
    bits: u32,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Bitfield {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bitfield({}/{})", self.count_ones(), self.bits)
    }
}

fn byte_len(bits: u32) -> usize {
    (bits as usize).div_ceil(8)
}

fn mask(i: u32) -> u8 {
    0x80 >> (i % 8)
}

impl Bitfield {
    /// An empty set over `len` pieces.
    pub fn new(len: u32) -> Self {
        Self {
            bits: len,
            bytes: vec![0; byte_len(len)],
        }
    }

    /// A set holding every one of `len` pieces (a seeder's bitfield).
    pub fn full(len: u32) -> Self {
        let mut bytes = vec![0xff; byte_len(len)];
        let spare = (bytes.len() * 8) as u32 - len;
        if let Some(last) = bytes.last_mut() {
            *last = 0xffu8.checked_shl(spare).unwrap_or(0);
        }
        Self { bits: len, bytes }
    }

    /// Parses a BITFIELD payload for a torrent of `len` pieces.
    pub fn from_bytes(bytes: &[u8], len: u32) -> Result<Self, BitfieldError> {
        let expected = byte_len(len);
        if bytes.len() != expected {
            return Err(BitfieldError::WrongLength {
                expected,
                found: bytes.len(),
                bits: len,
            });
        }
        let spare = (expected * 8) as u32 - len;
        if let Some(&last) = bytes.last() {
            let spare_mask = (1u16 << spare) as u8 - 1;
            if spare > 0 && last & spare_mask != 0 {
                return Err(BitfieldError::SpareBitsSet { bits: len });
            }
        }
        Ok(Self {
            bits: len,
            bytes: bytes.to_vec(),
        })
    }

    /// The wire form (BITFIELD payload).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Number of pieces this set ranges over.
    pub fn len(&self) -> u32 {
        self.bits
    }

    /// True for a zero-piece set.
    pub fn is_empty(&self) -> bool {
        self.bits == 0
    }

    /// Whether piece `i` is present; out-of-range indices are absent.
    pub fn get(&self, i: u32) -> bool {
        i < self.bits
            && self
                .bytes
                .get((i / 8) as usize)
                .is_some_and(|b| b & mask(i) != 0)
    }

    /// Marks piece `i` present. Returns false (and changes nothing) if out of range,
    /// so a HAVE with a bad index can be reported rather than panic.
    pub fn set(&mut self, i: u32) -> bool {
        self.update(i, |b, m| *b |= m)
    }

    /// Marks piece `i` absent. Returns false if out of range.
    pub fn clear(&mut self, i: u32) -> bool {
        self.update(i, |b, m| *b &= !m)
    }

    /// Applies `op` to the byte holding piece `i` and its bit mask.
    fn update(&mut self, i: u32, op: impl FnOnce(&mut u8, u8)) -> bool {
        if i >= self.bits {
            return false;
        }
        match self.bytes.get_mut((i / 8) as usize) {
            Some(b) => {
                op(b, mask(i));
                true
            }
            None => false,
        }
    }

    /// How many pieces are present.
    pub fn count_ones(&self) -> u32 {
        self.bytes.iter().map(|b| b.count_ones()).sum()
    }

    /// True when every piece is present (a zero-piece set is full).
    pub fn is_full(&self) -> bool {
        self.count_ones() == self.bits
    }

    /// Indices of the present pieces, ascending.
    pub fn iter_ones(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.bits).filter(move |&i| self.get(i))
    }

    /// Pieces `other` has and `self` lacks, ascending: what we could request from
    /// a peer whose bitfield is `other`. Sets of different lengths are compared
    /// over the shorter range.
    pub fn missing_from<'a>(&'a self, other: &'a Bitfield) -> impl Iterator<Item = u32> + 'a {
        let bits = self.bits.min(other.bits);
        self.bytes
            .iter()
            .zip(other.bytes.iter())
            .enumerate()
            .filter(|(_, (mine, theirs))| **theirs & !**mine != 0)
            .flat_map(move |(byte, (mine, theirs))| {
                let wanted = *theirs & !*mine;
                (0..8u32)
                    .filter(move |bit| wanted & (0x80 >> bit) != 0)
                    .map(move |bit| byte as u32 * 8 + bit)
            })
            .filter(move |&i| i < bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_order_is_high_bit_first() {
        let mut b = Bitfield::new(10);
        assert!(b.set(0));
        assert!(b.set(9));
        assert_eq!(b.as_bytes(), &[0x80, 0x40]);
        assert!(b.get(0) && b.get(9) && !b.get(1));
        assert!(!b.set(10));
        assert!(!b.get(10));
        assert!(b.clear(0));
        assert_eq!(b.as_bytes(), &[0x00, 0x40]);
        assert_eq!(b.count_ones(), 1);
    }

    #[test]
    fn full_leaves_spare_bits_clear() {
        let b = Bitfield::full(10);
        assert_eq!(b.as_bytes(), &[0xff, 0xc0]);
        assert!(b.is_full());
        assert_eq!(b.count_ones(), 10);
        assert_eq!(Bitfield::full(16).as_bytes(), &[0xff, 0xff]);
        assert!(Bitfield::full(0).is_full());
        assert_eq!(Bitfield::from_bytes(b.as_bytes(), 10), Ok(b));
    }

    #[test]
    fn from_bytes_rejects_bad_input() {
        assert_eq!(
            Bitfield::from_bytes(&[0xff], 10),
            Err(BitfieldError::WrongLength {
                expected: 2,
                found: 1,
                bits: 10
            })
        );
        assert_eq!(
            Bitfield::from_bytes(&[0xff, 0xe0], 10),
            Err(BitfieldError::SpareBitsSet { bits: 10 })
        );
        assert!(Bitfield::from_bytes(&[], 0).is_ok());
        assert!(Bitfield::from_bytes(&[0x01], 8).is_ok());
    }

    #[test]
    fn iter_ones_and_missing_from() {
        let mut mine = Bitfield::new(20);
        let mut theirs = Bitfield::new(20);
        for i in [1, 5, 17] {
            mine.set(i);
        }
        for i in [1, 2, 9, 17, 19] {
            theirs.set(i);
        }
        assert_eq!(mine.iter_ones().collect::<Vec<_>>(), vec![1, 5, 17]);
        assert_eq!(
            mine.missing_from(&theirs).collect::<Vec<_>>(),
            vec![2, 9, 19]
        );
        assert_eq!(theirs.missing_from(&mine).collect::<Vec<_>>(), vec![5]);
    }

    #[test]
    fn from_bytes_never_accepts_inconsistent_input() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for _ in 0..5000 {
            let len: u32 = rng.gen_range(0..100);
            let bytes: Vec<u8> = (0..rng.gen_range(0..16)).map(|_| rng.gen()).collect();
            if let Ok(b) = Bitfield::from_bytes(&bytes, len) {
                assert_eq!(b.as_bytes(), &bytes[..]);
                assert!(b.count_ones() <= len);
                assert_eq!(b.iter_ones().count() as u32, b.count_ones());
                assert!(b.iter_ones().all(|i| i < len));
            }
        }
    }
}
