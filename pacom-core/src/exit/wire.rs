//! The messages at the start of a circuit stream between a client's node
//! and an exit: `Begin` (client → exit) and `Connected` (exit → client).
//!
//! Each is `VERSION ‖ KIND ‖ LEN (u16, big endian) ‖ BODY[LEN]`, so a
//! reader can take exactly the message off the stream and leave the TCP
//! bytes that follow untouched. `LEN` is checked against the largest legal
//! body before anything waits for or stores the body.

use super::super::socks::{AddrError, ReplyCode, TargetAddr};
use std::fmt;
use std::net::SocketAddr;

pub const WIRE_VERSION: u8 = 1;
/// Bytes before the body.
pub const HEADER_LEN: usize = 4;
const KIND_BEGIN: u8 = 1;
const KIND_CONNECTED: u8 = 2;
/// `ATYP ‖ LEN ‖ 255-byte name ‖ port`.
const MAX_BEGIN_BODY: usize = 1 + 1 + 255 + 2;
/// `code ‖ ATYP ‖ IPv6 ‖ port`.
const MAX_CONNECTED_BODY: usize = 1 + 1 + 16 + 2;

/// Result of decoding from the front of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<T> {
    /// At least this many bytes in total are needed.
    NeedMore(usize),
    /// The message and how many bytes it used.
    Done(T, usize),
}

/// Why a stream-begin message was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("stream protocol version {0} (expected {WIRE_VERSION})")]
    BadVersion(u8),
    #[error("expected message kind {expected}, got {got}")]
    UnexpectedKind { expected: u8, got: u8 },
    #[error("body length {len} exceeds {max}")]
    TooLong { len: usize, max: usize },
    #[error("body length {declared} but the content used {used}")]
    LengthMismatch { declared: usize, used: usize },
    #[error("bad address: {0}")]
    Address(#[from] AddrError),
    #[error("connected reply carries a name instead of an address")]
    NotAnIp,
}

/// Client → exit: open a TCP connection to `target`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Begin {
    pub target: TargetAddr,
}

/// The exit's answer to a [`Begin`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ExitReply {
    /// Connected; the address the exit reached (not its own address).
    Ok(SocketAddr),
    Refused,
    HostUnreachable,
    NetUnreachable,
    NotAllowed,
    TtlExpired,
    GeneralFailure,
    ResolveFailed,
}

/// Exit → client.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Connected {
    pub code: ExitReply,
}

impl ExitReply {
    /// The SOCKS reply the client's proxy gives its application. A failed
    /// resolution is "host unreachable", as Tor reports it.
    pub fn socks_code(&self) -> ReplyCode {
        match self {
            ExitReply::Ok(_) => ReplyCode::Succeeded,
            ExitReply::Refused => ReplyCode::ConnectionRefused,
            ExitReply::HostUnreachable | ExitReply::ResolveFailed => ReplyCode::HostUnreachable,
            ExitReply::NetUnreachable => ReplyCode::NetworkUnreachable,
            ExitReply::NotAllowed => ReplyCode::NotAllowed,
            ExitReply::TtlExpired => ReplyCode::TtlExpired,
            ExitReply::GeneralFailure => ReplyCode::GeneralFailure,
        }
    }

    /// The reply's code on the wire (also how a local front-end passes a
    /// refusal on to a SOCKS listener in another process).
    pub fn wire_code(&self) -> u8 {
        match self {
            ExitReply::Ok(_) => 0,
            ExitReply::GeneralFailure => 1,
            ExitReply::NotAllowed => 2,
            ExitReply::NetUnreachable => 3,
            ExitReply::HostUnreachable => 4,
            ExitReply::Refused => 5,
            ExitReply::TtlExpired => 6,
            ExitReply::ResolveFailed => 0x10,
        }
    }

    /// Unknown failure codes from a newer exit read as a general failure.
    pub fn from_wire(code: u8) -> ExitReply {
        match code {
            2 => ExitReply::NotAllowed,
            3 => ExitReply::NetUnreachable,
            4 => ExitReply::HostUnreachable,
            5 => ExitReply::Refused,
            6 => ExitReply::TtlExpired,
            0x10 => ExitReply::ResolveFailed,
            _ => ExitReply::GeneralFailure,
        }
    }
}

