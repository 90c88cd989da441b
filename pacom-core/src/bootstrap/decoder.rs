//! Algorithm 3, made tolerant of noise: decode x from a peer's HAVE order.
//!
//! The paper decodes i when all of the last c HAVEs fall in one class of H_i.
//! A bootstrap node cannot always find a preferred piece, so we accept a
//! window of the last L distinct HAVEs when at least t_L of them agree. We test
//! several window lengths, shortest first (the most recent evidence wins, so a
//! node that switched x is read as its new x), and choose each t_L so that the
//! union bound on false positives over all windows, all 100 functions and both
//! classes stays below a target:
//!
//! P(false decode of a random order) ≤ Σ_L 2·100·P(Bin(L, ½) ≥ t_L) ≤ α.
//!
//! An ordinary client's order is independent of the key, so each of its pieces
//! is class 1 under H_i with probability ½ independently: exactly this model.
//! With the defaults the bound is 5.5·10⁻⁴ per call (measured: 4.5·10⁻⁴).
//! Calls on overlapping windows of one peer are correlated but add up: decoding
//! after every 16th HAVE of a whole 2000-piece ordinary download flags about
//! 1.5 % of peers. A false decode only costs a DHT lookup of an info hash with
//! no peers; lower `false_positive` if that matters (windows get longer).

use std::collections::HashSet;

use super::classes::{ClassHashes, NUM_FUNCTIONS};
use super::BootstrapError;

/// Decoder configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct DecoderParams {
    /// Window lengths tried, in increasing order.
    pub windows: Vec<u32>,
    /// Target bound on the probability that one `decode` call on a random
    /// order returns something.
    pub false_positive: f64,
}

impl Default for DecoderParams {
    /// Windows from 24 to 256 HAVEs, false-positive bound 10⁻³ per call.
    fn default() -> Self {
        Self {
            windows: vec![24, 32, 48, 64, 96, 128, 192, 256],
            false_positive: 1e-3,
        }
    }
}

/// A window length and the number of agreeing HAVEs it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub len: u32,
    pub threshold: u32,
}

/// A successful decode.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decoded {
    /// The hidden x (1..=100).
    pub x: u8,
    /// 1 − (Bonferroni-corrected p-value of the agreement seen), in [0, 1].
    pub confidence: f64,
    /// Window length that decoded.
    pub window: u32,
    /// HAVEs of that window in the agreeing class.
    pub agreeing: u32,
}

/// Decoder for HAVE orders of one carrier torrent.
#[derive(Clone)]
pub struct HaveOrderDecoder {
    classes: ClassHashes,
    windows: Vec<Window>,
    tests: f64,
}

impl HaveOrderDecoder {
    /// Computes a threshold per window; windows too short to reach the target
    /// even with full agreement are dropped.
    pub fn new(
        group_key: &[u8],
        torrent: &[u8; 20],
        params: &DecoderParams,
    ) -> Result<Self, BootstrapError> {
        if !(params.false_positive > 0.0 && params.false_positive < 1.0) {
            return Err(BootstrapError::DecoderParams(format!(
                "false-positive target {} is not in (0, 1)",
                params.false_positive
            )));
        }
        let mut lens = params.windows.clone();
        lens.sort_unstable();
        lens.dedup();
        lens.retain(|&l| l > 0 && l <= 4096);
        let tests = (lens.len() as f64) * 2.0 * f64::from(NUM_FUNCTIONS);
        let per_test = params.false_positive / tests;
        let windows: Vec<Window> = lens
            .iter()
            .filter_map(|&len| {
                (len / 2 + 1..=len)
                    .find(|&t| binomial_upper_tail(len, t) <= per_test)
                    .map(|threshold| Window { len, threshold })
            })
            .collect();
        if windows.is_empty() {
            return Err(BootstrapError::DecoderParams(format!(
                "no window in {:?} can reach false-positive target {}",
                params.windows, params.false_positive
            )));
        }
        Ok(Self {
            classes: ClassHashes::new(group_key, torrent),
            windows,
            tests,
        })
    }

    /// The windows used and their thresholds.
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// Analytic union bound on the probability that one `decode` of a random
    /// order (of at least the longest window) returns something.
    pub fn false_positive_bound(&self) -> f64 {
        self.windows
            .iter()
            .map(|w| 2.0 * f64::from(NUM_FUNCTIONS) * binomial_upper_tail(w.len, w.threshold))
            .sum()
    }

