//! The PACOM protocol without I/O.
//!
//! Every state machine here is fed bytes and the current time (`now`, a
//! [`std::time::Duration`] since an arbitrary origin chosen by the caller) and
//! returns what to send. Nothing here reads a clock, touches a socket or a
//! file, or spawns a task: `pacom-bt` does that, and the tests drive the same
//! code with a virtual clock and a simulated network.

pub mod analysis;
pub mod bencode;
pub mod bootstrap;
pub mod cell;
pub mod circuit;
pub mod envelope;
pub mod exit;
pub mod identity;
pub mod link;
pub mod pacom_file;
pub mod queue;
pub mod schedule;
pub mod session;
pub mod sim;
pub mod socks;
pub mod stats;
pub mod swarm_profile;
pub mod tag;
pub mod topology;
