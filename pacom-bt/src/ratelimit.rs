//! Global upload and download limits as token buckets.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket in bytes; `None` rate means unlimited.
#[derive(Debug)]
pub struct RateLimiter {
    rate: Option<u64>,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// `bytes_per_sec = None` or `Some(0)` disables limiting. The burst is one
    /// second worth of tokens, at least 64 KiB so a block always fits.
    pub fn new(bytes_per_sec: Option<u64>) -> Self {
        let rate = bytes_per_sec.filter(|&r| r > 0);
        Self {
            rate,
            state: Mutex::new(Bucket {
                tokens: rate.map_or(0.0, |r| r as f64),
                last: Instant::now(),
            }),
        }
    }

    fn burst(rate: u64) -> f64 {
        rate.max(64 * 1024) as f64
    }

    /// Takes `n` tokens, returning how long the caller must wait first
    /// (tokens may go negative: the debt is paid by waiting).
    fn take(&self, n: u64) -> Duration {
        let Some(rate) = self.rate else {
            return Duration::ZERO;
        };
        let mut b = match self.state.lock() {
            Ok(b) => b,
            Err(p) => p.into_inner(),
        };
        let now = Instant::now();
        let elapsed = now.duration_since(b.last).as_secs_f64();
        b.last = now;
        b.tokens = (b.tokens + elapsed * rate as f64).min(Self::burst(rate));
        b.tokens -= n as f64;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / rate as f64)
        }
    }

    /// Waits until `n` bytes may pass.
    pub async fn acquire(&self, n: u64) {
        let wait = self.take(n);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    pub fn is_limited(&self) -> bool {
        self.rate.is_some()
    }
}

/// An exponentially smoothed byte rate, sampled by the torrent's tick.
#[derive(Debug, Default, Clone, Copy)]
pub struct RateEstimate {
    total: u64,
    last_total: u64,
    rate: f64,
}

impl RateEstimate {
    pub fn add(&mut self, n: u64) {
        self.total += n;
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// Folds the bytes since the previous tick into the rate.
    pub fn tick(&mut self, dt: Duration) {
        let secs = dt.as_secs_f64().max(1e-3);
        let inst = (self.total - self.last_total) as f64 / secs;
        self.last_total = self.total;
        self.rate = 0.5 * self.rate + 0.5 * inst;
    }

    /// Bytes per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_never_waits() {
        let l = RateLimiter::new(None);
        assert_eq!(l.take(1 << 30), Duration::ZERO);
    }

    #[test]
    fn debt_turns_into_wait() {
        let l = RateLimiter::new(Some(100_000));
        // Burst is 100 000 tokens; taking 300 000 leaves a 2 s debt.
        let w = l.take(300_000);
        assert!(w > Duration::from_millis(1900) && w <= Duration::from_secs(2));
    }

    #[test]
    fn estimate_tracks_rate() {
        let mut e = RateEstimate::default();
        e.add(1000);
        e.tick(Duration::from_secs(1));
        assert!((e.rate() - 500.0).abs() < 1e-6);
        assert_eq!(e.total(), 1000);
    }
}
