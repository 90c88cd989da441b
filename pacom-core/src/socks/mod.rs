//! Server side of SOCKS5 (RFC 1928) with username/password (RFC 1929), sans-IO.
//!
//! Public mode offers a local SOCKS5 proxy: applications connect to it, name
//! a destination, and the node carries the bytes through a circuit to an exit.
//! This module only turns the client's bytes into a [`SocksRequest`] and
//! builds the replies; the I/O crate owns the socket.
//!
//! Credentials are not checked: they only isolate streams (different
//! credentials never share a circuit), as Tor's `IsolateSOCKSAuth` does.
//! Domain names are carried to the exit unresolved, so the client's machine
//! never leaks them to its local resolver.

mod addr;
mod error;
mod server;
#[cfg(test)]
mod tests;

pub use addr::{AddrError, TargetAddr, MAX_NAME_LEN};
pub use error::{ReplyCode, SocksError, Stage};
pub use server::{
    reply, AuthPolicy, Credentials, IsolationKey, Progress, SocksRequest, SocksServer,
};
