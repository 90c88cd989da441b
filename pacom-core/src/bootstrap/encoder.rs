//! Algorithm 2: the bootstrap node's piece choice that hides x in its HAVE order.
//!
//! Among the pieces it could request now, the node prefers those in class 1
//! under H_x; once no missing class-1 piece is left it takes class 2 (the
//! decoder accepts either extreme). When the peers offer no preferred piece
//! right now, it takes another rather than stall (a stalled client is more
//! conspicuous than a noisy order): that choice is the noise the decoder
//! tolerates. With no x (not a bootstrap node, or Case 1) it picks like an
//! ordinary client.

use std::collections::HashMap;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::classes::{ClassHashes, NUM_FUNCTIONS};

/// Sans-IO piece chooser for one download of the carrier torrent.
pub struct HaveOrderEncoder {
    classes: ClassHashes,
    /// Class bits of every piece, computed once.
    bits: Vec<u128>,
    have: Vec<bool>,
    x: Option<u8>,
    rng: ChaCha20Rng,
    noisy_choices: u64,
}

impl HaveOrderEncoder {
    /// An encoder for a torrent of `num_pieces` pieces; `rng_seed` drives the
    /// random choice within a class.
    pub fn new(group_key: &[u8], torrent: &[u8; 20], num_pieces: u32, rng_seed: [u8; 32]) -> Self {
        let classes = ClassHashes::new(group_key, torrent);
        let bits = (0..num_pieces).map(|p| classes.bits(p)).collect();
        Self {
            classes,
            bits,
            have: vec![false; num_pieces as usize],
            x: None,
            rng: ChaCha20Rng::from_seed(rng_seed),
            noisy_choices: 0,
        }
    }

    /// The hash functions in use.
    pub fn classes(&self) -> &ClassHashes {
        &self.classes
    }

    /// Sets the hidden x (1..=100) or stops hiding with `None`. Values out of
    /// range stop hiding too.
    pub fn set_x(&mut self, x: Option<u8>) {
        self.x = x.filter(|x| (1..=NUM_FUNCTIONS).contains(x));
    }

    /// The x being hidden.
    pub fn x(&self) -> Option<u8> {
        self.x
    }

    /// Records a verified piece (pieces we already had are ignored).
    pub fn on_completed(&mut self, piece: u32) {
        if let Some(h) = self.have.get_mut(piece as usize) {
            *h = true;
        }
    }

    /// Times a non-preferred piece was chosen while preferred ones were still missing.
    pub fn noisy_choices(&self) -> u64 {
        self.noisy_choices
    }

    /// Chooses the next piece among `candidates` (requestable pieces), at random
    /// within the preferred class. Pieces we have or that do not exist are skipped.
    pub fn choose(&mut self, candidates: &[u32]) -> Option<u32> {
        let usable: Vec<u32> = candidates
            .iter()
            .copied()
            .filter(|&p| self.is_missing(p))
            .collect();
        let pool = self.preferred_pool(&usable);
        pool.choose(&mut self.rng).copied()
    }

    /// Like [`choose`](Self::choose) but rarest-first within the preferred
    /// class: `candidates` are `(piece, availability)` pairs, ties broken at random.
    pub fn choose_rarest(&mut self, candidates: &[(u32, u32)]) -> Option<u32> {
        let usable: Vec<u32> = candidates
            .iter()
            .map(|&(p, _)| p)
            .filter(|&p| self.is_missing(p))
            .collect();
        let pool = self.preferred_pool(&usable);
        // One map instead of a scan per pooled piece: torrents have thousands
        // of pieces and this runs with the torrent locked.
        let availability: HashMap<u32, u32> = candidates.iter().copied().collect();
        let avail = |p: u32| availability.get(&p).copied().unwrap_or(u32::MAX);
        let rarest = pool.iter().map(|&p| avail(p)).min()?;
        let ties: Vec<u32> = pool.into_iter().filter(|&p| avail(p) == rarest).collect();
        ties.choose(&mut self.rng).copied()
    }

    fn is_missing(&self, piece: u32) -> bool {
        self.have.get(piece as usize) == Some(&false)
    }

    fn class1(&self, x: u8, piece: u32) -> bool {
        (self.bits[piece as usize] >> (x - 1)) & 1 == 1
    }

    /// The candidates of the class Algorithm 2 wants now.
    fn preferred_pool(&mut self, usable: &[u32]) -> Vec<u32> {
        let Some(x) = self.x else {
            return usable.to_vec();
        };
        let (class1, class2): (Vec<u32>, Vec<u32>) =
            usable.iter().partition(|&&p| self.class1(x, p));
        if !class1.is_empty() {
            return class1;
        }
        let class1_missing =
            (0..self.bits.len() as u32).any(|p| !self.have[p as usize] && self.class1(x, p));
        if class1_missing && !class2.is_empty() {
            self.noisy_choices += 1;
        }
        class2
    }
}
