//! Shared fixtures: RSA keys are slow to make, so each test binary makes
//! them once. Simulations use 1024-bit keys (the smallest that fits the
//! handshake under OAEP-SHA256) to keep key generation and trial decryption
//! affordable in debug builds; the protocol is the same as with 2048 bits.
#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::Duration;

use pacom_core::identity::Identity;
use pacom_core::session::{Config, Node};
use pacom_core::sim::{random_graph, Sim, SimNode};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const SIM_KEY_BITS: usize = 1024;

/// `n` deterministic identities, generated once per test binary.
pub fn identities(n: usize) -> &'static [Identity] {
    static KEYS: OnceLock<Vec<Identity>> = OnceLock::new();
    let all = KEYS.get_or_init(|| {
        let mut rng = ChaCha8Rng::seed_from_u64(0x5eed);
        (0..200)
            .map(|_| Identity::generate(&mut rng, SIM_KEY_BITS).expect("keygen"))
            .collect()
    });
    &all[..n]
}

pub fn node(i: usize, cfg: &Config, seed: u64) -> SimNode {
    Node::new(
        identities(i + 1)[i].clone(),
        cfg.clone(),
        ChaCha8Rng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9e37_79b9)),
    )
}

/// A random graph of `n` nodes (degrees 3..=10), links of 5–50 ms and
/// `bw` bytes/s.
pub fn random_sim(n: usize, cfg: &Config, seed: u64, bw: f64) -> Sim {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let g = random_graph(&mut rng, n, 3, 10);
    let nodes = (0..n).map(|i| node(i, cfg, seed)).collect();
    Sim::new(nodes, g, move |_, _| {
        (Duration::from_millis(rng.gen_range(5..50)), bw)
    })
}

/// A line 0 - 1 - ... - (n-1).
pub fn line_sim(n: usize, cfg: &Config) -> Sim {
    let mut g = vec![std::collections::BTreeSet::new(); n];
    for i in 1..n {
        g[i].insert(i - 1);
        g[i - 1].insert(i);
    }
    let nodes = (0..n).map(|i| node(i, cfg, 7)).collect();
    Sim::new(nodes, g, |_, _| (Duration::from_millis(10), 1e6))
}

/// Deterministic pseudo-random payload.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut v = vec![0u8; len];
    rng.fill(&mut v[..]);
    v
}