impl fmt::Display for ExitReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReply::Ok(a) => write!(f, "connected to {a}"),
            ExitReply::Refused => f.write_str("connection refused"),
            ExitReply::HostUnreachable => f.write_str("host unreachable"),
            ExitReply::NetUnreachable => f.write_str("network unreachable"),
            ExitReply::NotAllowed => f.write_str("not allowed by the exit policy"),
            ExitReply::TtlExpired => f.write_str("connection timed out"),
            ExitReply::GeneralFailure => f.write_str("general failure"),
            ExitReply::ResolveFailed => f.write_str("name did not resolve"),
        }
    }
}

fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.push(WIRE_VERSION);
    out.push(kind);
    // Bodies are bounded by MAX_BEGIN_BODY, far below u16::MAX.
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Checks the header and returns the body once all of it is buffered.
fn unframe(buf: &[u8], kind: u8, max: usize) -> Result<Decoded<&[u8]>, WireError> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(Decoded::NeedMore(HEADER_LEN));
    };
    if header[0] != WIRE_VERSION {
        return Err(WireError::BadVersion(header[0]));
    }
    if header[1] != kind {
        return Err(WireError::UnexpectedKind {
            expected: kind,
            got: header[1],
        });
    }
    let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    if len > max {
        return Err(WireError::TooLong { len, max });
    }
    match buf.get(HEADER_LEN..HEADER_LEN + len) {
        None => Ok(Decoded::NeedMore(HEADER_LEN + len)),
        Some(body) => Ok(Decoded::Done(body, HEADER_LEN + len)),
    }
}

/// Decodes an address that must fill `body` exactly.
fn whole_addr(body: &[u8]) -> Result<TargetAddr, WireError> {
    match TargetAddr::decode(body)? {
        Some((t, used)) if used == body.len() => Ok(t),
        Some((_, used)) => Err(WireError::LengthMismatch {
            declared: body.len(),
            used,
        }),
        // The body is complete, so a short address is a length mismatch.
        None => Err(WireError::LengthMismatch {
            declared: body.len(),
            used: body.len() + 1,
        }),
    }
}

impl Begin {
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut body = Vec::with_capacity(MAX_BEGIN_BODY);
        self.target.encode_into(&mut body)?;
        Ok(frame(KIND_BEGIN, &body))
    }

    pub fn decode(buf: &[u8]) -> Result<Decoded<Begin>, WireError> {
        Ok(match unframe(buf, KIND_BEGIN, MAX_BEGIN_BODY)? {
            Decoded::NeedMore(n) => Decoded::NeedMore(n),
            Decoded::Done(body, used) => Decoded::Done(
                Begin {
                    target: whole_addr(body)?,
                },
                used,
            ),
        })
    }
}

impl Connected {
    pub fn encode(&self) -> Vec<u8> {
        let mut body = vec![self.code.wire_code()];
        if let ExitReply::Ok(addr) = self.code {
            // IP addresses always encode.
            let _ = TargetAddr::Ip(addr).encode_into(&mut body);
        }
        frame(KIND_CONNECTED, &body)
    }

    pub fn decode(buf: &[u8]) -> Result<Decoded<Connected>, WireError> {
        let (body, used) = match unframe(buf, KIND_CONNECTED, MAX_CONNECTED_BODY)? {
            Decoded::NeedMore(n) => return Ok(Decoded::NeedMore(n)),
            Decoded::Done(body, used) => (body, used),
        };
        let Some((&code, rest)) = body.split_first() else {
            return Err(WireError::LengthMismatch {
                declared: 0,
                used: 1,
            });
        };
        let code = if code == 0 {
            match whole_addr(rest)? {
                TargetAddr::Ip(a) => ExitReply::Ok(a),
                TargetAddr::Domain(..) => return Err(WireError::NotAnIp),
            }
        } else if rest.is_empty() {
            ExitReply::from_wire(code)
        } else {
            return Err(WireError::LengthMismatch {
                declared: body.len(),
                used: 1,
            });
        };
        Ok(Decoded::Done(Connected { code }, used))
    }
}
