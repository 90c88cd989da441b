//! Syndrome-trellis codes (Filler, Judas, Fridrich 2011): embed `m` message
//! bits into `n` cover bits as the syndrome `H·y`, choosing `y` by a Viterbi
//! search that minimises the summed cost of the bits that change.
//!
//! `H` is banded: message bit `j` owns a run of `n/m` (or one more) columns,
//! and each of those columns is a column of a small random submatrix `Ĥ`
//! (`h` rows) placed with its top row at row `j`. Columns of `Ĥ` have their
//! first and last bits set, as the paper recommends for good codes.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thiserror::Error;

/// Constraint height used by the PCM carrier: 2^7 trellis states.
pub const DEFAULT_HEIGHT: u32 = 7;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum StcError {
    #[error("{n} cover bits cannot carry {m} message bits")]
    TooShort { n: usize, m: usize },
    #[error("constraint height {0} outside 2..=12")]
    Height(u32),
    #[error("no embedding avoids the forbidden (infinite-cost) positions")]
    Infeasible,
    #[error("cost, cover or message length does not match the code")]
    Length,
}

/// One syndrome-trellis code of a given shape, keyed by a seed.
#[derive(Clone, Debug)]
pub struct Stc {
    height: u32,
    hhat: Vec<u32>,
    n: usize,
    m: usize,
}

impl Stc {
    /// A code for `m` message bits in `n` cover bits, `Ĥ` drawn from `seed`.
    pub fn new(seed: [u8; 32], n: usize, m: usize, height: u32) -> Result<Self, StcError> {
        if !(2..=12).contains(&height) {
            return Err(StcError::Height(height));
        }
        if m == 0 || n < m {
            return Err(StcError::TooShort { n, m });
        }
        let width = n.div_ceil(m);
        let mut rng = ChaCha8Rng::from_seed(seed);
        let edge = 1u32 | (1 << (height - 1));
        let hhat = (0..width)
            .map(|_| (rng.gen::<u32>() & ((1 << height) - 1)) | edge)
            .collect();
        Ok(Stc { height, hhat, n, m })
    }

    /// Cover bits consumed.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Message bits carried.
    pub fn m(&self) -> usize {
        self.m
    }

    /// Columns owned by message bit `j`.
    fn block(&self, j: usize) -> std::ops::Range<usize> {
        j * self.n / self.m..(j + 1) * self.n / self.m
    }

    /// The message carried by cover bits `y` (each 0 or 1): `H·y` over GF(2).
    pub fn syndrome(&self, y: &[u8]) -> Result<Vec<u8>, StcError> {
        if y.len() != self.n {
            return Err(StcError::Length);
        }
        let mut window = 0u32;
        let mut out = Vec::with_capacity(self.m);
        for j in 0..self.m {
            let r = self.block(j);
            for (k, &bit) in y[r].iter().enumerate() {
                if bit & 1 == 1 {
                    window ^= self.hhat[k];
                }
            }
            out.push((window & 1) as u8);
            window >>= 1;
        }
        Ok(out)
    }

