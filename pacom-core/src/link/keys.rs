//! Ephemeral handshake keys and the link key schedule.
//!
//! Each side sends one 32-byte key encoding: in private mode the Elligator2
//! representative of an X25519 key (uniform bytes), in public mode the plain
//! X25519 key with its unused top bit randomised. Both sides order the two
//! encodings to name the directions, so neither needs to know who dialled.

use curve25519_elligator2::{MapToPointVariant, MontgomeryPoint, Randomized};
use hkdf::Hkdf;
use rand::{CryptoRng, RngCore};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, Zeroizing};

use super::{HandshakeError, Mode};

/// Length of the key encoding at the start of a handshake frame.
pub const KEY_WIRE_LEN: usize = 32;

/// Keys a random private key should take before giving up: each try succeeds
/// with probability 1/2, so failing this often means a broken RNG.
const REPRESENTABLE_TRIES: usize = 128;

const LABEL_LINK: &[u8] = b"pacom link v1";
const LABEL_PREKEY: &[u8] = b"pacom link prekey v1";

/// Our half of the handshake: the secret and what we put on the wire.
pub(crate) struct Ephemeral {
    secret: StaticSecret,
    wire: [u8; KEY_WIRE_LEN],
}

impl Ephemeral {
    pub(crate) fn generate<R: RngCore + CryptoRng>(
        mode: Mode,
        rng: &mut R,
    ) -> Result<Self, HandshakeError> {
        match mode {
            Mode::Public => {
                let secret = StaticSecret::random_from_rng(&mut *rng);
                let mut wire = PublicKey::from(&secret).to_bytes();
                // X25519 ignores bit 255; a constant zero there would mark the frame.
                wire[31] |= (rng.next_u32() as u8) & 0x80;
                Ok(Self { secret, wire })
            }
            Mode::Private => {
                let mut raw = Zeroizing::new([0u8; 32]);
                for _ in 0..REPRESENTABLE_TRIES {
                    rng.fill_bytes(raw.as_mut());
                    // The tweak picks the root and fills the two unused top bits,
                    // which makes the representative uniform over 32 bytes.
                    let tweak = rng.next_u32() as u8;
                    let rep: Option<[u8; 32]> = Randomized::to_representative(&raw, tweak).into();
                    if let Some(wire) = rep {
                        return Ok(Self {
                            secret: StaticSecret::from(*raw),
                            wire,
                        });
                    }
                }
                Err(HandshakeError::NoRepresentableKey)
            }
        }
    }

    pub(crate) fn wire(&self) -> &[u8; KEY_WIRE_LEN] {
        &self.wire
    }

    /// X25519 with the peer's key encoding; rejects keys that force a known secret.
    pub(crate) fn agree(
        &self,
        mode: Mode,
        peer_wire: &[u8; KEY_WIRE_LEN],
    ) -> Result<Zeroizing<[u8; 32]>, HandshakeError> {
        let peer = decode_wire(mode, peer_wire)?;
        let shared = self.secret.diffie_hellman(&peer);
        if !shared.was_contributory() {
            return Err(HandshakeError::LowOrderKey);
        }
        Ok(Zeroizing::new(shared.to_bytes()))
    }
}

/// The peer's X25519 public key from its wire encoding.
///
/// A private-mode key decodes to the "dirty" point (public key plus a
/// low-order component, so the representative is uniform); the clamped
/// scalar of X25519 is a multiple of the cofactor and removes it again.
pub(crate) fn decode_wire(
    mode: Mode,
    wire: &[u8; KEY_WIRE_LEN],
) -> Result<PublicKey, HandshakeError> {
    match mode {
        Mode::Public => {
            let mut key = *wire;
            key[31] &= 0x7f;
            Ok(PublicKey::from(key))
        }
        Mode::Private => MontgomeryPoint::from_representative::<Randomized>(wire)
            .map(|p| PublicKey::from(p.to_bytes()))
            .ok_or(HandshakeError::BadRepresentative),
    }
}

/// The two directional keys of a link.
pub(crate) struct LinkKeys {
    pub(crate) send: Zeroizing<[u8; 32]>,
    pub(crate) recv: Zeroizing<[u8; 32]>,
}

/// `HKDF-SHA256(salt = group key, ikm = DH, info = label ‖ info hash ‖ low ‖ high ‖ dir)`.
///
/// The lower of the two key encodings names the "low" side; the transcript
/// and the swarm's info hash are bound into every key.
pub(crate) fn derive_link_keys(
    group_key: &[u8; 32],
    info_hash: &[u8; 20],
    shared: &[u8; 32],
    ours: &[u8; KEY_WIRE_LEN],
    theirs: &[u8; KEY_WIRE_LEN],
) -> Result<LinkKeys, HandshakeError> {
    let we_are_low = match ours.cmp(theirs) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Greater => false,
        // Only our own handshake echoed back can look like this.
        std::cmp::Ordering::Equal => return Err(HandshakeError::Reflected),
    };
    let (low, high) = if we_are_low {
        (ours, theirs)
    } else {
        (theirs, ours)
    };
    let hk = Hkdf::<Sha256>::new(Some(group_key), shared);
    let expand = |dir: u8| -> Result<Zeroizing<[u8; 32]>, HandshakeError> {
        let mut okm = Zeroizing::new([0u8; 32]);
        hk.expand_multi_info(&[LABEL_LINK, info_hash, low, high, &[dir]], okm.as_mut())
            .map_err(|_| HandshakeError::KeyDerivation)?;
        Ok(okm)
    };
    let low_to_high = expand(0)?;
    let high_to_low = expand(1)?;
    Ok(if we_are_low {
        LinkKeys {
            send: low_to_high,
            recv: high_to_low,
        }
    } else {
        LinkKeys {
            send: high_to_low,
            recv: low_to_high,
        }
    })
}

