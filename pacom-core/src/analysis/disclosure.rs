//! The intersection attack of §4.4.1 replayed on a [`ChurnTrace`], with the
//! two defences the paper proposes: random uptime extension (innocent
//! receiver, Fig. 9(a)) and periodic identity rotation (malicious receiver,
//! Fig. 9(b)). Success follows Wright et al.: the sender is still a suspect
//! and at most `max_suspects` remain.

use rand::Rng;

use super::churn::ChurnTrace;
use super::error::AnalysisError;

/// The innocent-receiver scenario: one session a day.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InnocentParams {
    pub days: usize,
    /// Session lengths are uniform in 1..=max_session_hours.
    pub max_session_hours: usize,
    /// With uptime extension, each of sender and receiver joins up to this
    /// many hours (uniform) before the session and leaves as long after.
    pub max_extension_hours: usize,
    pub max_suspects: usize,
}

/// Success (per day) of one repetition of the innocent-receiver attack.
/// `extend` turns the uptime extension on. Returns, for each day d, whether
/// the attack had succeeded after d + 1 days of observation.
pub fn innocent_receiver<R: Rng + ?Sized>(
    rng: &mut R,
    trace: &ChurnTrace,
    params: &InnocentParams,
    extend: bool,
) -> Result<Vec<bool>, AnalysisError> {
    if params.days * 24 > trace.hours() || params.max_session_hours == 0 {
        return Err(AnalysisError::TooFewIntervals {
            needed: params.days * 24,
            available: trace.hours(),
        });
    }
    let mut suspects = trace.intersect(std::iter::empty());
    let mut sender_suspect = true;
    let mut out = Vec::with_capacity(params.days);
    let ext = |rng: &mut R| {
        if extend {
            rng.gen_range(0..=params.max_extension_hours)
        } else {
            0
        }
    };
    for day in 0..params.days {
        let len = rng.gen_range(1..=params.max_session_hours);
        let start = day * 24 + rng.gen_range(0..24 - len.min(23));
        let end = start + len;
        // Receiver's uptime: the attacker snapshots every hour of it.
        let (rb, ra) = (ext(rng), ext(rng));
        let (sb, sa) = (ext(rng), ext(rng));
        let recv = (start.saturating_sub(rb), end + ra);
        let send = (start.saturating_sub(sb), end + sa);
        for h in recv.0..recv.1 {
            suspects.keep_online(trace, h);
            if h < send.0 || h >= send.1 {
                sender_suspect = false;
            }
        }
        out.push(sender_suspect && suspects.len() < params.max_suspects);
    }
    Ok(out)
}

/// The malicious-receiver scenario: the sender is online and communicating
/// all the time and changes identity every `rotation_hours` (`None`: never).
/// The attacker starts at a random hour and intersects hourly snapshots for
/// up to `max_hours`. It succeeds if the set (background survivors plus
/// the sender's current identity) reaches `max_suspects` before the
/// identity it started with is retired.
pub fn malicious_receiver<R: Rng + ?Sized>(
    rng: &mut R,
    trace: &ChurnTrace,
    rotation_hours: Option<usize>,
    max_hours: usize,
    max_suspects: usize,
) -> Result<bool, AnalysisError> {
    if max_hours == 0 || max_hours >= trace.hours() {
        return Err(AnalysisError::TooFewIntervals {
            needed: max_hours + 1,
            available: trace.hours(),
        });
    }
    let start = rng.gen_range(0..trace.hours() - max_hours);
    // Hours the starting identity still lives (its age is uniform).
    let remaining = match rotation_hours {
        Some(0) => 0,
        Some(n) => n - rng.gen_range(0..n),
        None => usize::MAX,
    };
    let mut suspects = trace.intersect(std::iter::empty());
    for k in 0..max_hours.min(remaining) {
        suspects.keep_online(trace, start + k);
        if suspects.len() < max_suspects {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::churn::ChurnParams;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn trace(rng: &mut ChaCha20Rng) -> ChurnTrace {
        ChurnTrace::generate(
            rng,
            &ChurnParams {
                clients: 2000,
                hours: 24 * 30,
                mean_on_hours: 12.0,
                mean_off_hours: 24.0,
            },
        )
        .unwrap()
    }

    #[test]
    fn extension_defeats_the_innocent_receiver_attack() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let t = trace(&mut rng);
        let p = InnocentParams {
            days: 20,
            max_session_hours: 10,
            max_extension_hours: 6,
            max_suspects: 10,
        };
        let (mut plain, mut ext) = (0, 0);
        for _ in 0..40 {
            plain += usize::from(innocent_receiver(&mut rng, &t, &p, false).unwrap()[19]);
            ext += usize::from(innocent_receiver(&mut rng, &t, &p, true).unwrap()[19]);
        }
        assert!(plain >= 36, "unprotected successes {plain}/40");
        assert!(ext <= 4, "extended successes {ext}/40");
    }

    #[test]
    fn frequent_rotation_defeats_the_malicious_receiver_attack() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let t = trace(&mut rng);
        let run = |rng: &mut ChaCha20Rng, n| {
            (0..40)
                .filter(|_| malicious_receiver(rng, &t, n, 300, 10).unwrap())
                .count()
        };
        assert!(run(&mut rng, None) >= 38);
        assert!(run(&mut rng, Some(10)) == 0);
    }
}
