//! Topologies read from TOML: hosts with a private 10/8 address each, and
//! per-host-pair link parameters applied by the switch.
//!
//! ```toml
//! seed = 7                      # switch randomness (loss, jitter)
//! [[hosts]]
//! name = "a"
//! address = "10.77.0.1/24"
//! rate_mbit = 20.0              # optional egress cap (tbf)
//! [[hosts]]
//! name = "b"
//! address = "10.77.0.2/24"
//! [[links]]
//! a = "a"
//! b = "b"
//! delay_ms = 40.0               # one way, each direction
//! jitter_ms = 0.0               # uniform in [-jitter, +jitter], floored at 0
//! loss = 0.0                    # per frame, per direction
//! # reorder = false             # let jitter reorder frames of one direction
//! # [default_link]              # parameters for pairs without a link
//! # delay_ms = 1.0
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::error::LabError;
use crate::switch::LinkParams;

/// One emulated host.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// `[a-z0-9_-]`, at most 20 characters (it becomes part of a namespace name).
    pub name: String,
    /// `10.x.y.z/len`: only private addresses that exist inside our namespaces.
    pub address: String,
    /// Egress bandwidth cap of the host's link in Mbit/s (a tbf qdisc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_mbit: Option<f64>,
}

/// Parameters for the frames exchanged between two hosts.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct LinkSpec {
    pub a: String,
    pub b: String,
    #[serde(flatten)]
    pub params: LinkToml,
}

/// Link parameters as written in TOML.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LinkToml {
    #[serde(default)]
    pub delay_ms: f64,
    #[serde(default)]
    pub jitter_ms: f64,
    #[serde(default)]
    pub loss: f64,
    #[serde(default)]
    pub reorder: bool,
}

impl LinkToml {
    fn to_params(self) -> Result<LinkParams, LabError> {
        let ms = |what: &str, v: f64| {
            if v.is_finite() && (0.0..=60_000.0).contains(&v) {
                Ok(Duration::from_secs_f64(v / 1000.0))
            } else {
                Err(LabError::Topology(format!(
                    "{what} {v} ms is out of [0, 60000]"
                )))
            }
        };
        if !(0.0..=1.0).contains(&self.loss) {
            return Err(LabError::Topology(format!(
                "loss {} is not in [0, 1]",
                self.loss
            )));
        }
        Ok(LinkParams {
            delay: ms("delay", self.delay_ms)?,
            jitter: ms("jitter", self.jitter_ms)?,
            loss: self.loss,
            reorder: self.reorder,
        })
    }
}

/// A whole emulated network.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    #[serde(default)]
    pub seed: u64,
    pub hosts: Vec<HostSpec>,
    #[serde(default)]
    pub links: Vec<LinkSpec>,
    /// Parameters for host pairs without a link; `None`: they cannot talk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_link: Option<LinkToml>,
}

/// Directed (from port, to port) → parameters.
pub(crate) type LinkTable = BTreeMap<(usize, usize), LinkParams>;

/// A host after validation: index = switch port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Host {
    pub name: String,
    pub addr: Ipv4Addr,
    pub prefix: u8,
    /// Egress cap in kbit/s.
    pub rate_kbit: Option<u64>,
}

