//! The keyed hash functions H_1..H_100 of Appendix A.
//!
//! The paper's `H_i(b) < m/2` splits pieces into two halves; all that matters
//! is one pseudo-random bit per (i, piece), so one HMAC per piece yields the
//! bits of all 100 functions at once (bit i-1 set = class 1 under H_i). The
//! key binds the group key and the info hash of the carrier torrent F, so the
//! partition differs per torrent and is unpredictable without the group key.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Number of hash functions, and the largest hideable x.
pub const NUM_FUNCTIONS: u8 = 100;

const CLASS_DOMAIN: &[u8] = b"PACOM/v1/have-order-classes";

/// H_1..H_100 for one carrier torrent.
#[derive(Clone)]
pub struct ClassHashes {
    key: Hmac<Sha256>,
}

impl ClassHashes {
    /// Functions for the torrent with info hash `torrent`.
    pub fn new(group_key: &[u8], torrent: &[u8; 20]) -> Self {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(group_key).expect("HMAC accepts any key length");
        mac.update(CLASS_DOMAIN);
        mac.update(torrent);
        let derived = mac.finalize().into_bytes();
        Self {
            key: Hmac::<Sha256>::new_from_slice(&derived).expect("32-byte key"),
        }
    }

    /// Bit i-1 is set when `piece` is in class 1 under H_i (i = 1..=100).
    pub fn bits(&self, piece: u32) -> u128 {
        let mut mac = self.key.clone();
        mac.update(&piece.to_be_bytes());
        let out = mac.finalize().into_bytes();
        let mut first = [0u8; 16];
        first.copy_from_slice(&out[..16]);
        u128::from_le_bytes(first) & ((1u128 << NUM_FUNCTIONS) - 1)
    }

    /// Whether `piece` is in class 1 under H_x; x outside 1..=100 is never class 1.
    pub fn is_class1(&self, x: u8, piece: u32) -> bool {
        (1..=NUM_FUNCTIONS).contains(&x) && (self.bits(piece) >> (x - 1)) & 1 == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_balanced_and_keyed() {
        let a = ClassHashes::new(b"group", &[1; 20]);
        let b = ClassHashes::new(b"group", &[2; 20]);
        let c = ClassHashes::new(b"other", &[1; 20]);
        let ones: u32 = (0..2000).map(|p| a.bits(p).count_ones()).sum();
        let frac = f64::from(ones) / 200_000.0;
        assert!((frac - 0.5).abs() < 0.01, "fraction of class-1 bits {frac}");
        assert!((0..2000).all(|p| a.bits(p) >> 100 == 0));
        assert_ne!(a.bits(7), b.bits(7));
        assert_ne!(a.bits(7), c.bits(7));
        assert!(!a.is_class1(0, 7) && !a.is_class1(101, 7));
    }
}