/// Key of the frames a side sends after its handshake and before it has the
/// peer's key: they are always cover, and only need to be recognisable.
pub(crate) fn derive_prekey(
    group_key: &[u8; 32],
    info_hash: &[u8; 20],
    sender_wire: &[u8; KEY_WIRE_LEN],
) -> Result<Zeroizing<[u8; 32]>, HandshakeError> {
    let hk = Hkdf::<Sha256>::new(Some(group_key), sender_wire);
    let mut okm = Zeroizing::new([0u8; 32]);
    hk.expand_multi_info(&[LABEL_PREKEY, info_hash], okm.as_mut())
        .map_err(|_| HandshakeError::KeyDerivation)?;
    Ok(okm)
}

impl Drop for Ephemeral {
    fn drop(&mut self) {
        // x25519-dalek also wipes on drop; doing it here does not depend on that.
        self.secret.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn private_keys_agree_through_representatives() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        for _ in 0..32 {
            let a = Ephemeral::generate(Mode::Private, &mut rng).unwrap();
            let b = Ephemeral::generate(Mode::Private, &mut rng).unwrap();
            let ab = a.agree(Mode::Private, b.wire()).unwrap();
            let ba = b.agree(Mode::Private, a.wire()).unwrap();
            assert_eq!(*ab, *ba);
        }
    }

    #[test]
    fn representative_decodes_to_the_generated_point() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let mut found = 0;
        while found < 16 {
            let mut raw = [0u8; 32];
            rng.fill_bytes(&mut raw);
            let tweak = rng.next_u32() as u8;
            let rep: Option<[u8; 32]> = Randomized::to_representative(&raw, tweak).into();
            let Some(rep) = rep else { continue };
            found += 1;
            let expected = Randomized::mul_base_clamped(raw).to_montgomery();
            let decoded = MontgomeryPoint::from_representative::<Randomized>(&rep).unwrap();
            assert_eq!(decoded, expected);
            // X25519's clamped scalar removes the low-order part again.
            let plain = PublicKey::from(&StaticSecret::from(raw));
            let other = StaticSecret::random_from_rng(&mut rng);
            let via_rep = other.diffie_hellman(&decode_wire(Mode::Private, &rep).unwrap());
            assert_eq!(via_rep.as_bytes(), other.diffie_hellman(&plain).as_bytes());
        }
    }

    #[test]
    fn public_keys_agree_despite_random_top_bit() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let mut top_bits = 0;
        for _ in 0..64 {
            let a = Ephemeral::generate(Mode::Public, &mut rng).unwrap();
            let b = Ephemeral::generate(Mode::Public, &mut rng).unwrap();
            top_bits += usize::from(a.wire()[31] >> 7);
            assert_eq!(
                *a.agree(Mode::Public, b.wire()).unwrap(),
                *b.agree(Mode::Public, a.wire()).unwrap()
            );
        }
        assert!((16..=48).contains(&top_bits), "top bit set {top_bits}/64");
    }

    #[test]
    fn directions_are_crossed_and_reflection_rejected() {
        let gk = [9u8; 32];
        let ih = [4u8; 20];
        let shared = [5u8; 32];
        let (x, y) = ([1u8; 32], [2u8; 32]);
        let kx = derive_link_keys(&gk, &ih, &shared, &x, &y).unwrap();
        let ky = derive_link_keys(&gk, &ih, &shared, &y, &x).unwrap();
        assert_eq!(*kx.send, *ky.recv);
        assert_eq!(*kx.recv, *ky.send);
        assert_ne!(*kx.send, *kx.recv);
        let other_swarm = derive_link_keys(&gk, &[3u8; 20], &shared, &x, &y).unwrap();
        assert_ne!(*other_swarm.send, *kx.send);
        assert!(matches!(
            derive_link_keys(&gk, &ih, &shared, &x, &x),
            Err(HandshakeError::Reflected)
        ));
    }

    #[test]
    fn low_order_key_rejected() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let a = Ephemeral::generate(Mode::Public, &mut rng).unwrap();
        // u = 0 is a point of order 2: its product with any clamped scalar is zero.
        assert!(matches!(
            a.agree(Mode::Public, &[0u8; 32]),
            Err(HandshakeError::LowOrderKey)
        ));
    }
}
