//! User identities and contacts.
//!
//! A user is an RSA key pair; the public half, shared out of band, is a
//! *contact*. The handshake request is encrypted to the contact's key with
//! RSA-OAEP (SHA-256), so only the holder of the private key can answer it.

use std::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};
use rand::{CryptoRng, RngCore};
use rsa::pkcs8::{DecodePublicKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};

/// Default modulus size. 1024 bits is allowed for large simulations only.
pub const DEFAULT_KEY_BITS: usize = 2048;
/// Prefix of the textual contact format.
pub const CONTACT_PREFIX: &str = "pacom1:";
/// Smallest modulus that fits the handshake plaintext under OAEP-SHA256.
pub const MIN_KEY_BITS: usize = 1024;

/// Errors creating identities or parsing contacts.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("key size {0} bits is below the minimum of {MIN_KEY_BITS}")]
    KeyTooSmall(usize),
    #[error("RSA key generation failed: {0}")]
    KeyGen(rsa::Error),
    #[error("contact string does not start with {CONTACT_PREFIX:?}")]
    BadPrefix,
    #[error("contact string is not base64url: {0}")]
    BadEncoding(base64ct::Error),
    #[error("contact key is not a DER RSA public key: {0}")]
    BadKey(String),
}

/// Short, stable name of a public key: the first 10 bytes of SHA-256 over its
/// SPKI DER encoding. Shown to users and used to tag sessions.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; 10]);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// Someone we can build a circuit to: their public key.
#[derive(Clone, PartialEq, Eq)]
pub struct Contact {
    key: RsaPublicKey,
    der: Vec<u8>,
    fingerprint: Fingerprint,
}

impl fmt::Debug for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Contact({})", self.fingerprint)
    }
}

impl Contact {
    /// Wraps a public key.
    pub fn from_public_key(key: RsaPublicKey) -> Result<Self, IdentityError> {
        if key.size() * 8 < MIN_KEY_BITS {
            return Err(IdentityError::KeyTooSmall(key.size() * 8));
        }
        let der = key
            .to_public_key_der()
            .map_err(|e| IdentityError::BadKey(e.to_string()))?
            .as_bytes()
            .to_vec();
        let digest = Sha256::digest(&der);
        let mut fp = [0u8; 10];
        fp.copy_from_slice(&digest[..10]);
        Ok(Contact {
            key,
            der,
            fingerprint: Fingerprint(fp),
        })
    }

    /// Parses `pacom1:<base64url of the SPKI DER public key>`.
    pub fn parse(s: &str) -> Result<Self, IdentityError> {
        let body = s
            .trim()
            .strip_prefix(CONTACT_PREFIX)
            .ok_or(IdentityError::BadPrefix)?;
        let der = Base64UrlUnpadded::decode_vec(body).map_err(IdentityError::BadEncoding)?;
        let key = RsaPublicKey::from_public_key_der(&der)
            .map_err(|e| IdentityError::BadKey(e.to_string()))?;
        Self::from_public_key(key)
    }

    /// The textual form accepted by [`Contact::parse`].
    pub fn to_contact_string(&self) -> String {
        format!(
            "{CONTACT_PREFIX}{}",
            Base64UrlUnpadded::encode_string(&self.der)
        )
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    pub fn public_key(&self) -> &RsaPublicKey {
        &self.key
    }

    /// Size of an OAEP ciphertext to this key (the modulus size in bytes).
    pub fn ciphertext_len(&self) -> usize {
        self.key.size()
    }

    /// RSA-OAEP (SHA-256) encryption to this contact.
    pub fn encrypt<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, rsa::Error> {
        self.key.encrypt(rng, Oaep::new::<Sha256>(), plaintext)
    }
}

/// Our own key pair.
#[derive(Clone)]
pub struct Identity {
    key: RsaPrivateKey,
    contact: Contact,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({})", self.contact.fingerprint)
    }
}

impl Identity {
    /// Generates a fresh key pair of `bits` bits (slow: ~0.2 s for 2048).
    pub fn generate<R: RngCore + CryptoRng>(
        rng: &mut R,
        bits: usize,
    ) -> Result<Self, IdentityError> {
        if bits < MIN_KEY_BITS {
            return Err(IdentityError::KeyTooSmall(bits));
        }
        let key = RsaPrivateKey::new(rng, bits).map_err(IdentityError::KeyGen)?;
        Self::from_private_key(key)
    }

    /// Wraps an existing private key (for example one loaded by the CLI).
    pub fn from_private_key(key: RsaPrivateKey) -> Result<Self, IdentityError> {
        let contact = Contact::from_public_key(key.to_public_key())?;
        Ok(Identity { key, contact })
    }

    pub fn contact(&self) -> &Contact {
        &self.contact
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.contact.fingerprint
    }

    pub fn private_key(&self) -> &RsaPrivateKey {
        &self.key
    }

    /// Trial decryption of a handshake's encrypted part. Ciphertexts of the
    /// wrong length are rejected before any modular arithmetic.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Option<Vec<u8>> {
        if ciphertext.len() != self.contact.ciphertext_len() {
            return None;
        }
        self.key.decrypt(Oaep::new::<Sha256>(), ciphertext).ok()
    }
}
