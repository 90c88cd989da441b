//! Carriers hide PACOM link frames inside BitTorrent blocks; covers are the
//! files those blocks come from. Everything here is a pure function of its
//! inputs (seed, key, block position): no I/O, no clocks, no key exchange.

pub mod archive;
pub mod carrier;
pub mod ciphertext;
pub mod cover;

pub mod controls;
pub mod cost;
pub mod dataset;
pub mod keys;
pub mod pcm;
pub mod samples;
pub mod stc;
pub mod synth;
pub mod tool;
pub mod wav;
pub mod wav_cover;

pub use archive::{ArchiveCover, ArchiveParams};
pub use carrier::{BlockId, Carrier, CarrierError};
pub use ciphertext::CiphertextCarrier;
pub use cover::{Cover, CoverError};
pub use pcm::{PayloadRate, PcmCarrier};
pub use wav_cover::WavCover;
