//! Simulation of the PACOM network's growth by the join process of §3.3,
//! for the average-shortest-path experiment of §6 (Fig. 10).
//!
//! Clients arrive one by one. Each newcomer draws how many swarms it wants
//! (the geometric law), discovers that many active bootstrap nodes (or all of
//! them if fewer), and joins the swarm each one advertises, connecting to its
//! current members. If fewer than `bootstrap_nodes` bootstrap nodes are active
//! it becomes one: it creates c swarms with Pareto caps and is their first
//! member. A bootstrap node whose swarms are all full stops (Case 1). After
//! each arrival, with probability `rejoin_fraction`, a random earlier client
//! rejoins: it joins the advertised swarm of one active bootstrap node, as a
//! client that finished its PACOM file does; it keeps its old connections
//! (it still seeds). Every client keeps at most `max_connections` neighbours
//! (a connection needs room at both ends). Everything is a function of `seed`.

use std::collections::VecDeque;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::bootstrap::{sample_file_count, sample_swarm_cap};

/// Parameters of one simulated network.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TopologyParams {
    pub clients: u32,
    /// Target number of active bootstrap nodes (10 in the paper's Fig. 10).
    pub bootstrap_nodes: u32,
    /// Probability, per arrival, that an earlier client rejoins.
    pub rejoin_fraction: f64,
    /// Connection limit per client (100 in the paper).
    pub max_connections: u32,
    /// BFS sources for the path-length estimate (all clients if larger than n).
    pub bfs_sources: u32,
    pub seed: u64,
}

impl TopologyParams {
    /// The paper's settings for `clients` clients and the given rejoin fraction.
    pub fn paper(clients: u32, rejoin_fraction: f64, seed: u64) -> Self {
        Self {
            clients,
            bootstrap_nodes: 10,
            rejoin_fraction,
            max_connections: 100,
            bfs_sources: 64,
            seed,
        }
    }
}

/// Summary of a simulated network.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TopologyStats {
    pub clients: u32,
    pub edges: u64,
    pub mean_degree: f64,
    /// Mean hop count over reachable (source, target) pairs.
    pub avg_shortest_path: f64,
    /// Fraction of sampled (source, target) pairs that are connected.
    pub reachable_fraction: f64,
    /// Clients that served as bootstrap nodes at some point.
    pub bootstrap_nodes_created: u32,
}

struct Swarm {
    members: Vec<u32>,
    cap: u32,
}

struct BootstrapNode {
    swarms: Vec<usize>,
    advertised: Option<usize>,
}

/// The simulated network: adjacency lists plus the join machinery.
pub struct Network {
    adjacency: Vec<Vec<u32>>,
    swarms: Vec<Swarm>,
    active: Vec<BootstrapNode>,
    created: u32,
    params: TopologyParams,
    rng: ChaCha20Rng,
}

impl Network {
    /// Grows a network with `params.clients` clients.
    pub fn build(params: TopologyParams) -> Self {
        let mut net = Self {
            adjacency: Vec::with_capacity(params.clients as usize),
            swarms: Vec::new(),
            active: Vec::new(),
            created: 0,
            params,
            rng: ChaCha20Rng::seed_from_u64(params.seed),
        };
        for _ in 0..params.clients {
            net.arrive();
            if net.adjacency.len() > 1 && net.rng.gen_bool(params.rejoin_fraction.clamp(0.0, 1.0)) {
                let existing = net.adjacency.len() as u32 - 1;
                let who = net.rng.gen_range(0..existing);
                net.join_one(who);
            }
        }
        net
    }

    /// Neighbours of every client.
    pub fn adjacency(&self) -> &[Vec<u32>] {
        &self.adjacency
    }

    fn arrive(&mut self) {
        let me = self.adjacency.len() as u32;
        self.adjacency.push(Vec::new());
        let wanted = usize::from(sample_file_count(&mut self.rng));
        let mut order: Vec<usize> = (0..self.active.len()).collect();
        order.shuffle(&mut self.rng);
        for &b in order.iter().take(wanted) {
            self.join_advertised(me, b);
        }
        self.active.retain(|b| b.advertised.is_some());
        if (self.active.len() as u32) < self.params.bootstrap_nodes {
            self.become_bootstrap(me);
        }
    }

    /// A rejoin: one swarm from one random active bootstrap node.
    fn join_one(&mut self, who: u32) {
        if self.active.is_empty() {
            return;
        }
        let b = self.rng.gen_range(0..self.active.len());
        self.join_advertised(who, b);
        self.active.retain(|b| b.advertised.is_some());
    }

