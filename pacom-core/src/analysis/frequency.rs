//! The passive attack of paper §4.3: compare two links by the distance of
//! their packet-count vectors in the frequency domain (eq. (9)–(10)), with
//! 50 ms bins as in §6.6. Also the power spectrum shown in Figs. 14 and 17.
//!
//! Eq. (10) as printed reads `d = sqrt(<Xj,Xj>) / <Xi,Xj>` over the spectra;
//! we compute the symmetric `sqrt(<Xi,Xi><Xj,Xj>) / <Xi,Xj>` (the inverse
//! cosine similarity, >= 1). The input's norm is the same for every candidate
//! output, so both forms rank candidates identically, and ours does not
//! depend on the input's scale. Spectra are magnitudes of the DFT of the
//! mean-removed counts: the DC term carries only the average rate, which
//! would otherwise dominate every inner product.

use super::error::{positive, AnalysisError};
use super::flows::{bin_count, Flow};

/// The bin width of the paper's experiments (§6.6): 50 ms.
pub const PAPER_BIN: f64 = 0.05;

/// In-place iterative radix-2 FFT. Both slices must have the same length, a
/// power of two.
pub fn fft(re: &mut [f64], im: &mut [f64]) {
    let n = re.len();
    assert_eq!(
        n,
        im.len(),
        "fft: real and imaginary parts differ in length"
    );
    assert!(n.is_power_of_two(), "fft: length {n} is not a power of two");
    // Bit-reversal permutation.
    let mut j = 0usize;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let mut len = 2;
    while len <= n {
        let angle = -2.0 * std::f64::consts::PI / len as f64;
        for start in (0..n).step_by(len) {
            for k in 0..len / 2 {
                let (s, c) = (angle * k as f64).sin_cos();
                let a = start + k;
                let b = a + len / 2;
                let tr = re[b] * c - im[b] * s;
                let ti = re[b] * s + im[b] * c;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
        }
        len <<= 1;
    }
}

/// DFT of `series` minus its mean, zero-padded to a power of two; returns
/// the one-sided complex spectrum (bins 0..=n/2) as (re, im).
fn spectrum(series: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n = series.len().max(1).next_power_of_two();
    let mean = if series.is_empty() {
        0.0
    } else {
        series.iter().sum::<f64>() / series.len() as f64
    };
    let mut re = vec![0.0; n];
    for (slot, x) in re.iter_mut().zip(series) {
        *slot = x - mean;
    }
    let mut im = vec![0.0; n];
    fft(&mut re, &mut im);
    re.truncate(n / 2 + 1);
    im.truncate(n / 2 + 1);
    (re, im)
}

/// Magnitude spectrum |X^F| of a series (one-sided, mean removed).
pub fn magnitude_spectrum(series: &[f64]) -> Vec<f64> {
    let (re, im) = spectrum(series);
    re.iter().zip(&im).map(|(r, i)| r.hypot(*i)).collect()
}

/// Power spectrum |X^F|^2 / n of a series; bin k is frequency
/// `k / (n_padded * bin_width)` Hz.
pub fn power_spectrum(series: &[f64]) -> Vec<f64> {
    let n = series.len().max(1).next_power_of_two() as f64;
    let (re, im) = spectrum(series);
    re.iter()
        .zip(&im)
        .map(|(r, i)| (r * r + i * i) / n)
        .collect()
}

/// Frequencies (Hz) of the bins returned by the spectrum functions for a
/// series of `len` bins of `bin_width` seconds.
pub fn spectrum_frequencies(len: usize, bin_width: f64) -> Vec<f64> {
    let n = len.max(1).next_power_of_two();
    (0..=n / 2)
        .map(|k| k as f64 / (n as f64 * bin_width))
        .collect()
}

/// Eq. (10) on two pattern vectors of equal length: >= 1, smaller means more
/// correlated. Infinite when either series is constant (no spectrum) or the
/// spectra are orthogonal.
pub fn spectral_distance(input: &[f64], output: &[f64]) -> Result<f64, AnalysisError> {
    if input.len() != output.len() {
        return Err(AnalysisError::LengthMismatch {
            left: input.len(),
            right: output.len(),
        });
    }
    if input.is_empty() {
        return Err(AnalysisError::Empty {
            what: "pattern vector",
        });
    }
    let a = magnitude_spectrum(input);
    let b = magnitude_spectrum(output);
    let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f64>();
    let cross = dot(&a, &b);
    if cross <= 0.0 {
        return Ok(f64::INFINITY);
    }
    Ok((dot(&a, &a) * dot(&b, &b)).sqrt() / cross)
}

/// The frequency attack's score for one candidate: eq. (10) between the
/// packet counts of `input` and `output` in `[start, start + length)` with
/// bins of `bin_width` seconds ([`PAPER_BIN`] in the paper).
pub fn flow_distance(
    input: &Flow,
    output: &Flow,
    start: f64,
    length: f64,
    bin_width: f64,
) -> Result<f64, AnalysisError> {
    let bins = bin_count(length, positive("bin width", bin_width)?)?;
    let as_f64 = |v: Vec<u32>| v.into_iter().map(f64::from).collect::<Vec<_>>();
    let x = as_f64(input.bin_counts(start, bin_width, bins)?);
    let y = as_f64(output.bin_counts(start, bin_width, bins)?);
    spectral_distance(&x, &y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_dft(x: &[f64]) -> Vec<(f64, f64)> {
        let n = x.len();
        (0..n)
            .map(|k| {
                x.iter().enumerate().fold((0.0, 0.0), |(r, i), (t, v)| {
                    let a = -2.0 * std::f64::consts::PI * (k * t) as f64 / n as f64;
                    (r + v * a.cos(), i + v * a.sin())
                })
            })
            .collect()
    }

    #[test]
    fn fft_matches_naive_dft() {
        let x: Vec<f64> = (0..64).map(|i| ((i * 37) % 11) as f64 - 3.0).collect();
        let (mut re, mut im) = (x.clone(), vec![0.0; 64]);
        fft(&mut re, &mut im);
        for (k, (r, i)) in naive_dft(&x).into_iter().enumerate() {
            assert!(
                (re[k] - r).abs() < 1e-9 && (im[k] - i).abs() < 1e-9,
                "bin {k}"
            );
        }
    }

    #[test]
    fn sine_peaks_at_its_frequency() {
        let bin = 0.05;
        let x: Vec<f64> = (0..256)
            .map(|i| (2.0 * std::f64::consts::PI * 2.5 * i as f64 * bin).sin())
            .collect();
        let p = power_spectrum(&x);
        let peak = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
        let f = spectrum_frequencies(x.len(), bin);
        assert!((f[peak] - 2.5).abs() < 0.1, "peak at {} Hz", f[peak]);
    }

    #[test]
    fn distance_is_one_for_same_shape_and_larger_otherwise() {
        let x: Vec<f64> = (0..100).map(|i| ((i * 7) % 5) as f64).collect();
        let scaled: Vec<f64> = x.iter().map(|v| 3.0 * v + 1.0).collect();
        let other: Vec<f64> = (0..100).map(|i| ((i * i) % 3) as f64).collect();
        assert!((spectral_distance(&x, &scaled).unwrap() - 1.0).abs() < 1e-9);
        assert!(spectral_distance(&x, &other).unwrap() > 1.05);
        assert!(spectral_distance(&x, &x[..50]).is_err());
    }
}
