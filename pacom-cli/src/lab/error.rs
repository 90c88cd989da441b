//! Errors of `pacom lab`: each carries enough context for a one-line message.

use std::path::PathBuf;

use pacom_core::analysis::AnalysisError;
use pacom_lab::LabError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum LabCmdError {
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("analysis: {0}")]
    Analysis(#[from] AnalysisError),
    #[error("emulated network: {0}")]
    Lab(#[from] LabError),
    #[error("plot {}: {reason}", path.display())]
    Plot { path: PathBuf, reason: String },
    #[error("invalid parameter: {0}")]
    Param(String),
    #[error("experiment failed: {0}")]
    Failed(String),
}
