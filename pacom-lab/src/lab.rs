//! Bringing a topology up and tearing it down.

use std::net::Ipv4Addr;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::capture::Capture;
use crate::error::LabError;
use crate::netns::{self, run, PREFIX};
use crate::switch::{FrameLog, Switch, SwitchConfig, SwitchStats};
use crate::topology::{Host, Topology};

/// Distinguishes labs of one process (tests run several at once).
static NEXT_LAB: AtomicU32 = AtomicU32::new(0);

/// Offloads that make forwarded frames corrupt or oversized through a
/// userspace switch (checksums left to hardware, super-frames from GSO/GRO).
const OFFLOADS_OFF: [&str; 8] = ["tx", "off", "tso", "off", "gso", "off", "gro", "off"];

/// A running emulated network. Everything is removed on drop.
pub struct Lab {
    id: u32,
    hosts: Vec<Host>,
    /// Created namespaces, in creation order (the switch first).
    namespaces: Vec<String>,
    switch: Option<Switch>,
}

impl Lab {
    /// Creates one namespace per host plus a switch namespace, wires them
    /// with veth pairs, and starts the switch. Namespaces of dead earlier runs
    /// are removed first. On error, whatever was built is torn down.
    pub fn up(topology: &Topology) -> Result<Lab, LabError> {
        topology.validate()?;
        netns::remove_stale()?;
        let hosts = topology.hosts()?;
        let (links, default_link) = topology.link_table()?;
        let id = NEXT_LAB.fetch_add(1, Ordering::Relaxed);
        let mut lab = Lab {
            id,
            hosts,
            namespaces: Vec::new(),
            switch: None,
        };
        let sw = lab.switch_namespace();
        netns::add(&sw)?;
        lab.namespaces.push(sw.clone());
        let mut ports = Vec::new();
        for (i, h) in lab.hosts.clone().iter().enumerate() {
            let ns = lab.host_namespace(&h.name);
            netns::add(&ns)?;
            lab.namespaces.push(ns.clone());
            let port = format!("p{i}");
            run(
                "ip",
                &[
                    "-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                    "netns", &ns,
                ],
            )?;
            let mac = lab.mac(i);
            run("ip", &["-n", &ns, "link", "set", "eth0", "address", &mac])?;
            run(
                "ip",
                &[
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{}/{}", h.addr, h.prefix),
                    "dev",
                    "eth0",
                ],
            )?;
            for (n, dev) in [(&ns, "eth0"), (&sw, port.as_str())] {
                let mut args = vec!["netns", "exec", n.as_str(), "ethtool", "-K", dev];
                args.extend(OFFLOADS_OFF);
                run("ip", &args)?;
                run("ip", &["-n", n, "link", "set", dev, "up"])?;
            }
            run("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
            if let Some(kbit) = h.rate_kbit {
                // Token bucket on the host's egress: the kernel has tbf even
                // without netem. Burst: 10 ms at the rate, at least 2 frames.
                let rate = format!("{kbit}kbit");
                let burst = format!("{}", (kbit * 10 / 8).max(3028));
                run(
                    "ip",
                    &[
                        "netns", "exec", &ns, "tc", "qdisc", "add", "dev", "eth0", "root", "tbf",
                        "rate", &rate, "burst", &burst, "latency", "200ms",
                    ],
                )?;
            }
            ports.push(port);
        }
        // Static neighbours: no ARP, so loss on a link never turns into
        // address-resolution stalls that would distort measurements.
        for (i, h) in lab.hosts.iter().enumerate() {
            let ns = lab.host_namespace(&h.name);
            for (j, other) in lab.hosts.iter().enumerate() {
                if i != j {
                    let ip = other.addr.to_string();
                    let mac = lab.mac(j);
                    run(
                        "ip",
                        &[
                            "-n",
                            &ns,
                            "neigh",
                            "replace",
                            &ip,
                            "lladdr",
                            &mac,
                            "dev",
                            "eth0",
                            "nud",
                            "permanent",
                        ],
                    )?;
                }
            }
        }
        lab.switch = Some(Switch::start(SwitchConfig {
            namespace: sw,
            ports,
            links,
            default_link,
            seed: topology.seed,
        })?);
        Ok(lab)
    }

    fn switch_namespace(&self) -> String {
        format!("{PREFIX}{}-{}-sw", std::process::id(), self.id)
    }

    fn host_namespace(&self, host: &str) -> String {
        format!("{PREFIX}{}-{}-h-{host}", std::process::id(), self.id)
    }

    /// Locally administered MAC of host `i` in this lab.
    fn mac(&self, i: usize) -> String {
        format!(
            "02:70:{:02x}:{:02x}:{:02x}:{:02x}",
            (self.id >> 8) & 0xff,
            self.id & 0xff,
            (i >> 8) & 0xff,
            i & 0xff
        )
    }

    fn host(&self, name: &str) -> Result<&Host, LabError> {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .ok_or_else(|| LabError::UnknownHost(name.into()))
    }

    /// The namespace that emulates `host` (for `ip netns exec` or tshark).
    pub fn namespace(&self, host: &str) -> Result<String, LabError> {
        self.host(host).map(|h| self.host_namespace(&h.name))
    }

    /// The IPv4 address of `host`.
    pub fn addr(&self, host: &str) -> Result<Ipv4Addr, LabError> {
        self.host(host).map(|h| h.addr)
    }

    /// Host names, in topology order.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.hosts.iter().map(|h| h.name.as_str())
    }

