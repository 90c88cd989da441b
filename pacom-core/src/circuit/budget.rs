//! Token bucket limiting how many handshake floods a neighbour may inject.

use std::time::Duration;

/// Classic token bucket on the caller's clock. Paper extension (4): the
/// handshake traffic a neighbour can make us forward is capped; the excess is
/// dropped (and counted by the caller) instead of spreading further.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Duration,
}

impl TokenBucket {
    /// `rate` tokens per second, at most `burst` saved; starts full.
    pub fn new(rate: f64, burst: f64, now: Duration) -> Self {
        TokenBucket {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Takes one token if available.
    pub fn try_take(&mut self, now: Duration) -> bool {
        let dt = now.saturating_sub(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_to_rate_after_burst() {
        let mut b = TokenBucket::new(10.0, 5.0, Duration::ZERO);
        let mut taken = 0;
        // 1000 attempts spread over 2 s: 5 burst + 20 refilled.
        for i in 0..1000u64 {
            if b.try_take(Duration::from_millis(i * 2)) {
                taken += 1;
            }
        }
        assert!((24..=26).contains(&taken), "took {taken}");
    }
}
