//! Detection rate (eq. (3) of the flow-correlation paper, §6.5 of PACOM's):
//! the fraction of trials in which the attacker's guess is the true output
//! link, with an exact binomial interval so a test can say "within chance".

use rand::Rng;

use super::error::{probability, AnalysisError};

/// Which end of an attack's score means "more correlated".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closer {
    /// Mutual information: the largest score wins.
    Higher,
    /// Eq. (10) distance: the smallest score wins.
    Lower,
}

/// The attacker's guess among candidate scores. Ties (and an all-NaN list)
/// are broken uniformly at random so that a constant score is exactly chance
/// instead of always naming the first candidate. NaN never wins otherwise.
/// Returns `None` for no candidates.
pub fn guess<R: Rng + ?Sized>(scores: &[f64], closer: Closer, rng: &mut R) -> Option<usize> {
    let key = |s: f64| match (s.is_nan(), closer) {
        (true, _) => f64::NEG_INFINITY,
        (false, Closer::Higher) => s,
        (false, Closer::Lower) => -s,
    };
    let best = scores
        .iter()
        .map(|&s| key(s))
        .fold(f64::NEG_INFINITY, f64::max);
    let tied: Vec<usize> = (0..scores.len())
        .filter(|&i| key(scores[i]) == best)
        .collect();
    if tied.is_empty() {
        return None;
    }
    Some(tied[rng.gen_range(0..tied.len())])
}

/// Tally of correct guesses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DetectionRate {
    pub hits: u64,
    pub trials: u64,
}

impl DetectionRate {
    /// Records one trial.
    pub fn record(&mut self, correct: bool) {
        self.trials += 1;
        self.hits += u64::from(correct);
    }

    /// Hits / trials (0 before any trial).
    pub fn rate(&self) -> f64 {
        if self.trials == 0 {
            0.0
        } else {
            self.hits as f64 / self.trials as f64
        }
    }

    /// Exact (Clopper–Pearson) two-sided interval of confidence `confidence`.
    pub fn clopper_pearson(&self, confidence: f64) -> Result<(f64, f64), AnalysisError> {
        clopper_pearson(self.hits, self.trials, confidence)
    }

    /// Whether the exact `confidence` interval contains `p`, e.g. chance 1/k.
    pub fn consistent_with(&self, p: f64, confidence: f64) -> Result<bool, AnalysisError> {
        let (lo, hi) = self.clopper_pearson(confidence)?;
        Ok(lo <= p && p <= hi)
    }
}

/// ln(n!) for every n up to `n`, by summing logs: exact enough for trials in
/// the thousands, and std has no stable log-gamma.
fn ln_factorials(n: u64) -> Vec<f64> {
    let mut out = Vec::with_capacity(n as usize + 1);
    let mut acc = 0.0;
    out.push(0.0);
    for i in 1..=n {
        acc += (i as f64).ln();
        out.push(acc);
    }
    out
}

/// P(X <= k) for X ~ Bin(n, p), summed in log space so it cannot underflow.
fn binomial_cdf(k: u64, n: u64, p: f64, lnf: &[f64]) -> f64 {
    if p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return if k >= n { 1.0 } else { 0.0 };
    }
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let terms: Vec<f64> = (0..=k.min(n))
        .map(|i| {
            let (i_, n_) = (i as usize, n as usize);
            lnf[n_] - lnf[i_] - lnf[n_ - i_] + i as f64 * lp + (n - i) as f64 * lq
        })
        .collect();
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln())
        .exp()
        .min(1.0)
}

