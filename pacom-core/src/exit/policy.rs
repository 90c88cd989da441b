//! Which destinations an exit will connect to.
//!
//! Order of evaluation: addresses that are never a valid TCP destination
//! (unspecified, multicast, broadcast) are always refused, since on Linux
//! `0.0.0.0` reaches the exit's own host; then the operator's rules, first
//! match wins; then the defaults, which keep the exit from being used to
//! reach its own host or network: private, loopback (unless
//! [`ExitPolicy::allow_loopback`]), link-local, and SMTP (port 25, spam).
//! IPv4-mapped IPv6 addresses are checked as the IPv4 address they are.

use super::rule::{in_prefix, Action, Rule};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why a destination was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RejectReason {
    /// The operator's rule at this index (0-based) rejected it.
    Rule(usize),
    Unspecified,
    Multicast,
    Broadcast,
    Loopback,
    Private,
    LinkLocal,
    Smtp,
    /// A name resolved to no address at all.
    NoAddress,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verdict {
    Accept,
    Reject(RejectReason),
}

/// An exit policy: operator rules in front of safe defaults.
#[derive(Clone, Debug, Default)]
pub struct ExitPolicy {
    rules: Vec<Rule>,
    allow_loopback: bool,
}

const PRIVATE_V4: [(Ipv4Addr, u8); 4] = [
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
    (Ipv4Addr::new(100, 64, 0, 0), 10),
];
const SMTP: u16 = 25;

impl ExitPolicy {
    /// The default policy: no rules, loopback refused.
    pub fn new() -> Self {
        ExitPolicy::default()
    }

    /// Lets loopback destinations through the defaults (tests, or an exit
    /// fronting a local service). Off unless set explicitly.
    pub fn allow_loopback(mut self, allow: bool) -> Self {
        self.allow_loopback = allow;
        self
    }

    /// Appends rules written as in the config (`accept 127.0.0.1/32:8000-9000`).
    pub fn with_rules<'a>(
        mut self,
        rules: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, super::PolicyError> {
        for r in rules {
            self.rules.push(r.parse()?);
        }
        Ok(self)
    }

    pub fn push_rule(&mut self, rule: Rule) {
        self.rules.push(rule);
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The verdict for one resolved destination.
    pub fn check(&self, addr: &SocketAddr) -> Verdict {
        let ip = canonical(addr.ip());
        let port = addr.port();
        if let Some(r) = never_valid(ip) {
            return Verdict::Reject(r);
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.matches(ip, port) {
                return match rule.action {
                    Action::Accept => Verdict::Accept,
                    Action::Reject => Verdict::Reject(RejectReason::Rule(i)),
                };
            }
        }
        if is_loopback(ip) && !self.allow_loopback {
            return Verdict::Reject(RejectReason::Loopback);
        }
        if is_private(ip) {
            return Verdict::Reject(RejectReason::Private);
        }
        if is_link_local(ip) {
            return Verdict::Reject(RejectReason::LinkLocal);
        }
        if port == SMTP {
            return Verdict::Reject(RejectReason::Smtp);
        }
        Verdict::Accept
    }

    /// The verdict for every address a name resolved to: one refused
    /// address refuses the name, so a name cannot mix a public and a
    /// private record to reach the exit's network.
    pub fn check_all(&self, addrs: &[SocketAddr]) -> Verdict {
        if addrs.is_empty() {
            return Verdict::Reject(RejectReason::NoAddress);
        }
        addrs
            .iter()
            .map(|a| self.check(a))
            .find(|v| *v != Verdict::Accept)
            .unwrap_or(Verdict::Accept)
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is the IPv4 address it carries.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

fn never_valid(ip: IpAddr) -> Option<RejectReason> {
    match ip {
        IpAddr::V4(a) => {
            if a.octets()[0] == 0 {
                Some(RejectReason::Unspecified)
            } else if a.is_multicast() {
                Some(RejectReason::Multicast)
            } else if a.is_broadcast() || a.octets()[0] >= 240 {
                // 240/4 is reserved; 255.255.255.255 lies inside it.
                Some(RejectReason::Broadcast)
            } else {
                None
            }
        }
        IpAddr::V6(a) => {
            if a.is_unspecified() {
                Some(RejectReason::Unspecified)
            } else if a.is_multicast() {
                Some(RejectReason::Multicast)
            } else {
                None
            }
        }
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => PRIVATE_V4
            .iter()
            .any(|(n, l)| in_prefix(IpAddr::V4(a), IpAddr::V4(*n), *l)),
        IpAddr::V6(_) => in_prefix(
            ip,
            IpAddr::V6(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0)),
            7,
        ),
    }
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(_) => in_prefix(
            ip,
            IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0)),
            10,
        ),
    }
}
