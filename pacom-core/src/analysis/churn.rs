//! A synthetic churn trace: which of N ordinary BitTorrent clients are
//! online at each hourly snapshot. It stands in for the UMass BitTorrent
//! logs the paper replays in §4.4.1 (30-minute snapshots of client ids),
//! which we do not ship. Each client alternates online and offline periods
//! with exponential lengths, so the online fraction is
//! `mean_on / (mean_on + mean_off)` and a client online now is still online
//! k hours later with probability about `exp(-k / mean_on)` — the property
//! that makes intersection attacks converge.

use rand::Rng;
use rand_distr::{Distribution, Exp};

use super::error::{positive, AnalysisError};

/// Shape of the synthetic population.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChurnParams {
    pub clients: usize,
    /// Snapshots, one per hour.
    pub hours: usize,
    pub mean_on_hours: f64,
    pub mean_off_hours: f64,
}

/// Online bitsets, one per hourly snapshot.
#[derive(Clone, Debug)]
pub struct ChurnTrace {
    clients: usize,
    words: usize,
    online: Vec<Vec<u64>>,
}

impl ChurnTrace {
    /// Draws a trace. Each client starts in its stationary state.
    pub fn generate<R: Rng + ?Sized>(
        rng: &mut R,
        params: &ChurnParams,
    ) -> Result<Self, AnalysisError> {
        let on =
            Exp::new(1.0 / positive("mean on hours", params.mean_on_hours)?).expect("rate checked");
        let off = Exp::new(1.0 / positive("mean off hours", params.mean_off_hours)?)
            .expect("rate checked");
        if params.clients == 0 || params.hours == 0 {
            return Err(AnalysisError::Empty { what: "trace" });
        }
        let words = params.clients.div_ceil(64);
        let mut online = vec![vec![0u64; words]; params.hours];
        let p_on = params.mean_on_hours / (params.mean_on_hours + params.mean_off_hours);
        for c in 0..params.clients {
            let mut state = rng.gen_bool(p_on);
            // Exponential periods are memoryless: a fresh draw is the residual.
            let mut until = if state {
                on.sample(rng)
            } else {
                off.sample(rng)
            };
            for (h, snap) in online.iter_mut().enumerate() {
                while until <= h as f64 {
                    state = !state;
                    until += if state {
                        on.sample(rng)
                    } else {
                        off.sample(rng)
                    };
                }
                if state {
                    snap[c / 64] |= 1 << (c % 64);
                }
            }
        }
        Ok(ChurnTrace {
            clients: params.clients,
            words,
            online,
        })
    }

    pub fn clients(&self) -> usize {
        self.clients
    }

    pub fn hours(&self) -> usize {
        self.online.len()
    }

    pub fn is_online(&self, client: usize, hour: usize) -> bool {
        self.online
            .get(hour)
            .is_some_and(|s| client < self.clients && s[client / 64] >> (client % 64) & 1 == 1)
    }

    /// Number of clients online at `hour`.
    pub fn online_count(&self, hour: usize) -> usize {
        self.online
            .get(hour)
            .map_or(0, |s| s.iter().map(|w| w.count_ones() as usize).sum())
    }

    /// Clients online at every hour of `hours` (the intersection an attacker
    /// computes), as a bitset of the trace's width.
    pub fn intersect(&self, hours: impl IntoIterator<Item = usize>) -> Suspects {
        let mut set = vec![u64::MAX; self.words];
        let tail = self.clients & 63;
        if tail > 0 {
            set[self.words - 1] = (1u64 << tail) - 1;
        }
        let mut s = Suspects { set };
        for h in hours {
            s.keep_online(self, h);
        }
        s
    }
}

/// A suspect set over the trace's background clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suspects {
    set: Vec<u64>,
}

impl Suspects {
    /// Removes every suspect offline at `hour` (no-op for hours past the trace).
    pub fn keep_online(&mut self, trace: &ChurnTrace, hour: usize) {
        if let Some(snap) = trace.online.get(hour) {
            for (s, o) in self.set.iter_mut().zip(snap) {
                *s &= o;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.set.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn online_fraction_and_persistence_follow_the_parameters() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let p = ChurnParams {
            clients: 4000,
            hours: 200,
            mean_on_hours: 10.0,
            mean_off_hours: 20.0,
        };
        let t = ChurnTrace::generate(&mut rng, &p).unwrap();
        let frac = t.online_count(100) as f64 / 4000.0;
        assert!((frac - 1.0 / 3.0).abs() < 0.04, "online fraction {frac}");
        // Online for 10 consecutive snapshots: about (1/3) e^{-9/10}.
        let kept = t.intersect(100..110).len() as f64 / 4000.0;
        let want = (1.0 / 3.0) * (-0.9f64).exp();
        assert!((kept - want).abs() < 0.03, "kept {kept} want {want}");
        assert!(t.intersect(0..200).len() < t.intersect(0..20).len());
    }
}
