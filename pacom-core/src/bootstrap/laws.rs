//! The two laws of §3.3: how many PACOM files a bootstrap node shares
//! (truncated geometric) and how large each swarm may grow (Pareto).

use rand::Rng;

/// Geometric parameter from the paper (after its reference [44]).
pub const FILE_COUNT_P: f64 = 0.8551;
/// Largest file count (and largest x).
pub const MAX_FILE_COUNT: u8 = 100;
/// Mean and variance of the swarm-size cap (after reference [48]).
pub const SWARM_CAP_MEAN: f64 = 11.12;
pub const SWARM_CAP_VARIANCE: f64 = 13.42;

/// Number of PACOM files c, with P(c) ∝ p^(c−1)(1−p) for 1 ≤ c ≤ 100,
/// by inversion of the truncated CDF.
pub fn sample_file_count(rng: &mut impl Rng) -> u8 {
    let p = FILE_COUNT_P;
    let mass = 1.0 - p.powi(i32::from(MAX_FILE_COUNT));
    let u: f64 = rng.gen();
    // CDF(c) = (1 − p^c) / mass; smallest c with CDF(c) > u.
    let c = ((1.0 - u * mass).ln() / p.ln()).floor() + 1.0;
    c.clamp(1.0, f64::from(MAX_FILE_COUNT)) as u8
}

/// Exact mean of the truncated law.
pub fn file_count_mean() -> f64 {
    let p = FILE_COUNT_P;
    let weights = (1..=MAX_FILE_COUNT).map(|c| p.powi(i32::from(c) - 1) * (1.0 - p));
    let total: f64 = weights.clone().sum();
    weights
        .zip(1..=MAX_FILE_COUNT)
        .map(|(w, c)| w * f64::from(c))
        .sum::<f64>()
        / total
}

/// Exact variance of the truncated law.
pub fn file_count_variance() -> f64 {
    let p = FILE_COUNT_P;
    let mean = file_count_mean();
    let weights: Vec<f64> = (1..=MAX_FILE_COUNT)
        .map(|c| p.powi(i32::from(c) - 1))
        .collect();
    let total: f64 = weights.iter().sum();
    weights
        .iter()
        .zip(1..=MAX_FILE_COUNT)
        .map(|(w, c)| w * (f64::from(c) - mean).powi(2))
        .sum::<f64>()
        / total
}

/// Pareto shape α and scale x_m with the given mean and variance:
/// var = mean² / (α(α − 2)) gives α = 1 + √(1 + mean²/var), then
/// x_m = mean (α − 1) / α. For 11.12 and 13.42: α ≈ 4.196, x_m ≈ 8.470.
pub fn pareto_params(mean: f64, variance: f64) -> (f64, f64) {
    let alpha = 1.0 + (1.0 + mean * mean / variance).sqrt();
    (alpha, mean * (alpha - 1.0) / alpha)
}

/// Continuous swarm-size cap (before rounding), by inversion: x_m / U^(1/α).
pub fn sample_swarm_cap_real(rng: &mut impl Rng) -> f64 {
    let (alpha, scale) = pareto_params(SWARM_CAP_MEAN, SWARM_CAP_VARIANCE);
    let u: f64 = rng.gen_range(f64::MIN_POSITIVE..=1.0);
    scale / u.powf(1.0 / alpha)
}

/// Swarm-size cap b: the Pareto draw rounded to the nearest integer, at
/// least 2 (the bootstrap node and one newcomer). Since x_m ≈ 8.5 the floor
/// never binds; rounding adds about 1/12 to the variance.
pub fn sample_swarm_cap(rng: &mut impl Rng) -> u32 {
    let b = sample_swarm_cap_real(rng).round();
    if b >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        (b as u32).max(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pareto_parameters_reproduce_the_moments() {
        let (a, xm) = pareto_params(SWARM_CAP_MEAN, SWARM_CAP_VARIANCE);
        let mean = a * xm / (a - 1.0);
        let var = xm * xm * a / ((a - 1.0).powi(2) * (a - 2.0));
        assert!((mean - 11.12).abs() < 1e-9 && (var - 13.42).abs() < 1e-9);
        assert!((a - 4.196).abs() < 0.001 && (xm - 8.470).abs() < 0.001);
    }

    #[test]
    fn exact_file_count_mean_is_near_the_untruncated_one() {
        // Truncation at 100 removes mass p^100 ≈ 1.6e-7.
        assert!((file_count_mean() - 1.0 / (1.0 - FILE_COUNT_P)).abs() < 1e-3);
    }
}
