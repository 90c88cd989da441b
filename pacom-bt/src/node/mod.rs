//! The PACOM node runtime: PACOM swarms joined as engine torrents, one link
//! per PACOM neighbour driven by Algorithm 1, and the neighbour byte pipes
//! the circuit layer writes into.
//!
//! [`Links`] is the hub between the two layers: swarms register a link per
//! claimed PACOM peer and report what it received; the circuit driver writes
//! bytes into a neighbour's output queue and reads [`LinkEvent`]s.
//!
//! Joining the network (paper §3.3): [`have_order`] hides a bootstrap node's
//! x in its HAVE order, [`newcomer`] reads it back and finds the swarm on
//! the DHT, [`bootstrap`] is the bootstrap node role, and [`joining`] runs
//! both as one task.

pub mod bootstrap;
pub mod have_order;
pub mod joining;
pub mod links;
pub mod newcomer;
pub mod swarm;

pub use bootstrap::BootstrapRole;
pub use have_order::{HaveOrderControl, HaveOrderPicker};
pub use joining::{
    JoinConfig, JoinNode, JoinStatus, LookupRecord, PopularTorrent, SwarmEntry, SwarmTemplate,
};
pub use links::{LinkEvent, LinkWriteError, Links, NeighbourInfo};
pub use newcomer::{look_up, FileRecipe, HaveWatch, LookupResult};
pub use pacom_core::circuit::NeighbourId;
pub use swarm::{PacomSwarm, SwarmConfig, SwarmError};
