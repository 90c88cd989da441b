//! The upload side of a link: answer every request at once, in arrival
//! order, within an optional configured upload rate.
//!
//! A deterministic token bucket in bytes per second, as BitTorrent clients
//! limit upload. It is generic over what the engine queues (a request, or a
//! (peer, request) pair when one budget is shared by several links) and
//! never learns whether an answer will carry data or cover.

use std::collections::VecDeque;
use std::time::Duration;

use super::ScheduleError;

/// Lets through float rounding in the bucket (a nanosecond of a fast link).
const EPSILON_BYTES: f64 = 1e-3;

#[derive(Debug)]
pub struct UploadPacer<T> {
    /// Bytes per second; `None` = unlimited.
    rate: Option<f64>,
    burst: f64,
    tokens: f64,
    last: Option<Duration>,
    queue: VecDeque<(T, u32)>,
    max_queued: usize,
}

fn check(rate: Option<f64>) -> Result<(), ScheduleError> {
    match rate {
        Some(r) if !(r.is_finite() && r > 0.0) => Err(ScheduleError::BadRate(r)),
        _ => Ok(()),
    }
}

impl<T> UploadPacer<T> {
    /// `rate` in bytes/s (`None`: answer at once); `burst` bytes the bucket
    /// holds; at most `max_queued` requests wait (BitTorrent's `reqq`).
    pub fn new(rate: Option<f64>, burst: u32, max_queued: usize) -> Result<Self, ScheduleError> {
        check(rate)?;
        Ok(Self {
            rate,
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: None,
            queue: VecDeque::new(),
            max_queued,
        })
    }

    /// Changes the upload rate (a user's decision).
    pub fn set_rate(&mut self, rate: Option<f64>, now: Duration) -> Result<(), ScheduleError> {
        check(rate)?;
        self.refill(now);
        self.rate = rate;
        Ok(())
    }

    /// Queues a request for `len` bytes. A full queue hands the item back
    /// (the engine drops the request, as clients do beyond `reqq`).
    pub fn push(&mut self, item: T, len: u32, now: Duration) -> Result<(), T> {
        if self.queue.len() >= self.max_queued {
            return Err(item);
        }
        self.refill(now);
        self.queue.push_back((item, len));
        Ok(())
    }

    /// Drops queued requests the peer cancelled or that a choke discarded.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.queue.retain(|(t, _)| keep(t));
    }

    pub fn waiting(&self) -> usize {
        self.queue.len()
    }

    /// The requests to answer now, oldest first.
    pub fn poll(&mut self, now: Duration) -> Vec<T> {
        self.refill(now);
        let mut out = Vec::new();
        while let Some((_, len)) = self.queue.front() {
            let len = f64::from(*len);
            if self.rate.is_some() {
                // A block larger than the burst goes when the bucket is full.
                if self.tokens + EPSILON_BYTES < len.min(self.burst) {
                    break;
                }
                self.tokens -= len;
            }
            if let Some((item, _)) = self.queue.pop_front() {
                out.push(item);
            }
        }
        out
    }

    /// When the oldest waiting request can go, if any waits.
    pub fn next_wakeup(&self, now: Duration) -> Option<Duration> {
        let (_, len) = self.queue.front()?;
        let rate = self.rate?;
        let need = f64::from(*len).min(self.burst) - self.current_tokens(now);
        if need <= EPSILON_BYTES {
            return Some(Duration::ZERO);
        }
        // Round up so the wakeup never lands just short of the tokens.
        Some(Duration::from_secs_f64(need / rate) + Duration::from_nanos(1))
    }

    fn current_tokens(&self, now: Duration) -> f64 {
        match (self.rate, self.last) {
            (Some(rate), Some(last)) => {
                let dt = now.saturating_sub(last).as_secs_f64();
                (self.tokens + dt * rate).min(self.burst)
            }
            _ => self.tokens,
        }
    }

    fn refill(&mut self, now: Duration) {
        self.tokens = self.current_tokens(now);
        if self.last.is_none_or(|l| now > l) {
            self.last = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_answers_everything_in_order() {
        let mut u = UploadPacer::new(None, 16384, 100).unwrap();
        for i in 0..50 {
            u.push(i, 16384, Duration::ZERO).unwrap();
        }
        assert_eq!(u.poll(Duration::ZERO), (0..50).collect::<Vec<_>>());
        assert_eq!(u.next_wakeup(Duration::ZERO), None);
    }

    #[test]
    fn rate_limit_spaces_answers() {
        // 163840 B/s = 10 blocks/s, burst of one block.
        let mut u = UploadPacer::new(Some(163_840.0), 16384, 100).unwrap();
        for i in 0..21 {
            u.push(i, 16384, Duration::ZERO).unwrap();
        }
        let mut now = Duration::ZERO;
        let mut sent = Vec::new();
        let mut times = Vec::new();
        loop {
            let batch = u.poll(now);
            times.extend(batch.iter().map(|_| now));
            sent.extend(batch);
            match u.next_wakeup(now) {
                Some(w) => now += w,
                None => break,
            }
        }
        assert_eq!(sent, (0..21).collect::<Vec<_>>());
        // One at once from the burst, then one per 100 ms.
        let last = times.last().unwrap().as_secs_f64();
        assert!((last - 2.0).abs() < 1e-3, "last answer at {last}");
        assert!(u.push(99, 16384, now).is_ok());
    }

    #[test]
    fn queue_limit_and_cancel() {
        let mut u = UploadPacer::new(Some(1.0), 1, 2).unwrap();
        u.push(1, 10, Duration::ZERO).unwrap();
        u.push(2, 10, Duration::ZERO).unwrap();
        assert_eq!(u.push(3, 10, Duration::ZERO), Err(3));
        u.retain(|x| *x != 1);
        assert_eq!(u.waiting(), 1);
        assert!(UploadPacer::<u8>::new(Some(-1.0), 1, 1).is_err());
    }
}
