//! End-to-end sessions over circuits, and the node-level sans-IO facade.
//!
//! [`Node`] is the whole circuit protocol of one PACOM client: it is fed
//! link bytes, neighbour up/down notices and the time, and hands back bytes
//! per neighbour, events and the next time it wants to be woken. Given the
//! same rng seed and the same inputs it behaves identically.
//!
//! The handshake names no source, so the target cannot tell which circuits
//! belong together: the source's first frame on each circuit is a `Bind`
//! carrying a random session token (inside `E_K`), and the target groups
//! circuits, including rebuilt ones, by token. The target never learns who
//! the source is; events on its side carry no fingerprint.

mod config;
mod dispatch;
mod event;
mod frame;
mod node;
mod path_choice;
mod reliable;
mod stream;
mod timers;

pub use config::{Config, DEFAULT_HANDSHAKE_WINDOW, DEFAULT_MAX_IN_FLIGHT, DEFAULT_STREAM_WINDOW};
pub use event::{Event, FailReason, MessageId, SessionId, StreamId};
pub use frame::{Frame, FrameError, SeqBody};
pub use node::{Node, NodeError, NodeStats, RelayState, StreamBuffers};
pub use reliable::{CircKey, SessionError};
pub use stream::INITIAL_STREAM_WINDOW;
