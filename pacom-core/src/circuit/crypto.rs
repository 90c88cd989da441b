//! End-to-end cryptography of one circuit.
//!
//! The handshake carries `E_t{h_id, time, sec_str, K}` under RSA-OAEP; from
//! then on both ends seal with AES-256-GCM under `K`. The nonce is
//! `direction ‖ 0 ‖ counter`, sent in clear in front of the ciphertext, and a
//! receiver accepts only strictly increasing counters: the circuit is an
//! ordered path, so any repeat is a replay. The cell type and `h_id` are
//! authenticated as associated data, so a sealed body cannot be moved to
//! another circuit or cell type.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::{CryptoRng, RngCore};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::cell::HandshakeId;
use crate::identity::{Contact, Identity};

/// Plaintext of the RSA part: h_id (8), time (4), sec_str (16), K (32). It
/// fits OAEP-SHA256 under a 1024-bit modulus (62 bytes at most).
pub const HANDSHAKE_PLAINTEXT_LEN: usize = 8 + 4 + 16 + 32;
const NONCE_LEN: usize = 12;
const DIR_TO_TARGET: u8 = 0;
const DIR_TO_SOURCE: u8 = 1;
const DIR_RESPONSE: u8 = 2;
const AAD_RESPONSE: u8 = 1;
const AAD_DATA: u8 = 2;

/// Failures opening sealed bodies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("sealed body too short ({0} bytes)")]
    Short(usize),
    #[error("authentication failed")]
    Auth,
    #[error("nonce for the wrong direction")]
    Direction,
    #[error("replayed or reordered cell: counter {got} after {last}")]
    Replay { got: u64, last: u64 },
    #[error("RSA encryption failed: {0}")]
    Rsa(String),
}

/// Which end of the circuit we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We sent the handshake (Ps).
    Source,
    /// We answered it (Pt).
    Target,
}

/// The decrypted handshake secret `{h_id, time, sec_str, K}`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct HandshakeSecret {
    pub h_id: HandshakeId,
    /// UNIX seconds at the sender, from the caller's clock.
    pub time: u32,
    pub sec_str: [u8; 16],
    pub key: [u8; 32],
}

impl HandshakeSecret {
    /// Fresh secret for a new handshake.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R, h_id: HandshakeId, time: u32) -> Self {
        let mut s = HandshakeSecret {
            h_id,
            time,
            sec_str: [0; 16],
            key: [0; 32],
        };
        rng.fill_bytes(&mut s.sec_str);
        rng.fill_bytes(&mut s.key);
        s
    }

    /// `E_t{...}` for the handshake cell.
    pub fn encrypt_to<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
        target: &Contact,
    ) -> Result<Vec<u8>, CryptoError> {
        let mut pt = [0u8; HANDSHAKE_PLAINTEXT_LEN];
        pt[..8].copy_from_slice(&self.h_id.to_be_bytes());
        pt[8..12].copy_from_slice(&self.time.to_be_bytes());
        pt[12..28].copy_from_slice(&self.sec_str);
        pt[28..].copy_from_slice(&self.key);
        let r = target
            .encrypt(rng, &pt)
            .map_err(|e| CryptoError::Rsa(e.to_string()));
        pt.zeroize();
        r
    }

    /// Trial decryption: `None` unless the ciphertext was made for us and
    /// is well formed. The caller still checks `h_id` and `time`.
    pub fn trial_decrypt(identity: &Identity, ct: &[u8]) -> Option<Self> {
        let mut pt = identity.decrypt(ct)?;
        let s = if pt.len() == HANDSHAKE_PLAINTEXT_LEN {
            let mut s = HandshakeSecret {
                h_id: 0,
                time: 0,
                sec_str: [0; 16],
                key: [0; 32],
            };
            let mut id = [0u8; 8];
            id.copy_from_slice(&pt[..8]);
            s.h_id = u64::from_be_bytes(id);
            let mut t = [0u8; 4];
            t.copy_from_slice(&pt[8..12]);
            s.time = u32::from_be_bytes(t);
            s.sec_str.copy_from_slice(&pt[12..28]);
            s.key.copy_from_slice(&pt[28..]);
            Some(s)
        } else {
            None
        };
        pt.zeroize();
        s
    }
}

/// AES-GCM state of one circuit end.
pub struct CircuitCrypto {
    aead: Aes256Gcm,
    h_id: HandshakeId,
    role: Role,
    index: u8,
    send_ctr: u64,
    recv_ctr: Option<u64>,
}

impl std::fmt::Debug for CircuitCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CircuitCrypto({:?}, h_id {})", self.role, self.h_id)
    }
}

/// `dir ‖ circuit index ‖ 0 0 ‖ counter`: the index keeps the several
/// circuits built by one handshake (same `K`) from ever sharing a nonce.
fn nonce(dir: u8, index: u8, ctr: u64) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    n[0] = dir;
    n[1] = index;
    n[4..].copy_from_slice(&ctr.to_be_bytes());
    n
}

fn aad(t: u8, h_id: HandshakeId) -> [u8; 9] {
    let mut a = [0u8; 9];
    a[0] = t;
    a[1..].copy_from_slice(&h_id.to_be_bytes());
    a
}

fn seal(aead: &Aes256Gcm, n: [u8; NONCE_LEN], aad: &[u8], pt: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(NONCE_LEN + pt.len() + 16);
    out.extend_from_slice(&n);
    // Encryption with a valid key and in-range lengths cannot fail.
    if let Ok(ct) = aead.encrypt(Nonce::from_slice(&n), Payload { msg: pt, aad }) {
        out.extend_from_slice(&ct);
    }
    out
}

