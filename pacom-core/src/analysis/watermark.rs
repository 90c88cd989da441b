//! The active attack: an interval-centroid timing watermark (after Wang,
//! Chen and Jajodia). The attacker on one link cuts time into intervals of
//! `interval` seconds from `offset`, picks with a secret key 2·r intervals per
//! bit and splits them into groups A and B. To send bit 1 it delays every
//! packet of the A intervals by `amplitude`; for bit 0 the B intervals. A
//! delayed interval loses its first `amplitude` seconds of packets, so the
//! mean in-interval position (centroid) of its packets moves by about
//! `amplitude / 2`. On another link the attacker decodes each bit as the
//! sign of centroid(A) − centroid(B) and counts disagreements: a link that
//! carries the watermarked flow decodes (nearly) the embedded bits; an
//! independent link decodes coin flips.

use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::error::{positive, AnalysisError};
use super::flows::{Flow, Packet};

/// Timing parameters shared by embedder and detector.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WatermarkParams {
    /// Start of the first interval (seconds).
    pub offset: f64,
    /// Interval length T (seconds).
    pub interval: f64,
    /// Intervals per group per bit (r).
    pub redundancy: usize,
    /// Delay `a` added to the packets of a marked interval (seconds, < T).
    pub amplitude: f64,
    /// Number of intervals available after `offset`.
    pub intervals: usize,
    /// Largest Hamming distance still reported as "watermark present".
    pub threshold: usize,
}

/// The secret selection of intervals for `bits` bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatermarkKey {
    /// For bit i: its A intervals then its B intervals (interval indices).
    groups: Vec<(Vec<usize>, Vec<usize>)>,
}

impl WatermarkKey {
    /// Derives the interval assignment for `bits` bits from `seed`.
    pub fn derive(seed: u64, bits: usize, params: &WatermarkParams) -> Result<Self, AnalysisError> {
        let per_bit = 2 * params.redundancy;
        let needed = bits * per_bit;
        if needed == 0 {
            return Err(AnalysisError::Empty { what: "watermark" });
        }
        if needed > params.intervals {
            return Err(AnalysisError::TooFewIntervals {
                needed,
                available: params.intervals,
            });
        }
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let chosen = sample(&mut rng, params.intervals, needed).into_vec();
        let groups = chosen
            .chunks(per_bit)
            .map(|c| {
                (
                    c[..params.redundancy].to_vec(),
                    c[params.redundancy..].to_vec(),
                )
            })
            .collect();
        Ok(WatermarkKey { groups })
    }

    pub fn bits(&self) -> usize {
        self.groups.len()
    }
}

fn check(params: &WatermarkParams) -> Result<(), AnalysisError> {
    positive("interval", params.interval)?;
    positive("amplitude", params.amplitude)?;
    if params.amplitude >= params.interval {
        return Err(AnalysisError::NotPositive {
            what: "interval - amplitude",
            value: params.interval - params.amplitude,
        });
    }
    Ok(())
}

/// Interval index of time `t`, if it falls in one of the `intervals`.
fn interval_of(t: f64, params: &WatermarkParams) -> Option<usize> {
    let x = (t - params.offset) / params.interval;
    (x >= 0.0 && x < params.intervals as f64).then_some(x.floor() as usize)
}

/// Embeds `bits` (one per key bit) into `flow` by delaying packets.
pub fn embed(
    flow: &Flow,
    key: &WatermarkKey,
    bits: &[bool],
    params: &WatermarkParams,
) -> Result<Flow, AnalysisError> {
    check(params)?;
    if bits.len() != key.bits() {
        return Err(AnalysisError::LengthMismatch {
            left: bits.len(),
            right: key.bits(),
        });
    }
    let mut delayed = vec![false; params.intervals];
    for ((a, b), &bit) in key.groups.iter().zip(bits) {
        for &i in if bit { a } else { b } {
            delayed[i] = true;
        }
    }
    let packets = flow
        .packets()
        .iter()
        .map(|p| match interval_of(p.time, params) {
            Some(i) if delayed[i] => Packet {
                time: p.time + params.amplitude,
                size: p.size,
            },
            _ => *p,
        })
        .collect();
    Ok(Flow::new(packets))
}

