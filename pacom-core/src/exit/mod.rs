//! The exit side of public mode, without I/O.
//!
//! A client's node opens a circuit stream to an exit and starts it with a
//! [`Begin`] naming the destination; the exit resolves names itself, checks
//! every resolved address against its [`ExitPolicy`], connects, and answers
//! with [`Connected`]. After that the stream carries raw TCP bytes both ways.
//! [`StreamLimits`] bounds how many such streams one circuit and the whole
//! exit keep open.

mod limits;
mod policy;
mod rule;
#[cfg(test)]
mod tests;
mod wire;

pub use crate::socks::TargetAddr;
pub use limits::{LimitError, StreamLimits};
pub use policy::{ExitPolicy, RejectReason, Verdict};
pub use rule::{Action, PolicyError, PolicyErrorKind, PortRange, Rule};
pub use wire::{Begin, Connected, Decoded, ExitReply, WireError, HEADER_LEN, WIRE_VERSION};
