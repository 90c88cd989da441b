//! The PACOM node runtime: PACOM swarms joined as engine torrents, one link
//! per PACOM neighbour driven by Algorithm 1, and the neighbour byte pipes
//! the circuit layer writes into.
//!
//! [`Links`] is the hub between the two layers: swarms register a link per
//! claimed PACOM peer and report what it received; the circuit driver writes
//! bytes into a neighbour's output queue and reads [`LinkEvent`]s.

pub mod block_map;
pub mod cover_storage;
mod link_task;
pub mod links;
pub mod swarm;
mod swarm_state;

pub use cover_storage::CoverStorage;
pub use link_task::{LinkTaskError, PIECE_HEADER_WIRE_SIZE, REQUEST_WIRE_SIZE};
pub use links::{LinkEvent, LinkWriteError, Links, NeighbourInfo};
pub use pacom_core::circuit::NeighbourId;
pub use swarm::{LinkTiming, PacomSwarm, SwarmConfig, SwarmError, SwarmProgress, WireObserver};
