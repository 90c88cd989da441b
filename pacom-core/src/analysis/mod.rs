//! Traffic-analysis attacks and anonymity metrics, as pure functions.
//!
//! PACOM claims that the flow-correlation attacks which break mix networks
//! fall to chance against it (paper §4.3, §6.6). To test that claim we need
//! the attacks themselves: the frequency-domain distance of eq. (10), the
//! mutual-information attack of Zhu et al. (eq. 1–3 of the flow-correlation
//! paper), an interval-centroid timing watermark (the active attack), the
//! detection-rate statistics to judge them, an exponential mix to produce
//! flows the attacks *should* break, a data-driven answerer whose link
//! traffic the independence test *must* tell apart (its positive control),
//! and the entropy metrics of §4.1/§4.4.
//!
//! Everything here works on timestamps given by the caller (seconds since an
//! arbitrary origin); nothing reads a clock or a socket.

pub mod anonymity;
pub mod churn;
pub mod detect;
pub mod disclosure;
pub mod error;
pub mod flows;
pub mod frequency;
pub mod leaky_answerer;
pub mod mix;
pub mod mutual_info;
pub mod trap;
pub mod watermark;

pub use error::AnalysisError;
pub use flows::{Flow, Packet};
pub use leaky_answerer::LeakyAnswerer;
