//! The PACOM node runtime: PACOM swarms joined as engine torrents, one link
//! per PACOM neighbour driven by Algorithm 1, and the neighbour byte pipes
//! the circuit layer writes into.
//!
//! [`Links`] is the hub between the two layers: swarms register a link per
//! claimed PACOM peer and report what it received; the circuit driver
//! ([`spawn_driver`]) writes bytes into a neighbour's output queue and reads
//! [`LinkEvent`]s. [`PacomNode`] puts engine, swarms and driver together;
//! applications talk to it through a [`NodeHandle`].
//!
//! Joining the network (paper §3.3): [`have_order`] hides a bootstrap node's
//! x in its HAVE order, [`newcomer`] reads it back and finds the swarm on
//! the DHT, [`bootstrap`] is the bootstrap node role, and [`joining`] runs
//! both as one task.

pub mod block_map;
pub mod bootstrap;
pub mod circuit_opener;
pub mod cover_storage;
pub mod driver;
pub mod exit_service;
pub mod handle;
pub mod have_order;
pub mod joining;
mod link_task;
pub mod links;
pub mod newcomer;
pub mod runtime;
pub mod streams;
pub mod swarm;
mod swarm_state;

pub use bootstrap::BootstrapRole;
pub use circuit_opener::CircuitOpener;
pub use cover_storage::CoverStorage;
pub use driver::spawn_driver;
pub use exit_service::start_exit;
pub use handle::{
    describe_failure, HandleError, NodeHandle, NodeStatus, PendingMessage, SessionStatus,
};
pub use have_order::{HaveOrderControl, HaveOrderPicker};
pub use joining::{
    CarrierFor, CompletionNotifier, JoinConfig, JoinNode, JoinStatus, LookupRecord, PopularTorrent,
    SwarmEntry, SwarmTemplate,
};
pub use link_task::{LinkTaskError, PIECE_HEADER_WIRE_SIZE, REQUEST_WIRE_SIZE};
pub use links::{LinkEvent, LinkWriteError, Links, NeighbourInfo};
pub use newcomer::{look_up, FileCache, FileRecipe, HaveWatch, LookupResult};
pub use pacom_core::circuit::NeighbourId;
pub use runtime::{NodeConfig, NodeJoin, NodeStartError, PacomNode, PopularStatus, SwarmStatus};
pub use streams::{Acceptor, CircuitStream, StreamHub};
pub use swarm::{
    LinkTiming, PacomSwarm, SwarmConfig, SwarmError, SwarmProgress, SwarmView, WireObserver,
};
