//! Fig. 10 of the paper: average shortest path of the PACOM network grown by
//! the join process, for 32 to 65,536 clients and rejoin fractions 0, 5, 10 %.
//!
//! `cargo run --release -p pacom-core --example topology_sweep [max_clients] [seed]`

use pacom_core::topology::{Network, TopologyParams};

fn main() {
    let mut args = std::env::args().skip(1);
    let max: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(65_536);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    println!("# avg shortest path (64 BFS sources); 10 bootstrap nodes, <= 100 connections");
    println!(
        "{:>8} | {:>20} | {:>20} | {:>20}",
        "clients", "0% rejoin", "5% rejoin", "10% rejoin"
    );
    println!(
        "{:>8} | {:>20} | {:>20} | {:>20}",
        "", "ASP (deg, reach)", "ASP (deg, reach)", "ASP (deg, reach)"
    );
    let mut n = 32;
    while n <= max {
        let cells: Vec<String> = [0.0, 0.05, 0.10]
            .iter()
            .map(|&r| {
                let s = Network::build(TopologyParams::paper(n, r, seed)).stats();
                format!(
                    "{:6.2} ({:4.1}, {:.3})",
                    s.avg_shortest_path, s.mean_degree, s.reachable_fraction
                )
            })
            .collect();
        println!(
            "{n:>8} | {:>20} | {:>20} | {:>20}",
            cells[0], cells[1], cells[2]
        );
        n *= 2;
    }
}