    /// The cheapest `y` with `H·y = msg`, flipping bit `i` of `x` at `costs[i]`
    /// (`f32::INFINITY` forbids a flip).
    pub fn embed(&self, x: &[u8], costs: &[f32], msg: &[u8]) -> Result<Vec<u8>, StcError> {
        if x.len() != self.n || costs.len() != self.n || msg.len() != self.m {
            return Err(StcError::Length);
        }
        let states = 1usize << self.height;
        let words = states.div_ceil(64);
        let mut decisions = vec![0u64; self.n * words];
        let mut cost = vec![f32::INFINITY; states];
        let mut next = vec![f32::INFINITY; states];
        cost[0] = 0.0;
        for (j, &bit) in msg.iter().enumerate() {
            let r = self.block(j);
            for (k, i) in r.enumerate() {
                let col = self.hhat[k] as usize;
                let rho = costs[i];
                let (c0, c1) = if x[i] & 1 == 0 {
                    (0.0, rho)
                } else {
                    (rho, 0.0)
                };
                let dec = &mut decisions[i * words..(i + 1) * words];
                // Branch-free add-compare-select, 64 states per decision word.
                for (w, (outs, word)) in next.chunks_mut(64).zip(dec.iter_mut()).enumerate() {
                    let mut bits = 0u64;
                    for (b, out) in outs.iter_mut().enumerate() {
                        let s = w * 64 + b;
                        let keep = cost[s] + c0;
                        let flip = cost[s ^ col] + c1;
                        let take = flip < keep;
                        *out = if take { flip } else { keep };
                        bits |= u64::from(take) << b;
                    }
                    *word = bits;
                }
                std::mem::swap(&mut cost, &mut next);
            }
            // Row j is complete: keep states whose lowest bit matches the
            // message bit, then shift the next row in.
            let bit = usize::from(bit & 1);
            for s in 0..states / 2 {
                next[s] = cost[(s << 1) | bit];
            }
            next[states / 2..].fill(f32::INFINITY);
            std::mem::swap(&mut cost, &mut next);
        }
        let (mut state, best) =
            cost.iter().enumerate().fold(
                (0, f32::INFINITY),
                |acc, (s, &c)| if c < acc.1 { (s, c) } else { acc },
            );
        if !best.is_finite() {
            return Err(StcError::Infeasible);
        }
        let mut y = vec![0u8; self.n];
        for j in (0..self.m).rev() {
            state = (state << 1) | usize::from(msg[j] & 1);
            let r = self.block(j);
            for (k, i) in r.enumerate().rev() {
                let chose = (decisions[i * words + state / 64] >> (state % 64)) & 1;
                y[i] = chose as u8;
                if chose == 1 {
                    state ^= self.hhat[k] as usize;
                }
            }
        }
        debug_assert_eq!(state, 0);
        Ok(y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    fn random_bits(rng: &mut impl RngCore, n: usize) -> Vec<u8> {
        (0..n).map(|_| (rng.next_u32() & 1) as u8).collect()
    }

    #[test]
    fn embeds_exactly_and_beats_plain_embedding() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (n, m) = (4000, 400);
        let code = Stc::new([9; 32], n, m, DEFAULT_HEIGHT).unwrap();
        let x = random_bits(&mut rng, n);
        let msg = random_bits(&mut rng, m);
        let y = code.embed(&x, &vec![1.0; n], &msg).unwrap();
        assert_eq!(code.syndrome(&y).unwrap(), msg);
        let changes = x.iter().zip(&y).filter(|(a, b)| a != b).count();
        // Plain embedding changes m/2 = 200 bits; a height-7 code at rate 1/10
        // reaches an efficiency above 4 bits per change.
        assert!(changes * 4 < m, "{changes} changes");
    }

    #[test]
    fn never_flips_forbidden_bits() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let (n, m) = (3000, 300);
        let code = Stc::new([4; 32], n, m, DEFAULT_HEIGHT).unwrap();
        let x = random_bits(&mut rng, n);
        let msg = random_bits(&mut rng, m);
        let costs: Vec<f32> = (0..n)
            .map(|i| {
                if i % 3 == 0 {
                    f32::INFINITY
                } else {
                    1.0 + (i % 7) as f32
                }
            })
            .collect();
        let y = code.embed(&x, &costs, &msg).unwrap();
        assert_eq!(code.syndrome(&y).unwrap(), msg);
        assert!((0..n).step_by(3).all(|i| x[i] == y[i]));
    }

    #[test]
    fn reports_impossible_codes() {
        assert_eq!(
            Stc::new([0; 32], 5, 10, 7).unwrap_err(),
            StcError::TooShort { n: 5, m: 10 }
        );
        let code = Stc::new([0; 32], 100, 50, 7).unwrap();
        let all_wet = vec![f32::INFINITY; 100];
        let x = vec![0u8; 100];
        let msg = vec![1u8; 50];
        assert_eq!(code.embed(&x, &all_wet, &msg), Err(StcError::Infeasible));
        assert_eq!(code.syndrome(&[0; 3]), Err(StcError::Length));
    }
}
