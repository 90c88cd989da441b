//! Bootstrap mathematics (paper §3.3 and Appendix A).
//!
//! A bootstrap node Pb shares c PACOM files whose seeds are
//! `HF(group_key, x, IP(Pb), date)` ([`seed`]), hides the x of a non-full
//! swarm in the order in which it downloads a popular torrent
//! ([`encoder`], Algorithm 2), and a newcomer reads x back from Pb's HAVE
//! messages ([`decoder`], Algorithm 3 with noise tolerance). [`laws`] holds
//! the file-count and swarm-size distributions and [`state`] the per-node
//! swarm bookkeeping, [`role`] when to look up, join, become a bootstrap
//! node or bootstrap again.

pub mod classes;
pub mod decoder;
pub mod encoder;
pub mod laws;
pub mod role;
pub mod seed;
pub mod sim;
pub mod state;

use thiserror::Error;

pub use classes::{ClassHashes, NUM_FUNCTIONS};
pub use decoder::{binomial_upper_tail, Decoded, DecoderParams, HaveOrderDecoder, Window};
pub use encoder::HaveOrderEncoder;
pub use laws::{
    file_count_mean, file_count_variance, pareto_params, sample_file_count, sample_swarm_cap,
    sample_swarm_cap_real,
};
pub use role::{JoinPlanner, RoleAction, RoleConfig};
pub use seed::{file_seed, pacom_file_for, RolloverPolicy, UtcDate};
pub use sim::{have_order, DownloadModel};
pub use state::{Advert, BootstrapState, Swarm};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum BootstrapError {
    #[error("{year:04}-{month:02}-{day:02} is not a calendar date")]
    BadDate { year: i32, month: u32, day: u32 },
    #[error("invalid decoder parameters: {0}")]
    DecoderParams(String),
    #[error("a bootstrap node shares 1 to 100 files, not {0}")]
    SwarmCount(usize),
    #[error("no swarm x = {x} (the node has {count})")]
    UnknownSwarm { x: u8, count: usize },
}
