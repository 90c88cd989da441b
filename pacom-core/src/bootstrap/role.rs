//! When a node looks a decoded swarm up, becomes a bootstrap node, or
//! bootstraps again (paper §3.3): the decisions, fed `now`, without I/O.
//!
//! A node watches the HAVE orders of the popular torrent's peers. Each new
//! (peer IP, x) it decodes is worth one DHT lookup (again after a while: the
//! node may have announced late). A lookup that finds peers makes that IP a
//! known bootstrap node and its swarm one to join, up to `max_swarms`. After
//! watching for `watch`, a node that knows fewer than `min_bootstrap_nodes`
//! bootstrap nodes becomes one itself, at most once: a second role would
//! draw the same (x, IP, date) seeds as the first and collide with its
//! swarms. When a joined swarm completes, or every swarm has been gone for
//! `lost_after`, the node watches afresh and looks swarms up again.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;

/// Thresholds of the joining procedure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleConfig {
    /// Bootstrap nodes a node wants to see; with fewer it becomes one.
    pub min_bootstrap_nodes: usize,
    /// How long to watch HAVE orders before counting bootstrap nodes.
    pub watch: Duration,
    /// A (peer IP, x) already looked up may be looked up again after this.
    pub lookup_retry: Duration,
    /// Swarms to be in at most (several bootstrap nodes: several swarms).
    pub max_swarms: usize,
    /// With no swarm left for this long after having one, bootstrap again.
    pub lost_after: Duration,
}

impl Default for RoleConfig {
    /// Two bootstrap nodes wanted within five minutes, lookups retried after
    /// two minutes, up to three swarms, one minute without any swarm.
    fn default() -> Self {
        Self {
            min_bootstrap_nodes: 2,
            watch: Duration::from_secs(300),
            lookup_retry: Duration::from_secs(120),
            max_swarms: 3,
            lost_after: Duration::from_secs(60),
        }
    }
}

/// What the I/O side should do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleAction {
    /// Derive swarm x of the bootstrap node at `ip` for each candidate date
    /// and look its info hash up on the DHT; report with
    /// [`JoinPlanner::on_lookup`].
    Lookup { ip: IpAddr, x: u8 },
    /// Start the bootstrap role: draw c, create and announce the swarms,
    /// hide x in the popular torrent's HAVE order.
    BecomeBootstrap,
    /// A swarm completed or all were lost: decoded swarms are looked up
    /// again from now on.
    Rebootstrap,
}

/// The joining decisions of one node.
#[derive(Debug)]
pub struct JoinPlanner {
    cfg: RoleConfig,
    watch_since: Duration,
    looked_up: HashMap<(IpAddr, u8), Duration>,
    bootstrap_nodes: HashSet<IpAddr>,
    swarms: HashSet<[u8; 20]>,
    no_swarm_since: Option<Duration>,
    became_bootstrap: bool,
}

impl JoinPlanner {
    /// Starts watching at `now`.
    pub fn new(cfg: RoleConfig, now: Duration) -> Self {
        Self {
            cfg,
            watch_since: now,
            looked_up: HashMap::new(),
            bootstrap_nodes: HashSet::new(),
            swarms: HashSet::new(),
            no_swarm_since: None,
            became_bootstrap: false,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &RoleConfig {
        &self.cfg
    }

    /// The peer at `ip` hides `x`: a lookup when it is new or due again and
    /// the node wants more swarms.
    pub fn on_decoded(&mut self, now: Duration, ip: IpAddr, x: u8) -> Option<RoleAction> {
        if self.swarms.len() >= self.cfg.max_swarms {
            return None;
        }
        if let Some(&last) = self.looked_up.get(&(ip, x)) {
            if now.saturating_sub(last) < self.cfg.lookup_retry {
                return None;
            }
        }
        self.looked_up.insert((ip, x), now);
        Some(RoleAction::Lookup { ip, x })
    }

    /// The result of a lookup: `found` is true when its swarm had peers.
    pub fn on_lookup(&mut self, ip: IpAddr, found: bool) {
        if found {
            self.bootstrap_nodes.insert(ip);
        }
    }

    /// Whether the node should join one more swarm.
    pub fn wants_swarm(&self) -> bool {
        self.swarms.len() < self.cfg.max_swarms
    }

    /// The node is now in `swarm` (joined, or created as a bootstrap node).
    pub fn on_joined(&mut self, swarm: [u8; 20]) {
        self.swarms.insert(swarm);
        self.no_swarm_since = None;
    }

    /// The node left `swarm`; `complete` when it left because the PACOM
    /// file is complete (then it rejoins elsewhere at once).
    pub fn on_swarm_ended(
        &mut self,
        now: Duration,
        swarm: [u8; 20],
        complete: bool,
    ) -> Option<RoleAction> {
        if !self.swarms.remove(&swarm) {
            return None;
        }
        if self.swarms.is_empty() {
            self.no_swarm_since = Some(now);
        }
        complete.then(|| self.rebootstrap(now))
    }

    /// Time-driven decisions: become a bootstrap node, or bootstrap again
    /// when every swarm has been gone too long.
    pub fn poll(&mut self, now: Duration) -> Vec<RoleAction> {
        let mut out = Vec::new();
        if !self.became_bootstrap
            && now.saturating_sub(self.watch_since) >= self.cfg.watch
            && self.bootstrap_nodes.len() < self.cfg.min_bootstrap_nodes
        {
            self.became_bootstrap = true;
            out.push(RoleAction::BecomeBootstrap);
        }
        if let Some(since) = self.no_swarm_since {
            if now.saturating_sub(since) >= self.cfg.lost_after {
                out.push(self.rebootstrap(now));
            }
        }
        out
    }

    /// Bootstrap nodes found (lookups that found peers) since the last rebootstrap.
    pub fn bootstrap_nodes(&self) -> usize {
        self.bootstrap_nodes.len()
    }

    /// Swarms the node is in.
    pub fn swarms(&self) -> usize {
        self.swarms.len()
    }

    /// Whether the bootstrap role was taken.
    pub fn is_bootstrap(&self) -> bool {
        self.became_bootstrap
    }

    /// Marks the bootstrap role as taken (a node configured to start as one).
    pub fn set_bootstrap(&mut self) {
        self.became_bootstrap = true;
    }

    fn rebootstrap(&mut self, now: Duration) -> RoleAction {
        self.watch_since = now;
        self.looked_up.clear();
        self.bootstrap_nodes.clear();
        self.no_swarm_since = None;
        RoleAction::Rebootstrap
    }
}
