//! The choking algorithm: every 10 s unchoke the best few interested peers by
//! rate (what they give us while we leech, what they take while we seed), plus
//! one optimistic unchoke rotated every 30 s.

use rand::seq::SliceRandom;

/// Regular unchoke interval.
pub const REGULAR_INTERVAL_SECS: u64 = 10;
/// Rounds of the regular interval between optimistic rotations (3 × 10 s).
pub const OPTIMISTIC_EVERY_ROUNDS: u64 = 3;

/// One peer as seen by the choker.
#[derive(Debug, Clone, Copy)]
pub struct ChokeCandidate {
    pub key: u64,
    pub interested: bool,
    /// Download rate from the peer while leeching, upload rate to it while seeding.
    pub rate: f64,
}

/// The peers to leave unchoked, and the optimistic one.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ChokeDecision {
    pub unchoked: Vec<u64>,
    pub optimistic: Option<u64>,
}

/// Chooses `slots` regular unchokes by rate and keeps or rotates one
/// optimistic unchoke among the remaining interested peers.
pub fn decide(
    candidates: &[ChokeCandidate],
    slots: usize,
    current_optimistic: Option<u64>,
    rotate: bool,
) -> ChokeDecision {
    let mut interested: Vec<&ChokeCandidate> = candidates.iter().filter(|c| c.interested).collect();
    interested.sort_by(|a, b| b.rate.total_cmp(&a.rate));
    let mut unchoked: Vec<u64> = interested.iter().take(slots).map(|c| c.key).collect();
    let rest: Vec<u64> = interested.iter().skip(slots).map(|c| c.key).collect();
    let keep = current_optimistic.filter(|k| !rotate && rest.contains(k));
    let optimistic = keep.or_else(|| rest.choose(&mut rand::thread_rng()).copied());
    if let Some(o) = optimistic {
        unchoked.push(o);
    }
    ChokeDecision {
        unchoked,
        optimistic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(key: u64, interested: bool, rate: f64) -> ChokeCandidate {
        ChokeCandidate {
            key,
            interested,
            rate,
        }
    }

    #[test]
    fn best_rates_win_and_one_optimistic() {
        let peers = [
            c(1, true, 10.0),
            c(2, true, 50.0),
            c(3, false, 99.0),
            c(4, true, 30.0),
            c(5, true, 1.0),
        ];
        let d = decide(&peers, 2, None, true);
        assert_eq!(&d.unchoked[..2], &[2, 4]);
        let o = d.optimistic.unwrap();
        assert!(o == 1 || o == 5);
        assert_eq!(d.unchoked.len(), 3);
    }

    #[test]
    fn optimistic_kept_between_rotations() {
        let peers = [c(1, true, 10.0), c(2, true, 5.0), c(3, true, 1.0)];
        let d = decide(&peers, 1, Some(3), false);
        assert_eq!(d.optimistic, Some(3));
        assert_eq!(d.unchoked, vec![1, 3]);
    }
}