impl Topology {
    /// The topology as TOML (what [`Topology::from_toml`] reads).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a topology always serialises")
    }

    /// Parses and validates a TOML topology.
    pub fn from_toml(text: &str) -> Result<Self, LabError> {
        let t: Topology = toml::from_str(text)?;
        t.validate()?;
        Ok(t)
    }

    /// Every pair of `names` linked with a one-way delay drawn uniformly from
    /// `[min_ms, max_ms]` (the paper's §6.4 uses [1, 100]); addresses
    /// 10.`net`.0.1, .2, … /24.
    pub fn full_mesh(names: &[&str], net: u8, min_ms: f64, max_ms: f64, seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let hosts = names
            .iter()
            .enumerate()
            .map(|(i, n)| HostSpec {
                name: n.to_string(),
                address: format!("10.{net}.{}.{}/16", (i + 1) / 250, (i + 1) % 250 + 1),
                rate_mbit: None,
            })
            .collect();
        let mut links = Vec::new();
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                links.push(LinkSpec {
                    a: a.to_string(),
                    b: b.to_string(),
                    params: LinkToml {
                        delay_ms: rng.gen_range(min_ms..=max_ms),
                        ..LinkToml::default()
                    },
                });
            }
        }
        Topology {
            seed,
            hosts,
            links,
            default_link: None,
        }
    }

    /// Checks names, addresses and link parameters.
    pub fn validate(&self) -> Result<(), LabError> {
        self.hosts()?;
        self.link_table()?;
        Ok(())
    }

    pub(crate) fn hosts(&self) -> Result<Vec<Host>, LabError> {
        if self.hosts.is_empty() {
            return Err(LabError::Topology("no hosts".into()));
        }
        if self.hosts.len() > 200 {
            return Err(LabError::Topology("more than 200 hosts".into()));
        }
        let mut names = BTreeSet::new();
        let mut addrs = BTreeSet::new();
        let mut out = Vec::new();
        for h in &self.hosts {
            let ok = !h.name.is_empty()
                && h.name.len() <= 20
                && h.name.bytes().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-'
                });
            if !ok {
                return Err(LabError::Topology(format!("bad host name {:?}", h.name)));
            }
            if !names.insert(h.name.clone()) {
                return Err(LabError::Topology(format!("duplicate host {:?}", h.name)));
            }
            let (addr, prefix) = parse_cidr(&h.address)?;
            if !addrs.insert(addr) {
                return Err(LabError::Topology(format!("duplicate address {addr}")));
            }
            let rate_kbit = match h.rate_mbit {
                None => None,
                Some(r) if r.is_finite() && (0.01..=10_000.0).contains(&r) => {
                    Some((r * 1000.0) as u64)
                }
                Some(r) => {
                    return Err(LabError::Topology(format!(
                        "rate {r} Mbit/s out of [0.01, 10000]"
                    )))
                }
            };
            out.push(Host {
                name: h.name.clone(),
                addr,
                prefix,
                rate_kbit,
            });
        }
        Ok(out)
    }

    /// Directed per-port-pair parameters, plus the default.
    pub(crate) fn link_table(&self) -> Result<(LinkTable, Option<LinkParams>), LabError> {
        let index: BTreeMap<&str, usize> = self
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (h.name.as_str(), i))
            .collect();
        let mut table = BTreeMap::new();
        for l in &self.links {
            let a = *index
                .get(l.a.as_str())
                .ok_or_else(|| LabError::UnknownHost(l.a.clone()))?;
            let b = *index
                .get(l.b.as_str())
                .ok_or_else(|| LabError::UnknownHost(l.b.clone()))?;
            if a == b {
                return Err(LabError::Topology(format!("link from {} to itself", l.a)));
            }
            let p = l.params.to_params()?;
            if table.insert((a, b), p).is_some() {
                return Err(LabError::Topology(format!(
                    "two links between {} and {}",
                    l.a, l.b
                )));
            }
            table.insert((b, a), p);
        }
        let default = self.default_link.map(LinkToml::to_params).transpose()?;
        Ok((table, default))
    }
}

/// Parses `10.x.y.z/len`, refusing anything outside 10.0.0.0/8.
fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), LabError> {
    let bad = || LabError::Topology(format!("address {s:?} is not 10.x.y.z/len"));
    let (a, p) = s.split_once('/').ok_or_else(bad)?;
    let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
    let prefix: u8 = p.parse().map_err(|_| bad())?;
    if addr.octets()[0] != 10 || !(8..=30).contains(&prefix) {
        return Err(bad());
    }
    Ok((addr, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = r#"
        seed = 3
        [[hosts]]
        name = "a"
        address = "10.77.0.1/24"
        [[hosts]]
        name = "b"
        address = "10.77.0.2/24"
        [[links]]
        a = "a"
        b = "b"
        delay_ms = 40
        loss = 0.1
    "#;

    #[test]
    fn parses_and_builds_a_symmetric_table() {
        let t = Topology::from_toml(TWO).unwrap();
        let (table, default) = t.link_table().unwrap();
        assert_eq!(table.len(), 2);
        assert_eq!(table[&(1, 0)].delay, Duration::from_millis(40));
        assert_eq!(table[&(0, 1)].loss, 0.1);
        assert!(default.is_none());
    }

    #[test]
    fn rejects_public_addresses_bad_names_and_bad_loss() {
        let public = TWO.replace("10.77.0.2/24", "192.0.2.2/24");
        assert!(Topology::from_toml(&public).is_err());
        let name = TWO.replace("\"b\"", "\"B!\"");
        assert!(Topology::from_toml(&name).is_err());
        let loss = TWO.replace("loss = 0.1", "loss = 1.5");
        assert!(Topology::from_toml(&loss).is_err());
        let unknown = TWO.replace("b = \"b\"", "b = \"c\"");
        assert!(Topology::from_toml(&unknown).is_err());
    }

    #[test]
    fn shipped_topologies_parse_and_round_trip() {
        for text in [
            include_str!("../topologies/two-hosts.toml"),
            include_str!("../topologies/paper-fig11.toml"),
        ] {
            let t = Topology::from_toml(text).unwrap();
            assert_eq!(Topology::from_toml(&t.to_toml()).unwrap(), t);
        }
    }

    #[test]
    fn full_mesh_delays_lie_in_range() {
        let t = Topology::full_mesh(&["p1", "p2", "p3", "p4"], 80, 1.0, 100.0, 9);
        t.validate().unwrap();
        assert_eq!(t.links.len(), 6);
        assert!(t
            .links
            .iter()
            .all(|l| (1.0..=100.0).contains(&l.params.delay_ms)));
    }
}
