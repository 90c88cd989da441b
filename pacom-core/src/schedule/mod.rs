//! The block scheduler of Algorithm 1: what to request from a PACOM peer and
//! when, and when to answer its requests.
//!
//! Every decision here is made from configured rates, the peer's behaviour
//! (its pieces, its answers, its chokes) and our own random draws. Nothing in
//! this module can see a link, an output queue or hidden data: that is what
//! makes the traffic of each link independent of what it carries
//! (the paper's Theorem 1), and the types keep it so.

mod geometry;
mod progress;
mod request;
mod upload;

use thiserror::Error;

pub use geometry::{BlockRequest, Geometry};
pub use progress::{BlockOutcome, Progress};
pub use request::{PacerConfig, Rate, RequestPacer, DEFAULT_MAX_OUTSTANDING};
pub use upload::UploadPacer;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum ScheduleError {
    #[error("invalid geometry: {0}")]
    Geometry(&'static str),
    #[error("block (piece {piece}, offset {offset}, length {len}) is not a block of this file")]
    NoSuchBlock { piece: u32, offset: u32, len: u32 },
    #[error("piece {piece} does not exist (file has {pieces})")]
    NoSuchPiece { piece: u32, pieces: u32 },
    #[error("rate {0} must be finite and positive")]
    BadRate(f64),
    #[error("random generator failed")]
    Rng,
}
