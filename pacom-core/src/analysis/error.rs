//! Errors of the analysis functions: all of them are bad parameters.

use thiserror::Error;

/// A parameter given to an analysis function is out of its domain.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum AnalysisError {
    #[error("{what} must be finite and > 0, got {value}")]
    NotPositive { what: &'static str, value: f64 },
    #[error("{what} must lie in [0, 1], got {value}")]
    NotAProbability { what: &'static str, value: f64 },
    #[error("probabilities must sum to 1, they sum to {sum}")]
    NotADistribution { sum: f64 },
    #[error("series lengths differ: {left} vs {right}")]
    LengthMismatch { left: usize, right: usize },
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("watermark needs {needed} intervals but the flow window has {available}")]
    TooFewIntervals { needed: usize, available: usize },
    #[error("{hits} hits out of {trials} trials")]
    BadCounts { hits: u64, trials: u64 },
}

/// Checks that `value` is finite and strictly positive.
pub(crate) fn positive(what: &'static str, value: f64) -> Result<f64, AnalysisError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(AnalysisError::NotPositive { what, value })
    }
}

/// Checks that `value` is a probability.
pub(crate) fn probability(what: &'static str, value: f64) -> Result<f64, AnalysisError> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(AnalysisError::NotAProbability { what, value })
    }
}
