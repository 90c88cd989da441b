//! SOCKS5 reply codes and the typed failures of a negotiation.

use super::addr::AddrError;
use super::server::reply;
use std::net::{Ipv4Addr, SocketAddr};

/// `REP` field of a SOCKS5 reply (RFC 1928 §6).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u8)]
pub enum ReplyCode {
    Succeeded = 0x00,
    GeneralFailure = 0x01,
    NotAllowed = 0x02,
    NetworkUnreachable = 0x03,
    HostUnreachable = 0x04,
    ConnectionRefused = 0x05,
    TtlExpired = 0x06,
    CommandNotSupported = 0x07,
    AddressTypeNotSupported = 0x08,
}

/// Where in the negotiation a failure happened.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stage {
    Greeting,
    Auth,
    Request,
}

/// Why a client's negotiation failed. [`SocksError::closing_bytes`] says
/// what to send before closing the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SocksError {
    #[error("SOCKS version {version} in the {stage:?} (expected 5)")]
    BadVersion { stage: Stage, version: u8 },
    #[error("client offered no authentication method")]
    NoMethods,
    #[error("none of the offered authentication methods is accepted")]
    NoAcceptableMethod,
    #[error("username/password sub-negotiation version {0} (expected 1)")]
    BadAuthVersion(u8),
    #[error("empty username in username/password sub-negotiation")]
    EmptyUsername,
    #[error("unsupported SOCKS command {0:#04x}")]
    UnknownCommand(u8),
    #[error("bad destination address: {0}")]
    Address(#[from] AddrError),
    #[error("client closed the connection during the {0:?}")]
    Truncated(Stage),
    #[error("bytes fed after the request was complete")]
    AfterRequest,
}

/// RFC 1928: method byte meaning "no acceptable methods".
const NO_ACCEPTABLE: u8 = 0xFF;

impl SocksError {
    /// The SOCKS reply code to send before closing, for failures of the
    /// request itself; `None` when the failure happens before a request can
    /// be answered with a reply.
    pub fn reply_code(&self) -> Option<ReplyCode> {
        match self {
            SocksError::BadVersion {
                stage: Stage::Request,
                ..
            } => Some(ReplyCode::GeneralFailure),
            SocksError::UnknownCommand(_) => Some(ReplyCode::CommandNotSupported),
            SocksError::Address(AddrError::UnknownType(_)) => {
                Some(ReplyCode::AddressTypeNotSupported)
            }
            SocksError::Address(_) => Some(ReplyCode::GeneralFailure),
            _ => None,
        }
    }

    /// Bytes to write before closing: a method-selection refusal, an
    /// authentication failure status, a request reply, or nothing.
    pub fn closing_bytes(&self) -> Vec<u8> {
        if let Some(code) = self.reply_code() {
            return reply(code, SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
        }
        match self {
            SocksError::NoMethods | SocksError::NoAcceptableMethod => vec![5, NO_ACCEPTABLE],
            // RFC 1929: any non-zero status is a failure and the server
            // must close the connection.
            SocksError::BadAuthVersion(_) | SocksError::EmptyUsername => vec![1, 1],
            _ => Vec::new(),
        }
    }
}
