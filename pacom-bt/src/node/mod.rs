//! The PACOM node runtime: PACOM swarms joined as engine torrents, one link
//! per PACOM neighbour driven by Algorithm 1, and the neighbour byte pipes
//! the circuit layer writes into.
//!
//! [`Links`] is the hub between the two layers: swarms register a link per
//! claimed PACOM peer and report what it received; the circuit driver
//! ([`spawn_driver`]) writes bytes into a neighbour's output queue and reads
//! [`LinkEvent`]s. [`PacomNode`] puts engine, swarms and driver together;
//! applications talk to it through a [`NodeHandle`].

pub mod driver;
pub mod handle;
pub mod links;
pub mod runtime;
pub mod swarm;

pub use driver::spawn_driver;
pub use handle::{
    describe_failure, HandleError, NodeHandle, NodeStatus, PendingMessage, SessionStatus,
};
pub use links::{LinkEvent, LinkWriteError, Links, NeighbourInfo};
pub use pacom_core::circuit::NeighbourId;
pub use runtime::{NodeConfig, NodeStartError, PacomNode, SwarmStatus};
pub use swarm::{PacomSwarm, SwarmConfig, SwarmError};