    /// Every namespace this lab created (switch first).
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    /// A command that will run `program` inside `host`'s namespace; add
    /// arguments and spawn it. Processes still running at drop are killed.
    pub fn command(&self, host: &str, program: &str) -> Result<Command, LabError> {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.namespace(host)?, program]);
        Ok(c)
    }

    /// Spawns `program args…` inside `host`'s namespace.
    pub fn exec(&self, host: &str, program: &str, args: &[&str]) -> Result<Child, LabError> {
        self.command(host, program)?
            .args(args)
            .spawn()
            .map_err(|e| LabError::io(format!("spawning {program} in {host}"), e))
    }

    /// Runs `f` on a thread inside `host`'s namespace (sockets it creates
    /// live there) and returns its result.
    pub fn run_in<T: Send>(&self, host: &str, f: impl FnOnce() -> T + Send) -> Result<T, LabError> {
        netns::run_in(&self.namespace(host)?, f)
    }

    /// Captures `host`'s link (its `eth0`) into the pcapng file `path` with
    /// tshark; returns once tshark reports that capturing has started.
    pub fn capture(&self, host: &str, path: &std::path::Path) -> Result<Capture, LabError> {
        Capture::start(&self.namespace(host)?, "eth0", path)
    }

    /// Index of `host` in topology order (its switch port, as in
    /// [`crate::FrameRecord`]).
    pub fn host_index(&self, host: &str) -> Result<usize, LabError> {
        self.hosts
            .iter()
            .position(|h| h.name == host)
            .ok_or_else(|| LabError::UnknownHost(host.into()))
    }

    /// The switch's frame log (start it, run traffic, take the records).
    pub fn frame_log(&self) -> Arc<FrameLog> {
        self.switch
            .as_ref()
            .map(|s| s.log.clone())
            .unwrap_or_default()
    }

    /// Live counters of the switch.
    pub fn switch_stats(&self) -> Arc<SwitchStats> {
        self.switch
            .as_ref()
            .map(|s| s.stats.clone())
            .unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Stop the switch first: its sockets keep the switch namespace alive.
        self.switch = None;
        for ns in self.namespaces.iter().rev() {
            if let Err(e) = netns::delete(ns) {
                eprintln!("pacom-lab: removing namespace {ns}: {e}");
            }
        }
    }
}
