//! Deliberately weak embedders used as positive controls for steganalysis:
//! if a detector cannot see these at a given rate, its silence about the real
//! carrier at that rate means nothing.
//!
//! Both hide the same number of random bits as the PCM carrier at the same
//! rate, one bit per sample in a keyed random subset of the usable samples,
//! without coding and without adaptive costs.

use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::pcm::PayloadRate;
use crate::samples;

/// Which naive embedder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naive {
    /// LSB replacement: the sample's LSB is overwritten (x ^ 1 when it differs).
    LsbReplacement,
    /// Plain ±1 (LSB matching): a random ±1 when the LSB differs.
    PlusMinusOne,
}

/// Embeds `rate × samples` random bits into the samples of `block` (from byte
/// `file_offset` of a WAV file) and returns the number of changed samples.
pub fn embed(
    kind: Naive,
    block: &mut [u8],
    file_offset: u64,
    rate: PayloadRate,
    seed: u64,
) -> usize {
    let span = samples::span(file_offset, block.len());
    let mut x = samples::read(block, span);
    let usable: Vec<usize> = (0..x.len()).filter(|&i| samples::usable(x[i])).collect();
    let bits = (8 * rate.message_bytes(x.len())).min(usable.len());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut changes = 0;
    for k in sample(&mut rng, usable.len(), bits) {
        let i = usable[k];
        let bit: i16 = rng.gen_range(0..=1);
        if x[i] & 1 != bit {
            x[i] = match kind {
                Naive::LsbReplacement => x[i] ^ 1,
                Naive::PlusMinusOne => samples::step(x[i], rng.gen()),
            };
            changes += 1;
        }
    }
    samples::write(block, span.0, &x);
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_about_half_the_bits() {
        let cover: Vec<u8> = (0..8192i32)
            .flat_map(|i| ((((i * 7919) % 2001) - 1000) as i16 * 9).to_le_bytes())
            .collect();
        for kind in [Naive::LsbReplacement, Naive::PlusMinusOne] {
            let mut b = cover.clone();
            let n = embed(kind, &mut b, 16_384, PayloadRate::per_mille(100), 5);
            // 816 bits embedded: about 408 changes.
            assert!((330..490).contains(&n), "{n}");
            let changed = b
                .chunks(2)
                .zip(cover.chunks(2))
                .filter(|(a, c)| a != c)
                .count();
            assert_eq!(changed, n);
        }
    }
}
