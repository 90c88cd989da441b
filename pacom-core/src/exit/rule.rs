//! One operator-written exit policy rule, e.g. `accept 127.0.0.1/32:8000-9000`
//! or `reject *:25`.

use std::net::IpAddr;
use std::str::FromStr;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Action {
    Accept,
    Reject,
}

/// An inclusive port range.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl PortRange {
    pub const ALL: PortRange = PortRange {
        lo: 0,
        hi: u16::MAX,
    };

    pub fn contains(&self, port: u16) -> bool {
        self.lo <= port && port <= self.hi
    }
}

/// `action address[/prefix][:ports]`; `net: None` is `*` (any address).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Rule {
    pub action: Action,
    pub net: Option<(IpAddr, u8)>,
    pub ports: PortRange,
}

impl Rule {
    /// True if the rule covers `ip` (already canonical) and `port`.
    pub fn matches(&self, ip: IpAddr, port: u16) -> bool {
        self.ports.contains(port)
            && match self.net {
                None => true,
                Some((net, len)) => in_prefix(ip, net, len),
            }
    }
}

/// True if `ip` lies in `net/len`; families never match each other.
pub(crate) fn in_prefix(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// What was wrong with a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyErrorKind {
    #[error("expected `accept|reject ADDRESS[/PREFIX][:PORTS]`")]
    Syntax,
    #[error("unknown action {0:?}")]
    UnknownAction(String),
    #[error("bad address {0:?}")]
    BadAddress(String),
    #[error("bad prefix length {0:?}")]
    BadPrefix(String),
    #[error("bad port range {0:?}")]
    BadPorts(String),
}

/// A rule that could not be parsed, with the rule's text for context.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad exit policy rule {rule:?}: {kind}")]
pub struct PolicyError {
    pub rule: String,
    pub kind: PolicyErrorKind,
}

impl FromStr for Rule {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |kind| PolicyError {
            rule: s.to_string(),
            kind,
        };
        let mut words = s.split_whitespace();
        let (Some(action), Some(spec), None) = (words.next(), words.next(), words.next()) else {
            return Err(err(PolicyErrorKind::Syntax));
        };
        let action = match action.to_ascii_lowercase().as_str() {
            "accept" | "allow" => Action::Accept,
            "reject" | "deny" => Action::Reject,
            _ => return Err(err(PolicyErrorKind::UnknownAction(action.to_string()))),
        };
        let (net, ports) = parse_spec(spec).map_err(err)?;
        Ok(Rule { action, net, ports })
    }
}

/// Splits `ADDRESS[/PREFIX][:PORTS]`; IPv6 addresses go in brackets, with
/// the prefix inside or after them (`[fe80::]/10` or `[fe80::/10]`).
fn parse_spec(spec: &str) -> Result<(Option<(IpAddr, u8)>, PortRange), PolicyErrorKind> {
    let (addr, ports) = if let Some(rest) = spec.strip_prefix('[') {
        let (inside, after) = rest
            .split_once(']')
            .ok_or_else(|| PolicyErrorKind::BadAddress(spec.to_string()))?;
        let (prefix, ports) = match after.split_once(':') {
            Some((p, ports)) => (p, Some(ports)),
            None => (after, None),
        };
        let addr = match prefix.strip_prefix('/') {
            Some(len) if !inside.contains('/') => format!("{inside}/{len}"),
            None if prefix.is_empty() => inside.to_string(),
            _ => return Err(PolicyErrorKind::BadAddress(spec.to_string())),
        };
        (addr, ports)
    } else {
        match spec.split_once(':') {
            Some((a, p)) => (a.to_string(), Some(p)),
            None => (spec.to_string(), None),
        }
    };
    let ports = match ports {
        None => PortRange::ALL,
        Some(p) => parse_ports(p)?,
    };
    if addr == "*" {
        return Ok((None, ports));
    }
    let (ip, len) = match addr.split_once('/') {
        Some((ip, len)) => (ip, Some(len)),
        None => (addr.as_str(), None),
    };
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| PolicyErrorKind::BadAddress(ip.to_string()))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => return Err(PolicyErrorKind::BadPrefix(l.to_string())),
        },
    };
    Ok((Some((ip, len)), ports))
}

fn parse_ports(p: &str) -> Result<PortRange, PolicyErrorKind> {
    let bad = || PolicyErrorKind::BadPorts(p.to_string());
    if p == "*" {
        return Ok(PortRange::ALL);
    }
    let (lo, hi) = p.split_once('-').unwrap_or((p, p));
    let lo: u16 = lo.parse().map_err(|_| bad())?;
    let hi: u16 = hi.parse().map_err(|_| bad())?;
    if lo > hi {
        return Err(bad());
    }
    Ok(PortRange { lo, hi })
}
