//! Statistics for the independence test: two-sample Kolmogorov–Smirnov and
//! the traffic features it is applied to.
//!
//! A link's traffic is recorded as (time, size, direction) events; the
//! features an observer would use are the times between messages and the
//! number of messages per window. Two recordings that differ only in hidden
//! data must give samples from the same distribution.

use std::time::Duration;

/// Which way a recorded message went, seen from one end of the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    Out,
    In,
}

/// One message seen on a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireEvent {
    pub at: Duration,
    /// Bytes on the wire (whole BitTorrent message).
    pub size: u32,
    pub dir: Direction,
}

/// Result of a two-sample Kolmogorov–Smirnov test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KsResult {
    /// Largest distance between the two empirical distribution functions.
    pub d: f64,
    /// Asymptotic p-value of `d` under "same distribution".
    pub p_value: f64,
    pub n1: usize,
    pub n2: usize,
}

/// Two-sample KS test. `None` if a sample is empty or holds a NaN.
///
/// The p-value is the Kolmogorov distribution at
/// `(√ne + 0.12 + 0.11/√ne)·D` with `ne = n1·n2/(n1+n2)` (Stephens' small-sample
/// correction). Ties are handled by stepping both samples past equal values,
/// which makes the test conservative on discrete data such as counts.
pub fn ks_two_sample(a: &[f64], b: &[f64]) -> Option<KsResult> {
    if a.is_empty() || b.is_empty() || a.iter().chain(b).any(|x| x.is_nan()) {
        return None;
    }
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (n1, n2) = (a.len(), b.len());
    let (mut i, mut j) = (0, 0);
    let mut d: f64 = 0.0;
    while i < n1 && j < n2 {
        let x = a[i].min(b[j]);
        while i < n1 && a[i] <= x {
            i += 1;
        }
        while j < n2 && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n1 as f64 - j as f64 / n2 as f64).abs());
    }
    let ne = (n1 * n2) as f64 / (n1 + n2) as f64;
    let sqrt_ne = ne.sqrt();
    let lambda = (sqrt_ne + 0.12 + 0.11 / sqrt_ne) * d;
    Some(KsResult {
        d,
        p_value: kolmogorov_q(lambda),
        n1,
        n2,
    })
}

