//! The circuit layer: flooded handshakes, the relay table and end-to-end keys.
//!
//! A circuit is built by flooding a handshake request (paper eq. 5); every
//! node records where it came from and where it went, the target answers
//! (eq. 6) and the answer retraces the records. Relays only ever hold
//! `(last_hop, h_id, next_hop, r_time, suc_flag)`: the key `K` and every
//! payload stay with the two endpoints.
//!
//! Where we go beyond the paper's three cells:
//! - `time` is 32-bit UNIX seconds, so `E_t{h_id, time, sec_str, K}` fits
//!   OAEP-SHA256 even under a 1024-bit key (used by large simulations).
//! - The target numbers the copies it answers; the index is part of every
//!   AES-GCM nonce, so the k circuits sharing `K` never reuse a nonce.
//! - A clear `Destroy` cell lets relays and endpoints tear a circuit down
//!   when a link drops, instead of waiting for a time-out.
//! - A relay accepts one response per `h_id`: later ones (another branch of
//!   the same flood) are destroyed, so circuits of one handshake are
//!   node-disjoint past the source and `h_id` routes unambiguously.
//! - A node does not keep the first copy of a handshake: it gathers the
//!   copies for a window and takes the previous hop at random among the
//!   fewest-hop ones (`session/path_choice.rs`), so paths do not follow
//!   the lowest-delay links.

mod budget;
mod crypto;
mod table;

pub use budget::TokenBucket;
pub use crypto::{CircuitCrypto, CryptoError, HandshakeSecret, Role, HANDSHAKE_PLAINTEXT_LEN};
pub use table::{RelayRecord, RelayTable, Route};

use std::fmt;

/// A neighbour link (an ordered, reliable byte pipe), named by the caller.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NeighbourId(pub u64);

impl fmt::Debug for NeighbourId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}
