//! Per-block secrets, all derived from the group key and the block's place
//! on the wire (piece, offset), so a receiver holding only the block and the
//! key derives the same ones.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the truncated authentication tag appended to every frame.
pub const TAG_LEN: usize = 8;

/// What a per-block secret is used for (domain separation).
#[derive(Clone, Copy, Debug)]
pub enum Purpose {
    /// Order in which usable samples enter the code.
    Permutation,
    /// Submatrix of the syndrome-trellis code.
    Code,
    /// Keystream that whitens the message.
    Whitening,
    /// Sender-side choice of +1 or −1.
    Direction,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::Permutation => b"perm",
            Purpose::Code => b"code",
            Purpose::Whitening => b"white",
            Purpose::Direction => b"dir",
        }
    }
}

fn mac(key: &[u8; 32], label: &[u8], piece: u32, offset: u32) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(b"pacom stego pcm v1/");
    m.update(label);
    m.update(&piece.to_be_bytes());
    m.update(&offset.to_be_bytes());
    m
}

/// A 32-byte secret for `purpose` in block (piece, offset).
pub fn derive(key: &[u8; 32], purpose: Purpose, piece: u32, offset: u32) -> [u8; 32] {
    mac(key, purpose.label(), piece, offset)
        .finalize()
        .into_bytes()
        .into()
}

/// Truncated HMAC-SHA256 over (piece, offset, frame).
pub fn tag(key: &[u8; 32], piece: u32, offset: u32, frame: &[u8]) -> [u8; TAG_LEN] {
    let mut m = mac(key, b"tag", piece, offset);
    m.update(frame);
    let full = m.finalize().into_bytes();
    full[..TAG_LEN]
        .try_into()
        .expect("SHA-256 is longer than the tag")
}

/// Constant-time check of a received tag.
pub fn verify(key: &[u8; 32], piece: u32, offset: u32, frame: &[u8], got: &[u8]) -> bool {
    let mut m = mac(key, b"tag", piece, offset);
    m.update(frame);
    got.len() == TAG_LEN && m.verify_truncated_left(got).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_differ_by_purpose_block_and_key() {
        let k = [1; 32];
        let a = derive(&k, Purpose::Code, 1, 0);
        assert_ne!(a, derive(&k, Purpose::Permutation, 1, 0));
        assert_ne!(a, derive(&k, Purpose::Code, 1, 16_384));
        assert_ne!(a, derive(&[2; 32], Purpose::Code, 1, 0));
        let t = tag(&k, 1, 0, b"frame");
        assert!(verify(&k, 1, 0, b"frame", &t));
        assert!(!verify(&k, 1, 0, b"framE", &t));
        assert!(!verify(&k, 2, 0, b"frame", &t));
        assert!(!verify(&k, 1, 0, b"frame", &t[..4]));
    }
}
