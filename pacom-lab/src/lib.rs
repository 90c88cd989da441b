//! Emulated hosts for PACOM experiments.
//!
//! Each host is a Linux network namespace with one veth interface whose peer
//! sits in a switch namespace. The kernel of our test machines has no netem,
//! so delay, jitter and loss are applied by a userspace switch
//! ([`switch`]): one `AF_PACKET` socket per port, MAC learning, flooding of
//! broadcasts, and a release-time queue that holds every frame for its
//! link's one-way delay before sending it out of the destination port.
//!
//! The network is a star through the switch; a topology's links set the
//! delay, jitter and loss *per host pair* (each direction drawn
//! independently), so any graph of pairwise delays — such as the paper's
//! uniform [1, 100] ms — can be expressed. Host pairs without a link cannot
//! talk unless the topology gives a default link. A host may also have an
//! egress bandwidth cap (a tbf qdisc on its interface; kernels without netem
//! still have tbf).
//!
//! Namespaces are named `pl-<pid>-<lab>-<host>`; everything is removed when
//! the [`Lab`] is dropped (also while unwinding from a panic), and
//! [`Lab::up`] first removes namespaces left by processes that no longer
//! exist.

pub mod capture;
pub mod error;
pub mod lab;
pub mod mixnode;
pub mod netns;
pub mod switch;
pub mod topology;

pub use capture::Capture;
pub use error::LabError;
pub use lab::Lab;
pub use switch::{FrameLog, FrameRecord, LinkParams, SwitchStats};
pub use topology::{HostSpec, LinkSpec, Topology};
