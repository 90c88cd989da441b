//! A bootstrap node's swarm bookkeeping (§3.3, Cases 1 and 2).
//!
//! The node shares c PACOM files, each swarm with its own size cap b. A swarm
//! counts the bootstrap node itself as its first member and is full when its
//! member count reaches the cap. After every join the node advertises a
//! random non-full swarm (Case 2); when all are full it stops being a
//! bootstrap node for good (Case 1), even if members later leave: the paper
//! makes the stop final and lets a newcomer take the role instead.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::laws::{sample_file_count, sample_swarm_cap};
use super::seed::UtcDate;
use super::BootstrapError;

/// One PACOM swarm created by the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Swarm {
    /// Local id x (1..=c).
    pub x: u8,
    /// Members, the bootstrap node included.
    pub members: u32,
    /// Size cap b.
    pub cap: u32,
}

impl Swarm {
    /// Whether the swarm has reached its cap.
    pub fn is_full(&self) -> bool {
        self.members >= self.cap
    }
}

/// What the node hides in its HAVE order now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advert {
    /// Case 2: hide this x.
    Advertise(u8),
    /// Case 1: all swarms full, stop hiding.
    Stopped,
}

/// Swarm state of one bootstrap node for one date.
pub struct BootstrapState {
    date: UtcDate,
    swarms: Vec<Swarm>,
    advert: Advert,
    rng: ChaCha20Rng,
}

impl BootstrapState {
    /// Draws c and the caps from the laws of §3.3.
    pub fn new(date: UtcDate, rng_seed: [u8; 32]) -> Self {
        let mut rng = ChaCha20Rng::from_seed(rng_seed);
        let c = sample_file_count(&mut rng);
        let caps: Vec<u32> = (0..c).map(|_| sample_swarm_cap(&mut rng)).collect();
        Self::build(date, &caps, rng)
    }

    /// A node with the given caps (swarm x = index + 1); 1 to 100 swarms.
    pub fn with_caps(
        date: UtcDate,
        caps: &[u32],
        rng_seed: [u8; 32],
    ) -> Result<Self, BootstrapError> {
        if caps.is_empty() || caps.len() > 100 {
            return Err(BootstrapError::SwarmCount(caps.len()));
        }
        Ok(Self::build(date, caps, ChaCha20Rng::from_seed(rng_seed)))
    }

    fn build(date: UtcDate, caps: &[u32], rng: ChaCha20Rng) -> Self {
        let swarms = caps
            .iter()
            .enumerate()
            .map(|(i, &cap)| Swarm {
                x: i as u8 + 1,
                members: 1,
                cap,
            })
            .collect();
        let mut state = Self {
            date,
            swarms,
            advert: Advert::Stopped,
            rng,
        };
        state.advert = state.pick_advert();
        state
    }

    /// The date the swarms' seeds use.
    pub fn date(&self) -> UtcDate {
        self.date
    }

    /// All swarms.
    pub fn swarms(&self) -> &[Swarm] {
        &self.swarms
    }

    /// Current advert.
    pub fn advert(&self) -> Advert {
        self.advert
    }

    /// Whether the node still acts as a bootstrap node (not Case 1).
    pub fn is_active(&self) -> bool {
        self.advert != Advert::Stopped
    }

    /// A newcomer joined swarm x: count it and re-pick the advert.
    pub fn on_joined(&mut self, x: u8) -> Result<Advert, BootstrapError> {
        let swarm = self.swarm_mut(x)?;
        swarm.members = swarm.members.saturating_add(1);
        self.after_change();
        Ok(self.advert)
    }

    /// A member left swarm x (never below the node itself).
    pub fn on_left(&mut self, x: u8) -> Result<Advert, BootstrapError> {
        let swarm = self.swarm_mut(x)?;
        swarm.members = swarm.members.saturating_sub(1).max(1);
        Ok(self.advert)
    }

    /// Sets swarm x's member count as observed by the engine.
    pub fn set_members(&mut self, x: u8, members: u32) -> Result<Advert, BootstrapError> {
        let swarm = self.swarm_mut(x)?;
        let grew = members > swarm.members;
        swarm.members = members.max(1);
        if grew {
            self.after_change();
        }
        Ok(self.advert)
    }

    fn swarm_mut(&mut self, x: u8) -> Result<&mut Swarm, BootstrapError> {
        let count = self.swarms.len();
        self.swarms
            .iter_mut()
            .find(|s| s.x == x)
            .ok_or(BootstrapError::UnknownSwarm { x, count })
    }

    fn after_change(&mut self) {
        if self.is_active() {
            self.advert = self.pick_advert();
        }
    }

    /// Case 2: a random non-full swarm; Case 1 when none.
    fn pick_advert(&mut self) -> Advert {
        let open: Vec<u8> = self
            .swarms
            .iter()
            .filter(|s| !s.is_full())
            .map(|s| s.x)
            .collect();
        match open.choose(&mut self.rng) {
            Some(&x) => Advert::Advertise(x),
            None => Advert::Stopped,
        }
    }
}
