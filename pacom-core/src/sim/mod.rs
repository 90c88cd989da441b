//! A discrete-event network simulator on a virtual clock.
//!
//! Nodes are real [`Node`]s; each neighbour link is an ideal ordered byte
//! pipe with a latency and a bandwidth, carrying the bytes in chunks the
//! size of a BitTorrent block. Only the simulator sees every node's table,
//! which is how it measures circuit lengths the endpoints cannot know.

pub mod topology;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::Duration;

use rand_chacha::ChaCha8Rng;

use crate::cell::HandshakeId;
use crate::circuit::NeighbourId;
use crate::session::{Event, Node};
pub use topology::{bfs, random_graph, Graph};

/// Bytes per delivery event (one block's worth).
pub const CHUNK: usize = 16 * 1024;

/// A simulated node.
pub type SimNode = Node<ChaCha8Rng>;

#[derive(Debug)]
struct Link {
    latency: Duration,
    bytes_per_sec: f64,
    busy_until: Duration,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Deliver {
        from: usize,
        to: usize,
        bytes: Vec<u8>,
    },
    Timer {
        node: usize,
    },
}

/// The simulated network.
pub struct Sim {
    nodes: Vec<SimNode>,
    alive: Vec<bool>,
    graph: Graph,
    links: BTreeMap<(usize, usize), Link>,
    queue: BinaryHeap<Reverse<(Duration, u64, Ev)>>,
    timer_at: Vec<Option<Duration>>,
    seq: u64,
    now: Duration,
    /// Application events, by node, in the order they happened.
    pub events: Vec<(Duration, usize, Event)>,
    /// Bytes carried over all links.
    pub bytes_carried: u64,
}

fn nid(i: usize) -> NeighbourId {
    NeighbourId(i as u64)
}

impl Sim {
    /// Wires `nodes` along `graph`; `link` gives each directed link's
    /// latency and bandwidth (bytes per second).
    pub fn new(
        nodes: Vec<SimNode>,
        graph: Graph,
        mut link: impl FnMut(usize, usize) -> (Duration, f64),
    ) -> Self {
        let n = nodes.len();
        let mut sim = Sim {
            nodes,
            alive: vec![true; n],
            graph,
            links: BTreeMap::new(),
            queue: BinaryHeap::new(),
            timer_at: vec![None; n],
            seq: 0,
            now: Duration::ZERO,
            events: Vec::new(),
            bytes_carried: 0,
        };
        for i in 0..n {
            let adj: Vec<usize> = sim.graph[i].iter().copied().collect();
            for j in adj {
                let (latency, bytes_per_sec) = link(i, j);
                sim.links.insert(
                    (i, j),
                    Link {
                        latency,
                        bytes_per_sec,
                        busy_until: Duration::ZERO,
                    },
                );
                sim.nodes[i].on_neighbour_up(nid(j), Duration::ZERO);
            }
        }
        sim
    }

    pub fn now(&self) -> Duration {
        self.now
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn node(&self, i: usize) -> &SimNode {
        &self.nodes[i]
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn alive(&self) -> &[bool] {
        &self.alive
    }

    /// Calls into node `i` at the current time, then collects its output.
    pub fn call<T>(&mut self, i: usize, f: impl FnOnce(&mut SimNode, Duration) -> T) -> T {
        let now = self.now;
        let r = f(&mut self.nodes[i], now);
        self.after_call(i);
        r
    }

    /// Puts raw bytes on the link `from → to` as if `from` wrote them
    /// (for misbehaving nodes: floods, replays, garbage).
    pub fn inject(&mut self, from: usize, to: usize, bytes: Vec<u8>) {
        self.transmit(from, to, bytes);
    }

    /// Removes node `i`. With `notify` its neighbours see their links go
    /// down; without, the node just falls silent (a black hole).
    pub fn remove_node(&mut self, i: usize, notify: bool) {
        self.alive[i] = false;
        if notify {
            let adj: Vec<usize> = self.graph[i].iter().copied().collect();
            for j in adj {
                if self.alive[j] {
                    let now = self.now;
                    self.nodes[j].on_neighbour_down(nid(i), now);
                    self.after_call(j);
                }
            }
        }
    }

    fn push(&mut self, at: Duration, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, ev)));
    }

    fn transmit(&mut self, from: usize, to: usize, bytes: Vec<u8>) {
        let Some(link) = self.links.get_mut(&(from, to)) else {
            return;
        };
        let mut deliveries = Vec::new();
        for chunk in bytes.chunks(CHUNK) {
            let start = link.busy_until.max(self.now);
            let tx = Duration::from_secs_f64(chunk.len() as f64 / link.bytes_per_sec);
            link.busy_until = start + tx;
            deliveries.push((start + tx + link.latency, chunk.to_vec()));
        }
        self.bytes_carried += bytes.len() as u64;
        for (at, bytes) in deliveries {
            self.push(at, Ev::Deliver { from, to, bytes });
        }
    }

    fn after_call(&mut self, i: usize) {
        let out = self.nodes[i].drain_outgoing();
        for (n, bytes) in out {
            self.transmit(i, n.0 as usize, bytes);
        }
        while let Some(e) = self.nodes[i].poll_event() {
            self.events.push((self.now, i, e));
        }
        if let Some(t) = self.nodes[i].poll_timeout() {
            if self.timer_at[i] != Some(t) {
                self.timer_at[i] = Some(t);
                self.push(t.max(self.now), Ev::Timer { node: i });
            }
        }
    }

    /// Runs events up to virtual time `until`, or until `stop` holds
    /// (checked after every event). Returns whether `stop` held.
    pub fn run_until(&mut self, until: Duration, mut stop: impl FnMut(&Sim) -> bool) -> bool {
        while let Some(Reverse((at, _, _))) = self.queue.peek() {
            if *at > until {
                break;
            }
            let Some(Reverse((at, _, ev))) = self.queue.pop() else {
                break;
            };
            self.now = self.now.max(at);
            match ev {
                Ev::Deliver { from, to, bytes } => {
                    if !self.alive[to] || !self.alive[from] {
                        continue;
                    }
                    let now = self.now;
                    // A malformed stream is the sender's fault; the node has
                    // already dropped that neighbour.
                    let _ = self.nodes[to].on_link_bytes(nid(from), &bytes, now);
                    self.after_call(to);
                }
                Ev::Timer { node } => {
                    if !self.alive[node] || self.timer_at[node] != Some(at) {
                        continue;
                    }
                    self.timer_at[node] = None;
                    let now = self.now;
                    self.nodes[node].handle_timeout(now);
                    self.after_call(node);
                }
            }
            if stop(self) {
                return true;
            }
        }
        self.now = self.now.max(until);
        stop(self)
    }

    /// Length in hops of circuit `h_id` leaving `source` towards `first`,
    /// following the relays' tables; `None` if it is broken.
    pub fn circuit_hops(
        &self,
        source: usize,
        h_id: HandshakeId,
        first: NeighbourId,
    ) -> Option<usize> {
        let (mut prev, mut cur, mut hops) = (source, first.0 as usize, 1);
        while hops <= self.nodes.len() {
            if !self.alive.get(cur).copied().unwrap_or(false) {
                return None;
            }
            let node = &self.nodes[cur];
            if node.has_circuit(h_id, nid(prev)) {
                return Some(hops);
            }
            let next = node.relay_next_hop(h_id, nid(prev))?;
            prev = cur;
            cur = next.0 as usize;
            hops += 1;
        }
        None
    }
}
