//! A flow is what a passive observer of one link records: packet times and
//! sizes. Attacks compare flows through fixed-width bins of counts or bytes.

use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, Exp};

use super::error::{positive, AnalysisError};

/// One observed packet: time in seconds since the observer's origin, and size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Packet {
    pub time: f64,
    pub size: u32,
}

/// Packets of one link (or one direction of it), sorted by time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Flow {
    packets: Vec<Packet>,
}

/// How many bins of `width` seconds fit in `[start, start + length)`.
pub fn bin_count(length: f64, width: f64) -> Result<usize, AnalysisError> {
    let length = positive("window length", length)?;
    let width = positive("bin width", width)?;
    Ok((length / width).floor() as usize)
}

impl Flow {
    /// Builds a flow, sorting the packets by time (stable, so equal times keep
    /// their order). Non-finite times are dropped: they cannot be binned.
    pub fn new(mut packets: Vec<Packet>) -> Self {
        packets.retain(|p| p.time.is_finite());
        packets.sort_by(|a, b| a.time.total_cmp(&b.time));
        Flow { packets }
    }

    /// A flow of equal-sized packets at the given times (seconds).
    pub fn from_times(times: impl IntoIterator<Item = f64>, size: u32) -> Self {
        Self::new(
            times
                .into_iter()
                .map(|time| Packet { time, size })
                .collect(),
        )
    }

    /// A flow of equal-sized packets at the given instants since an origin.
    pub fn from_durations(times: impl IntoIterator<Item = Duration>, size: u32) -> Self {
        Self::from_times(times.into_iter().map(|d| d.as_secs_f64()), size)
    }

    /// A Poisson process of `rate` packets per second on `[0, duration)`:
    /// the shape of a link whose traffic is driven by independent requests.
    pub fn poisson<R: Rng + ?Sized>(
        rng: &mut R,
        rate: f64,
        duration: f64,
        size: u32,
    ) -> Result<Self, AnalysisError> {
        let exp = Exp::new(positive("rate", rate)?).expect("rate checked");
        let duration = positive("duration", duration)?;
        let mut t = 0.0;
        let mut packets = Vec::new();
        loop {
            t += exp.sample(rng);
            if t >= duration {
                break;
            }
            packets.push(Packet { time: t, size });
        }
        Ok(Flow { packets })
    }

    pub fn packets(&self) -> &[Packet] {
        &self.packets
    }

    pub fn times(&self) -> impl Iterator<Item = f64> + '_ {
        self.packets.iter().map(|p| p.time)
    }

    pub fn len(&self) -> usize {
        self.packets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Total bytes of the flow.
    pub fn bytes(&self) -> u64 {
        self.packets.iter().map(|p| u64::from(p.size)).sum()
    }

    /// The aggregate an observer sees on a link that carries several flows.
    pub fn merge<'a>(flows: impl IntoIterator<Item = &'a Flow>) -> Flow {
        let packets = flows
            .into_iter()
            .flat_map(|f| f.packets.iter().copied())
            .collect();
        Flow::new(packets)
    }

    /// The packets with `start <= time < end`.
    pub fn window(&self, start: f64, end: f64) -> Flow {
        let lo = self.packets.partition_point(|p| p.time < start);
        let hi = self.packets.partition_point(|p| p.time < end);
        Flow {
            packets: self.packets[lo..hi.max(lo)].to_vec(),
        }
    }

    /// Every packet moved by `offset` seconds (an observer's clock skew).
    pub fn shifted(&self, offset: f64) -> Flow {
        Flow {
            packets: self
                .packets
                .iter()
                .map(|p| Packet {
                    time: p.time + offset,
                    size: p.size,
                })
                .collect(),
        }
    }

    /// Packet counts in `bins` consecutive bins of `width` seconds from
    /// `start` (eq. (9)'s pattern vector, and eq. (2)'s time series).
    pub fn bin_counts(
        &self,
        start: f64,
        width: f64,
        bins: usize,
    ) -> Result<Vec<u32>, AnalysisError> {
        let mut out = vec![0u32; bins];
        self.bin_with(start, width, bins, |slot, _| *slot += 1, &mut out)?;
        Ok(out)
    }

    /// Bytes in `bins` consecutive bins of `width` seconds from `start`.
    pub fn bin_bytes(
        &self,
        start: f64,
        width: f64,
        bins: usize,
    ) -> Result<Vec<u64>, AnalysisError> {
        let mut out = vec![0u64; bins];
        self.bin_with(
            start,
            width,
            bins,
            |slot, p| *slot += u64::from(p.size),
            &mut out,
        )?;
        Ok(out)
    }

    fn bin_with<T>(
        &self,
        start: f64,
        width: f64,
        bins: usize,
        mut add: impl FnMut(&mut T, &Packet),
        out: &mut [T],
    ) -> Result<(), AnalysisError> {
        let width = positive("bin width", width)?;
        for p in &self.packets {
            let offset = (p.time - start) / width;
            if offset < 0.0 {
                continue;
            }
            let index = offset.floor() as usize;
            if index >= bins {
                break;
            }
            add(&mut out[index], p);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn bins_count_and_bytes_and_drop_outside() {
        let f = Flow::new(vec![
            Packet {
                time: 0.12,
                size: 10,
            },
            Packet {
                time: -0.1,
                size: 1,
            },
            Packet {
                time: 0.01,
                size: 5,
            },
            Packet {
                time: 0.049,
                size: 7,
            },
            Packet { time: 0.3, size: 1 },
        ]);
        assert_eq!(f.packets()[0].time, -0.1);
        assert_eq!(f.bin_counts(0.0, 0.05, 3).unwrap(), vec![2, 0, 1]);
        assert_eq!(f.bin_bytes(0.0, 0.05, 3).unwrap(), vec![12, 0, 10]);
        assert!(f.bin_counts(0.0, 0.0, 3).is_err());
        assert_eq!(f.window(0.0, 0.12).len(), 2);
        assert_eq!(bin_count(1.0, 0.05).unwrap(), 20);
    }

    #[test]
    fn poisson_rate_is_close() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let f = Flow::poisson(&mut rng, 200.0, 50.0, 1).unwrap();
        let rate = f.len() as f64 / 50.0;
        assert!((rate - 200.0).abs() < 10.0, "rate {rate}");
        assert!(f.times().zip(f.times().skip(1)).all(|(a, b)| a <= b));
    }
}
