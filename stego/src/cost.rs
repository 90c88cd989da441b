//! Adaptive embedding costs: changes belong where the signal is busy.
//!
//! A second-difference high-pass residual per channel measures local
//! unpredictability; its magnitude is averaged over a short window and
//! inverted (low residual = smooth or quiet signal = expensive), then the
//! inverse is smoothed again so costs spread over neighbourhoods, the 1-D
//! analogue of the HILL cost for images. Quiet passages and the
//! neighbourhood of near-full-scale samples are forbidden outright.

/// Half-width of the residual averaging window (same-channel samples).
const L1_HALF: usize = 4;
/// Half-width of the cost smoothing window.
const L2_HALF: usize = 8;
/// Mean |residual| below which a neighbourhood counts as silence.
pub const QUIET: f32 = 2.0;
/// Samples this loud, and their neighbours, are treated as clipped.
const LOUD: i16 = 32_000;
const LOUD_REACH: usize = 3;

/// Moving average over `[i - half, i + half]`, clamped at the ends.
fn box_mean(v: &[f32], half: usize) -> Vec<f32> {
    let mut prefix = Vec::with_capacity(v.len() + 1);
    prefix.push(0.0f64);
    for &x in v {
        prefix.push(prefix[prefix.len() - 1] + f64::from(x));
    }
    (0..v.len())
        .map(|i| {
            let a = i.saturating_sub(half);
            let b = (i + half + 1).min(v.len());
            ((prefix[b] - prefix[a]) / (b - a) as f64) as f32
        })
        .collect()
}

/// Cost of changing each sample of an interleaved stereo block by ±1;
/// `f32::INFINITY` where it must not change (near full scale, or where the
/// mean |residual| is below `quiet`).
pub fn costs(samples: &[i16], quiet: f32) -> Vec<f32> {
    let mut out = vec![f32::INFINITY; samples.len()];
    for ch in 0..2 {
        let x: Vec<f32> = samples
            .iter()
            .skip(ch)
            .step_by(2)
            .map(|&s| f32::from(s))
            .collect();
        let n = x.len();
        if n == 0 {
            continue;
        }
        let residual: Vec<f32> = (0..n)
            .map(|t| {
                let prev = x[t.saturating_sub(1)];
                let next = x[(t + 1).min(n - 1)];
                (prev - 2.0 * x[t] + next).abs()
            })
            .collect();
        let l1 = box_mean(&residual, L1_HALF);
        let inv: Vec<f32> = l1.iter().map(|&r| 1.0 / (r + 0.5)).collect();
        let rho = box_mean(&inv, L2_HALF);
        let loud: Vec<bool> = samples
            .iter()
            .skip(ch)
            .step_by(2)
            .map(|s| s.unsigned_abs() >= LOUD as u16)
            .collect();
        for t in 0..n {
            let near_loud = loud[t.saturating_sub(LOUD_REACH)..(t + LOUD_REACH + 1).min(n)]
                .iter()
                .any(|&b| b);
            if l1[t] >= quiet && !near_loud {
                out[2 * t + ch] = rho[t];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_is_cheap_quiet_and_loud_are_forbidden() {
        let mut s = vec![0i16; 2000];
        for t in 0..1000 {
            // Left: a smooth sine first half, noisy second half. Right: silence.
            let smooth = (3000.0 * (t as f32 * 0.01).sin()) as i16;
            let noisy = smooth + ((t * 7919 % 61) as i16 - 30);
            s[2 * t] = if t < 500 { smooth } else { noisy };
        }
        s[2 * 900] = 32_500;
        let c = costs(&s, QUIET);
        assert!(c[2 * 700] < c[2 * 200], "{} vs {}", c[2 * 700], c[2 * 200]);
        assert!((0..1000).all(|t| c[2 * t + 1].is_infinite()));
        assert!(c[2 * 898].is_infinite() && c[2 * 903].is_infinite());
        assert!(c[2 * 700].is_finite());
    }
}
