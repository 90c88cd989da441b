//! Benchmark (run with `PACOM_BENCH=1 cargo test -p pacom-cli --test socks_bench`;
//! the default test run skips it, as speed is no test's business): a
//! 20 MiB HTTP download with curl through a SOCKS5 proxy whose circuit
//! crosses three PACOM links (alice — bob — carol — dave, dave the exit),
//! beside a direct curl of the same file in the same run. Prints time to
//! first byte, throughput and the ratio. Numbers are from whatever profile
//! the test binary was built in; the table says which.

mod common;

use std::net::TcpListener;
use std::process::Command;
use std::time::Instant;

use common::{test_data, HttpServer, Node, LINK_RATE};

/// (time to first byte s, total s) as curl measures them.
fn timed_curl(proxy: Option<&str>, url: &str) -> (f64, f64) {
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "120", "-o", "/dev/null"]);
    c.args(["-w", "%{time_starttransfer} %{time_total} %{size_download}"]);
    if let Some(p) = proxy {
        c.args(["--socks5-hostname", p]);
    }
    let out = c.arg(url).output().expect("run curl");
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    let v: Vec<f64> = s
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    assert_eq!(v.get(2).copied(), Some((20u64 << 20) as f64), "{s}");
    (v[0], v[1])
}

fn main() {
    if std::env::var_os("PACOM_BENCH").is_none() {
        println!("socks_bench: skipped (set PACOM_BENCH=1 to run the benchmark)");
        return;
    }
    let data = test_data(20 << 20);
    let http = HttpServer::start(data);
    let mut nodes: Vec<Node> = (0..4).map(|_| Node::init()).collect();
    let seeds = ["d1", "d2", "d3"].map(|p| p.repeat(32));
    let dave = nodes[3].contact();
    nodes[0].add_contact("dave", &dave);
    nodes[3].set_config("exit", "enabled", "true");
    nodes[3].set_config("exit", "allow_loopback", "true");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let socks = format!("127.0.0.1:{port}");
    nodes[0].set_config("socks", "listen", &format!("\"{socks}\""));
    nodes[0].set_config("socks", "exits", r#"["dave"]"#);
    // Node i meets node i+1 in swarm i.
    nodes[1].add_swarm(&seeds[0], &[]);
    nodes[1].add_swarm(&seeds[1], &[]);
    nodes[1].start();
    let b = nodes[1].addr().to_string();
    nodes[2].add_swarm(&seeds[1], &[&b]);
    nodes[2].add_swarm(&seeds[2], &[]);
    nodes[2].start();
    let c = nodes[2].addr().to_string();
    nodes[0].add_swarm(&seeds[0], &[&b]);
    nodes[3].add_swarm(&seeds[2], &[&c]);
    nodes[0].start();
    nodes[3].start();
    for (n, want) in nodes.iter().zip([1, 2, 2, 1]) {
        n.wait_neighbours(want);
    }
    let url = format!("http://127.0.0.1:{}/big.bin", http.port);
    // A first small run builds the circuit, so the table measures streams.
    let warm = Instant::now();
    let _ = timed_curl(Some(&socks), &url);
    let first = warm.elapsed().as_secs_f64();
    let (d_ttfb, d_total) = timed_curl(None, &url);
    let (p_ttfb, p_total) = timed_curl(Some(&socks), &url);
    let mb = (20u64 << 20) as f64 / 1e6;
    let profile = if cfg!(debug_assertions) {
        "dev"
    } else {
        "release"
    };
    println!("SOCKS benchmark ({profile} profile, link rate {LINK_RATE} blocks/s per link, 20 MiB, loopback)");
    println!(
        "{:<28} {:>10} {:>10} {:>10}",
        "path", "TTFB ms", "total s", "MB/s"
    );
    println!(
        "{:<28} {:>10.1} {:>10.2} {:>10.2}",
        "direct curl",
        d_ttfb * 1e3,
        d_total,
        mb / d_total
    );
    println!(
        "{:<28} {:>10.1} {:>10.2} {:>10.2}",
        "SOCKS, 3 PACOM hops",
        p_ttfb * 1e3,
        p_total,
        mb / p_total
    );
    println!(
        "ratio circuit/direct: time x{:.1}, TTFB x{:.1}; first download incl. circuit build {:.2} s",
        p_total / d_total,
        p_ttfb / d_ttfb.max(1e-6),
        first
    );
    for n in nodes.iter_mut() {
        n.stop();
    }
}
