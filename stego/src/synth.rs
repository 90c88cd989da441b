//! Music-like audio synthesis as a pure function of (seed, absolute time).
//!
//! Any chunk of [`CHUNK_FRAMES`] stereo frames is rendered on its own: notes
//! are scheduled on a grid of slots whose parameters are hashed from
//! (seed, voice, slot), oscillators are closed-form functions of absolute
//! time, and noise is a counter-based function of the frame index. Filtered
//! noise (room ambience) starts its filters [`WARMUP_FRAMES`] before the chunk
//! so its state has converged at the chunk start: neighbouring chunks join
//! without an audible seam, yet every sample is computed one way only.

use sha2::{Digest, Sha256};

use crate::wav::SAMPLE_RATE;

/// Stereo frames rendered together; every sample belongs to exactly one chunk.
pub const CHUNK_FRAMES: u64 = 4096;
const WARMUP_FRAMES: u64 = 4096;
const VOICES: usize = 3;
const HARMONICS: usize = 6;
const RELEASE_S: f64 = 0.3;
const MAX_SLOTS: u64 = 6;
/// Soft limiter knee and range: peaks approach 32000 but never clip.
const KNEE: f64 = 24_000.0;
const HEADROOM: f64 = 7_500.0;

/// splitmix64 finaliser: a fast, well-mixed hash for non-secret synthesis randomness.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A tiny deterministic stream of numbers seeded by a hash.
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> u64 {
        self.0 = mix(self.0);
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

/// Uniform in [-0.5, 0.5) from a counter.
fn uniform_at(key: u64, n: u64) -> f64 {
    (mix(key ^ mix(n)) >> 11) as f64 / (1u64 << 53) as f64 - 0.5
}

/// Approximately Gaussian with unit variance (Irwin–Hall of four uniforms).
fn gauss_at(key: u64, n: u64) -> f64 {
    let h = mix(key ^ mix(n));
    let s: f64 = (0..4)
        .map(|i| ((h >> (16 * i)) & 0xffff) as f64 / 65536.0 - 0.5)
        .sum();
    s * 3f64.sqrt()
}

#[derive(Clone, Debug)]
struct Voice {
    key: u64,
    base_midi: f64,
    amp: f64,
    pan_l: f64,
    pan_r: f64,
    harmonics: [f64; HARMONICS],
    rest_prob: f64,
    decay_s: f64,
}

struct Note {
    start: f64,
    len: f64,
    freq: f64,
    amp: f64,
    attack: f64,
    vib_rate: f64,
    vib_index: f64,
    vib_phase: f64,
    phases: [f64; HARMONICS],
}

/// The per-file musical parameters and noise keys.
#[derive(Clone, Debug)]
pub struct Synth {
    slot_s: f64,
    scale: [f64; 7],
    voices: [Voice; VOICES],
    phrase_period: f64,
    phrase_phase: f64,
    floor_lsb: f64,
    amb_low: f64,
    amb_high: f64,
    noise_key: u64,
}

const MAJOR: [f64; 7] = [0.0, 2.0, 4.0, 5.0, 7.0, 9.0, 11.0];
const MINOR: [f64; 7] = [0.0, 2.0, 3.0, 5.0, 7.0, 8.0, 10.0];
const DORIAN: [f64; 7] = [0.0, 2.0, 3.0, 5.0, 7.0, 9.0, 10.0];

impl Synth {
    /// Draws a piece's tempo, key, instruments and room from `seed`.
    pub fn new(seed: &[u8; 32]) -> Self {
        let d = Sha256::new()
            .chain_update(b"pacom wav synth v1")
            .chain_update(seed)
            .finalize();
        let word = |i: usize| u64::from_le_bytes(d[8 * i..8 * i + 8].try_into().unwrap());
        let mut r = Stream(word(0));
        let root = 40.0 + (r.next() % 12) as f64;
        let scale = [MAJOR, MINOR, DORIAN][(r.next() % 3) as usize];
        let slot_s = r.range(0.16, 0.38);
        let mut voice = |i: usize| {
            let mut harmonics = [0.0; HARMONICS];
            let bright = r.range(0.35, 0.8);
            let mut total = 0.0;
            for (h, a) in harmonics.iter_mut().enumerate() {
                *a = bright.powi(h as i32) * r.range(0.5, 1.0);
                total += *a;
            }
            harmonics.iter_mut().for_each(|a| *a /= total);
            let pan = r.range(0.15, 0.85) * std::f64::consts::FRAC_PI_2;
            Voice {
                key: r.next(),
                base_midi: root + 12.0 * i as f64,
                amp: [5200.0, 3800.0, 3000.0][i] * r.range(0.7, 1.2),
                pan_l: pan.cos() * std::f64::consts::SQRT_2,
                pan_r: pan.sin() * std::f64::consts::SQRT_2,
                harmonics,
                rest_prob: [0.1, 0.2, 0.3][i],
                decay_s: r.range(0.4, 1.6),
            }
        };
        let voices = [voice(0), voice(1), voice(2)];
        Synth {
            slot_s,
            scale,
            voices,
            phrase_period: r.range(12.0, 30.0),
            phrase_phase: r.range(0.0, std::f64::consts::TAU),
            floor_lsb: r.range(0.45, 0.55),
            amb_low: r.range(20.0, 80.0),
            amb_high: r.range(0.2, 0.3),
            noise_key: word(1),
        }
    }

    fn note(&self, v: &Voice, slot: u64) -> Option<Note> {
        let mut r = Stream(v.key ^ mix(slot));
        if r.unit() < v.rest_prob {
            return None;
        }
        let degree = (r.next() % 12) as usize;
        let midi = v.base_midi + self.scale[degree % 7] + 12.0 * (degree / 7) as f64;
        let slots = 1 + r.next() % MAX_SLOTS;
        let freq = 440.0 * ((midi - 69.0) / 12.0).exp2();
        let vib_rate = r.range(4.5, 6.5);
        Some(Note {
            start: slot as f64 * self.slot_s,
            len: slots as f64 * self.slot_s,
            freq,
            amp: v.amp * r.range(0.55, 1.0),
            attack: r.range(0.005, 0.04),
            vib_rate,
            vib_index: r.range(0.001, 0.005) * freq / vib_rate,
            vib_phase: r.range(0.0, std::f64::consts::TAU),
            phases: std::array::from_fn(|_| r.range(0.0, std::f64::consts::TAU)),
        })
    }

    /// Adds one voice's notes sounding in `[t0, t0 + n)` frames into `l`, `r`.
    fn render_voice(&self, v: &Voice, t0: u64, l: &mut [f64], r: &mut [f64]) {
        let sr = f64::from(SAMPLE_RATE);
        let n = l.len();
        let start_s = t0 as f64 / sr;
        let end_s = (t0 + n as u64) as f64 / sr;
        let reach = MAX_SLOTS as f64 * self.slot_s + RELEASE_S;
        let first = ((start_s - reach) / self.slot_s).floor().max(0.0) as u64;
        let last = (end_s / self.slot_s).floor() as u64;
        let nyquist = 0.45 * sr;
        for slot in first..=last {
            let Some(note) = self.note(v, slot) else {
                continue;
            };
            let stop = note.start + note.len + RELEASE_S;
            let a = ((note.start * sr).ceil() as i64 - t0 as i64).clamp(0, n as i64) as usize;
            let b = ((stop * sr).floor() as i64 - t0 as i64 + 1).clamp(0, n as i64) as usize;
            let w = std::f64::consts::TAU * note.freq;
            let wv = std::f64::consts::TAU * note.vib_rate;
            // Harmonic h is Im(e^{i phase_h} · e^{i h theta}): one sin/cos per
            // sample, the rest by complex multiplication.
            let harmonics: Vec<(f64, f64)> = (0..HARMONICS)
                .map(|h| {
                    if (h + 1) as f64 * note.freq < nyquist {
                        let a = v.harmonics[h] * note.amp;
                        (a * note.phases[h].cos(), a * note.phases[h].sin())
                    } else {
                        (0.0, 0.0)
                    }
                })
                .collect();
            for i in a..b {
                let tau = (t0 + i as u64) as f64 / sr - note.start;
                let mut env = if tau < note.attack {
                    let x = tau / note.attack;
                    x * x * (3.0 - 2.0 * x)
                } else {
                    (-(tau - note.attack) / v.decay_s).exp() * 0.7 + 0.3
                };
                if tau > note.len {
                    let x = ((tau - note.len) / RELEASE_S).min(1.0);
                    env *= 0.5 + 0.5 * (std::f64::consts::PI * x).cos();
                }
                // Vibrato grows in over the first 0.3 s, as a player's would.
                let depth = note.vib_index * (tau / 0.3).min(1.0);
                let theta = w * tau + depth * (wv * tau + note.vib_phase).sin();
                let (st, ct) = theta.sin_cos();
                let (mut re, mut im) = (1.0, 0.0);
                let mut s = 0.0;
                for &(pc, ps) in &harmonics {
                    (re, im) = (re * ct - im * st, re * st + im * ct);
                    // Im((pc + i ps)(re + i im)) = pc·im + ps·re
                    s += pc * im + ps * re;
                }
                l[i] += s * env * v.pan_l;
                r[i] += s * env * v.pan_r;
            }
        }
    }

    /// Renders chunk `index` as interleaved 16-bit stereo samples.
    pub fn render_chunk(&self, index: u64) -> Vec<i16> {
        let n = CHUNK_FRAMES as usize;
        let t0 = index * CHUNK_FRAMES;
        let mut l = vec![0.0; n];
        let mut r = vec![0.0; n];
        for v in &self.voices {
            self.render_voice(v, t0, &mut l, &mut r);
        }
        self.add_ambience(t0, &mut l, &mut r);
        let sr = f64::from(SAMPLE_RATE);
        let mut out = Vec::with_capacity(2 * n);
        for i in 0..n {
            let t = t0 + i as u64;
            // Phrases swell and fade: quiet passages down to -20 dB.
            let swell = 0.5
                + 0.5
                    * (std::f64::consts::TAU * t as f64 / sr / self.phrase_period
                        + self.phrase_phase)
                        .sin();
            let phrase = 0.1 + 0.9 * swell * swell;
            for (ch, x) in [(0u64, l[i]), (1, r[i])] {
                let n_idx = 2 * t + ch;
                let floor = self.floor_lsb * gauss_at(self.noise_key ^ 0xf1, n_idx);
                // TPDF dither before rounding, as a mastering chain would apply.
                let dither = uniform_at(self.noise_key ^ 0xd1, n_idx)
                    + uniform_at(self.noise_key ^ 0xd2, n_idx);
                let y = limit(x * phrase) + floor + dither;
                out.push(y.round().clamp(-32768.0, 32767.0) as i16);
            }
        }
        out
    }

    /// Room ambience: a low rumble common to both channels (white noise
    /// through two one-pole low-passes, so it has no high-frequency tail)
    /// plus a little independent hiss per channel.
    fn add_ambience(&self, t0: u64, l: &mut [f64], r: &mut [f64]) {
        const LOW_POLE: f64 = 0.995;
        const HIGH_POLE: f64 = 0.6;
        // Unit-innovation RMS of the two-stage low-pass is about 6.8.
        let low_gain = self.amb_low / 6.8;
        let high_gain = self.amb_high * (1.0 - HIGH_POLE * HIGH_POLE).sqrt();
        let (mut low1, mut low2, mut hl, mut hr) = (0.0, 0.0, 0.0, 0.0);
        let begin = t0.saturating_sub(WARMUP_FRAMES);
        for t in begin..t0 + l.len() as u64 {
            low1 = LOW_POLE * low1 + gauss_at(self.noise_key ^ 0xa0, t);
            low2 = LOW_POLE * low2 + (1.0 - LOW_POLE) * low1;
            hl = HIGH_POLE * hl + gauss_at(self.noise_key ^ 0xa1, t);
            hr = HIGH_POLE * hr + gauss_at(self.noise_key ^ 0xa2, t);
            if t >= t0 {
                let i = (t - t0) as usize;
                l[i] += low2 * low_gain + hl * high_gain;
                r[i] += low2 * low_gain * 0.9 + hr * high_gain;
            }
        }
    }
}

/// Soft limiter: identity below the knee, smooth compression above, never
/// reaching full scale.
fn limit(x: f64) -> f64 {
    let m = x.abs();
    if m <= KNEE {
        x
    } else {
        x.signum() * (KNEE + HEADROOM * ((m - KNEE) / HEADROOM).tanh())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_deterministic_and_join_smoothly() {
        let s = Synth::new(&[7; 32]);
        let a = s.render_chunk(10);
        assert_eq!(a, s.render_chunk(10));
        let b = s.render_chunk(11);
        // Step across the boundary is as small as steps inside a chunk.
        let step = |x: i16, y: i16| (i32::from(x) - i32::from(y)).abs();
        let inside = (2..a.len())
            .step_by(2)
            .map(|i| step(a[i], a[i - 2]))
            .max()
            .unwrap();
        let across = step(b[0], a[a.len() - 2]);
        assert!(across <= inside.max(64), "{across} vs {inside}");
    }

    #[test]
    fn sounds_like_a_recording() {
        let s = Synth::new(&[3; 32]);
        // Chunks spread over a minute: phrases swell and fade over 12-30 s.
        let x: Vec<i16> = (0..40).flat_map(|c| s.render_chunk(17 * c)).collect();
        let rms = (x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64).sqrt();
        assert!((500.0..12_000.0).contains(&rms), "rms {rms}");
        assert!(x.iter().all(|&v| v.unsigned_abs() < 32_200));
        let longest_zero_run = x.chunks(64).filter(|c| c.iter().all(|&v| v == 0)).count();
        assert_eq!(longest_zero_run, 0);
        // Left and right are correlated but not identical.
        let (l, r): (Vec<f64>, Vec<f64>) = x
            .chunks(2)
            .map(|f| (f64::from(f[0]), f64::from(f[1])))
            .unzip();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let corr = dot(&l, &r) / (dot(&l, &l) * dot(&r, &r)).sqrt();
        assert!((0.2..0.995).contains(&corr), "corr {corr}");
    }
}
