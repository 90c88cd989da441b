//! Peer recognition tags: PACOM peers find each other by their peer ids.
//!
//! Layout of the 20-byte peer id:
//!
//! | bytes  | content |
//! |--------|---------|
//! | 0..8   | client prefix in Azureus style, e.g. `-UT3600-` (chosen by the engine to match the client it presents as) |
//! | 8..14  | `r`: 6 random bytes |
//! | 14..20 | tag: first 6 bytes of `HMAC-SHA256(group_key, info_hash ‖ r)` |
//!
//! librqbit and µTorrent fill the 12 bytes after an 8-byte fingerprint with
//! binary random bytes; without the group key the tag is as random as `r`,
//! so the id looks like theirs. (Clients that draw printable characters,
//! such as libtorrent, would need a printable encoding; not provided.) 48 tag bits make a false match by an ordinary peer
//! a 2^-48 event. The tag is per swarm, so ids do not link swarms.

use hmac::{Hmac, Mac};
use rand::{CryptoRng, RngCore};
use sha2::Sha256;

/// Length of the client prefix.
pub const PREFIX_LEN: usize = 8;
/// Length of the random part `r`.
pub const NONCE_LEN: usize = 6;
/// Length of the tag.
pub const TAG_LEN: usize = 6;

const R_START: usize = PREFIX_LEN;
const TAG_START: usize = PREFIX_LEN + NONCE_LEN;

fn keyed_mac(group_key: &[u8; 32], info_hash: &[u8; 20], r: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(group_key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(info_hash);
    mac.update(r);
    mac
}

/// A fresh peer id for one swarm that other holders of `group_key` recognise.
pub fn make_peer_id<R: RngCore + CryptoRng>(
    group_key: &[u8; 32],
    info_hash: &[u8; 20],
    prefix: &[u8; PREFIX_LEN],
    rng: &mut R,
) -> [u8; 20] {
    let mut id = [0u8; 20];
    id[..PREFIX_LEN].copy_from_slice(prefix);
    rng.fill_bytes(&mut id[R_START..TAG_START]);
    let full = keyed_mac(group_key, info_hash, &id[R_START..TAG_START])
        .finalize()
        .into_bytes();
    id[TAG_START..].copy_from_slice(&full[..TAG_LEN]);
    id
}

/// Whether `peer_id` carries a valid tag for this group and swarm (any prefix).
/// The comparison is constant-time.
pub fn is_pacom_peer(group_key: &[u8; 32], info_hash: &[u8; 20], peer_id: &[u8; 20]) -> bool {
    keyed_mac(group_key, info_hash, &peer_id[R_START..TAG_START])
        .verify_truncated_left(&peer_id[TAG_START..])
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    const GK: [u8; 32] = [0x11; 32];
    const IH: [u8; 20] = [0x22; 20];
    const PREFIX: &[u8; 8] = b"-UT3600-";

    #[test]
    fn recognised_only_with_key_and_swarm() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        for _ in 0..200 {
            let id = make_peer_id(&GK, &IH, PREFIX, &mut rng);
            assert_eq!(&id[..8], PREFIX);
            assert!(is_pacom_peer(&GK, &IH, &id));
            assert!(!is_pacom_peer(&[0x12; 32], &IH, &id));
            assert!(!is_pacom_peer(&GK, &[0x23; 20], &id));
            let mut flipped = id;
            flipped[19] ^= 0x80;
            assert!(!is_pacom_peer(&GK, &IH, &flipped));
            let mut other_r = id;
            other_r[9] ^= 1;
            assert!(!is_pacom_peer(&GK, &IH, &other_r));
        }
    }

    #[test]
    fn ordinary_peer_ids_are_not_recognised() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let hits = (0..10_000)
            .filter(|_| {
                let mut id = [0u8; 20];
                rng.fill_bytes(&mut id);
                is_pacom_peer(&GK, &IH, &id)
            })
            .count();
        assert_eq!(hits, 0);
    }

    #[test]
    fn tag_bytes_look_uniform_without_the_key() {
        // Chi-square of each suffix position's byte values (255 degrees of
        // freedom; 330 is beyond the 0.1% tail) and of all of them together.
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let n = 8192;
        let ids: Vec<[u8; 20]> = (0..n)
            .map(|_| make_peer_id(&GK, &IH, PREFIX, &mut rng))
            .collect();
        let chi = |positions: std::ops::Range<usize>| -> f64 {
            let mut counts = [0u64; 256];
            for id in &ids {
                for p in positions.clone() {
                    counts[id[p] as usize] += 1;
                }
            }
            let expected = (n * positions.len()) as f64 / 256.0;
            counts
                .iter()
                .map(|c| (*c as f64 - expected).powi(2) / expected)
                .sum()
        };
        for p in TAG_START..20 {
            let c = chi(p..p + 1);
            assert!(c < 330.0, "tag byte {p}: chi-square {c}");
        }
        let all = chi(TAG_START..20);
        assert!(all < 330.0, "tag bytes: chi-square {all}");
        // The prefix bytes, constant, are caught by the same statistic.
        assert!(chi(0..1) > 10_000.0);
    }
}