fn split(sealed: &[u8]) -> Result<([u8; NONCE_LEN], &[u8]), CryptoError> {
    match sealed.split_first_chunk::<NONCE_LEN>() {
        Some((n, ct)) if ct.len() >= 16 => Ok((*n, ct)),
        _ => Err(CryptoError::Short(sealed.len())),
    }
}

impl CircuitCrypto {
    /// State for circuit number `index` of the handshake (the target
    /// numbers the copies it answers; the source learns it from the response).
    pub fn new(secret: &HandshakeSecret, role: Role, index: u8) -> Self {
        CircuitCrypto {
            aead: Aes256Gcm::new((&secret.key).into()),
            h_id: secret.h_id,
            role,
            index,
            send_ctr: 0,
            recv_ctr: None,
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn index(&self) -> u8 {
        self.index
    }

    /// `E_K{sec_str}` of the handshake response (target side).
    pub fn seal_response(&self, sec_str: &[u8; 16]) -> Vec<u8> {
        seal(
            &self.aead,
            nonce(DIR_RESPONSE, self.index, 0),
            &aad(AAD_RESPONSE, self.h_id),
            sec_str,
        )
    }

    /// Opens a response (source side), checks it proves knowledge of
    /// `sec_str`, and returns the circuit index the target chose.
    pub fn open_response(secret: &HandshakeSecret, sealed: &[u8]) -> Result<u8, CryptoError> {
        let (n, ct) = split(sealed)?;
        if n != nonce(DIR_RESPONSE, n[1], 0) {
            return Err(CryptoError::Direction);
        }
        let aead = Aes256Gcm::new((&secret.key).into());
        let pt = aead
            .decrypt(
                Nonce::from_slice(&n),
                Payload {
                    msg: ct,
                    aad: &aad(AAD_RESPONSE, secret.h_id),
                },
            )
            .map_err(|_| CryptoError::Auth)?;
        if pt.as_slice() == secret.sec_str.as_slice() {
            Ok(n[1])
        } else {
            Err(CryptoError::Auth)
        }
    }

    /// Seals the body of a data cell; its counter is the paper's `d_id`.
    pub fn seal_data(&mut self, pt: &[u8]) -> Vec<u8> {
        let dir = match self.role {
            Role::Source => DIR_TO_TARGET,
            Role::Target => DIR_TO_SOURCE,
        };
        let n = nonce(dir, self.index, self.send_ctr);
        self.send_ctr += 1;
        seal(&self.aead, n, &aad(AAD_DATA, self.h_id), pt)
    }

    /// Opens a data cell body, rejecting replays.
    pub fn open_data(&mut self, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (n, ct) = split(sealed)?;
        let want_dir = match self.role {
            Role::Source => DIR_TO_SOURCE,
            Role::Target => DIR_TO_TARGET,
        };
        if n[0] != want_dir || n[1] != self.index || n[2..4] != [0, 0] {
            return Err(CryptoError::Direction);
        }
        let mut c = [0u8; 8];
        c.copy_from_slice(&n[4..]);
        let ctr = u64::from_be_bytes(c);
        if let Some(last) = self.recv_ctr {
            if ctr <= last {
                return Err(CryptoError::Replay { got: ctr, last });
            }
        }
        let pt = self
            .aead
            .decrypt(
                Nonce::from_slice(&n),
                Payload {
                    msg: ct,
                    aad: &aad(AAD_DATA, self.h_id),
                },
            )
            .map_err(|_| CryptoError::Auth)?;
        self.recv_ctr = Some(ctr);
        Ok(pt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn secret() -> HandshakeSecret {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        HandshakeSecret::generate(&mut rng, 42, 1000)
    }

    fn pair() -> (CircuitCrypto, CircuitCrypto) {
        let s = secret();
        (
            CircuitCrypto::new(&s, Role::Source, 0),
            CircuitCrypto::new(&s, Role::Target, 0),
        )
    }

    #[test]
    fn data_both_ways_and_replay_rejected() {
        let (mut s, mut t) = pair();
        let c1 = s.seal_data(b"hello");
        let c2 = s.seal_data(b"world");
        assert_eq!(t.open_data(&c1).as_deref(), Ok(&b"hello"[..]));
        assert_eq!(t.open_data(&c2).as_deref(), Ok(&b"world"[..]));
        assert!(matches!(t.open_data(&c1), Err(CryptoError::Replay { .. })));
        // Our own cells reflected back are refused.
        assert_eq!(s.open_data(&c1), Err(CryptoError::Direction));
        let back = t.seal_data(b"reply");
        assert_eq!(s.open_data(&back).as_deref(), Ok(&b"reply"[..]));
        let mut bad = t.seal_data(b"x");
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(s.open_data(&bad), Err(CryptoError::Auth));
    }

    #[test]
    fn response_proves_sec_str_and_carries_index() {
        let s = secret();
        let t = CircuitCrypto::new(&s, Role::Target, 3);
        let r = t.seal_response(&s.sec_str);
        assert_eq!(CircuitCrypto::open_response(&s, &r), Ok(3));
        let forged = t.seal_response(&[8u8; 16]);
        assert_eq!(
            CircuitCrypto::open_response(&s, &forged),
            Err(CryptoError::Auth)
        );
    }

    #[test]
    fn circuits_of_one_handshake_do_not_share_nonces() {
        let s = secret();
        let mut a = CircuitCrypto::new(&s, Role::Source, 0);
        let mut tb = CircuitCrypto::new(&s, Role::Target, 1);
        let c = a.seal_data(b"x");
        assert_eq!(tb.open_data(&c), Err(CryptoError::Direction));
    }
}
