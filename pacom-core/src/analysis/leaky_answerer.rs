//! A deliberately data-driven answerer: the positive control of the
//! independence test, never a scheduler for real links.
//!
//! Theorem 1 holds because a link answers every request at once (within a
//! configured rate) whatever its output queue holds. An independence test
//! that always passes proves nothing unless it also catches a scheduler
//! that breaks this rule. [`LeakyAnswerer`] breaks it in the most natural
//! way a careless implementer would: while nothing hidden is queued it
//! saves bandwidth by answering at most `idle_rate` requests per second,
//! and with data queued it answers at once. The same statistics that must
//! not tell a blind link's runs apart must tell this one's apart.

use std::collections::VecDeque;
use std::time::Duration;

use super::error::{positive, AnalysisError};

/// Answers that are due, held back while the link has nothing to send.
#[derive(Debug)]
pub struct LeakyAnswerer<T> {
    /// Least time between two answers while the output queue is empty.
    idle_gap: Duration,
    last_idle_answer: Option<Duration>,
    held: VecDeque<T>,
}

impl<T> LeakyAnswerer<T> {
    /// At most `idle_rate` answers per second while nothing is queued.
    pub fn new(idle_rate: f64) -> Result<Self, AnalysisError> {
        let rate = positive("idle answer rate", idle_rate)?;
        Ok(Self {
            idle_gap: Duration::from_secs_f64(1.0 / rate),
            last_idle_answer: None,
            held: VecDeque::new(),
        })
    }

    /// Takes answers the honest upload pacer would send now.
    pub fn hold(&mut self, items: impl IntoIterator<Item = T>) {
        self.held.extend(items);
    }

    /// What goes out now, looking at the bytes queued for the peer (the
    /// very thing an honest scheduler must never look at).
    pub fn release(&mut self, now: Duration, queued: usize) -> Vec<T> {
        if queued > 0 {
            return self.held.drain(..).collect();
        }
        let due = self
            .last_idle_answer
            .is_none_or(|t| now.saturating_sub(t) >= self.idle_gap);
        if !due {
            return Vec::new();
        }
        match self.held.pop_front() {
            Some(item) => {
                self.last_idle_answer = Some(now);
                vec![item]
            }
            None => Vec::new(),
        }
    }

    /// When a held answer may go next if the queue stays empty.
    pub fn next_wakeup(&self, now: Duration) -> Option<Duration> {
        if self.held.is_empty() {
            return None;
        }
        Some(
            self.last_idle_answer
                .map_or(Duration::ZERO, |t| (t + self.idle_gap).saturating_sub(now)),
        )
    }

    /// Drops held answers the peer no longer wants (cancel, choke).
    pub fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        self.held.retain(keep);
    }

    pub fn held(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn idle_answers_are_rationed_and_data_flushes_them() {
        let mut l = LeakyAnswerer::new(10.0).unwrap();
        l.hold([1, 2, 3]);
        assert_eq!(l.release(MS(0), 0), vec![1]);
        assert_eq!(l.release(MS(50), 0), Vec::<i32>::new());
        assert_eq!(l.next_wakeup(MS(50)), Some(MS(50)));
        assert_eq!(l.release(MS(100), 0), vec![2]);
        // Data queued: everything held goes at once.
        l.hold([4]);
        assert_eq!(l.release(MS(110), 1), vec![3, 4]);
        assert_eq!(l.next_wakeup(MS(110)), None);
        assert_eq!(l.held(), 0);
    }

    #[test]
    fn bad_rate_is_an_error() {
        assert!(LeakyAnswerer::<u8>::new(0.0).is_err());
        assert!(LeakyAnswerer::<u8>::new(f64::NAN).is_err());
    }
}
