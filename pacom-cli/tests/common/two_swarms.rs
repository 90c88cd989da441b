//! The shape of the paper's Fig. 11 with real `pacom run` processes: two
//! overlapping PACOM swarms, S1 = {n1, n2, n3} and S2 = {n3, n4, n5}, each
//! a full mesh, n3 in both. n1 and n5 share no swarm, so every circuit
//! between them crosses n3. n1 knows n5 as a contact and offers SOCKS5
//! with n5 as exit; n5 lets its streams reach loopback (an echo server).

use std::time::Instant;

use super::{free_port, Node};

pub struct TwoSwarms {
    /// n1 … n5 at indices 0 … 4.
    pub nodes: Vec<Node>,
    /// n1's SOCKS5 address.
    pub socks: String,
}

impl TwoSwarms {
    /// Starts the five nodes (links at `link_rate` blocks/s, PACOM files of
    /// `file_size` bytes) and waits until every link is up.
    pub fn start(link_rate: &str, file_size: u64, seeds: [&str; 2]) -> TwoSwarms {
        let t0 = Instant::now();
        let mut n: Vec<Node> = (0..5)
            .map(|_| Node::init_with(link_rate, file_size))
            .collect();
        let n5 = n[4].contact();
        n[0].add_contact("n5", &n5);
        n[4].set_config("exit", "enabled", "true");
        n[4].set_config("exit", "allow_loopback", "true");
        let socks = format!("127.0.0.1:{}", free_port());
        n[0].set_config("socks", "listen", &format!("\"{socks}\""));
        n[0].set_config("socks", "exits", r#"["n5"]"#);
        let [s1, s2] = seeds;
        n[2].add_swarm(s1, &[]);
        n[2].add_swarm(s2, &[]);
        n[2].start();
        let a3 = n[2].addr().to_string();
        n[1].add_swarm(s1, &[&a3]);
        n[3].add_swarm(s2, &[&a3]);
        n[1].start();
        n[3].start();
        let (a2, a4) = (n[1].addr().to_string(), n[3].addr().to_string());
        n[0].add_swarm(s1, &[&a2, &a3]);
        n[4].add_swarm(s2, &[&a3, &a4]);
        n[0].start();
        n[4].start();
        assert_eq!(n[0].socks.as_deref(), Some(socks.as_str()));
        for (node, want) in n.iter().zip([2, 2, 4, 2, 2]) {
            node.wait_neighbours(want);
        }
        eprintln!("two swarms up after {:?}", t0.elapsed());
        TwoSwarms { nodes: n, socks }
    }

    pub fn stop(&mut self) {
        for n in self.nodes.iter_mut() {
            n.stop();
        }
    }
}