/// What the detector read from one flow.
#[derive(Clone, Debug, PartialEq)]
pub struct WatermarkReading {
    /// Decoded bits.
    pub bits: Vec<bool>,
    /// centroid(A) − centroid(B) per bit, in units of the interval.
    pub centroid_differences: Vec<f64>,
}

/// Decodes the bits the key's intervals carry in `flow`. An interval group
/// without packets decodes as 0 with difference 0.
pub fn decode(
    flow: &Flow,
    key: &WatermarkKey,
    params: &WatermarkParams,
) -> Result<WatermarkReading, AnalysisError> {
    check(params)?;
    // Per interval: sum of normalised in-interval positions, and count.
    let mut sums = vec![(0.0f64, 0u64); params.intervals];
    for p in flow.packets() {
        if let Some(i) = interval_of(p.time, params) {
            let pos = (p.time - params.offset) / params.interval - i as f64;
            sums[i].0 += pos;
            sums[i].1 += 1;
        }
    }
    let centroid = |group: &[usize]| {
        let (s, n) = group
            .iter()
            .fold((0.0, 0u64), |(s, n), &i| (s + sums[i].0, n + sums[i].1));
        (n > 0).then(|| s / n as f64)
    };
    let mut bits = Vec::with_capacity(key.bits());
    let mut diffs = Vec::with_capacity(key.bits());
    for (a, b) in &key.groups {
        let d = match (centroid(a), centroid(b)) {
            (Some(x), Some(y)) => x - y,
            _ => 0.0,
        };
        bits.push(d > 0.0);
        diffs.push(d);
    }
    Ok(WatermarkReading {
        bits,
        centroid_differences: diffs,
    })
}

/// The detector's verdict on one flow.
#[derive(Clone, Debug, PartialEq)]
pub struct WatermarkDetection {
    pub reading: WatermarkReading,
    /// Bits that differ from the embedded ones.
    pub hamming: usize,
    /// `hamming <= params.threshold`.
    pub present: bool,
}

/// Decodes `flow` and compares with the embedded `bits`.
pub fn detect(
    flow: &Flow,
    key: &WatermarkKey,
    bits: &[bool],
    params: &WatermarkParams,
) -> Result<WatermarkDetection, AnalysisError> {
    let reading = decode(flow, key, params)?;
    if bits.len() != reading.bits.len() {
        return Err(AnalysisError::LengthMismatch {
            left: bits.len(),
            right: reading.bits.len(),
        });
    }
    let hamming = reading
        .bits
        .iter()
        .zip(bits)
        .filter(|(a, b)| a != b)
        .count();
    Ok(WatermarkDetection {
        reading,
        hamming,
        present: hamming <= params.threshold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn params() -> WatermarkParams {
        WatermarkParams {
            offset: 1.0,
            interval: 0.5,
            redundancy: 4,
            amplitude: 0.3,
            intervals: 200,
            threshold: 4,
        }
    }

    #[test]
    fn embed_then_decode_round_trips_on_the_same_flow() {
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        let flow = Flow::poisson(&mut rng, 50.0, 110.0, 1).unwrap();
        let p = params();
        let key = WatermarkKey::derive(42, 24, &p).unwrap();
        let bits: Vec<bool> = (0..24).map(|_| rng.gen()).collect();
        let marked = embed(&flow, &key, &bits, &p).unwrap();
        assert_eq!(marked.len(), flow.len());
        let d = detect(&marked, &key, &bits, &p).unwrap();
        assert_eq!(d.hamming, 0, "{:?}", d.reading.centroid_differences);
        // The unmarked flow decodes coin flips.
        assert!(!detect(&flow, &key, &bits, &p).unwrap().present);
    }

    #[test]
    fn key_needs_enough_intervals() {
        let p = params();
        assert!(WatermarkKey::derive(1, 26, &p).is_err());
        let k1 = WatermarkKey::derive(1, 10, &p).unwrap();
        assert_eq!(k1, WatermarkKey::derive(1, 10, &p).unwrap());
        assert_ne!(k1, WatermarkKey::derive(2, 10, &p).unwrap());
    }
}
