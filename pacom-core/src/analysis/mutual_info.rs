//! The flow-correlation attack of Zhu et al. (eq. 1–3 of the
//! flow-correlation paper): bin both flows into packet counts (10 ms bins),
//! estimate the mutual information of the two count series with the
//! histogram (plug-in) estimator, and guess the output link whose count
//! series shares the most information with the input's.
//!
//! The plug-in estimator is biased upwards by roughly `(r-1)(s-1)/(2N)` nats
//! for r×s observed values; candidates of very different rates therefore get
//! different biases. `max_count` caps counts (the last value means "at
//! least") to bound the alphabet when that matters.

use std::collections::HashMap;

use super::error::{positive, AnalysisError};
use super::flows::{bin_count, Flow};

/// The sampling interval of the flow-correlation paper: 10 ms.
pub const PAPER_BIN: f64 = 0.01;

/// Eq. (1): plug-in estimate, in nats, of I(X;Y) from paired samples
/// `(x[k], y[k])` (eq. (2)).
pub fn mutual_information(x: &[u32], y: &[u32]) -> Result<f64, AnalysisError> {
    if x.len() != y.len() {
        return Err(AnalysisError::LengthMismatch {
            left: x.len(),
            right: y.len(),
        });
    }
    if x.is_empty() {
        return Err(AnalysisError::Empty {
            what: "count series",
        });
    }
    let n = x.len() as f64;
    let mut joint: HashMap<(u32, u32), u32> = HashMap::new();
    let mut px: HashMap<u32, u32> = HashMap::new();
    let mut py: HashMap<u32, u32> = HashMap::new();
    for (&u, &v) in x.iter().zip(y) {
        *joint.entry((u, v)).or_default() += 1;
        *px.entry(u).or_default() += 1;
        *py.entry(v).or_default() += 1;
    }
    let mut mi = 0.0;
    for (&(u, v), &c) in &joint {
        let puv = f64::from(c) / n;
        let pu = f64::from(px[&u]) / n;
        let pv = f64::from(py[&v]) / n;
        mi += puv * (puv / (pu * pv)).ln();
    }
    // Rounding can leave -1e-17 for independent series; MI is never negative.
    Ok(mi.max(0.0))
}

/// Parameters of the mutual-information attack.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MiParams {
    /// Bin width in seconds ([`PAPER_BIN`] in the paper).
    pub bin_width: f64,
    /// Counts above this are merged into it (`None`: no cap).
    pub max_count: Option<u32>,
}

impl Default for MiParams {
    fn default() -> Self {
        MiParams {
            bin_width: PAPER_BIN,
            max_count: None,
        }
    }
}

/// The attack's score for one candidate output link: estimated MI between
/// the packet-count series of `input` and `output` over
/// `[start, start + length)`. Larger means more correlated.
pub fn flow_mutual_information(
    input: &Flow,
    output: &Flow,
    start: f64,
    length: f64,
    params: &MiParams,
) -> Result<f64, AnalysisError> {
    let width = positive("bin width", params.bin_width)?;
    let bins = bin_count(length, width)?;
    let cap = |v: Vec<u32>| match params.max_count {
        Some(m) => v.into_iter().map(|c| c.min(m)).collect(),
        None => v,
    };
    let x = cap(input.bin_counts(start, width, bins)?);
    let y = cap(output.bin_counts(start, width, bins)?);
    mutual_information(&x, &y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_series_have_their_entropy() {
        // Uniform over 4 values: H = ln 4.
        let x: Vec<u32> = (0..400).map(|i| i % 4).collect();
        let mi = mutual_information(&x, &x).unwrap();
        assert!((mi - 4f64.ln()).abs() < 1e-12, "{mi}");
    }

    #[test]
    fn independent_product_has_zero_mi() {
        // Every (u, v) pair occurs equally often: exactly independent.
        let x: Vec<u32> = (0..36).map(|i| i % 6).collect();
        let y: Vec<u32> = (0..36).map(|i| i / 6).collect();
        assert!(mutual_information(&x, &y).unwrap() < 1e-12);
        assert!(mutual_information(&x, &y[..5]).is_err());
    }
}