/// Bisection for the p in [0, 1] where the decreasing function `f` crosses
/// `target`.
fn solve_decreasing(f: impl Fn(f64) -> f64, target: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if f(mid) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Exact binomial interval for `hits` successes in `trials`.
pub fn clopper_pearson(
    hits: u64,
    trials: u64,
    confidence: f64,
) -> Result<(f64, f64), AnalysisError> {
    probability("confidence", confidence)?;
    if trials == 0 || hits > trials {
        return Err(AnalysisError::BadCounts { hits, trials });
    }
    let alpha = 1.0 - confidence;
    let lnf = ln_factorials(trials);
    // Lower: P(X >= hits | p) = alpha/2, i.e. P(X <= hits-1 | p) = 1 - alpha/2.
    let lower = if hits == 0 {
        0.0
    } else {
        solve_decreasing(
            |p| binomial_cdf(hits - 1, trials, p, &lnf),
            1.0 - alpha / 2.0,
        )
    };
    // Upper: P(X <= hits | p) = alpha/2.
    let upper = if hits == trials {
        1.0
    } else {
        solve_decreasing(|p| binomial_cdf(hits, trials, p, &lnf), alpha / 2.0)
    };
    Ok((lower, upper))
}

/// Wilson score interval with normal quantile `z` (2.5758 for 99 %).
pub fn wilson(hits: u64, trials: u64, z: f64) -> Result<(f64, f64), AnalysisError> {
    if trials == 0 || hits > trials {
        return Err(AnalysisError::BadCounts { hits, trials });
    }
    let n = trials as f64;
    let p = hits as f64 / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    Ok(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// Acceptance region of random guessing: when trial i is right with
/// probability `chance[i]` (1 / its number of candidates), the number of
/// hits lies in the returned `[lo, hi]` with probability at least
/// `confidence`, each tail holding at most half the rest. Exact (the
/// Poisson-binomial law by convolution), so hops with different numbers
/// of candidates can be pooled.
pub fn chance_interval(chance: &[f64], confidence: f64) -> Result<(u64, u64), AnalysisError> {
    probability("confidence", confidence)?;
    for &p in chance {
        probability("chance", p)?;
    }
    let mut pmf = vec![1.0f64];
    for &p in chance {
        let mut next = vec![0.0; pmf.len() + 1];
        for (k, &q) in pmf.iter().enumerate() {
            next[k] += q * (1.0 - p);
            next[k + 1] += q * p;
        }
        pmf = next;
    }
    Ok(cut(&pmf, confidence))
}

/// Acceptance region of an attacker whose guesses say nothing about the
/// truth, given the guesses it made. `guesses[h][c]` counts the trials of
/// hop `h` in which it named candidate `c`. Under that null the true link
/// of each hop is any of its candidates with equal probability (whatever
/// the attacker's scores are driven by), so hop `h` scores
/// `guesses[h][c]` hits for a uniform `c`, independently across hops; the
/// region is the exact law of the total, cut as in [`chance_interval`].
///
/// Unlike [`chance_interval`], which treats every trial as an independent
/// coin, this holds when the trials of a hop are not independent: scores
/// that follow a property of the links (e.g. their delay) pick the same
/// candidate window after window, and a hop's trials then all hit or all
/// miss together.
pub fn guess_null_interval(
    guesses: &[Vec<u64>],
    confidence: f64,
) -> Result<(u64, u64), AnalysisError> {
    probability("confidence", confidence)?;
    let mut pmf = vec![1.0f64];
    for hop in guesses.iter().filter(|g| !g.is_empty()) {
        let top = *hop.iter().max().unwrap_or(&0) as usize;
        let p = 1.0 / hop.len() as f64;
        let mut next = vec![0.0; pmf.len() + top];
        for (k, &q) in pmf.iter().enumerate() {
            for &h in hop {
                next[k + h as usize] += q * p;
            }
        }
        pmf = next;
    }
    Ok(cut(&pmf, confidence))
}

/// `[lo, hi]` holding at least `confidence` of `pmf`, each tail at most
/// half of the rest.
fn cut(pmf: &[f64], confidence: f64) -> (u64, u64) {
    let tail = (1.0 - confidence) / 2.0;
    let mut lo = 0usize;
    let mut below = 0.0;
    while lo < pmf.len() - 1 && below + pmf[lo] <= tail {
        below += pmf[lo];
        lo += 1;
    }
    let mut hi = pmf.len() - 1;
    let mut above = 0.0;
    while hi > 0 && above + pmf[hi] <= tail {
        above += pmf[hi];
        hi -= 1;
    }
    (lo as u64, hi as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn guess_picks_the_extreme_and_breaks_ties_fairly() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        assert_eq!(guess(&[0.1, 0.9, 0.3], Closer::Higher, &mut rng), Some(1));
        assert_eq!(guess(&[0.1, 0.9, 0.3], Closer::Lower, &mut rng), Some(0));
        assert_eq!(guess(&[f64::NAN, 0.2], Closer::Lower, &mut rng), Some(1));
        assert_eq!(guess(&[], Closer::Lower, &mut rng), None);
        let mut counts = [0u32; 3];
        for _ in 0..3000 {
            counts[guess(&[1.0, 1.0, 1.0], Closer::Higher, &mut rng).unwrap()] += 1;
        }
        assert!(
            counts.iter().all(|&c| (850..1150).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn clopper_pearson_matches_known_values() {
        // R: binom.test(7, 20, conf.level = 0.95)$conf.int = 0.1539092 0.5921885
        let (lo, hi) = clopper_pearson(7, 20, 0.95).unwrap();
        assert!(
            (lo - 0.1539092).abs() < 1e-6 && (hi - 0.5921885).abs() < 1e-6,
            "{lo} {hi}"
        );
        // All successes: lower bound = (alpha/2)^(1/n).
        let (lo, hi) = clopper_pearson(10, 10, 0.99).unwrap();
        assert!((lo - 0.005f64.powf(0.1)).abs() < 1e-9 && hi == 1.0);
        assert!(clopper_pearson(3, 2, 0.99).is_err());
    }

    #[test]
    fn chance_interval_is_the_binomial_one_when_chance_is_equal() {
        // 300 trials at 1/3: P(X <= 78) = 0.0037 but P(X <= 79) = 0.0053;
        // P(X >= 122) = 0.0047 but P(X >= 121) = 0.0066.
        let (lo, hi) = chance_interval(&[1.0 / 3.0; 300], 0.99).unwrap();
        assert_eq!((lo, hi), (79, 121));
        // Mixed candidates: the mean moves with them.
        let mixed: Vec<f64> = (0..200)
            .map(|i| if i % 2 == 0 { 0.5 } else { 0.25 })
            .collect();
        let (lo, hi) = chance_interval(&mixed, 0.99).unwrap();
        assert!(lo < 75 && hi > 75 && hi - lo < 45, "{lo} {hi}");
        assert!(chance_interval(&[1.5], 0.99).is_err());
    }

    #[test]
    fn guess_null_interval_is_chance_for_independent_trials_and_wide_for_stuck_ones() {
        // 300 hops of one trial each, three candidates: the same law as
        // 300 independent trials at 1/3.
        let single: Vec<Vec<u64>> = (0..300)
            .map(|i| {
                let mut g = vec![0; 3];
                g[i % 3] = 1;
                g
            })
            .collect();
        assert_eq!(guess_null_interval(&single, 0.99).unwrap(), (79, 121));
        // 30 hops of 10 trials that always name the same candidate: the
        // total moves in steps of 10, so the region is far wider than the
        // binomial one for 300 trials, and 0 or 300 hits stay outside.
        let stuck: Vec<Vec<u64>> = (0..30).map(|_| vec![10, 0, 0]).collect();
        let (lo, hi) = guess_null_interval(&stuck, 0.99).unwrap();
        assert!(lo <= 40 && hi >= 170 && lo > 0 && hi < 300, "{lo} {hi}");
        assert!(guess_null_interval(&stuck, 1.5).is_err());
        assert_eq!(guess_null_interval(&[], 0.99).unwrap(), (0, 0));
    }

    #[test]
    fn wilson_and_exact_agree_roughly_and_judge_chance() {
        let (wl, wh) = wilson(100, 300, 2.5758).unwrap();
        let (cl, ch) = clopper_pearson(100, 300, 0.99).unwrap();
        assert!((wl - cl).abs() < 0.01 && (wh - ch).abs() < 0.01);
        let chance = DetectionRate {
            hits: 100,
            trials: 300,
        };
        assert!(chance.consistent_with(1.0 / 3.0, 0.99).unwrap());
        let attack = DetectionRate {
            hits: 280,
            trials: 300,
        };
        assert!(!attack.consistent_with(1.0 / 3.0, 0.99).unwrap());
    }
}
