//! Destination addresses in the SOCKS5 wire form (`ATYP ‖ address ‖ port`).
//!
//! The same encoding is reused by the exit's stream-begin message, so one
//! parser guards both the local SOCKS port and the bytes an exit receives.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Longest domain name accepted (the SOCKS length byte cannot say more).
pub const MAX_NAME_LEN: usize = 255;

pub(crate) const ATYP_V4: u8 = 0x01;
pub(crate) const ATYP_DOMAIN: u8 = 0x03;
pub(crate) const ATYP_V6: u8 = 0x04;

/// Where a stream should go. Names stay names until the exit resolves them.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum TargetAddr {
    Ip(SocketAddr),
    Domain(String, u16),
}

impl TargetAddr {
    pub fn port(&self) -> u16 {
        match self {
            TargetAddr::Ip(a) => a.port(),
            TargetAddr::Domain(_, p) => *p,
        }
    }

    /// Appends `ATYP ‖ address ‖ port`. Fails only for a name that could
    /// not be decoded again (empty, too long, or with forbidden bytes).
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), AddrError> {
        match self {
            TargetAddr::Ip(SocketAddr::V4(a)) => {
                out.push(ATYP_V4);
                out.extend_from_slice(&a.ip().octets());
            }
            TargetAddr::Ip(SocketAddr::V6(a)) => {
                out.push(ATYP_V6);
                out.extend_from_slice(&a.ip().octets());
            }
            TargetAddr::Domain(name, _) => {
                validate_name(name.as_bytes())?;
                out.push(ATYP_DOMAIN);
                // validate_name bounds the length to MAX_NAME_LEN (255).
                out.push(name.len() as u8);
                out.extend_from_slice(name.as_bytes());
            }
        }
        out.extend_from_slice(&self.port().to_be_bytes());
        Ok(())
    }

    /// Parses `ATYP ‖ address ‖ port` from the front of `buf`.
    /// `Ok(None)` means more bytes are needed; `Ok(Some((addr, used)))`.
    pub fn decode(buf: &[u8]) -> Result<Option<(TargetAddr, usize)>, AddrError> {
        let Some(&atyp) = buf.first() else {
            return Ok(None);
        };
        let (addr_len, body_start) = match atyp {
            ATYP_V4 => (4, 1),
            ATYP_V6 => (16, 1),
            ATYP_DOMAIN => match buf.get(1) {
                None => return Ok(None),
                Some(0) => return Err(AddrError::EmptyName),
                Some(&n) => (usize::from(n), 2),
            },
            other => return Err(AddrError::UnknownType(other)),
        };
        let end = body_start + addr_len;
        let (Some(body), Some(port)) = (buf.get(body_start..end), buf.get(end..end + 2)) else {
            return Ok(None);
        };
        let port = u16::from_be_bytes([port[0], port[1]]);
        let target = match atyp {
            ATYP_V4 => {
                let mut o = [0u8; 4];
                o.copy_from_slice(body);
                TargetAddr::Ip(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(o)), port))
            }
            ATYP_V6 => {
                let mut o = [0u8; 16];
                o.copy_from_slice(body);
                TargetAddr::Ip(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(o)), port))
            }
            _ => {
                validate_name(body)?;
                // validate_name admits only ASCII, so this cannot fail.
                let name = String::from_utf8(body.to_vec()).map_err(|_| AddrError::BadName)?;
                TargetAddr::Domain(name, port)
            }
        };
        Ok(Some((target, end + 2)))
    }
}

impl fmt::Display for TargetAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetAddr::Ip(a) => write!(f, "{a}"),
            TargetAddr::Domain(n, p) => write!(f, "{n}:{p}"),
        }
    }
}

/// Names are printable ASCII without spaces: anything else (NUL, control
/// bytes, raw UTF-8) is a smuggling attempt or a bug, never a real host.
fn validate_name(name: &[u8]) -> Result<(), AddrError> {
    if name.is_empty() {
        return Err(AddrError::EmptyName);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(AddrError::NameTooLong(name.len()));
    }
    if !name.iter().all(|b| b.is_ascii_graphic()) {
        return Err(AddrError::BadName);
    }
    Ok(())
}

/// Why an address could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddrError {
    #[error("unknown address type {0:#04x}")]
    UnknownType(u8),
    #[error("empty domain name")]
    EmptyName,
    #[error("domain name of {0} bytes exceeds {MAX_NAME_LEN}")]
    NameTooLong(usize),
    #[error("domain name holds bytes other than printable ASCII")]
    BadName,
}
