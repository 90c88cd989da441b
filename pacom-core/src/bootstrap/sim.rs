//! A model of a bootstrap node's download of the carrier torrent, producing
//! the HAVE order its neighbours see. Used to measure the decoder (tests, the
//! decoder-quality example, the lab).
//!
//! At each step the node can request `candidates` random missing pieces.
//! With probability `noise` the peers offer only pieces of the class the
//! encoder does not want (when such pieces are left), which forces a noisy
//! choice. Up to `in_flight` chosen pieces download concurrently and complete
//! in random order, so HAVEs are locally reordered as on a real connection.

use rand::seq::index::sample;
use rand::Rng;

use super::encoder::HaveOrderEncoder;

/// Parameters of the download model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DownloadModel {
    /// Pieces requestable per step when availability is normal.
    pub candidates: usize,
    /// Probability that a step offers only non-preferred pieces.
    pub noise: f64,
    /// Pieces downloading at once.
    pub in_flight: usize,
}

impl Default for DownloadModel {
    fn default() -> Self {
        Self {
            candidates: 32,
            noise: 0.0,
            in_flight: 4,
        }
    }
}

/// Runs the encoder until `max_haves` pieces completed (or the torrent did)
/// and returns the HAVE order.
pub fn have_order(
    encoder: &mut HaveOrderEncoder,
    num_pieces: u32,
    model: &DownloadModel,
    max_haves: usize,
    rng: &mut impl Rng,
) -> Vec<u32> {
    let bits: Vec<u128> = (0..num_pieces).map(|p| encoder.classes().bits(p)).collect();
    let mut missing: Vec<u32> = (0..num_pieces).collect();
    let mut flying: Vec<u32> = Vec::new();
    let mut haves = Vec::new();
    while haves.len() < max_haves && (!missing.is_empty() || !flying.is_empty()) {
        if !missing.is_empty() && flying.len() < model.in_flight.max(1) {
            let offered = offer(encoder.x(), &bits, &missing, model, rng);
            if let Some(piece) = encoder.choose(&offered) {
                if let Some(pos) = missing.iter().position(|&p| p == piece) {
                    missing.swap_remove(pos);
                }
                flying.push(piece);
                continue;
            }
        }
        let done = flying.swap_remove(rng.gen_range(0..flying.len()));
        encoder.on_completed(done);
        haves.push(done);
    }
    haves
}

/// The pieces peers offer this step.
fn offer(
    x: Option<u8>,
    bits: &[u128],
    missing: &[u32],
    model: &DownloadModel,
    rng: &mut impl Rng,
) -> Vec<u32> {
    let pick = |pool: &[u32], rng: &mut dyn rand::RngCore| -> Vec<u32> {
        let k = model.candidates.max(1).min(pool.len());
        sample(rng, pool.len(), k)
            .into_iter()
            .map(|i| pool[i])
            .collect()
    };
    if let Some(x) = x.filter(|_| rng.gen_bool(model.noise.clamp(0.0, 1.0))) {
        let class1 = |p: u32| (bits[p as usize] >> (x - 1)) & 1 == 1;
        let class1_left = missing.iter().any(|&p| class1(p));
        // The encoder prefers class 1 while any is left; noise offers the other.
        let other: Vec<u32> = missing
            .iter()
            .copied()
            .filter(|&p| class1(p) != class1_left)
            .collect();
        if !other.is_empty() {
            return pick(&other, rng);
        }
    }
    pick(missing, rng)
}