/// `Q_KS(λ) = 2 Σ_{k≥1} (-1)^{k-1} e^{-2k²λ²}`, the survival function of the
/// Kolmogorov distribution.
pub fn kolmogorov_q(lambda: f64) -> f64 {
    if lambda < 0.2 {
        // The series converges slowly here and the value is 1 to 1e-9.
        return 1.0;
    }
    let mut sum = 0.0;
    let mut sign = 1.0;
    for k in 1..=100 {
        let kf = f64::from(k);
        let term = sign * (-2.0 * kf * kf * lambda * lambda).exp();
        sum += term;
        if term.abs() < 1e-12 {
            break;
        }
        sign = -sign;
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

/// Seconds between consecutive events (in time order).
pub fn inter_message_times(events: &[WireEvent]) -> Vec<f64> {
    let mut times: Vec<Duration> = events.iter().map(|e| e.at).collect();
    times.sort();
    times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect()
}

/// `samples` as an observer with a clock of resolution `step` sees them:
/// each value rounded down to a multiple of `step` (in units of `step`).
///
/// The events in `[from, from + span)`, timed from `from`: records cut to
/// the same span compare directly, whenever each one started.
pub fn window(events: &[WireEvent], from: Duration, span: Duration) -> Vec<WireEvent> {
    events
        .iter()
        .filter(|e| e.at >= from && e.at < from + span)
        .map(|e| WireEvent {
            at: e.at - from,
            ..*e
        })
        .collect()
}

/// Times measured inside a host carry its task scheduling and processing
/// jitter (microseconds) that an observer of a real network never sees
/// through the network's own; comparing at the resolution the scheduler
/// itself works at (its timer's) keeps a test about scheduling decisions.
pub fn at_resolution(samples: &[f64], step: f64) -> Vec<f64> {
    samples.iter().map(|x| (x / step).floor()).collect()
}

/// Number of events in each `window` of `[start, end)` (a trailing partial window is dropped).
pub fn counts_per_window(
    events: &[WireEvent],
    start: Duration,
    end: Duration,
    window: Duration,
) -> Vec<f64> {
    if window.is_zero() || end <= start {
        return Vec::new();
    }
    let n = ((end - start).as_nanos() / window.as_nanos()) as usize;
    let mut counts = vec![0.0; n];
    for e in events {
        if e.at < start {
            continue;
        }
        let slot = ((e.at - start).as_nanos() / window.as_nanos()) as usize;
        if let Some(c) = counts.get_mut(slot) {
            *c += 1.0;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Exp, Normal};

    fn sample<D: Distribution<f64>>(d: D, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| d.sample(&mut rng)).collect()
    }

    #[test]
    fn window_keeps_the_span_and_retimes_it() {
        let ev = |ms: u64| WireEvent {
            at: Duration::from_millis(ms),
            size: 17,
            dir: Direction::Out,
        };
        let all: Vec<WireEvent> = [5, 10, 15, 30].into_iter().map(ev).collect();
        let cut = window(&all, Duration::from_millis(10), Duration::from_millis(20));
        let at: Vec<u64> = cut.iter().map(|e| e.at.as_millis() as u64).collect();
        assert_eq!(at, vec![0, 5]);
    }

    #[test]
    fn kolmogorov_q_known_values() {
        // Tabulated: Q(0.5) = 0.9639, Q(1.0) = 0.2700, and the 5% and 1% critical values.
        for (l, q) in [(0.5, 0.9639), (1.0, 0.2700), (1.3581, 0.05), (1.6276, 0.01)] {
            assert!(
                (kolmogorov_q(l) - q).abs() < 5e-4,
                "Q({l}) = {}",
                kolmogorov_q(l)
            );
        }
        assert_eq!(kolmogorov_q(0.0), 1.0);
        assert!(kolmogorov_q(5.0) < 1e-15);
    }

    #[test]
    fn statistic_by_hand() {
        let r = ks_two_sample(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap();
        assert_eq!(r.d, 1.0);
        let r = ks_two_sample(&[1.0, 2.0, 3.0, 4.0], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(r.d, 0.0);
        assert_eq!(r.p_value, 1.0);
        let r = ks_two_sample(&[1.0, 3.0], &[2.0, 4.0]).unwrap();
        assert_eq!(r.d, 0.5);
        assert!(ks_two_sample(&[], &[1.0]).is_none());
        assert!(ks_two_sample(&[f64::NAN], &[1.0]).is_none());
    }

    #[test]
    fn same_distribution_passes_shifted_fails() {
        let exp = Exp::new(10.0).unwrap();
        let a = sample(exp, 2000, 1);
        let b = sample(exp, 1500, 2);
        assert!(ks_two_sample(&a, &b).unwrap().p_value > 0.01);
        let c = sample(Exp::new(7.0).unwrap(), 2000, 3);
        assert!(ks_two_sample(&a, &c).unwrap().p_value < 0.01);
        let n1 = sample(Normal::new(0.0, 1.0).unwrap(), 500, 4);
        let n2 = sample(Normal::new(0.3, 1.0).unwrap(), 500, 5);
        assert!(ks_two_sample(&n1, &n2).unwrap().p_value < 0.01);
    }

    #[test]
    fn features_of_a_record() {
        let ev = |ms: u64| WireEvent {
            at: Duration::from_millis(ms),
            size: 17,
            dir: Direction::Out,
        };
        let events = [ev(250), ev(0), ev(100), ev(120)];
        let gaps = inter_message_times(&events);
        let want = [0.1, 0.02, 0.13];
        assert!(gaps.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-9));
        let counts = counts_per_window(
            &events,
            Duration::ZERO,
            Duration::from_millis(300),
            Duration::from_millis(100),
        );
        assert_eq!(counts, vec![1.0, 2.0, 1.0]);
        assert_eq!(at_resolution(&gaps, 0.04), vec![2.0, 0.0, 3.0]);
    }

    #[test]
    fn coarse_resolution_hides_microsecond_shifts_not_rate_changes() {
        let a = sample(Exp::new(100.0).unwrap(), 1000, 6);
        let shifted: Vec<f64> = sample(Exp::new(100.0).unwrap(), 1000, 7)
            .into_iter()
            .map(|x| x + 20e-6)
            .collect();
        let slower = sample(Exp::new(70.0).unwrap(), 1000, 8);
        let p = |x: &[f64], y: &[f64]| {
            ks_two_sample(&at_resolution(x, 1e-3), &at_resolution(y, 1e-3))
                .unwrap()
                .p_value
        };
        assert!(p(&a, &shifted) > 0.01);
        assert!(p(&a, &slower) < 0.01);
    }
}