    /// Joins the swarm bootstrap node `b` advertises, then lets it re-pick (Case 2)
    /// or stop (Case 1).
    fn join_advertised(&mut self, who: u32, b: usize) {
        let Some(s) = self.active[b].advertised else {
            return;
        };
        if self.swarms[s].members.contains(&who) {
            return;
        }
        let members = self.swarms[s].members.clone();
        for m in members {
            self.connect(who, m);
        }
        self.swarms[s].members.push(who);
        let open: Vec<usize> = self.active[b]
            .swarms
            .iter()
            .copied()
            .filter(|&s| (self.swarms[s].members.len() as u32) < self.swarms[s].cap)
            .collect();
        self.active[b].advertised = open.choose(&mut self.rng).copied();
    }

    fn become_bootstrap(&mut self, me: u32) {
        let c = sample_file_count(&mut self.rng);
        let mut owned = Vec::with_capacity(usize::from(c));
        for _ in 0..c {
            let cap = sample_swarm_cap(&mut self.rng);
            owned.push(self.swarms.len());
            self.swarms.push(Swarm {
                members: vec![me],
                cap,
            });
        }
        let advertised = owned.choose(&mut self.rng).copied();
        self.active.push(BootstrapNode {
            swarms: owned,
            advertised,
        });
        self.created += 1;
    }

    fn connect(&mut self, a: u32, b: u32) {
        let limit = self.params.max_connections as usize;
        let (ai, bi) = (a as usize, b as usize);
        if a == b
            || self.adjacency[ai].len() >= limit
            || self.adjacency[bi].len() >= limit
            || self.adjacency[ai].contains(&b)
        {
            return;
        }
        self.adjacency[ai].push(b);
        self.adjacency[bi].push(a);
    }

    /// Average shortest path from sampled sources (BFS), plus connectivity.
    pub fn stats(&mut self) -> TopologyStats {
        let n = self.adjacency.len();
        let mut sources: Vec<u32> = (0..n as u32).collect();
        if self.params.bfs_sources < n as u32 {
            sources.shuffle(&mut self.rng);
            sources.truncate(self.params.bfs_sources as usize);
        }
        let (mut hops, mut reached, mut pairs) = (0u64, 0u64, 0u64);
        let mut dist = vec![u32::MAX; n];
        let mut queue = VecDeque::new();
        for &s in &sources {
            dist.fill(u32::MAX);
            dist[s as usize] = 0;
            queue.push_back(s);
            while let Some(u) = queue.pop_front() {
                let du = dist[u as usize];
                for &v in &self.adjacency[u as usize] {
                    if dist[v as usize] == u32::MAX {
                        dist[v as usize] = du + 1;
                        hops += u64::from(du + 1);
                        reached += 1;
                        queue.push_back(v);
                    }
                }
            }
            pairs += n as u64 - 1;
        }
        let edges = self.adjacency.iter().map(|a| a.len() as u64).sum::<u64>() / 2;
        TopologyStats {
            clients: n as u32,
            edges,
            mean_degree: if n == 0 {
                0.0
            } else {
                2.0 * edges as f64 / n as f64
            },
            avg_shortest_path: if reached == 0 {
                0.0
            } else {
                hops as f64 / reached as f64
            },
            reachable_fraction: if pairs == 0 {
                1.0
            } else {
                reached as f64 / pairs as f64
            },
            bootstrap_nodes_created: self.created,
        }
    }
}

/// Builds the network and measures it.
pub fn simulate(params: TopologyParams) -> TopologyStats {
    Network::build(params).stats()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_network_is_connected_bounded_and_deterministic() {
        let params = TopologyParams::paper(512, 0.05, 7);
        let a = simulate(params);
        let b = simulate(params);
        assert_eq!(a, b);
        assert_eq!(a.clients, 512);
        assert!(a.reachable_fraction > 0.99, "{a:?}");
        assert!(
            a.avg_shortest_path > 1.0 && a.avg_shortest_path < 20.0,
            "{a:?}"
        );
        assert!(a.bootstrap_nodes_created >= 10);
        let net = Network::build(params);
        assert!(net.adjacency().iter().all(|n| n.len() <= 100));
        let other = simulate(TopologyParams { seed: 8, ..params });
        assert_ne!(a, other);
    }

    #[test]
    fn rejoining_shortens_paths() {
        let none = simulate(TopologyParams::paper(2048, 0.0, 1));
        let some = simulate(TopologyParams::paper(2048, 0.10, 1));
        assert!(
            some.avg_shortest_path < none.avg_shortest_path,
            "{some:?} vs {none:?}"
        );
    }
}
