//! A continuous-time exponential mix (Danezis' optimal continuous mix, the
//! baseline of the flow-correlation paper): every packet leaves after its own
//! Exp(mean) delay. It produces the positive controls: flows the correlation
//! attacks are known to break, so a test of PACOM's links can fail.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::Rng;
use rand_distr::{Distribution, Exp};

use super::error::{positive, AnalysisError};
use super::flows::{Flow, Packet};

/// A packet waiting in the mix, ordered by departure time then arrival order.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Held {
    departure: f64,
    seq: u64,
    output: usize,
    size: u32,
}

impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.departure
            .total_cmp(&other.departure)
            .then(self.seq.cmp(&other.seq))
    }
}

/// Sans-IO mix state: feed arrivals with [`ExponentialMix::arrive`], collect
/// departures up to a time with [`ExponentialMix::depart_until`].
#[derive(Debug)]
pub struct ExponentialMix {
    delay: Exp<f64>,
    held: BinaryHeap<Reverse<Held>>,
    seq: u64,
}

/// A packet leaving the mix on output link `output`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Departure {
    pub output: usize,
    pub packet: Packet,
}

impl ExponentialMix {
    /// A mix whose delays have mean `mean_delay` seconds.
    pub fn new(mean_delay: f64) -> Result<Self, AnalysisError> {
        let mean = positive("mean delay", mean_delay)?;
        Ok(ExponentialMix {
            delay: Exp::new(1.0 / mean).expect("rate checked"),
            held: BinaryHeap::new(),
            seq: 0,
        })
    }

    /// A packet arrives at `now` bound for output link `output`.
    pub fn arrive<R: Rng + ?Sized>(&mut self, rng: &mut R, now: f64, output: usize, size: u32) {
        let departure = now + self.delay.sample(rng);
        self.seq += 1;
        self.held.push(Reverse(Held {
            departure,
            seq: self.seq,
            output,
            size,
        }));
    }

    /// When the next held packet leaves, if any.
    pub fn next_departure(&self) -> Option<f64> {
        self.held.peek().map(|h| h.0.departure)
    }

    /// Packets whose departure time is `<= now`, in departure order.
    pub fn depart_until(&mut self, now: f64) -> Vec<Departure> {
        let mut out = Vec::new();
        while let Some(Reverse(h)) = self.held.peek().copied() {
            if h.departure > now {
                break;
            }
            self.held.pop();
            out.push(Departure {
                output: h.output,
                packet: Packet {
                    time: h.departure,
                    size: h.size,
                },
            });
        }
        out
    }

    /// Number of packets inside the mix.
    pub fn held(&self) -> usize {
        self.held.len()
    }
}

/// Runs whole input flows through one mix: `inputs[i]` goes to output link
/// `routes[i]`; returns the `outputs` output flows (all packets flushed).
pub fn mix_flows<R: Rng + ?Sized>(
    rng: &mut R,
    mean_delay: f64,
    inputs: &[&Flow],
    routes: &[usize],
    outputs: usize,
) -> Result<Vec<Flow>, AnalysisError> {
    if inputs.len() != routes.len() {
        return Err(AnalysisError::LengthMismatch {
            left: inputs.len(),
            right: routes.len(),
        });
    }
    let mut arrivals: Vec<(f64, usize, u32)> = inputs
        .iter()
        .zip(routes)
        .flat_map(|(f, &r)| f.packets().iter().map(move |p| (p.time, r, p.size)))
        .collect();
    arrivals.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut mix = ExponentialMix::new(mean_delay)?;
    let mut out = vec![Vec::new(); outputs];
    let push = |deps: Vec<Departure>, out: &mut Vec<Vec<Packet>>| {
        for d in deps {
            if let Some(o) = out.get_mut(d.output) {
                o.push(d.packet);
            }
        }
    };
    for (t, r, s) in arrivals {
        push(mix.depart_until(t), &mut out);
        mix.arrive(rng, t, r, s);
    }
    push(mix.depart_until(f64::INFINITY), &mut out);
    Ok(out.into_iter().map(Flow::new).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn delays_are_exponential_with_the_mean() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let input = Flow::from_times((0..20_000).map(|i| i as f64), 1);
        let out = mix_flows(&mut rng, 0.02, &[&input], &[0], 1).unwrap();
        assert_eq!(out[0].len(), input.len());
        // Packets are 1 s apart and delays ~20 ms: departures pair with arrivals.
        let mean: f64 = out[0]
            .times()
            .zip(input.times())
            .map(|(o, i)| o - i)
            .sum::<f64>()
            / 20_000.0;
        assert!((mean - 0.02).abs() < 0.001, "mean delay {mean}");
    }

    #[test]
    fn stateful_mix_orders_departures() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let mut mix = ExponentialMix::new(0.1).unwrap();
        for i in 0..100 {
            mix.arrive(&mut rng, i as f64 * 0.001, i % 2, 1);
        }
        assert_eq!(mix.held(), 100);
        let all = mix.depart_until(f64::INFINITY);
        assert_eq!(all.len(), 100);
        assert!(all.windows(2).all(|w| w[0].packet.time <= w[1].packet.time));
        assert_eq!(mix.next_departure(), None);
    }
}