    /// Decodes x from `haves` (oldest first). Repeated pieces count once, at
    /// their latest position. Returns `None` when no window is conclusive.
    pub fn decode(&self, haves: &[u32]) -> Option<Decoded> {
        let max_len = self.windows.last().map_or(0, |w| w.len) as usize;
        let mut seen = HashSet::with_capacity(max_len);
        let mut counts = [0u32; NUM_FUNCTIONS as usize];
        let mut taken = 0u32;
        let mut next_window = self.windows.iter().peekable();
        for &piece in haves.iter().rev() {
            if !seen.insert(piece) {
                continue;
            }
            let bits = self.classes.bits(piece);
            for (i, count) in counts.iter_mut().enumerate() {
                *count += ((bits >> i) & 1) as u32;
            }
            taken += 1;
            let Some(window) = next_window.peek() else {
                break;
            };
            if taken < window.len {
                continue;
            }
            let window = **window;
            next_window.next();
            if let Some(decoded) = self.judge(window, &counts) {
                return Some(decoded);
            }
            if next_window.peek().is_none() {
                break;
            }
        }
        None
    }

    /// The unique best function whose agreement reaches the threshold.
    fn judge(&self, window: Window, counts: &[u32]) -> Option<Decoded> {
        let mut best: Option<(u8, u32)> = None;
        let mut tied = false;
        for (i, &ones) in counts.iter().enumerate() {
            let agreeing = ones.max(window.len - ones);
            if agreeing < window.threshold {
                continue;
            }
            match best {
                Some((_, b)) if agreeing < b => {}
                Some((_, b)) if agreeing == b => tied = true,
                _ => {
                    best = Some((i as u8 + 1, agreeing));
                    tied = false;
                }
            }
        }
        let (x, agreeing) = best.filter(|_| !tied)?;
        let p_value = (self.tests * binomial_upper_tail(window.len, agreeing)).min(1.0);
        Some(Decoded {
            x,
            confidence: 1.0 - p_value,
            window: window.len,
            agreeing,
        })
    }
}

/// P(Bin(n, ½) ≥ t), summed in log space so long windows do not underflow.
pub fn binomial_upper_tail(n: u32, t: u32) -> f64 {
    if t == 0 {
        return 1.0;
    }
    if t > n {
        return 0.0;
    }
    let ln2 = std::f64::consts::LN_2;
    // ln C(n, k) built incrementally from k = t.
    let mut ln_choose: f64 = (1..=t)
        .map(|k| f64::from(n - t + k).ln() - f64::from(k).ln())
        .sum();
    let mut total = 0.0;
    for k in t..=n {
        total += (ln_choose - f64::from(n) * ln2).exp();
        if k < n {
            ln_choose += f64::from(n - k).ln() - f64::from(k + 1).ln();
        }
    }
    total.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_tail_matches_exact_small_cases() {
        assert!((binomial_upper_tail(4, 4) - 1.0 / 16.0).abs() < 1e-12);
        assert!((binomial_upper_tail(4, 3) - 5.0 / 16.0).abs() < 1e-12);
        assert!((binomial_upper_tail(24, 21) - 2325.0 / 16_777_216.0).abs() < 1e-15);
        assert!((binomial_upper_tail(10, 0) - 1.0).abs() < 1e-12);
        let sum: f64 = binomial_upper_tail(1000, 501) * 2.0 + {
            // P(X = 500) for n = 1000.
            binomial_upper_tail(1000, 500) - binomial_upper_tail(1000, 501)
        };
        assert!((sum - 1.0).abs() < 1e-9);
    }

    #[test]
    fn thresholds_respect_the_target() {
        let d = HaveOrderDecoder::new(b"k", &[0; 20], &DecoderParams::default()).unwrap();
        assert!(d.false_positive_bound() <= 1e-3);
        assert!(d.windows().iter().all(|w| w.threshold > w.len / 2));
        let bad = DecoderParams {
            windows: vec![4],
            false_positive: 1e-3,
        };
        assert!(HaveOrderDecoder::new(b"k", &[0; 20], &bad).is_err());
    }
}
