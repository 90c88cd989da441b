//! The PACOM node runtime: PACOM swarms joined as engine torrents, one link
//! per PACOM neighbour driven by Algorithm 1, and the neighbour byte pipes
//! the circuit layer writes into.
//!
//! [`Links`] is the hub between the two layers: swarms register a link per
//! claimed PACOM peer and report what it received; the circuit driver writes
//! bytes into a neighbour's output queue and reads [`LinkEvent`]s.

pub mod links;
pub mod swarm;

pub use links::{LinkEvent, LinkWriteError, Links, NeighbourInfo};
pub use pacom_core::circuit::NeighbourId;
pub use swarm::{PacomSwarm, SwarmConfig, SwarmError};
